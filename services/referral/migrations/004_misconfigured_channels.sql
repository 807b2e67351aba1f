-- Partner channels that cannot work by configuration (a webhook whose secret is not in
-- the notifier's environment, a URL without a host…). The notifier reports each once
-- and holds its deliveries (status 'held': kept, not retried, not dead) until the
-- configuration is fixed; then they are pending again and delivered.
ALTER TABLE {schema}.partner_deliveries
    DROP CONSTRAINT partner_deliveries_status_check,
    ADD CONSTRAINT partner_deliveries_status_check
        CHECK (status IN ('pending', 'held', 'delivered', 'dead'));
-- A partner's undelivered rows (held or pending), found without reading delivered ones.
CREATE INDEX partner_deliveries_open ON {schema}.partner_deliveries (partner_id, channel)
    WHERE status IN ('pending', 'held');

-- One row per misconfigured channel, as the notifier last saw it (codes only).
CREATE TABLE {schema}.partner_channel_problems (
    partner_id text NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('nats', 'webhook')),
    reason     text NOT NULL CHECK (reason ~ '^[A-Z][A-Z0-9_]{1,62}$'),
    since      timestamptz NOT NULL DEFAULT now(),  -- first seen with this reason
    checked_at timestamptz NOT NULL DEFAULT now(),  -- last seen
    PRIMARY KEY (partner_id, channel)
);

-- A directory change (ImportDirectory, an operator's UPDATE) wakes the delivery loop,
-- which checks the channels again: a fixed channel's held deliveries go at once.
CREATE FUNCTION {schema}.partner_channels_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{schema}_partner_deliveries', 'channels');
    RETURN NULL;
END
$$;
CREATE TRIGGER partner_channels_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {schema}.partner_channels
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.partner_channels_changed();

-- For the ops view (reporting's GetOpsOverview): metadata and counts only, never a
-- delivery's payload; runs as its owner.
CREATE FUNCTION {schema}.misconfigured_channel_list(max_rows int)
RETURNS TABLE (partner_id text, channel text, reason text, since timestamptz, deliveries_held bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT p.partner_id, p.channel, p.reason, p.since,
           (SELECT count(*) FROM {schema}.partner_deliveries d
             WHERE d.partner_id = p.partner_id AND d.channel = p.channel AND d.status = 'held')
      FROM {schema}.partner_channel_problems p
     ORDER BY p.since, p.partner_id, p.channel
     LIMIT max_rows
$$;
REVOKE ALL ON FUNCTION {schema}.misconfigured_channel_list(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.misconfigured_channel_list(int) TO entraide_app;
