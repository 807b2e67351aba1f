-- The CCAS's own aid for the bilan (projection/aides.py), fed only by the aid and
-- budget line events. Codes, opaque ids, cents and times only: no name, no reason text.
-- Order-free: every row is one event's (a request, a decision, a payment's change, a
-- loan, an incident, a budget line), keyed by what identifies that event in its
-- aggregate (the request's change sequence for decisions and payment changes), so a
-- row is written once whatever the arrival order; should two versions of a key ever
-- differ, the least (in the "C" collation, as Python's tuples in the fold) is kept.
-- The bilan reads the rows (a CCAS decides hundreds of aids a year): figures "as of"
-- a date (a budget line's committed and paid at the period's end) are computed from
-- the dated changes, nothing is pre-aggregated.

-- An aid request as opened (aid.requested).
CREATE TABLE {schema}.aid_request_facts (
    aid_request_id     text PRIMARY KEY,
    dossier_id         text NOT NULL,
    person_id          uuid,
    territory          text NOT NULL,
    aid_type           text NOT NULL,
    amount_asked_cents bigint NOT NULL,
    requested_at       timestamptz NOT NULL
);
CREATE INDEX aid_request_facts_territory_at ON {schema}.aid_request_facts (territory, requested_at);

-- Each decision on a request (a postponed request is decided again later).
CREATE TABLE {schema}.aid_decision_facts (
    aid_request_id       text NOT NULL,
    sequence             int NOT NULL,
    territory            text NOT NULL,
    aid_type             text NOT NULL,
    decision             text NOT NULL,
    channel              text NOT NULL,
    amount_granted_cents bigint NOT NULL,
    refusal_reason       text NOT NULL,
    budget_line_id       text NOT NULL,
    overridden           boolean NOT NULL,
    commission_id        text NOT NULL,
    decided_at           timestamptz NOT NULL,
    PRIMARY KEY (aid_request_id, sequence)
);
CREATE INDEX aid_decision_facts_territory_at ON {schema}.aid_decision_facts (territory, decided_at);
CREATE INDEX aid_decision_facts_line ON {schema}.aid_decision_facts (budget_line_id);

-- A request withdrawn (its first withdrawal).
CREATE TABLE {schema}.aid_withdrawal_facts (
    aid_request_id text PRIMARY KEY,
    territory      text NOT NULL,
    withdrawn_at   timestamptz NOT NULL
);

-- Each change of a payment (created to pay, paid, cancelled).
CREATE TABLE {schema}.aid_payment_facts (
    payment_id     text NOT NULL,
    sequence       int NOT NULL,
    aid_request_id text NOT NULL,
    territory      text NOT NULL,
    aid_type       text NOT NULL,
    budget_line_id text NOT NULL,
    amount_cents   bigint NOT NULL,
    mode           text NOT NULL,
    status         text NOT NULL,
    changed_at     timestamptz NOT NULL,
    PRIMARY KEY (payment_id, sequence)
);
CREATE INDEX aid_payment_facts_territory_at ON {schema}.aid_payment_facts (territory, changed_at);
CREATE INDEX aid_payment_facts_line ON {schema}.aid_payment_facts (budget_line_id);

-- A micro-credit set up with its partner bank.
CREATE TABLE {schema}.loan_facts (
    loan_id        text PRIMARY KEY,
    aid_request_id text NOT NULL,
    territory      text NOT NULL,
    bank           text NOT NULL,
    amount_cents   bigint NOT NULL,
    months         int NOT NULL,
    annual_rate_bp int NOT NULL,
    set_up_at      timestamptz NOT NULL
);
CREATE INDEX loan_facts_territory_at ON {schema}.loan_facts (territory, set_up_at);

-- Each incident of a loan.
CREATE TABLE {schema}.loan_incident_facts (
    loan_id        text NOT NULL,
    sequence       int NOT NULL,
    aid_request_id text NOT NULL,
    territory      text NOT NULL,
    kind           text NOT NULL,
    amount_cents   bigint NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (loan_id, sequence)
);
CREATE INDEX loan_incident_facts_territory_at ON {schema}.loan_incident_facts (territory, at);

-- A budget line of a year: its envelope for an aid type or a group of types.
CREATE TABLE {schema}.budget_line_facts (
    budget_line_id text PRIMARY KEY,
    territory      text NOT NULL,
    year           int NOT NULL,
    label          text NOT NULL,
    aid_types      text[] NOT NULL,
    envelope_cents bigint NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX budget_line_facts_territory_year ON {schema}.budget_line_facts (territory, year);
GRANT SELECT, INSERT, UPDATE, DELETE
    ON {schema}.aid_request_facts, {schema}.aid_decision_facts, {schema}.aid_withdrawal_facts,
       {schema}.aid_payment_facts, {schema}.loan_facts, {schema}.loan_incident_facts,
       {schema}.budget_line_facts
    TO entraide_app;
