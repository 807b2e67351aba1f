-- Appointments for the bilan's activity figures, fed only by the appointment events
-- (projection/appointments.py). Codes, ids and times only: no person, no motif.
-- Order-free like the dossier facts: any event of an appointment may arrive first, so
-- every column but the key is nullable until its event is applied, and each merges
-- commutatively:
-- - the placement (site ... ends_at): the greatest (place_version, place_at, the place's
--   columns in the "C" collation) wins (a booking is version 0, each move carries its
--   version);
-- - the status: latest-at-wins, the greatest (status_at, status_rank, status) (a move
--   puts the appointment back to `booked`, a walk-in is booked `arrived`);
-- - booked_at: the least; walk_in: true once any event says so.
CREATE TABLE {schema}.appointment_facts (
    appointment_id uuid PRIMARY KEY,
    territory      text,
    place_version  int,
    place_at       timestamptz,
    site           text,
    room           text,
    permanence_id  text,
    host_kind      text,
    partner_id     text,
    partner_name   text,
    category       text,
    starts_at      timestamptz,
    ends_at        timestamptz,
    status         text,
    status_rank    int,
    status_at      timestamptz,
    walk_in        boolean NOT NULL DEFAULT false,
    booked_at      timestamptz
);
CREATE INDEX appointment_facts_territory_starts ON {schema}.appointment_facts (territory, starts_at);

-- Day cells of the appointments by the day they start (UTC) and every dimension the
-- bilan groups by, moved with their fact rows in the same transaction (-1 before the
-- upsert, +1 after: projection/appointments.py): exact counts in O(days) cells.
CREATE TABLE {schema}.appointment_cells (
    day        date    NOT NULL,
    territory  text    NOT NULL,
    site       text    NOT NULL,
    host_kind  text    NOT NULL,
    partner_id text    NOT NULL,
    category   text    NOT NULL,
    status     text    NOT NULL,
    walk_in    boolean NOT NULL,
    n          bigint  NOT NULL,
    PRIMARY KEY (day, territory, site, host_kind, partner_id, category, status, walk_in)
);

-- The hosting partners' names as the appointment events carry them (the bilan's label):
-- the greatest (name_at, name) wins, name_at being the carrying event's `at`.
CREATE TABLE {schema}.appointment_hosts (
    partner_id text PRIMARY KEY,
    name_at    timestamptz NOT NULL,
    name       text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE
    ON {schema}.appointment_facts, {schema}.appointment_cells, {schema}.appointment_hosts TO entraide_app;
