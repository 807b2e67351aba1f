-- Messaging tables every service schema gets: outbox (events to publish), inbox
-- (event ids already applied, per consumer) and dead letters (poison messages).
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE {schema}.outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    ce_type      text NOT NULL,
    ce_source    text NOT NULL,
    ce_subject   text NOT NULL,
    ce_time      timestamptz NOT NULL,
    data_schema  text NOT NULL,
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON {schema}.outbox (seq) WHERE published_at IS NULL;

CREATE TABLE {schema}.inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE {schema}.dead_letters (
    id           bigserial PRIMARY KEY,
    consumer     text NOT NULL,
    stream_seq   bigint NOT NULL,
    subject      text NOT NULL,
    headers      jsonb NOT NULL,
    data         bytea NOT NULL,
    deliveries   int NOT NULL,
    error_type   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, stream_seq)
);
