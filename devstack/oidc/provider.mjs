// Local OpenID provider for Entraide's tests and dev stack, built on oidc-provider (v9).
//
// Started as `node devstack/oidc/provider.mjs <config.json>`; the config is written by
// devstack/oidc_provider.py. Not for production: accounts come from the config, any password is
// accepted, and all state (sessions, codes, grants) lives in memory.
//
// Config (JSON):
//   issuer          "http://127.0.0.1:<port>" (no trailing slash)
//   port            port to listen on (127.0.0.1 only, unless "host" is given)
//   clients         [{client_id, client_secret?, redirect_uris, post_logout_redirect_uris,
//                     token_endpoint_auth_method}]
//   accounts        [{sub, claims: {email, email_verified, given_name, usual_name, family_name, name,
//                     siret, uid, idp_id, ...}}]
//   jwks            {keys: [private RSA JWKs with kid]}: all published; the first one signs
//   spare_keys      [private RSA JWKs]: promoted one by one by POST /_test/rotate
//   cookie_keys     [secret strings] signing the provider's cookies
//   test_admin      true enables POST /_test/rotate
//
// Interaction pages (our own, in French; the built-in devInteractions are off because they accept
// any login): GET /interaction/<uid> shows the login form (form#login-form, input#login,
// input#password, button#login-submit), POST /interaction/<uid>/login signs in an account known
// by its sub or email, and GET /interaction/<uid>/abort cancels (access_denied). Consent is granted
// automatically: every configured client is first-party.
//
// Key rotation (POST /_test/rotate, only with test_admin): the next spare key (or, when none is
// left, an RSA key generated here) becomes the signing key, put first in the JWKS; the former keys
// stay published after it, so tokens they signed still verify. The provider object is rebuilt with
// the new key set and swapped in; sessions, codes and grants survive because oidc-provider's memory
// adapter keeps them per process. Restarting with reordered `jwks.keys` does the same durably.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs <config.json>');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const { issuer } = config;
const listenPort = Number(config.port ?? new URL(issuer).port);
const listenHost = config.host ?? '127.0.0.1';

// ProConnect-like claims. Each key is a scope; asking for the scope releases its claims.
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'usual_name'],
  given_name: ['given_name'],
  usual_name: ['usual_name'],
  uid: ['uid'],
  siret: ['siret'],
  siren: ['siren'],
  organizational_unit: ['organizational_unit'],
  belonging_population: ['belonging_population'],
  phone: ['phone'],
  chorusdt: ['chorusdt'],
  idp_id: ['idp_id'],
  idp_acr: ['idp_acr'],
  custom: ['custom'],
};

const accounts = new Map(config.accounts.map((account) => [account.sub, account]));

function lookupLogin(login) {
  const wanted = String(login ?? '').trim();
  if (!wanted) return undefined;
  if (accounts.has(wanted)) return accounts.get(wanted);
  const lower = wanted.toLowerCase();
  return config.accounts.find((account) => String(account.claims?.email ?? '').toLowerCase() === lower);
}

async function findAccount(_ctx, sub) {
  const account = accounts.get(sub);
  if (!account) return undefined; // unknown subjects never get an account
  return {
    accountId: sub,
    async claims() {
      return { ...account.claims, sub };
    },
  };
}

function clientMetadata(client) {
  const method = client.token_endpoint_auth_method
    ?? (client.client_secret ? 'client_secret_basic' : 'none');
  const metadata = {
    client_id: client.client_id,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    token_endpoint_auth_method: method,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  };
  if (method !== 'none') metadata.client_secret = client.client_secret;
  return metadata;
}

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}
</style>
</head>
<body>
<h1>${esc(title)}</h1>
${body}
</body>
</html>`;
}

async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Déconnexion', `${form}
<p>Voulez-vous vous déconnecter de ${esc(ctx.host)} ?</p>
<button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes">Se déconnecter</button>
<button id="logout-cancel" type="submit" form="op.logoutForm">Rester connecté</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Déconnecté', '<p id="logout-done">Vous êtes déconnecté.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const items = Object.entries(out).map(([key, value]) => `<p><strong>${esc(key)}</strong> : ${esc(value)}</p>`);
  ctx.body = page('Erreur', `<div id="error" class="error">${items.join('')}</div>`);
}

