-- The application role: services run their queries as `entraide_app` (SET ROLE at
-- connection start), which owns nothing and cannot bypass row-level security.
-- Migrations run as the owner; default privileges give the role access to what the
-- owner creates later in this schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'entraide_app') THEN
        CREATE ROLE entraide_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT entraide_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA {schema} TO entraide_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO entraide_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO entraide_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO entraide_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO entraide_app;
