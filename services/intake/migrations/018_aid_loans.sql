-- Personal micro-credits (docs/aides.md): a granted request of an aid type of nature
-- "loan" is set up with the partner bank's amount, duration and rate; its repayment
-- schedule is computed (domain.aides.loan_schedule) from these, never stored twice;
-- incidents reported by the bank or the person are kept in order.
CREATE TABLE {schema}.loans (
    loan_id        uuid PRIMARY KEY,
    aid_request_id uuid NOT NULL UNIQUE REFERENCES {schema}.aid_requests (aid_request_id),
    territory      text NOT NULL,
    bank           text NOT NULL,
    amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
    months         integer NOT NULL CHECK (months BETWEEN 1 AND 84),
    annual_rate_bp integer NOT NULL CHECK (annual_rate_bp BETWEEN 0 AND 2000),
    first_due      date NOT NULL,
    status         text NOT NULL CHECK (status IN ('repaying', 'repaid', 'closed')),
    -- Incidents recorded (LoanIncidentRecorded.sequence).
    version        integer NOT NULL DEFAULT 1,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    request_key    text NOT NULL UNIQUE
);

CREATE TABLE {schema}.loan_incidents (
    loan_id           uuid NOT NULL REFERENCES {schema}.loans (loan_id),
    seq               integer NOT NULL,
    territory         text NOT NULL,
    day               date NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('late', 'unpaid', 'early_repayment', 'rescheduled')),
    instalment_number integer NOT NULL DEFAULT 0 CHECK (instalment_number >= 0),
    amount_cents      bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    note              text NOT NULL DEFAULT '' CHECK (char_length(note) <= 1000),
    recorded_by       text NOT NULL,
    at                timestamptz NOT NULL,
    request_key       text UNIQUE,
    PRIMARY KEY (loan_id, seq)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['loans', 'loan_incidents']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
        EXECUTE format(
            'CREATE POLICY no_signaleur ON {schema}.%I AS RESTRICTIVE'
            ' USING (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')'
            ' WITH CHECK (coalesce(current_setting(''entraide.role'', true), '''') <> ''signaleur'')', t);
    END LOOP;
END
$$;
