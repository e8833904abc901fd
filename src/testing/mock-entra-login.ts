import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MockEntra, MockRoute } from './mock-entra.js';

/** Who "signs in" at the mock authorize endpoint: claims merged into the ID token. */
export interface MockLoginUser {
  /** Claims of the ID token (`oid`, `email`, `preferred_username`, `groups`, `_claim_names`, …). */
  claims?: Record<string, unknown>;
  /** Tenant of the user. Default: the tenant in the authorize path, else the mock's first tenant. */
  tenant?: string;
  /** ID token version. @defaultValue `2.0` */
  version?: '1.0' | '2.0';
}

/** What the mock saw at `/authorize`. */
export interface MockAuthorizeRecord {
  tenant: string;
  client_id: string | null;
  redirect_uri: string | null;
  response_type: string | null;
  scope: string | null;
  state: string | null;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  prompt: string | null;
  login_hint: string | null;
  /** `code` (redirected with a code), `error` (redirected with an error) or `refused` (400 page, no redirect). */
  outcome: 'code' | 'error' | 'refused';
  error?: string;
}

/** What the mock saw at `/token`. */
export interface MockTokenRecord {
  tenant: string;
  grant_type: string | null;
  clientAuth: 'client_secret_post' | 'client_secret_basic' | 'none' | 'both';
  /**
   * The PKCE check: `verified` (the verifier's S256 hash equals the challenge), `mismatch`,
   * `missing` (a challenge was sent, no verifier), `unexpected` (a verifier without a
   * challenge), `not-used` (neither).
   */
  pkce: 'verified' | 'mismatch' | 'missing' | 'unexpected' | 'not-used' | 'not-checked';
  /** `ok`, or the OAuth `error` returned. */
  outcome: string;
  /** The AADSTS code of a refusal. */
  aadsts?: string;
}

/** An access token the mock issued (opaque): what the mock Graph may check. */
export interface MockAccessToken {
  /** `delegated` (authorization code, for a user) or `app` (client credentials). */
  kind: 'delegated' | 'app';
  tenant: string;
  clientId: string;
  /** The user's `oid` (delegated tokens). */
  oid?: string;
  scopes: string[];
  /** Unix seconds. */
  expiresAt: number;
}

/** A test's handle on the mock's login endpoints. */
export interface MockEntraLogin {
  /** The user of the next `/authorize` only (then cleared). Wins over `login_hint`. */
  nextUser: MockLoginUser | undefined;
  /** Users picked by `login_hint` (lower-cased). */
  readonly users: Map<string, MockLoginUser>;
  /** The user when neither `nextUser` nor a `login_hint` match applies. */
  defaultUser: MockLoginUser;
  /** Makes the next `/authorize` redirect with this error instead of a code (then cleared). */
  nextError: { error: string; error_description: string } | undefined;
  /** Registered redirect URIs; empty accepts any http(s) URI. */
  redirectUris: string[];
  /** Refuse authorization requests without a PKCE challenge (Entra does for SPAs). @defaultValue false */
  requirePkce: boolean;
  readonly authorizations: MockAuthorizeRecord[];
  readonly tokenRequests: MockTokenRecord[];
  readonly logouts: Array<{ tenant: string; post_logout_redirect_uri: string | null }>;
  /** Access tokens issued, by value. */
  readonly accessTokens: ReadonlyMap<string, MockAccessToken>;
  /** The issued token's record when it is known and unexpired. */
  introspect(accessToken: string): MockAccessToken | undefined;
  /** Forgets records, codes, users and armed errors. */
  reset(): void;
}

interface CodeRecord {
  clientId: string;
  redirectUri: string;
  tenant: string;
  challenge: string | undefined;
  nonce: string | undefined;
  scopes: string[];
  user: MockLoginUser;
  expiresAt: number;
  used: boolean;
}

