-- Collective actions (docs/collective.md): programmes of group sessions, the persons
-- enrolled (each with their dossier and consent), each session's attendance sheet, the
-- participants' goals and their dated notes, and the entries the group adds to each
-- participant's dossier timeline. Every row carries its territory (the programme's
-- commune; a timeline entry: its dossier's) and row-level security by territory, like
-- the rest of intake. Sites and rooms are reference data: codes here.

CREATE TABLE {schema}.programmes (
    programme_id uuid PRIMARY KEY,
    territory    text NOT NULL,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    aim          text NOT NULL DEFAULT '' CHECK (char_length(aim) <= 500),
    partner_id   text NOT NULL DEFAULT '',
    partner_name text NOT NULL DEFAULT '',
    -- [{"agent_id": "...", "label": "..."}]: labels people read, no case data.
    facilitators jsonb NOT NULL DEFAULT '[]'::jsonb,
    site         text NOT NULL DEFAULT '',
    room         text NOT NULL DEFAULT '',
    place        text NOT NULL DEFAULT '',
    rhythm       text NOT NULL DEFAULT '',
    first_day    date NOT NULL,
    last_day     date NOT NULL CHECK (last_day >= first_day),
    capacity     smallint NOT NULL CHECK (capacity BETWEEN 1 AND 30),
    status       text NOT NULL CHECK (status IN ('open', 'closed')),
    -- Enrolments' order of arrival (the waiting list's order).
    last_order   integer NOT NULL DEFAULT 0,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    closed_at    timestamptz,
    -- Idempotency key (territory + client request id): a retried create finds its row.
    request_key  text NOT NULL UNIQUE
);
CREATE INDEX programmes_territory ON {schema}.programmes (territory, status, first_day);

CREATE TABLE {schema}.group_sessions (
    session_id   uuid PRIMARY KEY,
    programme_id uuid NOT NULL REFERENCES {schema}.programmes (programme_id),
    territory    text NOT NULL,
    day          date NOT NULL,
    -- Paris wall-clock hours.
    starts_at    time NOT NULL,
    ends_at      time NOT NULL CHECK (ends_at > starts_at),
    site         text NOT NULL DEFAULT '',
    room         text NOT NULL DEFAULT '',
    place        text NOT NULL DEFAULT '',
    capacity     smallint NOT NULL CHECK (capacity BETWEEN 1 AND 30),
    held         boolean NOT NULL DEFAULT false,
    -- Sheets recorded (1 at the first, +1 per correction): GroupSessionHeld.sequence.
    version      integer NOT NULL DEFAULT 0,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    request_key  text NOT NULL UNIQUE
);
CREATE INDEX group_sessions_programme ON {schema}.group_sessions (programme_id, day, starts_at);

CREATE TABLE {schema}.enrolments (
    enrolment_id  uuid PRIMARY KEY,
    programme_id  uuid NOT NULL REFERENCES {schema}.programmes (programme_id),
    territory     text NOT NULL,
    person_id     uuid NOT NULL REFERENCES {schema}.persons (person_id),
    dossier_id    uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    consent_at    timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('enrolled', 'waiting', 'withdrawn', 'completed')),
    -- Order of arrival in the programme: the waiting list is the waiting rows in this order.
    arrival       integer NOT NULL,
    outcome       text NOT NULL DEFAULT ''
                  CHECK (outcome IN ('', 'parcours_insertion', 'formation', 'emploi', 'autre_action', 'aucune')),
    -- Changes of status (1 at enrolment): EnrolmentChanged.sequence; outcomes recorded.
    version       integer NOT NULL DEFAULT 1,
    outcome_version integer NOT NULL DEFAULT 0,
    enrolled_by   text NOT NULL,
    enrolled_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    request_key   text NOT NULL UNIQUE,
    UNIQUE (programme_id, arrival)
);
-- A person is on a programme's list once (enrolled or waiting).
CREATE UNIQUE INDEX enrolments_person_once ON {schema}.enrolments (programme_id, person_id)
    WHERE status IN ('enrolled', 'waiting');
CREATE INDEX enrolments_dossier ON {schema}.enrolments (dossier_id);

CREATE TABLE {schema}.session_attendance (
    session_id   uuid NOT NULL REFERENCES {schema}.group_sessions (session_id),
    enrolment_id uuid NOT NULL REFERENCES {schema}.enrolments (enrolment_id),
    territory    text NOT NULL,
    presence     text NOT NULL CHECK (presence IN ('present', 'absent', 'absent_excused')),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (session_id, enrolment_id)
);
CREATE INDEX session_attendance_enrolment ON {schema}.session_attendance (enrolment_id);

CREATE TABLE {schema}.goals (
    goal_id      uuid PRIMARY KEY,
    enrolment_id uuid NOT NULL REFERENCES {schema}.enrolments (enrolment_id),
    programme_id uuid NOT NULL REFERENCES {schema}.programmes (programme_id),
    territory    text NOT NULL,
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    status       text NOT NULL CHECK (status IN ('proposed', 'under_way', 'reached', 'given_up')),
    -- Changes (1 at creation): GoalChanged.sequence.
    version      integer NOT NULL DEFAULT 1,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    request_key  text NOT NULL UNIQUE
);
CREATE INDEX goals_enrolment ON {schema}.goals (enrolment_id, created_at);
CREATE INDEX goals_programme ON {schema}.goals (programme_id);

CREATE TABLE {schema}.goal_notes (
    goal_id     uuid NOT NULL REFERENCES {schema}.goals (goal_id),
    seq         integer NOT NULL,
    territory   text NOT NULL,
    day         date NOT NULL,
    text        text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
    author      text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (goal_id, seq)
);

-- Every change of a programme, in order: its seq names the change's events (event ids
-- derive from programme + seq), its request key makes a retried change a no-op.
CREATE TABLE {schema}.programme_changes (
    programme_id uuid NOT NULL REFERENCES {schema}.programmes (programme_id),
    seq          integer NOT NULL,
    territory    text NOT NULL,
    change       text NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL,
    request_key  text UNIQUE,
    PRIMARY KEY (programme_id, seq)
);

-- What the group adds to a participant's dossier timeline (their own attendance, their
-- own goals: never another participant), keyed by (dossier, entry key) so a correction
-- rewrites its entry; GetDossierTimeline merges them with the steps by time.
CREATE TABLE {schema}.collective_timeline (
    dossier_id   uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    entry_key    text NOT NULL,
    territory    text NOT NULL,
    programme_id uuid NOT NULL REFERENCES {schema}.programmes (programme_id),
    kind         text NOT NULL,
    stage        text NOT NULL,
    actor        text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL,
    summary      text NOT NULL,
    PRIMARY KEY (dossier_id, entry_key)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['programmes', 'group_sessions', 'enrolments', 'session_attendance', 'goals',
                             'goal_notes', 'programme_changes', 'collective_timeline']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
    END LOOP;
END
$$;

-- Existence and territory only, for a clear PERMISSION_DENIED on another commune's
-- programme (instead of a silent NOT_FOUND), like dossier_territory.
CREATE FUNCTION {schema}.programme_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.programmes WHERE programme_id = id
$$;
GRANT EXECUTE ON FUNCTION {schema}.programme_territory(uuid) TO entraide_app;
