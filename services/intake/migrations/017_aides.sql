-- Aides facultatives (docs/aides.md): budget lines, commissions, aid requests with their
-- instruction and decision, payments, and what they add to the dossier's timeline.
-- Money in integer cents. Every row carries its commune for row-level security.
CREATE TABLE {schema}.budget_lines (
    budget_line_id  uuid PRIMARY KEY,
    territory       text NOT NULL,
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    label           text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
    aid_types       text[] NOT NULL CHECK (cardinality(aid_types) >= 1),
    envelope_cents  bigint NOT NULL CHECK (envelope_cents >= 0),
    -- Granted less cancelled payments; paid. Changed only under the row's lock.
    committed_cents bigint NOT NULL DEFAULT 0 CHECK (committed_cents >= 0),
    paid_cents      bigint NOT NULL DEFAULT 0 CHECK (paid_cents >= 0),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    request_key     text NOT NULL UNIQUE
);
-- An aid type is on one line per commune and year.
CREATE TABLE {schema}.budget_line_types (
    territory      text NOT NULL,
    year           integer NOT NULL,
    aid_type       text NOT NULL,
    budget_line_id uuid NOT NULL REFERENCES {schema}.budget_lines (budget_line_id),
    PRIMARY KEY (territory, year, aid_type)
);

CREATE TABLE {schema}.commissions (
    commission_id uuid PRIMARY KEY,
    territory     text NOT NULL,
    day           date NOT NULL,
    starts_at     time NOT NULL,
    place         text NOT NULL DEFAULT '' CHECK (char_length(place) <= 200),
    members       text[] NOT NULL CHECK (cardinality(members) >= 1),
    status        text NOT NULL CHECK (status IN ('planned', 'held')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    request_key   text NOT NULL UNIQUE
);
CREATE INDEX commissions_day ON {schema}.commissions (territory, day);

CREATE TABLE {schema}.aid_requests (
    aid_request_id          uuid PRIMARY KEY,
    dossier_id              uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    person_id               uuid NOT NULL REFERENCES {schema}.persons (person_id),
    territory               text NOT NULL,
    aid_type                text NOT NULL,
    status                  text NOT NULL CHECK (status IN ('submitted', 'incomplete', 'complete', 'scheduled',
                            'granted', 'postponed', 'refused', 'withdrawn', 'closed')),
    amount_asked_cents      bigint NOT NULL CHECK (amount_asked_cents > 0),
    -- Free text: erased ('') with the person's anonymisation (rights.erase_dossiers).
    reason                  text NOT NULL CHECK (char_length(reason) <= 1000),
    resources_cents         bigint NOT NULL CHECK (resources_cents >= 0),
    charges_cents           bigint NOT NULL CHECK (charges_cents >= 0),
    adults                  integer NOT NULL CHECK (adults BETWEEN 1 AND 10),
    children                integer NOT NULL CHECK (children BETWEEN 0 AND 20),
    reste_a_vivre_cents     bigint NOT NULL,
    quotient_familial_cents bigint NOT NULL,
    missing_documents       text[] NOT NULL DEFAULT '{}',
    instruction_note        text NOT NULL DEFAULT '' CHECK (char_length(instruction_note) <= 1000),
    -- The commission whose agenda holds it (scheduled; kept once decided there).
    commission_id           uuid REFERENCES {schema}.commissions (commission_id),
    decision                text CHECK (decision IN ('granted', 'postponed', 'refused')),
    decision_channel        text CHECK (decision_channel IN ('commission', 'urgent')),
    amount_granted_cents    bigint NOT NULL DEFAULT 0 CHECK (amount_granted_cents >= 0),
    refusal_reason          text NOT NULL DEFAULT '',
    decision_reasons        text NOT NULL DEFAULT '' CHECK (char_length(decision_reasons) <= 1000),
    decision_members        text[] NOT NULL DEFAULT '{}',
    budget_line_id          uuid REFERENCES {schema}.budget_lines (budget_line_id),
    override_reason         text NOT NULL DEFAULT '',
    decided_by              text NOT NULL DEFAULT '',
    decided_at              timestamptz,
    -- Changes (1 at creation): AidProgress.version and the events' sequence.
    version                 integer NOT NULL DEFAULT 1,
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    request_key             text NOT NULL UNIQUE
);
CREATE INDEX aid_requests_dossier ON {schema}.aid_requests (dossier_id, created_at);
CREATE INDEX aid_requests_queue ON {schema}.aid_requests (territory, status, created_at);
CREATE INDEX aid_requests_person_year ON {schema}.aid_requests (person_id, aid_type, decided_at);

-- Every change of a request, in order; a retried change finds its request key.
CREATE TABLE {schema}.aid_request_changes (
    aid_request_id uuid NOT NULL REFERENCES {schema}.aid_requests (aid_request_id),
    version        integer NOT NULL,
    territory      text NOT NULL,
    change         text NOT NULL,
    actor          text NOT NULL,
    at             timestamptz NOT NULL,
    request_key    text UNIQUE,
    PRIMARY KEY (aid_request_id, version)
);

CREATE TABLE {schema}.payments (
    payment_id     uuid PRIMARY KEY,
    aid_request_id uuid NOT NULL REFERENCES {schema}.aid_requests (aid_request_id),
    territory      text NOT NULL,
    budget_line_id uuid REFERENCES {schema}.budget_lines (budget_line_id),
    amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
    mode           text NOT NULL CHECK (mode IN ('transfer', 'cheque', 'voucher', 'prepaid_card', 'cash')),
    payee_kind     text NOT NULL CHECK (payee_kind IN ('person', 'third_party')),
    payee_name     text NOT NULL DEFAULT '' CHECK (char_length(payee_name) <= 200),
    status         text NOT NULL CHECK (status IN ('to_pay', 'paid', 'cancelled')),
    reference      text NOT NULL DEFAULT '' CHECK (char_length(reference) <= 100),
    cancel_reason  text NOT NULL DEFAULT '' CHECK (char_length(cancel_reason) <= 500),
    due_at         timestamptz NOT NULL,
    paid_at        timestamptz,
    -- Changes (1 at creation): AidPaymentChanged.sequence.
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    request_key    text UNIQUE
);
CREATE INDEX payments_to_pay ON {schema}.payments (territory, status, due_at);
CREATE INDEX payments_request ON {schema}.payments (aid_request_id);

-- What the aid adds to the dossier's timeline (GetDossierTimeline merges it by time).
CREATE TABLE {schema}.aid_timeline (
    dossier_id     uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    entry_key      text NOT NULL,
    aid_request_id uuid NOT NULL,
    territory      text NOT NULL,
    kind           text NOT NULL,
    stage          text NOT NULL DEFAULT '',
    actor          text NOT NULL DEFAULT '',
    at             timestamptz NOT NULL,
    summary        text NOT NULL,
    PRIMARY KEY (dossier_id, entry_key)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['budget_lines', 'budget_line_types', 'commissions', 'aid_requests',
                             'aid_request_changes', 'payments', 'aid_timeline']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
        -- Case data: no signaleur reads or writes it (migration 015's rule for later tables).
        EXECUTE format(
            'CREATE POLICY no_signaleur ON {schema}.%I AS RESTRICTIVE'
            ' USING (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')'
            ' WITH CHECK (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')', t);
    END LOOP;
END
$$;

-- Existence and commune only (a clear PERMISSION_DENIED for another commune's).
CREATE FUNCTION {schema}.aid_request_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.aid_requests WHERE aid_request_id = id
$$;
GRANT EXECUTE ON FUNCTION {schema}.aid_request_territory(uuid) TO entraide_app;
