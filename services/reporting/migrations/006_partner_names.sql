-- The partners' names for the bilan (an organisation's name, never a person's), from
-- the `partner_name` of referral.status_changed events: one row per partner, merged
-- order-free by the projector (projector.NameVersion): the greatest (from_request,
-- name_at, name) wins, where from_request marks a name carried by a `requested` event
-- (read from the directory at that very time). Partners whose events carry no name
-- (written before events did) have no row: the bilan shows their id.
CREATE TABLE {schema}.partner_names (
    partner_id   text PRIMARY KEY,
    from_request boolean NOT NULL,
    name_at      timestamptz NOT NULL,
    name         text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.partner_names TO entraide_app;
