-- The partner notifier's outbox. How each partner is notified (partner_channels)
-- is the directory's table (002_directory_referrals.sql).

-- One row per (status change, channel): written in the notifier consumer's inbox
-- transaction, delivered by the delivery loop (NATS PubAck or webhook 2xx).
CREATE TABLE {schema}.partner_deliveries (
    delivery_id     uuid PRIMARY KEY,          -- uuid5(event id, channel)
    event_id        uuid NOT NULL,
    partner_id      text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('nats', 'webhook')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    subject         text NOT NULL,             -- NATS subject, or the referral status for webhooks
    payload         jsonb NOT NULL,            -- the partner message (no personal data)
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error_type text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    seq             bigserial
);
CREATE INDEX partner_deliveries_due ON {schema}.partner_deliveries (next_attempt_at, seq)
    WHERE status = 'pending';
