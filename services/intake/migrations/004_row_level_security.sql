-- Shared secret, enforced by the database too: a connection sees the case data of the
-- territories its caller is assigned to (entraide.territories, set per connection by
-- kernel.db), and a note private to its author only when the caller is that author.
-- FORCE: the policies apply to the table owner as well; services run as entraide_app.
CREATE FUNCTION {schema}.caller_territories() RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT string_to_array(NULLIF(current_setting('entraide.territories', true), ''), ',')
$$;

-- Household members carry their household's territory, like every other row.
ALTER TABLE {schema}.household_members ADD COLUMN territory text;
UPDATE {schema}.household_members m SET territory = h.territory
  FROM {schema}.households h WHERE h.household_id = m.household_id;
ALTER TABLE {schema}.household_members ALTER COLUMN territory SET NOT NULL;
CREATE FUNCTION {schema}.member_territory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.territory IS NULL THEN
        SELECT territory INTO NEW.territory FROM {schema}.households WHERE household_id = NEW.household_id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER household_members_territory BEFORE INSERT ON {schema}.household_members
    FOR EACH ROW EXECUTE FUNCTION {schema}.member_territory();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dossiers', 'dossier_timeline', 'persons', 'households', 'household_members',
                             'consents', 'notes']
    LOOP
        EXECUTE format('ALTER TABLE {schema}.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE {schema}.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY territory ON {schema}.%I USING (territory = ANY ({schema}.caller_territories()))'
            ' WITH CHECK (territory = ANY ({schema}.caller_territories()))', t);
    END LOOP;
END
$$;

-- On top of the territory: private notes are for their author (or a rights export).
CREATE POLICY private_notes ON {schema}.notes AS RESTRICTIVE FOR SELECT USING (
    visibility = 'team'
    OR author = current_setting('entraide.subject', true)
    OR current_setting('entraide.all_notes', true) = 'on'
);

-- Existence and territory only, for a clear PERMISSION_DENIED on another territory's
-- dossier or person (instead of a silent NOT_FOUND).
CREATE FUNCTION {schema}.dossier_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.dossiers WHERE dossier_id = id
$$;
CREATE FUNCTION {schema}.person_territory(id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT territory FROM {schema}.persons WHERE person_id = id
$$;
GRANT EXECUTE ON FUNCTION {schema}.dossier_territory(uuid), {schema}.person_territory(uuid),
    {schema}.caller_territories() TO entraide_app;
