-- The console's own tables: the agents directory and the sessions. No person helped,
-- no note: case data stays in the services.

-- Who may sign in, with what role and where. ProConnect and most identity providers
-- know nothing of Entraide's roles: the directory maps a provider identity
-- (issuer + subject, bound at the first sign-in by e-mail) to an agent.
CREATE TABLE {schema}.agents (
    agent_id     text PRIMARY KEY CHECK (length(agent_id) BETWEEN 1 AND 100),
    display_name text NOT NULL,
    email        text NOT NULL,
    role         text NOT NULL,
    territories  text[] NOT NULL DEFAULT '{}',
    site         text NOT NULL DEFAULT '',
    team         text NOT NULL DEFAULT '',
    partner_id   text NOT NULL DEFAULT '',
    active       boolean NOT NULL DEFAULT true,
    -- The provider identity, bound at the first sign-in.
    issuer       text,
    subject      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE UNIQUE INDEX agents_email ON {schema}.agents (lower(email));

-- One row per signed-in browser. The cookie holds a random token; only its SHA-256
-- is stored, so a read of this table gives no usable session.
CREATE TABLE {schema}.sessions (
    token_hash   bytea PRIMARY KEY,
    agent_id     text NOT NULL REFERENCES {schema}.agents (agent_id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- The provider's ID token, kept for RP-initiated sign-out (id_token_hint).
    id_token     text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_last_seen ON {schema}.sessions (last_seen_at);

-- A sign-in under way (authorization code + PKCE): the state the browser brings back.
CREATE TABLE {schema}.sign_ins (
    state         text PRIMARY KEY,
    code_verifier text NOT NULL,
    nonce         text NOT NULL,
    return_to     text NOT NULL DEFAULT '/',
    created_at    timestamptz NOT NULL
);
