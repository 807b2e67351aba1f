CREATE TABLE {schema}.dossiers (
    dossier_id      uuid PRIMARY KEY,
    territory       text NOT NULL,
    site            text NOT NULL DEFAULT '',
    motifs          text[] NOT NULL CHECK (cardinality(motifs) > 0),
    arrival_channel text NOT NULL,
    urgent          boolean NOT NULL,
    stage           text NOT NULL CHECK (stage IN ('reception', 'ecoute', 'orientation', 'suivi', 'cloture')),
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX dossiers_territory_opened ON {schema}.dossiers (territory, opened_at);
