-- Persons (usagers), households (foyers) and consents to share with partners.
-- Optional fields are NULL when absent. Every row carries its territory.

CREATE TABLE {schema}.persons (
    person_id       uuid PRIMARY KEY,
    territory       text NOT NULL,
    -- Idempotency key of CreatePerson, unique per territory.
    request_id      text NOT NULL,
    first_name      text NOT NULL CHECK (char_length(first_name) BETWEEN 1 AND 100),
    last_name       text NOT NULL CHECK (char_length(last_name) BETWEEN 1 AND 100),
    -- Case- and accent-insensitive "last|first" (computed in Python), for duplicate search.
    name_key        text NOT NULL CHECK (name_key <> ''),
    birth_date      date,
    -- Normalised: "0612345678" for French numbers, "+<digits>" for other countries.
    phone           text CHECK (phone ~ '^\+?[0-9]{10,15}$'),
    email           text CHECK (char_length(email) <= 254),
    address_commune text,
    address_line    text CHECK (char_length(address_line) <= 200),
    merged_into     uuid REFERENCES {schema}.persons (person_id),
    -- Who merged this person into `merged_into`, and when.
    merged_by       text,
    merged_at       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (territory, request_id),
    CHECK (merged_into IS NULL OR merged_into <> person_id),
    CHECK ((merged_into IS NULL) = (merged_at IS NULL))
);
-- Duplicates are searched across the whole deployment, not per territory.
CREATE INDEX persons_name_key_birth_date ON {schema}.persons (name_key, birth_date)
    WHERE merged_into IS NULL;
CREATE INDEX persons_phone ON {schema}.persons (phone)
    WHERE phone IS NOT NULL AND merged_into IS NULL;
CREATE INDEX persons_merged_into ON {schema}.persons (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE {schema}.households (
    household_id uuid PRIMARY KEY,
    territory    text NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE TABLE {schema}.household_members (
    household_id uuid NOT NULL REFERENCES {schema}.households (household_id),
    person_id    uuid NOT NULL REFERENCES {schema}.persons (person_id),
    PRIMARY KEY (household_id, person_id)
);
CREATE INDEX household_members_person ON {schema}.household_members (person_id);

CREATE TABLE {schema}.consents (
    consent_id  uuid PRIMARY KEY,
    territory   text NOT NULL,
    person_id   uuid NOT NULL REFERENCES {schema}.persons (person_id),
    -- A dossier of intake.dossiers when the consent was given for one; no FK (dossiers are
    -- written by the dossier workflow's activities).
    dossier_id  uuid,
    partner_id  text NOT NULL CHECK (partner_id ~ '^[a-z0-9_-]{1,63}$'),
    data_scope  text[] NOT NULL CHECK (cardinality(data_scope) > 0),
    kind        text NOT NULL CHECK (kind IN ('consent', 'legal_basis')),
    channel     text CHECK (channel IN ('oral', 'written', 'electronic')),
    legal_basis text CHECK (char_length(legal_basis) <= 200),
    agent       text NOT NULL CHECK (char_length(agent) BETWEEN 1 AND 100),
    recorded_at timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK (kind <> 'legal_basis' OR coalesce(btrim(legal_basis), '') <> ''),
    CHECK (kind <> 'consent' OR channel IS NOT NULL)
);
CREATE INDEX consents_person_partner ON {schema}.consents (person_id, partner_id);
