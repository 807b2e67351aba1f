-- Coarser pre-aggregates of the bilan beside the day cells of 004/005, maintained by the
-- projector in the same statements as those (projection/cells.py, people.py: -1 / +1
-- moves, order-free), so a year reads 12 month rows per territory and key instead of
-- 365 day rows: the whole months of a period from the month cells, its other whole
-- days from the day cells, its partial days from the fact rows (bilan.py).
CREATE TABLE {schema}.opened_month_cells (
    month     date   NOT NULL,  -- first day of the UTC month of opened_at
    territory text   NOT NULL,
    channel   text   NOT NULL,
    motifs    text[] NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (month, territory, channel, motifs)
);
CREATE TABLE {schema}.closed_month_cells (
    month     date   NOT NULL,  -- of closed_at (last closure), UTC
    territory text   NOT NULL,
    outcome   text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (month, territory, outcome)
);
-- Returns by opening month and the month of the same person's previous opening in the
-- same commune (both UTC).
CREATE TABLE {schema}.return_month_cells (
    month          date   NOT NULL,
    territory      text   NOT NULL,
    previous_month date   NOT NULL,
    n              bigint NOT NULL,
    PRIMARY KEY (month, territory, previous_month)
);
-- The monthly duration histograms of 004 summed by UTC quarter (months = 3) and year
-- (months = 12): a year reads one histogram per territory and stage instead of twelve.
CREATE TABLE {schema}.duration_span_cells (
    months    smallint NOT NULL,  -- 3 or 12
    start     date     NOT NULL,  -- first day of the quarter / year
    territory text     NOT NULL,
    stage     text     NOT NULL,
    bucket    int      NOT NULL,
    n         bigint   NOT NULL,
    seconds   double precision NOT NULL,
    PRIMARY KEY (months, start, territory, stage, bucket)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.opened_month_cells, {schema}.closed_month_cells,
    {schema}.return_month_cells, {schema}.duration_span_cells TO entraide_app;

-- A period starting mid-month reads the returns of its whole months whose previous
-- opening is in its first, partial month: by previous day.
CREATE INDEX return_cells_previous ON {schema}.return_cells (previous_day, day) INCLUDE (territory, n);

-- The partial months of a period read their stage times from the index alone (opened_at
-- index widened: the same key, so every plan using it stays), and the persons seen in
-- several communes likewise.
DROP INDEX {schema}.dossier_facts_opened;
CREATE INDEX dossier_facts_opened ON {schema}.dossier_facts (opened_at)
    INCLUDE (territory, ecoute_at, orientation_at, suivi_at, closed_at);
DROP INDEX {schema}.dossier_facts_multi;
CREATE INDEX dossier_facts_multi ON {schema}.dossier_facts (opened_at) INCLUDE (territory, person_key)
    WHERE multi_territory;

-- Backfill from the existing cells (the same sums as the projector's).
INSERT INTO {schema}.opened_month_cells (month, territory, channel, motifs, n)
SELECT date_trunc('month', day)::date, territory, channel, motifs, sum(n)
  FROM {schema}.opened_cells GROUP BY 1, 2, 3, 4;
INSERT INTO {schema}.closed_month_cells (month, territory, outcome, n)
SELECT date_trunc('month', day)::date, territory, outcome, sum(n)
  FROM {schema}.closed_cells GROUP BY 1, 2, 3;
INSERT INTO {schema}.return_month_cells (month, territory, previous_month, n)
SELECT date_trunc('month', day)::date, territory, date_trunc('month', previous_day)::date, sum(n)
  FROM {schema}.return_cells GROUP BY 1, 2, 3;
INSERT INTO {schema}.duration_span_cells (months, start, territory, stage, bucket, n, seconds)
SELECT s.months, s.start, c.territory, c.stage, c.bucket, sum(c.n), sum(c.seconds)
  FROM {schema}.duration_cells c CROSS JOIN LATERAL (VALUES
       (3::smallint, date_trunc('quarter', c.month)::date),
       (12::smallint, date_trunc('year', c.month)::date)) AS s(months, start)
 GROUP BY 1, 2, 3, 4, 5;
