// Meterbook test identity provider: an AD FS look-alike OpenID Connect provider for tests.
//
// Usage:
//   node end2end/idp/server.mjs --port 0 --dir <state dir> [--issuer-path /adfs]
//
// It listens on 127.0.0.1 only, over HTTPS with a self-signed certificate kept in
// <state dir>/cert.pem and <state dir>/key.pem (created with openssl when missing or about to
// expire). When ready it prints exactly one JSON line to stdout and nothing else:
//   {"issuer":"https://127.0.0.1:PORT/adfs","port":PORT,"ca":"/abs/state/cert.pem",
//    "clientCertificate":"/abs/state/meterbook-upstream-cert.pem"}
// The last is the certificate and private key (PEM) of the client meterbook-upstream-cert, which
// authenticates with a signed client assertion (private_key_jwt), as a service principal with a
// certificate does against AD FS or Entra ID.
// Logs (one line per request, token request parameters with secrets redacted, provider
// warnings) go to stderr. SIGTERM/SIGINT exit with status 0.
//
// The provider (oidc-provider, pinned in end2end/package.json) is mounted under the issuer path,
// like AD FS: discovery is at <issuer>/.well-known/openid-configuration and the endpoints keep
// AD FS's paths (/adfs/oauth2/authorize, /adfs/oauth2/token, /adfs/discovery/keys,
// /adfs/userinfo, /adfs/oauth2/logout).
//
// Configuration: <state dir>/config.json, written with defaults when missing and re-read on every
// request that needs it, so a test can rewrite it (a client's redirect_uris, a user's groups)
// between sign-ins without restarting. Shape:
//   {
//     "audiences": ["api://meterbook", "https://..."],   // valid `resource` values (token `aud`)
//     "clients": { "<client_id>": { client metadata as in OIDC Dynamic Client Registration,
//                                   plus "roles": [...] and "oid": "<guid>" for app tokens,
//                                   and "token_ttl": seconds for its access tokens (3600) } },
//     "users":   { "<login>": { "password", "name", "email", "upn", "groups": [], "roles": [] } }
//   }
// Clients are resolved through the storage adapter on every request (oidc-provider's documented
// dynamic client lookup), so there is no --redirect-uri flag: edit config.json instead.
//
// Access tokens: a token request (or authorization request) that names a resource, either as
// RFC 8707 `resource=<aud>` or as MSAL's `scope=<aud>/.default`, gets a JWT access token
// (RS256, typ at+jwt) with `aud` = that audience. Without one, the access token is an opaque one
// for the userinfo endpoint. The authorization code flow requires PKCE (S256).
//
// Sign-in: <issuer>/interaction/<uid> shows a form (labels "Username" and "Password", button
// "Sign in"; fields `username` and `password`) checked against config.json's users. Consent is
// then granted without asking, as AD FS does for a configured relying party. RP-initiated logout
// shows a confirmation page with a "Sign out" button, then redirects to the registered
// post_logout_redirect_uri.
//
// Admin API for tests, outside the issuer path. It has NO authentication: this is a loopback-only
// test tool and the server binds to 127.0.0.1.
//   GET  /admin/health                 -> 200 {"ok":true,"issuer":...}
//   POST /admin/users/<login>          JSON merged into that user (created if missing),
//                                      e.g. {"groups":[],"roles":["Meterbook.Operator"]}
//   POST /admin/clients/<client_id>    JSON merged into that client, e.g. {"redirect_uris":[...]}
//   GET  /admin/issued                 -> {"<client_id>": n}: client-credentials tokens issued
//   POST /admin/rotate-keys            new RSA key first in the JWKS, used for new tokens; the
//                                      old keys stay published for verification -> {"kid","kids"}
//
// Proof that all of this works: bash end2end/idp/check.sh

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

// stdout carries only the ready line; oidc-provider prints its notices with console.info.
console.log = console.info = console.debug = (...args) => console.error(...args);

