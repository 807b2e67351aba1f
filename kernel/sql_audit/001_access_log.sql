-- The access log (CNIL recommendation on logging): every read and write of personal
-- data, with who, what, when and why. Its own schema and role, apart from case data;
-- append-only: UPDATE, DELETE and TRUNCATE are refused, except the purge of entries
-- older than the retention period through audit.purge().
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'entraide_audit') THEN
        CREATE ROLE entraide_audit NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'entraide_app') THEN
        CREATE ROLE entraide_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT entraide_audit TO CURRENT_USER;

CREATE SCHEMA audit AUTHORIZATION entraide_audit;

CREATE TABLE audit.access_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    service       text NOT NULL,
    actor         text NOT NULL,
    role          text NOT NULL,
    action        text NOT NULL CHECK (action IN ('read', 'write', 'denied')),
    method        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    purpose       text NOT NULL
);
CREATE INDEX access_log_at ON audit.access_log (at);
CREATE INDEX access_log_resource ON audit.access_log (resource_type, resource_id);
ALTER TABLE audit.access_log OWNER TO entraide_audit;
ALTER SEQUENCE audit.access_log_id_seq OWNER TO entraide_audit;

CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
ALTER FUNCTION audit.refuse_change() OWNER TO entraide_audit;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON audit.access_log
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON audit.access_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- Deletes entries older than `keep` (never less than 6 months: the CNIL's floor).
CREATE FUNCTION audit.purge(keep interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
DECLARE
    removed bigint;
BEGIN
    IF keep < interval '6 months' THEN
        RAISE EXCEPTION 'access log entries are kept at least 6 months';
    END IF;
    PERFORM set_config('audit.purging', 'on', true);
    DELETE FROM audit.access_log WHERE at < now() - keep;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('audit.purging', 'off', true);
    RETURN removed;
END
$$;
ALTER FUNCTION audit.purge(interval) OWNER TO entraide_audit;

GRANT USAGE ON SCHEMA audit TO entraide_app;
GRANT INSERT, SELECT ON audit.access_log TO entraide_app;
GRANT USAGE ON SEQUENCE audit.access_log_id_seq TO entraide_app;
REVOKE ALL ON FUNCTION audit.purge(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.purge(interval) TO entraide_app;
