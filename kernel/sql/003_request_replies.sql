-- The answers of mutating calls by client request id (kernel.idempotency): the same
-- request id again gets the first call's answer back, never a second effect. A row
-- with no reply yet is a call in flight (a repeat waits for it; a crashed one is taken
-- over after a while). Each caller sees only its own rows; rows expire after a day.
CREATE TABLE {schema}.request_replies (
    method      text NOT NULL,
    caller      text NOT NULL,
    request_id  text NOT NULL,
    digest      bytea NOT NULL,
    reply       bytea,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, caller, request_id)
);
CREATE INDEX request_replies_claimed ON {schema}.request_replies (claimed_at);

ALTER TABLE {schema}.request_replies ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.request_replies FORCE ROW LEVEL SECURITY;
CREATE POLICY request_replies_own ON {schema}.request_replies
    USING (caller = current_setting('entraide.subject', true))
    WITH CHECK (caller = current_setting('entraide.subject', true));

-- Expiry runs as the owner (the policy above hides other callers' rows).
CREATE FUNCTION {schema}.purge_request_replies(keep interval) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
    WITH gone AS (
        DELETE FROM {schema}.request_replies WHERE claimed_at < now() - keep RETURNING 1
    )
    SELECT count(*) FROM gone
$$;
REVOKE ALL ON FUNCTION {schema}.purge_request_replies(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.purge_request_replies(interval) TO entraide_app;
