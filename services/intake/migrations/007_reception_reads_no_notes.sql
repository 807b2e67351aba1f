-- Reception (accueil) reads a dossier's steps to know where it stands, never the notes
-- written by those who follow it: on top of RLS by territory and author, no row of
-- notes is visible to the accueil role.
CREATE POLICY notes_not_for_reception ON {schema}.notes AS RESTRICTIVE FOR SELECT USING (
    current_setting('entraide.role', true) IS DISTINCT FROM 'accueil'
);
