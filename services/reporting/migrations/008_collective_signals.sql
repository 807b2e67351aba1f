-- Collective actions and signals for the bilan (projection/collective.py), fed only by
-- their events. Codes, opaque ids, counts and times only: no name, no description.
-- Order-free like the other facts: any event of a row may arrive first, so every column
-- but the key is nullable until its event is applied, and each merges commutatively:
-- - a "latest" column group (status, outcome, a session's sheet) is replaced by the
--   greatest (sequence, at, value) ("C" collation for texts, as Python's tuples in the fold);
-- - a first time (enrolled_at, set_at, submitted_at, escalated_at) is the least;
-- - the territory, programme and signaller kind, which every event of a row repeats,
--   are the least non-null value (the same value in practice: deterministic otherwise).
-- Small tables (a CIAS holds tens of sessions and hundreds of signals a year): the
-- bilan reads the rows, no pre-aggregates.

-- A session of a programme whose attendance sheet was recorded (the latest sheet wins).
CREATE TABLE {schema}.group_session_facts (
    session_id   text PRIMARY KEY,
    programme_id text NOT NULL,
    territory    text NOT NULL,
    held_at      timestamptz NOT NULL,
    capacity     int NOT NULL,
    expected     int NOT NULL,
    present      int NOT NULL,
    absent       int NOT NULL,
    excused      int NOT NULL,
    sequence     int NOT NULL
);
CREATE INDEX group_session_facts_territory_held ON {schema}.group_session_facts (territory, held_at);

-- An enrolment: the person (from the enrolment event), its latest status (the enrolment
-- event is sequence -1: waiting or enrolled), whether it was put on the waiting list when
-- it was asked for, whether it was ever on the list (not only waiting: true once any
-- event says enrolled or completed) and its latest outcome.
CREATE TABLE {schema}.enrolment_facts (
    enrolment_id text PRIMARY KEY,
    programme_id text,
    territory    text,
    person_id    text,
    enrolled_at  timestamptz,
    status       text,
    status_seq   int,
    status_at    timestamptz,
    waited       boolean NOT NULL DEFAULT false,
    ever_enrolled boolean NOT NULL DEFAULT false,
    outcome      text,
    outcome_seq  int,
    outcome_at   timestamptz
);
CREATE INDEX enrolment_facts_programme ON {schema}.enrolment_facts (programme_id);
CREATE INDEX enrolment_facts_territory_outcome ON {schema}.enrolment_facts (territory, outcome_at);

-- A participant's goal: when it was first set, its latest status.
CREATE TABLE {schema}.goal_facts (
    goal_id      text PRIMARY KEY,
    programme_id text,
    enrolment_id text,
    territory    text,
    set_at       timestamptz,
    status       text,
    status_seq   int,
    status_at    timestamptz
);
CREATE INDEX goal_facts_territory_status ON {schema}.goal_facts (territory, status_at);

-- A signal ("aller vers"): received, its latest qualification (NULL while received) and
-- the dossier opened from it, escalated when not qualified in time.
CREATE TABLE {schema}.signal_facts (
    signal_id      text PRIMARY KEY,
    territory      text,
    signaller_kind text,
    submitted_at   timestamptz,
    status         text,
    status_at      timestamptz,
    dossier_id     text,
    escalated_at   timestamptz
);
CREATE INDEX signal_facts_territory_submitted ON {schema}.signal_facts (territory, submitted_at);
GRANT SELECT, INSERT, UPDATE, DELETE
    ON {schema}.group_session_facts, {schema}.enrolment_facts, {schema}.goal_facts, {schema}.signal_facts
    TO entraide_app;
