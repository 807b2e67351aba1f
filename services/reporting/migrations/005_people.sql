-- People received, countable from cells (projector.PEOPLE_*): each dossier knows the
-- opening of the same person's previous dossier in the same commune. The people of a
-- commune in [s, e) are its dossiers opened in [s, e) minus the "returns", those whose
-- previous opening is also >= s; across communes, a person seen in k selected communes
-- counts k - 1 times too many, and such dossiers are flagged (multi_territory, rare).
-- person_id is the opaque id dossier.opened carries; person_key is it after merges.
ALTER TABLE {schema}.dossier_facts
    ADD COLUMN person_id          uuid,
    ADD COLUMN person_key         uuid,
    ADD COLUMN previous_opened_at timestamptz,
    ADD COLUMN multi_territory    boolean NOT NULL DEFAULT false;
CREATE INDEX dossier_facts_person ON {schema}.dossier_facts (person_key) WHERE person_key IS NOT NULL;
CREATE INDEX dossier_facts_previous ON {schema}.dossier_facts (previous_opened_at)
    WHERE previous_opened_at IS NOT NULL;
CREATE INDEX dossier_facts_multi ON {schema}.dossier_facts (opened_at) WHERE multi_territory;

-- person.merged: the duplicate's dossiers count as the kept person's.
CREATE TABLE {schema}.person_aliases (
    merged_id uuid PRIMARY KEY,
    keep_id   uuid NOT NULL
);

-- Returns by opening day and previous opening day (both UTC).
CREATE TABLE {schema}.return_cells (
    day           date   NOT NULL,
    territory     text   NOT NULL,
    previous_day  date   NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (day, territory, previous_day)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.person_aliases, {schema}.return_cells TO entraide_app;
