-- Sites are deployment data now (the reference file: code, label, commune, rooms): a
-- dossier's `site` holds a site code. A migration cannot read the reference file, so
-- the free text recorded before is kept, without loss, in `legacy_sites`: one row per
-- distinct (commune, text), under a stable code derived from them
-- ('ancien-' || 10 hex digits of md5(commune || '/' || text): the same text of the same
-- commune gets the same code on every copy of the database), and the dossiers carry
-- that code.
--
-- Mapping a legacy code to one of the deployment's sites: `map_legacy_site(commune,
-- legacy code, site code)` rewrites the dossiers and records the mapping. The intake
-- service does it at every start for each legacy text equal to a site's label or code of
-- the same commune (case, accents, punctuation and spaces ignored:
-- services/intake/legacy_sites.py); an operator maps the others by hand, e.g.
--   SELECT intake.map_legacy_site('55029', 'ancien-0123456789', 'antenne-cote-sainte-catherine');
-- Events published before keep their free text (reporting shows no site of a dossier).

-- Every dossier, whatever its commune: a migrator subject to row-level security gets an
-- error here rather than a migration that silently skips the rows it cannot see.
SET LOCAL row_security = off;

CREATE TABLE {schema}.legacy_sites (
    territory  text NOT NULL,
    code       text NOT NULL,
    label      text NOT NULL,
    -- The deployment's site code the dossiers were moved to, once mapped.
    mapped_to  text,
    mapped_at  timestamptz,
    PRIMARY KEY (territory, code)
);

INSERT INTO {schema}.legacy_sites (territory, code, label)
SELECT DISTINCT territory, 'ancien-' || left(md5(territory || '/' || site), 10), site
  FROM {schema}.dossiers
 WHERE site <> '';

UPDATE {schema}.dossiers d
   SET site = l.code
  FROM {schema}.legacy_sites l
 WHERE l.territory = d.territory AND l.label = d.site;

ALTER TABLE {schema}.legacy_sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.legacy_sites FORCE ROW LEVEL SECURITY;
CREATE POLICY territory ON {schema}.legacy_sites
    USING (territory = ANY ({schema}.caller_territories()))
    WITH CHECK (territory = ANY ({schema}.caller_territories()));

-- Runs with the caller's rights (row-level security applies): the service calls it in
-- the platform's scope of the commune; an operator as the schema's owner. Returns the
-- number of dossiers moved; mapping again (or to another site) moves the dossiers still
-- carrying the legacy code, and those only.
CREATE FUNCTION {schema}.map_legacy_site(commune text, legacy text, site_code text) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    IF site_code IS NULL OR site_code = '' OR site_code LIKE 'ancien-%' THEN
        RAISE EXCEPTION 'map_legacy_site: % is not a site code of the deployment', site_code;
    END IF;
    UPDATE {schema}.legacy_sites SET mapped_to = site_code, mapped_at = now()
     WHERE territory = commune AND code = legacy;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'map_legacy_site: no legacy site % in commune %', legacy, commune;
    END IF;
    UPDATE {schema}.dossiers SET site = site_code WHERE territory = commune AND site = legacy;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END
$$;
GRANT EXECUTE ON FUNCTION {schema}.map_legacy_site(text, text, text) TO entraide_app;
