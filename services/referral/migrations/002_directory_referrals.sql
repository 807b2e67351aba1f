-- Partner directory after Open Referral HSDS: organisations (the partners table, whose
-- motifs/territories become the union of its services'), services, locations, weekly
-- schedules (permanences), and how each partner is notified (read by the notifier).
ALTER TABLE {schema}.partners
    ADD COLUMN description text NOT NULL DEFAULT '',
    ADD COLUMN email       text NOT NULL DEFAULT '',
    ADD COLUMN phone       text NOT NULL DEFAULT '',
    ADD COLUMN website     text NOT NULL DEFAULT '';

CREATE TABLE {schema}.partner_services (
    service_id  text PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES {schema}.partners (partner_id) ON DELETE CASCADE,
    name        text NOT NULL,
    motifs      text[] NOT NULL CHECK (cardinality(motifs) > 0),
    communes    text[] NOT NULL CHECK (cardinality(communes) > 0),
    eligibility text NOT NULL DEFAULT ''
);
CREATE INDEX partner_services_partner ON {schema}.partner_services (partner_id);

CREATE TABLE {schema}.partner_locations (
    location_id text PRIMARY KEY,
    partner_id  text NOT NULL REFERENCES {schema}.partners (partner_id) ON DELETE CASCADE,
    name        text NOT NULL,
    address     text NOT NULL DEFAULT '',
    commune     text NOT NULL
);
CREATE INDEX partner_locations_partner ON {schema}.partner_locations (partner_id);

CREATE TABLE {schema}.partner_schedules (
    partner_id  text NOT NULL REFERENCES {schema}.partners (partner_id) ON DELETE CASCADE,
    location_id text NOT NULL REFERENCES {schema}.partner_locations (location_id) ON DELETE CASCADE,
    service_id  text REFERENCES {schema}.partner_services (service_id) ON DELETE CASCADE,
    -- HSDS byday
    weekday     text NOT NULL CHECK (weekday IN ('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')),
    opens_at    time NOT NULL,
    closes_at   time NOT NULL CHECK (closes_at > opens_at),
    PRIMARY KEY (location_id, weekday, opens_at)
);
CREATE INDEX partner_schedules_partner ON {schema}.partner_schedules (partner_id);

-- How a partner is told about its referrals: NATS (its own subject), a signed webhook,
-- or both. The secret itself lives in the deployment's secret store; only its name here.
CREATE TABLE {schema}.partner_channels (
    partner_id         text PRIMARY KEY REFERENCES {schema}.partners (partner_id) ON DELETE CASCADE,
    nats               boolean NOT NULL DEFAULT true,
    webhook_url        text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://'),
    webhook_secret_ref text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (webhook_url IS NULL OR webhook_secret_ref IS NOT NULL)
);

-- Read model of intake's dossiers, fed by its events (codes only: no person, no notes).
CREATE TABLE {schema}.dossiers (
    dossier_id uuid PRIMARY KEY,
    territory  text NOT NULL,
    motifs     text[] NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Referrals: one row per referral, its status history, both written by the referral
-- workflow's activities with the status_changed event in the same transaction.
CREATE TABLE {schema}.referrals (
    referral_id         uuid PRIMARY KEY,
    dossier_id          uuid NOT NULL,
    territory           text NOT NULL,
    partner_id          text NOT NULL REFERENCES {schema}.partners (partner_id),
    motif               text NOT NULL,
    message_for_partner text NOT NULL CHECK (char_length(message_for_partner) <= 2000),
    data_scope          text[] NOT NULL,
    -- The person as shared with this partner (only data_scope's categories, consent checked).
    person              jsonb NOT NULL DEFAULT '{}',
    referrer            text NOT NULL,
    status              text NOT NULL CHECK (status IN ('requested', 'received', 'accepted', 'rejected',
                                  'in_progress', 'completed', 'failed', 'cancelled', 'expired')),
    reason              text NOT NULL DEFAULT '',
    outcome             text NOT NULL DEFAULT '',
    comment             text NOT NULL DEFAULT '',
    sequence            int NOT NULL,
    reminded_at         timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX referrals_dossier ON {schema}.referrals (dossier_id);
CREATE INDEX referrals_partner ON {schema}.referrals (partner_id, updated_at DESC);

CREATE TABLE {schema}.referral_changes (
    referral_id uuid NOT NULL REFERENCES {schema}.referrals (referral_id),
    sequence    int NOT NULL,
    territory   text NOT NULL,
    partner_id  text NOT NULL,
    status      text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    outcome     text NOT NULL DEFAULT '',
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (referral_id, sequence)
);

-- Rule 2, in the database too: a partner's connection sees only its referrals
-- (entraide.partner_id, set per connection by kernel.db); anyone else, their territories.
CREATE FUNCTION {schema}.caller_territories() RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT string_to_array(NULLIF(current_setting('entraide.territories', true), ''), ',')
$$;
GRANT EXECUTE ON FUNCTION {schema}.caller_territories() TO entraide_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['referrals', 'referral_changes']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY caller ON {schema}.%I USING ('
            '  CASE WHEN current_setting(''entraide.role'', true) = ''partenaire'''
            '       THEN partner_id = NULLIF(current_setting(''entraide.partner_id'', true), '''')'
            '       ELSE territory = ANY ({schema}.caller_territories()) END)'
            ' WITH CHECK (current_setting(''entraide.role'', true) <> ''partenaire'''
            '             AND territory = ANY ({schema}.caller_territories()))', t);
    END LOOP;
END
$$;
