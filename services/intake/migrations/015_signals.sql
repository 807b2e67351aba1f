-- Signals ("aller vers", docs/signals.md): an élu référent or a secrétaire de mairie
-- (role `signaleur`, or `elu`) signals a resident of one of its communes; the CIAS
-- qualifies the signal. The signaller reads its own signals' status only, never a case.
CREATE TABLE {schema}.signals (
    -- kernel.idempotency-style: derived from territory + caller + request id.
    signal_id          uuid PRIMARY KEY,
    territory          text NOT NULL,
    -- The token's subject of who submitted it (the row-level policy below reads it).
    submitted_by       text NOT NULL,
    -- domain.signals.SignallerKind.
    signaller_kind     text NOT NULL CHECK (signaller_kind IN ('elu', 'secretaire_mairie', 'agent')),
    -- The signaller's name as the token says it (for the agent who calls back).
    signaller_label    text NOT NULL,
    first_name         text,
    last_name          text,
    phone              text,
    email              text,
    address_line       text,
    description        text NOT NULL CHECK (length(description) BETWEEN 1 AND 1000),
    consent_to_contact boolean NOT NULL,
    -- domain.signals.SignalStatus.
    status             text NOT NULL DEFAULT 'received'
                       CHECK (status IN ('received', 'contacted', 'unreachable', 'declined', 'not_relevant')),
    contact_attempts   integer NOT NULL DEFAULT 0 CHECK (contact_attempts >= 0),
    escalated_at       timestamptz,
    dossier_id         uuid,
    person_id          uuid,
    submitted_at       timestamptz NOT NULL,
    qualified_at       timestamptz,
    qualified_by       text,
    -- kernel.idempotency.derived_id of the qualifying request: its retry finds it done.
    request_key        text,
    -- At least one way to find the person (SubmitSignal checks it too, in words).
    CHECK (coalesce(first_name, last_name, phone, email, address_line) IS NOT NULL),
    CHECK ((status = 'received') = (qualified_at IS NULL)),
    CHECK (status <> 'contacted' OR dossier_id IS NOT NULL)
);
-- The queue: a commune's unqualified signals, oldest first.
CREATE INDEX signals_queue ON {schema}.signals (territory, (status = 'received') DESC, submitted_at);
CREATE INDEX signals_signaller ON {schema}.signals (submitted_by, submitted_at);

-- Calls that did not reach the person, one row per request (a retried call counts once).
CREATE TABLE {schema}.signal_attempts (
    attempt_id   uuid PRIMARY KEY,
    signal_id    uuid NOT NULL REFERENCES {schema}.signals (signal_id),
    territory    text NOT NULL,
    agent        text NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX signal_attempts_signal ON {schema}.signal_attempts (signal_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['signals', 'signal_attempts']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
    END LOOP;
END
$$;

-- A signaller (role signaleur or elu) sees, and writes, only the signals it submitted:
-- not those of another town hall of the same commune, nor the CIAS's own.
CREATE POLICY signaller_own ON {schema}.signals AS RESTRICTIVE
    USING (coalesce(current_setting('entraide.role', true), '') NOT IN ('signaleur', 'elu')
           OR submitted_by = current_setting('entraide.subject', true))
    WITH CHECK (coalesce(current_setting('entraide.role', true), '') NOT IN ('signaleur', 'elu')
                OR submitted_by = current_setting('entraide.subject', true));
-- The attempts are the CIAS's work: no signaller reads them (its view counts them).
CREATE POLICY not_for_signallers ON {schema}.signal_attempts AS RESTRICTIVE
    USING (coalesce(current_setting('entraide.role', true), '') NOT IN ('signaleur', 'elu'));

-- A signaleur's connection reads no case data at all, even of its own communes: every
-- table of this schema under row-level security (dossiers, dossier_timeline, notes,
-- persons, households, household_members, consents, imports, legacy_sites, the
-- planning's permanences, permanence_exceptions, appointments, appointment_changes,
-- contact_preferences, person_messages, the collective actions' programmes,
-- group_sessions, enrolments, session_attendance, goals, goal_notes,
-- programme_changes, collective_timeline — migration 014) gets a restrictive policy
-- refusing every row to the role, but the signals themselves and the caller's own
-- request replies (kernel: idempotency). A table added by a later migration must add
-- its own (docs/signals.md says so).
DO $$
DECLARE
    t text;
    expected text[] := ARRAY['dossiers', 'dossier_timeline', 'notes', 'persons', 'households',
                             'household_members', 'consents', 'permanences', 'permanence_exceptions',
                             'appointments', 'appointment_changes', 'contact_preferences', 'person_messages'];
    covered text[] := ARRAY[]::text[];
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = '{schema}' AND c.relkind = 'r' AND c.relrowsecurity
           AND c.relname NOT IN ('signals', 'signal_attempts', 'request_replies')
         ORDER BY c.relname
    LOOP
        EXECUTE format(
            'CREATE POLICY no_signaleur ON {schema}.%I AS RESTRICTIVE'
            ' USING (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')'
            ' WITH CHECK (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')', t);
        covered := covered || t;
    END LOOP;
    IF NOT expected <@ covered THEN
        RAISE EXCEPTION 'case tables without row-level security: %', array(SELECT unnest(expected) EXCEPT SELECT unnest(covered));
    END IF;
END
$$;

-- Existence and territory only (a clear PERMISSION_DENIED for another commune's).
CREATE FUNCTION {schema}.signal_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.signals WHERE signal_id = id
$$;
GRANT EXECUTE ON FUNCTION {schema}.signal_territory(uuid) TO entraide_app;
