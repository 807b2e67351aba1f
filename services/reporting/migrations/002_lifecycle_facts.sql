-- The dossier's path through its stages, fed by lifecycle events (codes and times only).
ALTER TABLE {schema}.dossier_facts
    ADD COLUMN stage          text NOT NULL DEFAULT 'reception',
    ADD COLUMN stage_at       timestamptz,
    ADD COLUMN ecoute_at      timestamptz,
    ADD COLUMN orientation_at timestamptz,
    ADD COLUMN suivi_at       timestamptz,
    ADD COLUMN closed_at      timestamptz,
    ADD COLUMN outcome        text,
    ADD COLUMN escalated      boolean NOT NULL DEFAULT false,
    ADD COLUMN reopened       int NOT NULL DEFAULT 0,
    ADD COLUMN reminders      int NOT NULL DEFAULT 0;
CREATE INDEX dossier_facts_stage ON {schema}.dossier_facts (stage);