const { Provider, errors } = await import('oidc-provider');
// The default in-memory adapter is not exported from the package root. Importing it by path is
// fine with the exact version pin, and lets every Provider instance built after a key rotation
// share one store, so sessions, interactions and codes survive the rotation.
const { createMemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    dir: { type: 'string' },
    'issuer-path': { type: 'string', default: '/adfs' },
  },
});
if (!args.dir) {
  console.error('usage: node server.mjs --port 0 --dir <state dir> [--issuer-path /adfs]');
  process.exit(2);
}
const stateDir = path.resolve(args.dir);
// '' when the issuer has no path (--issuer-path /), '/adfs' by default.
const issuerPath = args['issuer-path'].replace(/^\/+|\/+$/g, '').replace(/^(?=.)/, '/');
const certFile = path.join(stateDir, 'cert.pem');
const keyFile = path.join(stateDir, 'key.pem');
const configFile = path.join(stateDir, 'config.json');
fs.mkdirSync(stateDir, { recursive: true });

// ---------------------------------------------------------------------------------------------
// Configuration file

// Stable per-client object id, like Entra's service principal oid, derived from the name so that
// it is the same across restarts without having to be written down.
function fixedGuid(name) {
  const h = crypto.createHash('sha256').update(`meterbook-test-idp:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function defaultConfig() {
  const user = (login, password, name, groups) => ({
    password,
    name,
    email: `${login}@meterbook.test`,
    upn: `${login}@meterbook.test`,
    groups,
    roles: [],
  });
  return {
    audiences: ['api://meterbook', 'https://management.local.azurestack.external/'],
    clients: {
      'meterbook-portal': {
        client_secret: 'portal-secret',
        redirect_uris: ['http://127.0.0.1:3000/auth/oidc/callback'],
        post_logout_redirect_uris: ['http://127.0.0.1:3000/'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // oidc-provider 9 accepts client_secret_post as well for a client registered with
        // client_secret_basic (both are "client secret" methods).
        token_endpoint_auth_method: 'client_secret_basic',
      },
      'meterbook-upstream': {
        client_secret: 'upstream-secret',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        roles: ['Meterbook.Operator'],
        oid: fixedGuid('meterbook-upstream'),
      },
      'meterbook-upstream-cert': {
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'RS256',
        roles: ['Meterbook.Operator'],
        oid: fixedGuid('meterbook-upstream-cert'),
      },
      'billing-script': {
        client_secret: 'script-secret',
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        roles: ['Meterbook.Reader'],
        oid: fixedGuid('billing-script'),
      },
    },
    users: {
      olivia: user('olivia', 'olivia-pass', 'Olivia Operator', ['meterbook-operators']),
      terry: user('terry', 'terry-pass', 'Terry Tenant', ['tenant-contoso']),
      nobody: user('nobody', 'nobody-pass', 'Nobody', []),
    },
  };
}

function readConfig() {
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  return {
    audiences: config.audiences ?? [],
    clients: config.clients ?? {},
    users: config.users ?? {},
  };
}

// Write-then-rename so that a request never reads a half-written file.
function writeConfig(config) {
  const tmp = `${configFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`);
  fs.renameSync(tmp, configFile);
}

if (!fs.existsSync(configFile)) writeConfig(defaultConfig());

// ---------------------------------------------------------------------------------------------
// TLS certificate

function certUsable() {
  try {
    const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
    fs.accessSync(keyFile, fs.constants.R_OK);
    // The certificate is only valid for 2 days; make a new one rather than fail mid-test.
    return Date.parse(cert.validTo) > Date.now() + 60 * 60 * 1000;
  } catch {
    return false;
  }
}

if (!certUsable()) {
  try {
    // Output is captured: openssl's key generation progress is noise unless it fails.
    // A leaf certificate, not a CA: rustls (webpki) refuses a CA certificate presented as a
    // server's own, whereas OpenSSL-based clients accept either.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext', 'extendedKeyUsage=serverAuth',
      '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'pipe' });
  } catch (err) {
    console.error(`openssl failed: ${err.stderr ?? err.message}`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------
// A service principal's certificate (meterbook-upstream-cert): its private key signs client
// assertions; the public key is registered with the client, as an uploaded certificate is.

const clientCertFile = path.join(stateDir, 'meterbook-upstream-cert.pem');

function newClientCertificate() {
  const dir = fs.mkdtempSync(path.join(stateDir, 'client-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-subj', '/CN=meterbook-upstream-cert',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'pipe' });
    const pem = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
    fs.writeFileSync(clientCertFile, pem, { mode: 0o600 });
  } catch (err) {
    console.error(`openssl failed: ${err.stderr ?? err.message}`);
    process.exit(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const cert = new crypto.X509Certificate(fs.readFileSync(clientCertFile));
  if (Date.parse(cert.validTo) < Date.now() + 60 * 60 * 1000) newClientCertificate();
} catch {
  newClientCertificate();
}

// The certificate's public key as a JWK, with its SHA-1 thumbprint as x5t (AD FS and Entra ID
// find a client's certificate by the x5t of the assertion's header).
function clientCertificateJwk() {
  const cert = new crypto.X509Certificate(fs.readFileSync(clientCertFile));
  const x5t = crypto.createHash('sha1').update(cert.raw).digest('base64url');
  return { ...cert.publicKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', x5t };
}

// ---------------------------------------------------------------------------------------------
// Signing keys (in memory: a restarted IdP has new keys, as a relying party must tolerate)

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint as kid, so a kid names exactly one key.
  const kid = crypto.createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

// First key signs (oidc-provider picks the first matching key); the rest only verify.
const signingKeys = [newSigningKey()];

// ---------------------------------------------------------------------------------------------
// Claims

function userClaims(login, user) {
  return {
    sub: login,
    name: user.name ?? login,
    preferred_username: user.preferred_username ?? login,
    upn: user.upn ?? `${login}@meterbook.test`,
    email: user.email ?? `${login}@meterbook.test`,
    groups: user.groups ?? [],
    roles: user.roles ?? [],
    oid: user.oid ?? fixedGuid(`user:${login}`),
  };
}

async function findAccount(ctx, sub) {
  const user = readConfig().users[sub];
  if (!user) return undefined;
  return {
    accountId: sub,
    // Read again at claims time so a change to config.json shows up in the next token.
    async claims() {
      const current = readConfig().users[sub];
      return current ? userClaims(sub, current) : { sub };
    },
  };
}

// Top-level claims added to JWT access tokens (sub, aud, iss, exp, client_id, scope are the
// provider's own). App tokens carry Entra-style appid/azp/oid/roles; user tokens the user claims.
async function extraTokenClaims(ctx, token) {
  const { clientId } = token;
  const { clients, users } = readConfig();
  const app = { appid: clientId, azp: clientId };
  if (token.kind === 'ClientCredentials') {
    const client = clients[clientId] ?? {};
    return { ...app, oid: client.oid ?? fixedGuid(clientId), roles: client.roles ?? [] };
  }
  const user = token.accountId && users[token.accountId];
  if (!user) return app;
  const { sub, ...claims } = userClaims(token.accountId, user);
  return { ...app, ...claims };
}

// ---------------------------------------------------------------------------------------------
// Resources (audiences) and MSAL's "<resource>/.default" scopes

const DEFAULT_SUFFIX = '/.default';
const trimSlashes = (value) => value.replace(/\/+$/, '');

// The configured spelling of an audience, compared without trailing slashes because
// "https://host/" + "/.default" is written both "https://host//.default" and "https://host/.default".
function knownAudience(indicator) {
  const audiences = new Set(['api://meterbook', ...readConfig().audiences]);
  return [...audiences].find((aud) => trimSlashes(aud) === trimSlashes(indicator));
}

// MSAL (and so azure-identity) never sends `resource`: it asks for "<resource>/.default" in
// `scope`. Treat that as the resource indicator when the request has none.
function resourceFromScope(scope) {
  const wanted = (scope ?? '').split(' ').find((s) => s.endsWith(DEFAULT_SUFFIX));
  if (!wanted) return undefined;
  const base = wanted.slice(0, -DEFAULT_SUFFIX.length);
  return knownAudience(base) ?? base; // unknown ones fail in getResourceServerInfo: invalid_target
}

async function defaultResource(ctx, client, oneOf) {
  const fromScope = resourceFromScope(ctx.oidc.params.scope);
  if (oneOf) {
    // Several resources were granted; the token request picks one with its .default scope.
    return oneOf.find((r) => trimSlashes(r) === trimSlashes(fromScope ?? '')) ?? oneOf;
  }
  return fromScope;
}

async function getResourceServerInfo(ctx, indicator, client) {
  const audience = knownAudience(indicator);
  if (!audience) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
  const base = trimSlashes(audience);
  return {
    // The scopes a token for this resource may carry: MSAL's .default in both spellings.
    scope: [...new Set([`${base}${DEFAULT_SUFFIX}`, `${audience}${DEFAULT_SUFFIX}`])].join(' '),
    audience,
    accessTokenFormat: 'jwt',
    accessTokenTTL: readConfig().clients[client?.clientId]?.token_ttl ?? 60 * 60,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// ---------------------------------------------------------------------------------------------
// Clients from config.json, through the adapter (called for every client lookup)

function clientMetadata(clientId, entry) {
  const { roles, oid, token_ttl: ttl, ...metadata } = entry;
  // A certificate client without its own keys is the state dir's client certificate.
  if (metadata.token_endpoint_auth_method === 'private_key_jwt' && !metadata.jwks && !metadata.jwks_uri) {
    metadata.jwks = { keys: [clientCertificateJwk()] };
  }
  const grantTypes = metadata.grant_types ?? ['authorization_code'];
  const appOnly = !grantTypes.includes('authorization_code');
  return {
    ...metadata,
    client_id: clientId,
    grant_types: grantTypes,
    // Client-credentials-only clients must not have response types (oidc-provider FAQ).
    ...(appOnly ? { response_types: [], redirect_uris: [] } : {}),
  };
}

class ConfigClientAdapter {
  async find(id) {
    const entry = readConfig().clients[id];
    return entry ? clientMetadata(id, entry) : undefined;
  }

  async upsert() { throw new Error('clients are configured in config.json'); }

  async destroy() {}
}

const memoryAdapter = createMemoryAdapter();
const adapter = (model) => (model === 'Client' ? new ConfigClientAdapter() : memoryAdapter(model));

// ---------------------------------------------------------------------------------------------
// HTML (no external resources: tests run without network)

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:22rem;margin:3rem auto}label,input,button{display:block;width:100%;box-sizing:border-box}input{margin:.25rem 0 1rem;padding:.4rem}button{padding:.5rem;margin-top:.5rem}.error{color:#a00}</style>
</head>
<body><main>
<h1>${esc(title)}</h1>
${body}
</main></body>
</html>`;
}

function loginPage(uid, { loginHint, error } = {}) {
  return page('Sign in', `${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<p>Meterbook test identity provider</p>
<form method="post" action="${issuerPath}/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" value="${esc(loginHint)}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`);
}

async function logoutSource(ctx, form) {
  ctx.body = page('Sign out', `<p>Sign out of the Meterbook test identity provider?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p>You have been signed out.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<p class="error" role="alert">${esc(out.error)}</p>
<p>${esc(out.error_description)}</p>`);
}

// ---------------------------------------------------------------------------------------------
// Interactions: a real username/password check (devInteractions accepts any password), then
// consent granted automatically, as AD FS does for a configured relying party.

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function grantConsent(provider, details) {
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedId = await grant.save();
  return grantId ? {} : { grantId: savedId };
}

// Returns the interaction result to hand back to the provider, or undefined when it rendered a
// page (the login form, possibly with an error) instead.
async function interact(provider, ctx, details, posted) {
  const { uid, prompt, params } = details;
  if (prompt.name === 'consent' && !posted) {
    return { consent: await grantConsent(provider, details) };
  }
  let error;
  let login = params.login_hint;
  if (posted) {
    const form = new URLSearchParams(await readBody(ctx.req));
    login = form.get('username') ?? form.get('login') ?? '';
    const user = readConfig().users[login];
    if (user && user.password === form.get('password')) {
      return { login: { accountId: login, amr: ['pwd'] } };
    }
    console.error(`login failed for ${JSON.stringify(login)}`);
    error = 'Invalid username or password.';
  }
  ctx.status = 200;
  ctx.type = 'html';
  ctx.body = loginPage(uid, { loginHint: login, error });
  return undefined;
}

function interactions(provider) {
  const route = /^\/interaction\/[\w-]+(\/login)?$/;
  return async (ctx, next) => {
    const match = route.exec(ctx.path);
    const posted = ctx.method === 'POST';
    if (!match || (posted !== Boolean(match[1])) || !['GET', 'POST'].includes(ctx.method)) {
      return next();
    }
    ctx.set('cache-control', 'no-store');
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (!['login', 'consent'].includes(details.prompt.name)) return next();
      const result = await interact(provider, ctx, details, posted && details.prompt.name === 'login');
      if (result) {
        ctx.status = 303;
        ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, {
          mergeWithLastSubmission: !result.login,
        }));
      }
    } catch (err) {
      if (!(err instanceof errors.SessionNotFound)) throw err;
      ctx.status = err.status;
      await renderError(ctx, { error: err.message, error_description: err.error_description });
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Provider

const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
const REDACTED = new Set(['client_secret', 'code', 'code_verifier', 'refresh_token', 'client_assertion', 'password']);

function redact(body) {
  return Object.fromEntries(Object.entries(body ?? {})
    .map(([key, value]) => [key, REDACTED.has(key) ? '<redacted>' : value]));
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    // AD FS's endpoint paths, so URLs in logs and tests look like the real thing.
    routes: {
      authorization: '/oauth2/authorize',
      token: '/oauth2/token',
      jwks: '/discovery/keys',
      userinfo: '/userinfo',
      end_session: '/oauth2/logout',
    },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    // AD FS issues a relying party's claims whatever the scope, so everything hangs off openid.
    claims: {
      openid: ['sub', 'name', 'preferred_username', 'upn', 'email', 'groups', 'roles', 'oid'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
    },
    // Put the scope's claims in the ID token too (oidc-provider otherwise keeps them for userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // AD FS gives confidential clients refresh tokens without offline_access (which oidc-provider
    // otherwise also ties to prompt=consent), and MSAL-style clients rely on that.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount,
    extraTokenClaims,
    renderError,
    interactions: { url: (ctx, interaction) => `${issuerPath}/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      resourceIndicators: {
        enabled: true,
        defaultResource,
        getResourceServerInfo,
        // A code granted for a resource yields that resource's JWT at the token endpoint even
        // with `openid` in scope, as AD FS does (the token is then not usable at userinfo).
        useGrantedResource: async () => true,
      },
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 60 * 60,
      AuthorizationCode: 60,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 60 * 60,
      IdToken: 60 * 60,
      Interaction: 10 * 60,
      RefreshToken: 8 * 60 * 60,
      Grant: 8 * 60 * 60,
      Session: 8 * 60 * 60,
    },
  });

  provider.use(interactions(provider));
  // Log what clients send to the token endpoint: what MSAL really asks for is the useful part.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.oidc.body?.grant_type === 'client_credentials') {
      const id = ctx.oidc.client.clientId;
      issued[id] = (issued[id] ?? 0) + 1;
    }
    if (ctx.oidc?.route === 'token') {
      const auth = ctx.headers.authorization ? ctx.headers.authorization.split(' ')[0] : 'none';
      console.error(`token request: authorization=${auth} body=${JSON.stringify(redact(ctx.oidc.body))}`);
    }
  });
  for (const event of ['grant.error', 'authorization.error', 'end_session.error', 'userinfo.error']) {
    provider.on(event, (ctx, err) => console.error(`${event}: ${err.message} ${err.error_description ?? ''}`));
  }
  provider.on('server_error', (ctx, err) => console.error('server_error:', err));
  return provider;
}

// ---------------------------------------------------------------------------------------------
// HTTP: /admin/* here, everything under the issuer path handed to the provider

// Client-credentials tokens issued, by client (GET /admin/issued): how tests see renewals.
const issued = {};

let provider; // replaced on key rotation; state lives in the shared adapter
let providerCallback;

function useProvider(issuer) {
  provider = buildProvider(issuer);
  providerCallback = provider.callback();
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

async function admin(req, res, pathname, issuer) {
  const target = /^\/admin\/(users|clients)\/([^/]+)$/.exec(pathname);
  if (req.method === 'GET' && pathname === '/admin/health') {
    return sendJson(res, 200, { ok: true, issuer });
  }
  if (req.method === 'GET' && pathname === '/admin/issued') {
    return sendJson(res, 200, issued);
  }
  if (req.method === 'POST' && pathname === '/admin/rotate-keys') {
    signingKeys.unshift(newSigningKey());
    useProvider(issuer);
    console.error(`signing keys rotated, now signing with ${signingKeys[0].kid}`);
    return sendJson(res, 200, { kid: signingKeys[0].kid, kids: signingKeys.map((k) => k.kid) });
  }
  if (req.method === 'POST' && target) {
    let patch;
    try {
      patch = JSON.parse(await readBody(req));
    } catch {
      return sendJson(res, 400, { error: 'body must be JSON' });
    }
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      return sendJson(res, 400, { error: 'body must be a JSON object' });
    }
    const badList = ['groups', 'roles', 'redirect_uris', 'post_logout_redirect_uris']
      .find((key) => key in patch && !(Array.isArray(patch[key]) && patch[key].every((v) => typeof v === 'string')));
    if (badList) return sendJson(res, 400, { error: `${badList} must be an array of strings` });
    const [, kind, id] = target;
    const name = decodeURIComponent(id);
    const config = readConfig();
    config[kind][name] = { ...config[kind][name], ...patch };
    writeConfig(config);
    const { password, client_secret: secret, ...shown } = config[kind][name];
    return sendJson(res, 200, shown);
  }
  return sendJson(res, 404, { error: 'not found' });
}

const server = https.createServer({
  key: fs.readFileSync(keyFile),
  cert: fs.readFileSync(certFile),
}, async (req, res) => {
  const started = Date.now();
  res.on('finish', () => {
    console.error(`${req.method} ${req.originalUrl ?? req.url} ${res.statusCode} ${Date.now() - started}ms`);
  });
  try {
    const { pathname } = new URL(req.url, 'https://127.0.0.1');
    const issuer = `https://127.0.0.1:${server.address().port}${issuerPath}`;
    if (pathname.startsWith('/admin/')) {
      await admin(req, res, pathname, issuer);
    } else if (!provider) {
      sendJson(res, 503, { error: 'starting' });
    } else if (pathname === issuerPath || pathname.startsWith(`${issuerPath}/`)) {
      // Mounting as oidc-provider's docs do for hapi/nest: the provider sees the path without the
      // prefix and recovers the prefix from originalUrl when it builds endpoint URLs.
      req.originalUrl = req.url;
      req.url = req.url.slice(issuerPath.length) || '/';
      providerCallback(req, res);
    } else if (issuerPath && pathname === `/.well-known/oauth-authorization-server${issuerPath}`) {
      // RFC 8414 metadata location for an issuer with a path.
      req.originalUrl = `${issuerPath}/.well-known/oauth-authorization-server`;
      req.url = '/.well-known/oauth-authorization-server';
      providerCallback(req, res);
    } else {
      sendJson(res, 404, { error: 'not found' });
    }
  } catch (err) {
    console.error('request failed:', err);
    if (!res.headersSent) sendJson(res, err.status ?? 500, { error: err.message });
    else res.destroy();
  }
});

function shutdown(signal) {
  console.error(`${signal}: exiting`);
  server.closeAllConnections();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}${issuerPath}`;
  useProvider(issuer);
  process.stdout.write(`${JSON.stringify({ issuer, port, ca: certFile, clientCertificate: clientCertFile })}\n`);
});
