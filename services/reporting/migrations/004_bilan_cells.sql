-- Pre-aggregates of the bilan, maintained by the projector in the same transaction as
-- the fact rows (projector.CELLS_SQL: a changed fact row leaves its old cells, -1, and
-- enters its new ones, +1), so GetBilan reads O(days) cells instead of O(dossiers) rows.
-- Counts are exact. Durations: a log histogram per opening month with a per-cell sum,
-- bucket = ceil(ln(s) / ln(1.01)) (s <= 0: one bucket); the bilan reads each cell's mean,
-- within 1 % of every value of its bucket, so median and p90 are within 1 %.
CREATE TABLE {schema}.opened_cells (
    day       date   NOT NULL,  -- of opened_at, UTC
    territory text   NOT NULL,
    channel   text   NOT NULL,
    motifs    text[] NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (day, territory, channel, motifs)
);
CREATE TABLE {schema}.closed_cells (
    day       date   NOT NULL,  -- of closed_at (last closure), UTC
    territory text   NOT NULL,
    outcome   text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (day, territory, outcome)
);
CREATE TABLE {schema}.duration_cells (
    month     date   NOT NULL,  -- of opened_at, UTC
    territory text   NOT NULL,
    stage     text   NOT NULL,
    bucket    int    NOT NULL,
    n         bigint NOT NULL,
    seconds   double precision NOT NULL,
    PRIMARY KEY (month, territory, stage, bucket)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.opened_cells, {schema}.closed_cells, {schema}.duration_cells
    TO entraide_app;

-- Backfill from the existing fact rows (the same expressions as projector.CELLS_SQL).
INSERT INTO {schema}.opened_cells (day, territory, channel, motifs, n)
SELECT (opened_at AT TIME ZONE 'UTC')::date, territory, COALESCE(arrival_channel, ''),
       COALESCE(motifs, '{}'::text[]), count(*)
  FROM {schema}.dossier_facts WHERE opened_at IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO {schema}.closed_cells (day, territory, outcome, n)
SELECT (closed_at AT TIME ZONE 'UTC')::date, territory, COALESCE(outcome, ''), count(*)
  FROM {schema}.dossier_facts WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO {schema}.duration_cells (month, territory, stage, bucket, n, seconds)
SELECT month, territory, stage, bucket, count(*), sum(secs)
  FROM (SELECT date_trunc('month', f.opened_at AT TIME ZONE 'UTC')::date AS month, f.territory, s.stage,
               s.secs, CASE WHEN s.secs > 0 THEN ceil(ln(s.secs) / ln(1.01::float8))::int ELSE -32768 END
                   AS bucket
          FROM {schema}.dossier_facts f CROSS JOIN LATERAL (VALUES
               ('reception', extract(epoch FROM f.ecoute_at - f.opened_at)::float8),
               ('ecoute', extract(epoch FROM COALESCE(f.orientation_at, f.suivi_at, f.closed_at) - f.ecoute_at)::float8),
               ('orientation', extract(epoch FROM COALESCE(f.suivi_at, f.closed_at) - f.orientation_at)::float8),
               ('suivi', extract(epoch FROM f.closed_at - f.suivi_at)::float8),
               ('total', extract(epoch FROM f.closed_at - f.opened_at)::float8)) AS s(stage, secs)
         WHERE f.opened_at IS NOT NULL AND s.secs IS NOT NULL) d
 GROUP BY 1, 2, 3, 4;
