-- A consent withdrawn by the person: who recorded it and how the person expressed it.
-- A withdrawal is final (a new consent is a new row); the row stays as the legal trace.
ALTER TABLE {schema}.consents
    ADD COLUMN revoked_by text CHECK (char_length(revoked_by) BETWEEN 1 AND 100),
    ADD COLUMN revocation_channel text CHECK (revocation_channel IN ('oral', 'written', 'electronic')),
    ADD CONSTRAINT consent_revocation_dated CHECK (
        revoked_at IS NOT NULL OR (revoked_by IS NULL AND revocation_channel IS NULL)
    );

-- A withdrawal reaches every dossier of the person, in any commune (the referrals in
-- flight under it are cancelled wherever they are): ids and communes only.
CREATE FUNCTION {schema}.person_dossiers(id uuid) RETURNS TABLE (dossier_id uuid, territory text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT d.dossier_id, d.territory FROM {schema}.dossiers d WHERE d.person_id = id ORDER BY d.dossier_id
$$;
GRANT EXECUTE ON FUNCTION {schema}.person_dossiers(uuid) TO entraide_app;