function publicKeyId(jwk) {
  return jwk.kid ?? crypto.createHash('sha256').update(jwk.n).digest('base64url').slice(0, 16);
}

function generateKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `node-${crypto.randomBytes(8).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

function normaliseKey(jwk) {
  return { alg: 'RS256', use: 'sig', ...jwk, kid: publicKeyId(jwk) };
}

let signingKeys = config.jwks.keys.map(normaliseKey);
const spareKeys = (config.spare_keys ?? []).map(normaliseKey);

function buildProvider(keys) {
  const provider = new Provider(issuer, {
    clients: config.clients.map(clientMetadata),
    jwks: { keys },
    findAccount,
    claims: CLAIMS,
    scopes: ['openid', 'offline_access'],
    conformIdTokenClaims: false, // scope claims go into the ID token too, not only userinfo
    pkce: { required: () => true }, // S256 is the only method oidc-provider v9 knows
    cookies: {
      keys: config.cookie_keys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => true,
    renderError,
    ttl: {
      AccessToken: 60 * 60,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Grant: 12 * 60 * 60,
      Session: 12 * 60 * 60,
      RefreshToken: 24 * 60 * 60,
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  return provider;
}

let provider = buildProvider(signingKeys);
let handler = provider.callback();

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid, details, { error, login } = {}) {
  const hint = login ?? details.params.login_hint ?? '';
  const message = error ? `<p id="login-error" class="error" role="alert">${esc(error)}</p>` : '';
  return page('Connexion', `${message}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="login">Identifiant</label>
  <input id="login" name="login" type="text" required autofocus value="${esc(hint)}">
  <label for="password">Mot de passe</label>
  <input id="password" name="password" type="password">
  <button id="login-submit" type="submit">Se connecter</button>
</form>
<p><a id="login-abort" href="/interaction/${esc(uid)}/abort">Annuler</a></p>`);
}

async function grantConsent(req, res, details) {
  const { prompt: { details: missing }, grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, page('Erreur', `<p id="error" class="error">Session de connexion introuvable ou expirée (${esc(err.message)}).</p>`));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, page('Erreur', '<p id="error" class="error">Session de connexion invalide.</p>'));
    return;
  }
  const promptName = details.prompt.name;
  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (promptName === 'consent') {
    await grantConsent(req, res, details);
    return;
  }
  if (promptName !== 'login') {
    send(res, 501, page('Erreur', `<p id="error" class="error">Étape non prise en charge : ${esc(promptName)}</p>`));
    return;
  }
  if (action === '' && req.method === 'GET') {
    send(res, 200, loginPage(uid, details));
    return;
  }
  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const account = lookupLogin(login);
    if (!account) {
      send(res, 401, loginPage(uid, details, { error: 'Identifiant inconnu.', login }));
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: account.sub },
    }, { mergeWithLastSubmission: false });
    return;
  }
  send(res, 405, 'method not allowed', 'text/plain');
}

function rotate() {
  const next = spareKeys.shift() ?? generateKey();
  signingKeys = [next, ...signingKeys.filter((key) => key.kid !== next.kid)];
  provider = buildProvider(signingKeys);
  handler = provider.callback();
  console.log(`oidc provider rotated signing key: kid=${next.kid} (published: ${signingKeys.map((k) => k.kid).join(', ')})`);
  return { signing_kid: next.kid, kids: signingKeys.map((key) => key.kid) };
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?$/;

const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  try {
    const match = INTERACTION.exec(pathname);
    if (match) {
      await interaction(req, res, match[1], match[2] ?? '');
      return;
    }
    if (pathname === '/_test/rotate' && config.test_admin) {
      if (req.method !== 'POST') {
        send(res, 405, 'method not allowed', 'text/plain');
        return;
      }
      send(res, 200, JSON.stringify(rotate()), 'application/json');
      return;
    }
    handler(req, res);
  } catch (err) {
    console.error('request failed', pathname, err);
    if (!res.headersSent) send(res, 500, page('Erreur', '<p id="error" class="error">Erreur interne.</p>'));
    else res.end();
  }
});

server.listen(listenPort, listenHost, () => {
  console.log(`oidc provider listening: issuer=${issuer} port=${listenPort} signing_kid=${signingKeys[0].kid}`
    + ` clients=${config.clients.length} accounts=${config.accounts.length} test_admin=${Boolean(config.test_admin)}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