const CODE_TTL_MS = 10 * 60_000;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * Creates the mock's login endpoints (`createMockEntra` mounts them by default):
 * `GET /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/oauth2/v2.0/token`
 * (authorization code with a real S256 PKCE check and single-use codes; client
 * credentials) and `GET /{tenant}/oauth2/v2.0/logout`. Client authentication is
 * checked against the mock's client secret (`client_secret_post` or
 * `client_secret_basic`). Errors use Entra's JSON shape with `AADSTS` codes.
 *
 * @example
 * ```ts
 * import { createMockEntra } from 'entragate/testing';
 * const entra = await createMockEntra();
 * entra.login.nextUser = { claims: { oid: '…', email: 'ada@contoso.com' } };
 * // …drive a login against entra.url; then:
 * console.log(entra.login.tokenRequests.at(-1)?.pkce); // 'verified'
 * ```
 */
export function createMockEntraLogin(): { login: MockEntraLogin; route: MockRoute } {
  const codes = new Map<string, CodeRecord>();
  const accessTokens = new Map<string, MockAccessToken>();
  const login: MockEntraLogin = {
    nextUser: undefined,
    users: new Map(),
    defaultUser: { claims: { email: 'test.user@example.com' } },
    nextError: undefined,
    redirectUris: [],
    requirePkce: false,
    authorizations: [],
    tokenRequests: [],
    logouts: [],
    accessTokens,
    introspect(token) {
      const record = accessTokens.get(token);
      return record !== undefined && record.expiresAt * 1000 > Date.now() ? record : undefined;
    },
    reset() {
      codes.clear();
      accessTokens.clear();
      login.users.clear();
      login.nextUser = undefined;
      login.nextError = undefined;
      login.redirectUris = [];
      login.requirePkce = false;
      login.authorizations.length = 0;
      login.tokenRequests.length = 0;
      login.logouts.length = 0;
    },
  };

  const route: MockRoute = async (req, res, url, entra) => {
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts.length !== 4 || parts[1] !== 'oauth2' || parts[2] !== 'v2.0') return false;
    const tenant = parts[0]!.toLowerCase();
    const action = parts[3];
    if (action === 'authorize' && req.method === 'GET') {
      count(entra, 'authorize');
      authorize(url, tenant, res, entra);
      return true;
    }
    if (action === 'token' && req.method === 'POST') {
      count(entra, 'token');
      await token(req, tenant, res, entra);
      return true;
    }
    if (action === 'logout' && req.method === 'GET') {
      count(entra, 'logout');
      const post = url.searchParams.get('post_logout_redirect_uri');
      login.logouts.push({ tenant, post_logout_redirect_uri: post });
      if (post !== null && /^https?:\/\//.test(post)) {
        res.writeHead(302, { location: post });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>Signed out</title><p>You signed out of your account.</p>');
      }
      return true;
    }
    return false;
  };

  const authorize = (url: URL, tenant: string, res: ServerResponse, entra: MockEntra): void => {
    const q = url.searchParams;
    const record: MockAuthorizeRecord = {
      tenant,
      client_id: q.get('client_id'),
      redirect_uri: q.get('redirect_uri'),
      response_type: q.get('response_type'),
      scope: q.get('scope'),
      state: q.get('state'),
      nonce: q.get('nonce'),
      code_challenge: q.get('code_challenge'),
      code_challenge_method: q.get('code_challenge_method'),
      prompt: q.get('prompt'),
      login_hint: q.get('login_hint'),
      outcome: 'refused',
    };
    login.authorizations.push(record);
    if (!knownTenant(entra, tenant)) {
      record.error = 'invalid_tenant';
      return entraError(res, 400, 'invalid_tenant', `AADSTS90002: Tenant '${tenant}' not found.`);
    }
    // Entra shows an error page (no redirect) when it cannot trust the client or the redirect URI.
    if (record.client_id !== entra.clientId) {
      record.error = 'unauthorized_client';
      return entraError(res, 400, 'unauthorized_client', `AADSTS700016: Application with identifier '${record.client_id ?? ''}' was not found in the directory.`);
    }
    const redirectUri = record.redirect_uri;
    if (redirectUri === null || !/^https?:\/\//.test(redirectUri) || (login.redirectUris.length > 0 && !login.redirectUris.includes(redirectUri))) {
      record.error = 'invalid_request';
      return entraError(res, 400, 'invalid_request', 'AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.');
    }
    const back = (params: Record<string, string>): void => {
      const target = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
      if (record.state !== null) target.searchParams.set('state', record.state);
      res.writeHead(302, { location: target.href });
      res.end();
    };
    const fail = (error: string, description: string): void => {
      record.outcome = 'error';
      record.error = error;
      back({ error, error_description: description });
    };
    if (login.nextError !== undefined) {
      const armed = login.nextError;
      login.nextError = undefined;
      return fail(armed.error, armed.error_description);
    }
    if (record.response_type !== 'code') return fail('unsupported_response_type', `AADSTS700054: response_type '${record.response_type ?? ''}' is not enabled for the application.`);
    const scopes = (record.scope ?? '').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) return fail('invalid_scope', "AADSTS70011: The provided request must include an 'openid' scope.");
    if (record.code_challenge !== null) {
      if (record.code_challenge_method !== 'S256') return fail('invalid_request', 'AADSTS501491: Invalid code_challenge_method: only S256 is supported.');
      if (!/^[A-Za-z0-9_-]{43}$/.test(record.code_challenge)) return fail('invalid_request', 'AADSTS501491: Invalid size of Code_Challenge parameter.');
    } else if (login.requirePkce) {
      return fail('invalid_request', "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.");
    }
    let user = login.nextUser;
    login.nextUser = undefined;
    if (user === undefined && record.login_hint !== null) user = login.users.get(record.login_hint.toLowerCase());
    user ??= login.defaultUser;
    const code = `mock-code.${randomBytes(24).toString('base64url')}`;
    codes.set(code, {
      clientId: entra.clientId,
      redirectUri,
      tenant: user.tenant ?? (entra.tenants.includes(tenant) ? tenant : entra.tenantId),
      challenge: record.code_challenge ?? undefined,
      nonce: record.nonce ?? undefined,
      scopes,
      user,
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false,
    });
    record.outcome = 'code';
    back({ code });
  };

  const token = async (req: IncomingMessage, tenant: string, res: ServerResponse, entra: MockEntra): Promise<void> => {
    const record: MockTokenRecord = { tenant, grant_type: null, clientAuth: 'none', pkce: 'not-checked', outcome: 'ok' };
    login.tokenRequests.push(record);
    const refuse = (status: number, error: string, description: string): void => {
      record.outcome = error;
      const code = description.match(/AADSTS\d+/)?.[0];
      if (code) record.aadsts = code;
      entraError(res, status, error, description);
    };
    if (!knownTenant(entra, tenant)) return refuse(400, 'invalid_tenant', `AADSTS90002: Tenant '${tenant}' not found.`);
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
    }
    const body = new URLSearchParams(await readBody(req));
    record.grant_type = body.get('grant_type');

    // Client authentication: exactly one of client_secret_basic or client_secret_post.
    let clientId = body.get('client_id');
    let secret = body.get('client_secret');
    const basic = req.headers.authorization;
    if (basic !== undefined && basic.toLowerCase().startsWith('basic ')) {
      if (secret !== null) {
        record.clientAuth = 'both';
        return refuse(400, 'invalid_request', 'AADSTS90015: Only one client authentication method may be used.');
      }
      const decoded = Buffer.from(basic.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) return refuse(401, 'invalid_client', 'AADSTS7000216: The client authentication header is malformed.');
      const basicId = formDecode(decoded.slice(0, colon));
      if (clientId !== null && clientId !== basicId) return refuse(401, 'invalid_client', 'AADSTS700016: The client_id does not match the authorization header.');
      clientId = basicId;
      secret = formDecode(decoded.slice(colon + 1));
      record.clientAuth = 'client_secret_basic';
    } else if (secret !== null) {
      record.clientAuth = 'client_secret_post';
    }
    if (clientId !== entra.clientId) {
      return refuse(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId ?? ''}' was not found in the directory.`);
    }
    if (secret === null) return refuse(401, 'invalid_client', "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    if (secret !== entra.clientSecret) return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');

    const grant = record.grant_type;
    if (grant === 'client_credentials') {
      const scope = body.get('scope') ?? '';
      if (!/^\S+\/\.default$/.test(scope)) return refuse(400, 'invalid_scope', `AADSTS1002012: The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`);
      const access = issueAccessToken({ kind: 'app', tenant: entra.tenants.includes(tenant) ? tenant : entra.tenantId, clientId, scopes: [scope] });
      return json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: access });
    }
    if (grant !== 'authorization_code') return refuse(400, 'unsupported_grant_type', `AADSTS70003: The app requested an unsupported grant type '${grant ?? ''}'.`);

    const code = body.get('code');
    const stored = code === null ? undefined : codes.get(code);
    if (stored === undefined) return refuse(400, 'invalid_grant', "AADSTS70000: The provided value for the 'code' parameter is not valid.");
    if (stored.used) return refuse(400, 'invalid_grant', 'AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
    // A code is spent by its first redemption attempt, successful or not.
    stored.used = true;
    if (Date.now() >= stored.expiresAt) return refuse(400, 'invalid_grant', 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.');
    if (stored.clientId !== clientId) return refuse(400, 'invalid_grant', 'AADSTS70000: The code was issued to another client.');
    if (body.get('redirect_uri') !== stored.redirectUri) {
      return refuse(400, 'invalid_grant', 'AADSTS50011: The redirect URI specified in the request does not match the redirect URI of the authorization request.');
    }
    const verifier = body.get('code_verifier');
    if (stored.challenge !== undefined) {
      if (verifier === null) {
        record.pkce = 'missing';
        return refuse(400, 'invalid_grant', "AADSTS50148: The code_verifier is missing: the authorization request sent a code_challenge.");
      }
      if (!VERIFIER.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== stored.challenge) {
        record.pkce = 'mismatch';
        return refuse(400, 'invalid_grant', 'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.');
      }
      record.pkce = 'verified';
    } else if (verifier !== null) {
      record.pkce = 'unexpected';
      return refuse(400, 'invalid_grant', 'AADSTS50148: A code_verifier was sent but the authorization request had no code_challenge.');
    } else {
      record.pkce = 'not-used';
    }

    const user = stored.user;
    const claims: Record<string, unknown> = { ...(user.claims ?? {}) };
    if (stored.nonce !== undefined) claims.nonce = stored.nonce;
    const idToken = entra.mintToken({ version: user.version ?? '2.0', tenant: stored.tenant, claims });
    const oid = decodeOid(idToken);
    const graphScopes = stored.scopes.filter((s) => !['openid', 'profile', 'email', 'offline_access'].includes(s));
    const access = issueAccessToken({
      kind: 'delegated',
      tenant: stored.tenant,
      clientId,
      ...(oid ? { oid } : {}),
      scopes: graphScopes.length > 0 ? graphScopes : ['User.Read'],
    });
    json(res, 200, {
      token_type: 'Bearer',
      scope: stored.scopes.join(' '),
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: access,
      id_token: idToken,
      ...(stored.scopes.includes('offline_access') ? { refresh_token: `mock-rt.${randomBytes(24).toString('base64url')}` } : {}),
    });
  };

  const issueAccessToken = (record: Omit<MockAccessToken, 'expiresAt'>): string => {
    const value = `mock-at.${randomBytes(24).toString('base64url')}`;
    accessTokens.set(value, { ...record, expiresAt: Math.floor(Date.now() / 1000) + 3599 });
    return value;
  };

  return { login, route };
}

function knownTenant(entra: MockEntra, tenant: string): boolean {
  return entra.tenants.includes(tenant) || tenant === 'common' || tenant === 'organizations';
}

function count(entra: MockEntra, name: string): void {
  entra.requests[name] = (entra.requests[name] ?? 0) + 1;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Entra's error body: `error`, `error_description` (AADSTS code first), `error_codes`, trace and correlation ids. */
function entraError(res: ServerResponse, status: number, error: string, description: string): void {
  const code = Number(description.match(/AADSTS(\d+)/)?.[1] ?? 0);
  json(res, status, {
    error,
    error_description: `${description}\r\nTrace ID: ${randomUUIDish()}\r\nCorrelation ID: ${randomUUIDish()}\r\nTimestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: randomUUIDish(),
    correlation_id: randomUUIDish(),
  });
}

function randomUUIDish(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function decodeOid(jwt: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof payload.oid === 'string' ? payload.oid : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 65_536) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
