-- One fact row per dossier, fed only by events. Codes and timestamps only.
CREATE TABLE {schema}.dossier_facts (
    dossier_id      uuid PRIMARY KEY,
    territory       text NOT NULL,
    site            text NOT NULL,
    motifs          text[] NOT NULL,
    arrival_channel text NOT NULL,
    urgent          boolean NOT NULL,
    opened_at       timestamptz NOT NULL
);
CREATE INDEX dossier_facts_opened ON {schema}.dossier_facts (opened_at);
CREATE INDEX dossier_facts_territory_opened ON {schema}.dossier_facts (territory, opened_at);
