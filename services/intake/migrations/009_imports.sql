-- Imports of a CCAS's existing files (ImportDossiers): one row per import that wrote,
-- counts only (the file itself is not kept: it holds personal data the rows now hold).
CREATE TABLE {schema}.imports (
    import_id         uuid PRIMARY KEY,
    -- The communes of the rows it brought in (the caller's, at most).
    territories       text[] NOT NULL,
    imported_by       text NOT NULL CHECK (char_length(imported_by) BETWEEN 1 AND 200),
    filename          text NOT NULL DEFAULT '' CHECK (char_length(filename) <= 255),
    format            text NOT NULL CHECK (format IN ('csv', 'xlsx')),
    -- SHA-256 of the file: the same file imported again is recognised in the history.
    file_sha256       bytea NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz,
    rows              integer NOT NULL DEFAULT 0,
    rejected          integer NOT NULL DEFAULT 0,
    dossiers_created  integer NOT NULL DEFAULT 0,
    already_imported  integer NOT NULL DEFAULT 0,
    persons_created   integer NOT NULL DEFAULT 0,
    households_created integer NOT NULL DEFAULT 0
);
ALTER TABLE {schema}.imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.imports FORCE ROW LEVEL SECURITY;
CREATE POLICY territory ON {schema}.imports
    USING (territories && {schema}.caller_territories())
    WITH CHECK (territories <@ {schema}.caller_territories());

-- The import that brought a dossier in (NULL for a dossier opened in Entraide), and
-- whether its DossierWorkflow is still to be started (an imported dossier still open:
-- ImportWorkflow starts it, then clears the flag).
ALTER TABLE {schema}.dossiers
    ADD COLUMN import_id uuid REFERENCES {schema}.imports (import_id),
    ADD COLUMN workflow_pending boolean NOT NULL DEFAULT false;
CREATE INDEX dossiers_import ON {schema}.dossiers (import_id) WHERE import_id IS NOT NULL;
CREATE INDEX dossiers_workflow_pending ON {schema}.dossiers (territory, dossier_id) WHERE workflow_pending;
