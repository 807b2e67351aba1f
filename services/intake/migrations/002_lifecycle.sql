-- The dossier through its whole lifecycle: who it is for, who follows it, how it ended,
-- its timeline (one row per workflow step) and its notes.
ALTER TABLE {schema}.dossiers
    ADD COLUMN person_id        uuid,
    ADD COLUMN household_id     uuid,
    ADD COLUMN assigned_agent   text NOT NULL DEFAULT '',
    ADD COLUMN outcome          text NOT NULL DEFAULT '',
    ADD COLUMN cycle            int  NOT NULL DEFAULT 0,
    ADD COLUMN last_step        int  NOT NULL DEFAULT 0,
    ADD COLUMN last_activity_at timestamptz;
CREATE INDEX dossiers_person ON {schema}.dossiers (person_id) WHERE person_id IS NOT NULL;
CREATE INDEX dossiers_territory_stage ON {schema}.dossiers (territory, stage, opened_at DESC);

CREATE TABLE {schema}.dossier_timeline (
    dossier_id uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    step       int  NOT NULL,
    territory  text NOT NULL,
    kind       text NOT NULL,
    stage      text NOT NULL,
    cycle      int  NOT NULL,
    actor      text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL,
    summary    text NOT NULL,
    PRIMARY KEY (dossier_id, step)
);

-- Free text written by agents (listening notes, follow-ups, closure notes).
CREATE TABLE {schema}.notes (
    note_id    uuid PRIMARY KEY,
    dossier_id uuid NOT NULL REFERENCES {schema}.dossiers (dossier_id),
    step       int  NOT NULL,
    territory  text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('interview', 'follow_up', 'closure', 'reopen')),
    author     text NOT NULL,
    visibility text NOT NULL CHECK (visibility IN ('team', 'author')),
    body       text NOT NULL,
    at         timestamptz NOT NULL,
    UNIQUE (dossier_id, step)
);
