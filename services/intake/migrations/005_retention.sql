-- Retention and rights of the person (DOMAIN.md rules 3 and 5).
-- A person anonymised (on request, or by the retention schedule 2 years after the last
-- contact) keeps its row, its codes and its links (territory, commune of residence,
-- households, consents as a legal trace) but loses identity and contact fields. A
-- dossier anonymised keeps its codes (territory, motifs, channel, stage, outcome) so
-- statistics survive; its notes keep their row (author, kind, time) with an empty body.
ALTER TABLE {schema}.persons ADD COLUMN anonymised_at timestamptz;
ALTER TABLE {schema}.dossiers ADD COLUMN anonymised_at timestamptz;
-- When the note's body was erased (the row stays: who wrote what kind of note, when).
ALTER TABLE {schema}.notes ADD COLUMN erased_at timestamptz;
ALTER TABLE {schema}.notes ADD CONSTRAINT notes_erased_body_empty CHECK (erased_at IS NULL OR body = '');

-- The retention job's scan: dossiers not yet anonymised, oldest last contact first.
CREATE INDEX dossiers_last_activity ON {schema}.dossiers (last_activity_at)
    WHERE anonymised_at IS NULL;
CREATE INDEX persons_not_anonymised_updated ON {schema}.persons (updated_at)
    WHERE anonymised_at IS NULL;
