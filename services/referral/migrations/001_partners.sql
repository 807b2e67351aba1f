-- Partner directory (Open Referral HSDS-inspired: organisation level for now).
CREATE TABLE {schema}.partners (
    partner_id  text PRIMARY KEY CHECK (partner_id ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    name        text NOT NULL,
    kind        text NOT NULL,
    motifs      text[] NOT NULL,
    territories text[] NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partners_motifs ON {schema}.partners USING gin (motifs);
CREATE INDEX partners_territories ON {schema}.partners USING gin (territories);
