-- Order-free projection: any event of a dossier may arrive first, so every column
-- but the key and the territory is nullable until its event is applied; each column
-- is merged commutatively (first/last time, latest-at-wins, counters).
ALTER TABLE {schema}.dossier_facts
    ALTER COLUMN site DROP NOT NULL,
    ALTER COLUMN motifs DROP NOT NULL,
    ALTER COLUMN arrival_channel DROP NOT NULL,
    ALTER COLUMN urgent DROP NOT NULL,
    ALTER COLUMN opened_at DROP NOT NULL,
    ADD COLUMN motifs_at           timestamptz,
    ADD COLUMN stage_rank          int NOT NULL DEFAULT 0,
    ADD COLUMN escalated_at        timestamptz,
    ADD COLUMN reminder_at         timestamptz,
    ADD COLUMN closure_proposed_at timestamptz,
    ADD COLUMN last_activity_at    timestamptz;
CREATE INDEX dossier_facts_closed ON {schema}.dossier_facts (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX dossier_facts_open_activity ON {schema}.dossier_facts (last_activity_at) WHERE stage <> 'cloture';

-- One fact row per referral: partner, motif, first time of each status, response times.
CREATE TABLE {schema}.referral_facts (
    referral_id    uuid PRIMARY KEY,
    dossier_id     uuid,
    partner_id     text,
    territory      text,
    motif          text,
    status         text,
    status_seq     int NOT NULL DEFAULT -1,
    status_at      timestamptz,
    outcome        text,
    reason         text,
    requested_at   timestamptz,
    received_at    timestamptz,
    accepted_at    timestamptz,
    rejected_at    timestamptz,
    in_progress_at timestamptz,
    completed_at   timestamptz,
    failed_at      timestamptz,
    cancelled_at   timestamptz,
    expired_at     timestamptz,
    reminders      int NOT NULL DEFAULT 0,
    reminder_at    timestamptz
);
CREATE INDEX referral_facts_requested ON {schema}.referral_facts (territory, requested_at);
CREATE INDEX referral_facts_status ON {schema}.referral_facts (status);

-- Ops read counts across service schemas without reading their rows: these functions
-- run as their owner and return counts or metadata only (never event payloads).
CREATE FUNCTION {schema}.outbox_backlog()
RETURNS TABLE (schema_name text, unpublished bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    s text;
BEGIN
    FOR s IN
        SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = 'outbox' AND c.relkind = 'r'
           AND n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT LIKE '%\_rebuild%'
         ORDER BY n.nspname
    LOOP
        schema_name := s;
        EXECUTE format('SELECT count(*) FROM %I.outbox WHERE published_at IS NULL', s) INTO unpublished;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE FUNCTION {schema}.dead_letter_list(max_rows int)
RETURNS TABLE (schema_name text, consumer text, stream_seq bigint, subject text, deliveries int,
               error_type text, received_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    s text;
BEGIN
    FOR s IN
        SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = 'dead_letters' AND c.relkind = 'r'
           AND n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT LIKE '%\_rebuild%'
         ORDER BY n.nspname
    LOOP
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, d.consumer, d.stream_seq, d.subject, d.deliveries, d.error_type, d.received_at
               FROM %I.dead_letters d ORDER BY d.received_at DESC LIMIT $1', s, s) USING max_rows;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION {schema}.outbox_backlog() FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.dead_letter_list(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.outbox_backlog() TO entraide_app;
GRANT EXECUTE ON FUNCTION {schema}.dead_letter_list(int) TO entraide_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.referral_facts TO entraide_app;
