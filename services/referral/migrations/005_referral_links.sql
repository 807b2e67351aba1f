-- Signed single-referral links: a partner answers one referral through a link in an
-- e-mail, without an account (services/referral/links.py). The token given out is
-- the link id, the referral id, the expiry and an HMAC-SHA256 over them; this table
-- says whether the link is still good (not revoked, not used, not expired).
CREATE TABLE {schema}.referral_links (
    link_id      uuid PRIMARY KEY,
    referral_id  uuid NOT NULL,
    partner_id   text NOT NULL,
    territory    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    used_at      timestamptz,
    created_by   text NOT NULL,
    -- The answer under way or recorded (derived from its request id): its retry is
    -- recognised, any other answer refused.
    answer_key   text,
    answering_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX referral_links_referral ON {schema}.referral_links (referral_id);

-- Rule 2 again: a partner's connection never sees links (a link is the platform's
-- credential, not the partner's data); anyone else, their territories' links.
ALTER TABLE {schema}.referral_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE {schema}.referral_links FORCE ROW LEVEL SECURITY;
CREATE POLICY caller ON {schema}.referral_links USING (
    current_setting('entraide.role', true) <> 'partenaire'
    AND territory = ANY ({schema}.caller_territories()))
    WITH CHECK (current_setting('entraide.role', true) <> 'partenaire'
                AND territory = ANY ({schema}.caller_territories()));

-- The link a verified token names, whatever the caller's territories (the console
-- presenting a partner's link has none): existence and state only, runs as its owner.
CREATE FUNCTION {schema}.referral_link(id uuid)
RETURNS TABLE (link_id uuid, referral_id uuid, partner_id text, territory text, expires_at timestamptz,
               revoked_at timestamptz, used_at timestamptz, answer_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT l.link_id, l.referral_id, l.partner_id, l.territory, l.expires_at, l.revoked_at, l.used_at,
           l.answer_key
      FROM {schema}.referral_links l WHERE l.link_id = id
$$;
REVOKE ALL ON FUNCTION {schema}.referral_link(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.referral_link(uuid) TO entraide_app;

-- A referral's commune, partner and status, for the platform creating a link to it
-- (the notifier, a service token without territories).
CREATE FUNCTION {schema}.referral_target(id uuid)
RETURNS TABLE (referral_id uuid, partner_id text, territory text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT r.referral_id, r.partner_id, r.territory, r.status FROM {schema}.referrals r WHERE r.referral_id = id
$$;
REVOKE ALL ON FUNCTION {schema}.referral_target(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.referral_target(uuid) TO entraide_app;
