-- Planning: permanences placed in the deployment's rooms (sites and rooms are reference
-- data: codes here), appointments of persons, and the messages that confirm and remind
-- them (an outbox the sender drains). Every row carries its territory (the site's
-- commune) and row-level security by territory, like the rest of intake.

CREATE TABLE {schema}.permanences (
    permanence_id uuid PRIMARY KEY,
    territory     text NOT NULL,
    site          text NOT NULL,
    room          text NOT NULL,
    host_kind     text NOT NULL CHECK (host_kind IN ('partenaire', 'elu', 'agent')),
    host_id       text NOT NULL CHECK (char_length(host_id) BETWEEN 1 AND 200),
    host_label    text NOT NULL CHECK (char_length(host_label) BETWEEN 1 AND 200),
    host_category text NOT NULL DEFAULT '',
    recurrence    text NOT NULL CHECK (recurrence IN ('weekly', 'fortnightly')),
    -- ISO weekday, 1 = Monday.
    weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    -- Paris wall-clock hours.
    starts_at     time NOT NULL,
    ends_at       time NOT NULL CHECK (ends_at > starts_at),
    first_day     date NOT NULL,
    last_day      date CHECK (last_day IS NULL OR last_day >= first_day),
    slot_minutes  smallint NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    -- Idempotency key (territory + client request id): a retried create finds its row.
    request_key   text NOT NULL UNIQUE
);
CREATE INDEX permanences_room ON {schema}.permanences (site, room);
CREATE INDEX permanences_host ON {schema}.permanences (host_id);

CREATE TABLE {schema}.permanence_exceptions (
    permanence_id uuid NOT NULL REFERENCES {schema}.permanences (permanence_id) ON DELETE CASCADE,
    territory     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('cancelled', 'holiday', 'extra')),
    day           date NOT NULL,
    -- Holiday: the last day closed (inclusive); else equal to day.
    until         date NOT NULL CHECK (until >= day),
    -- Extra session: its own hours.
    starts_at     time,
    ends_at       time,
    reason        text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 200),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (permanence_id, kind, day),
    CHECK ((kind = 'extra') = (starts_at IS NOT NULL AND ends_at IS NOT NULL)),
    CHECK (kind <> 'extra' OR ends_at > starts_at)
);

CREATE TABLE {schema}.appointments (
    appointment_id uuid PRIMARY KEY,
    territory      text NOT NULL,
    site           text NOT NULL,
    room           text NOT NULL DEFAULT '',
    permanence_id  uuid REFERENCES {schema}.permanences (permanence_id),
    host_kind      text NOT NULL CHECK (host_kind IN ('partenaire', 'elu', 'agent')),
    host_id        text NOT NULL,
    host_label     text NOT NULL,
    host_category  text NOT NULL DEFAULT '',
    person_id      uuid NOT NULL REFERENCES {schema}.persons (person_id),
    dossier_id     uuid REFERENCES {schema}.dossiers (dossier_id),
    -- Internal (a motif code): never in a message, never in an event.
    motif          text NOT NULL DEFAULT '',
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL CHECK (ends_at > starts_at),
    status         text NOT NULL CHECK (status IN
                       ('booked', 'cancelled', 'arrived', 'seen', 'no_show', 'no_show_excused')),
    version        integer NOT NULL DEFAULT 1,
    walk_in        boolean NOT NULL DEFAULT false,
    no_show_proposed_at timestamptz,
    booked_by      text NOT NULL,
    booked_at      timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- Set by the workflow's first activity: the confirmation is queued.
    workflow_started boolean NOT NULL DEFAULT false
);
CREATE INDEX appointments_site_day ON {schema}.appointments (site, starts_at);
CREATE INDEX appointments_permanence ON {schema}.appointments (permanence_id, starts_at)
    WHERE permanence_id IS NOT NULL;
CREATE INDEX appointments_host ON {schema}.appointments (host_id, starts_at);
CREATE INDEX appointments_person ON {schema}.appointments (person_id, starts_at);

-- What happened to an appointment, in order (booked, moved, cancelled, each attendance).
CREATE TABLE {schema}.appointment_changes (
    appointment_id uuid NOT NULL REFERENCES {schema}.appointments (appointment_id) ON DELETE CASCADE,
    territory      text NOT NULL,
    seq            integer NOT NULL,
    change         text NOT NULL,
    status         text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    actor          text NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (appointment_id, seq)
);

-- Whether the person agreed to be contacted about appointments, and how (one row per
-- person; none: not asked, nothing is sent).
CREATE TABLE {schema}.contact_preferences (
    person_id   uuid PRIMARY KEY REFERENCES {schema}.persons (person_id),
    territory   text NOT NULL,
    consent     boolean NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('sms', 'email')),
    opted_out   boolean NOT NULL DEFAULT false,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- The persons' outbox: one row per message, keyed by (appointment, kind, version) so a
-- retried activity never queues a second one; the sender claims, sends and records the
-- provider's receipt. The recipient is copied at queue time (the number the person gave).
CREATE TABLE {schema}.person_messages (
    message_id     uuid PRIMARY KEY,
    territory      text NOT NULL,
    appointment_id uuid NOT NULL REFERENCES {schema}.appointments (appointment_id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN
                       ('confirmation', 'reminder', 'second_reminder', 'moved', 'cancellation')),
    version        integer NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient      text NOT NULL,
    subject        text NOT NULL DEFAULT '',
    body           text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'superseded')),
    attempts       integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A sender's claim: another sender takes the row over once it expires.
    claimed_until  timestamptz,
    last_error     text NOT NULL DEFAULT '',
    receipt        text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    sent_at        timestamptz,
    UNIQUE (appointment_id, kind, version)
);
CREATE INDEX person_messages_due ON {schema}.person_messages (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX person_messages_site ON {schema}.person_messages (territory, created_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['permanences', 'permanence_exceptions', 'appointments', 'appointment_changes',
                             'contact_preferences', 'person_messages']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
    END LOOP;
END
$$;

-- Existence and territory only (a clear PERMISSION_DENIED for another commune's).
CREATE FUNCTION {schema}.appointment_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.appointments WHERE appointment_id = id
$$;
CREATE FUNCTION {schema}.permanence_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.permanences WHERE permanence_id = id
$$;
GRANT EXECUTE ON FUNCTION {schema}.appointment_territory(uuid), {schema}.permanence_territory(uuid)
    TO entraide_app;
