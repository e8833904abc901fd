import { constants, createHash, randomBytes, verify, X509Certificate } from 'node:crypto';
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
  /** The `{tenant}` segment of the authorize path, as requested (`common`, `organizations`, a GUID). */
  tenant: string;
  /** The `client_id` query parameter; `null` when absent (as for every parameter below). */
  client_id: string | null;
  /** The `redirect_uri` query parameter, as sent. */
  redirect_uri: string | null;
  /** The `response_type` query parameter (`code` from the login). */
  response_type: string | null;
  /** The `scope` query parameter, space-separated as sent (`openid profile email`). */
  scope: string | null;
  /** The `state` query parameter, echoed back on the redirect. */
  state: string | null;
  /** The `nonce` query parameter, which the ID token then carries. */
  nonce: string | null;
  /** The PKCE `code_challenge` query parameter. */
  code_challenge: string | null;
  /** The PKCE `code_challenge_method` query parameter (`S256`). */
  code_challenge_method: string | null;
  /** The `prompt` query parameter (`login`, `select_account`, …). */
  prompt: string | null;
  /** The `login_hint` query parameter, which also picks the user from `users`. */
  login_hint: string | null;
  /** The `domain_hint` query parameter. */
  domain_hint: string | null;
  /** The `claims` request parameter (JSON text), e.g. an authentication context step-up. */
  claims: string | null;
  /** `code` (redirected with a code), `error` (redirected with an error) or `refused` (400 page, no redirect). */
  outcome: 'code' | 'error' | 'refused';
  /** The OAuth `error` of an `error` or `refused` outcome (`invalid_request`, `invalid_scope`, …); absent for `code`. */
  error?: string;
}

/** What the mock saw at `/token`. */
export interface MockTokenRecord {
  /** The `{tenant}` segment of the token path, as requested. */
  tenant: string;
  /** The `grant_type` form parameter (`authorization_code`, `refresh_token`, `client_credentials`); `null` when absent. */
  grant_type: string | null;
  /**
   * How the client authenticated: `client_secret_post` (secret in the form), `client_secret_basic` (HTTP
   * Basic), `private_key_jwt` (a client assertion), `none`, or `both` (two methods at once, refused with
   * AADSTS90015). It says which was used, not that it was accepted: see `outcome`.
   */
  clientAuth: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | 'none' | 'both';
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
  /** The tenant it was issued in (the user's, or for client credentials the requested tenant when the mock knows it). */
  tenant: string;
  /** The client id it was issued to. */
  clientId: string;
  /** The user's `oid` (delegated tokens). */
  oid?: string;
  /**
   * The scopes granted: for a delegated token the requested ones other than `openid`, `profile`, `email`
   * and `offline_access` (`['User.Read']` when none is left); for client credentials the one `scope` asked.
   */
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
  /** Every `/authorize` request, in order, refused ones too; emptied by `reset()`. */
  readonly authorizations: MockAuthorizeRecord[];
  /** Every `/token` request, in order, with how it authenticated and its outcome; emptied by `reset()`. */
  readonly tokenRequests: MockTokenRecord[];
  /** Every `/logout` request, in order, with its query parameters (`null` when absent); the mock only records them, it ends no session. */
  readonly logouts: Array<{ tenant: string; post_logout_redirect_uri: string | null; id_token_hint: string | null; logout_hint: string | null }>;
  /**
   * Users (by `oid`) Entra now refuses: disabled, blocked by Conditional Access, or whose sessions an admin
   * revoked. Their refresh tokens fail with `invalid_grant` (AADSTS50057), as a renewal would.
   */
  readonly disabledUsers: Set<string>;
  /**
   * Trusts a client certificate (PEM) for `private_key_jwt`: token requests may then authenticate with a
   * client assertion signed by its key (PS256 with `x5t#S256`, or RS256 with `x5t`).
   */
  trustCertificate(pem: string): void;
  /** Access tokens issued, by value. */
  readonly accessTokens: ReadonlyMap<string, MockAccessToken>;
  /** The issued token's record when it is known and unexpired. */
  introspect(accessToken: string): MockAccessToken | undefined;
  /** Forgets records, codes, users and armed errors. */
  reset(): void;
}

interface CodeRecord {
  /** The authentication contexts the `claims` parameter asked for, essential ones (`acrs`). */
  acrs: string[];
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
  const refreshTokens = new Map<string, { user: MockLoginUser; tenant: string; clientId: string; scopes: string[]; acrs: string[] }>();
  const certificates = new Map<string, X509Certificate>();
  const seenAssertions = new Set<string>();
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
    disabledUsers: new Set(),
    trustCertificate(pem) {
      const cert = new X509Certificate(pem);
      certificates.set(`S256:${createHash('sha256').update(cert.raw).digest('base64url')}`, cert);
      certificates.set(`S1:${createHash('sha1').update(cert.raw).digest('base64url')}`, cert);
    },
    accessTokens,
    introspect(token) {
      const record = accessTokens.get(token);
      return record !== undefined && record.expiresAt * 1000 > Date.now() ? record : undefined;
    },
    reset() {
      codes.clear();
      accessTokens.clear();
      refreshTokens.clear();
      certificates.clear();
      seenAssertions.clear();
      login.disabledUsers.clear();
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
      login.logouts.push({
        tenant,
        post_logout_redirect_uri: post,
        id_token_hint: url.searchParams.get('id_token_hint'),
        logout_hint: url.searchParams.get('logout_hint'),
      });
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
      domain_hint: q.get('domain_hint'),
      claims: q.get('claims'),
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
      return entraError(
        res,
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${record.client_id ?? ''}' was not found in the directory.`,
      );
    }
    const redirectUri = record.redirect_uri;
    if (redirectUri === null || !/^https?:\/\//.test(redirectUri) || (login.redirectUris.length > 0 && !login.redirectUris.includes(redirectUri))) {
      record.error = 'invalid_request';
      return entraError(
        res,
        400,
        'invalid_request',
        'AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.',
      );
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
    if (record.response_type !== 'code')
      return fail('unsupported_response_type', `AADSTS700054: response_type '${record.response_type ?? ''}' is not enabled for the application.`);
    const scopes = (record.scope ?? '').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) return fail('invalid_scope', "AADSTS70011: The provided request must include an 'openid' scope.");
    if (record.code_challenge !== null) {
      if (record.code_challenge_method !== 'S256') return fail('invalid_request', 'AADSTS501491: Invalid code_challenge_method: only S256 is supported.');
      if (!/^[A-Za-z0-9_-]{43}$/.test(record.code_challenge)) return fail('invalid_request', 'AADSTS501491: Invalid size of Code_Challenge parameter.');
    } else if (login.requirePkce) {
      return fail('invalid_request', 'AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.');
    }
    let user = login.nextUser;
    login.nextUser = undefined;
    if (user === undefined && record.login_hint !== null) user = login.users.get(record.login_hint.toLowerCase());
    user ??= login.defaultUser;
    // A `claims` request for essential authentication contexts (a step-up): the user satisfies them,
    // as Conditional Access would after the extra challenge, and the tokens carry them in `acrs`.
    const acrs = requestedAcrs(record.claims);
    if (acrs === 'invalid') return fail('invalid_request', "AADSTS90100: The 'claims' parameter is not valid JSON.");
    const code = `mock-code.${randomBytes(24).toString('base64url')}`;
    codes.set(code, {
      acrs,
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
      if (clientId !== null && clientId !== basicId)
        return refuse(401, 'invalid_client', 'AADSTS700016: The client_id does not match the authorization header.');
      clientId = basicId;
      secret = formDecode(decoded.slice(colon + 1));
      record.clientAuth = 'client_secret_basic';
    } else if (secret !== null) {
      record.clientAuth = 'client_secret_post';
    }
    const assertion = body.get('client_assertion');
    if (assertion !== null) {
      if (secret !== null) {
        record.clientAuth = 'both';
        return refuse(400, 'invalid_request', 'AADSTS90015: Only one client authentication method may be used.');
      }
      if (body.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return refuse(400, 'invalid_request', 'AADSTS50027: Invalid client_assertion_type.');
      }
      record.clientAuth = 'private_key_jwt';
      const problem = checkAssertion(assertion, clientId ?? entra.clientId, `${entra.url}/${tenant}/oauth2/v2.0/token`);
      if (problem !== undefined) return refuse(401, 'invalid_client', problem);
      clientId ??= entra.clientId;
    }
    if (clientId !== entra.clientId) {
      return refuse(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId ?? ''}' was not found in the directory.`);
    }
    if (assertion === null) {
      if (secret === null)
        return refuse(401, 'invalid_client', "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
      if (secret !== entra.clientSecret) return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    }

    const grant = record.grant_type;
    if (grant === 'client_credentials') {
      const scope = body.get('scope') ?? '';
      if (!/^\S+\/\.default$/.test(scope))
        return refuse(
          400,
          'invalid_scope',
          `AADSTS1002012: The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`,
        );
      const access = issueAccessToken({ kind: 'app', tenant: entra.tenants.includes(tenant) ? tenant : entra.tenantId, clientId, scopes: [scope] });
      return json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: access });
    }
    if (grant === 'refresh_token') {
      const presented = body.get('refresh_token');
      const held = presented === null ? undefined : refreshTokens.get(presented);
      if (held === undefined || held.clientId !== clientId)
        return refuse(400, 'invalid_grant', 'AADSTS9002313: Invalid request. Request is malformed or invalid: the refresh token is not valid.');
      const oid = held.user.claims?.oid;
      if (typeof oid === 'string' && login.disabledUsers.has(oid)) {
        refreshTokens.delete(presented!);
        return refuse(400, 'invalid_grant', 'AADSTS50057: The user account is disabled.');
      }
      // Rotation, as Entra does: the old refresh token is spent.
      refreshTokens.delete(presented!);
      return issueTokens(res, entra, held.user, held.tenant, clientId, held.scopes, undefined, held.acrs);
    }
    if (grant !== 'authorization_code')
      return refuse(400, 'unsupported_grant_type', `AADSTS70003: The app requested an unsupported grant type '${grant ?? ''}'.`);

    const code = body.get('code');
    const stored = code === null ? undefined : codes.get(code);
    if (stored === undefined) return refuse(400, 'invalid_grant', "AADSTS70000: The provided value for the 'code' parameter is not valid.");
    if (stored.used)
      return refuse(
        400,
        'invalid_grant',
        'AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
      );
    // A code is spent by its first redemption attempt, successful or not.
    stored.used = true;
    if (Date.now() >= stored.expiresAt)
      return refuse(400, 'invalid_grant', 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.');
    if (stored.clientId !== clientId) return refuse(400, 'invalid_grant', 'AADSTS70000: The code was issued to another client.');
    if (body.get('redirect_uri') !== stored.redirectUri) {
      return refuse(
        400,
        'invalid_grant',
        'AADSTS50011: The redirect URI specified in the request does not match the redirect URI of the authorization request.',
      );
    }
    const verifier = body.get('code_verifier');
    if (stored.challenge !== undefined) {
      if (verifier === null) {
        record.pkce = 'missing';
        return refuse(400, 'invalid_grant', 'AADSTS50148: The code_verifier is missing: the authorization request sent a code_challenge.');
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

    return issueTokens(res, entra, stored.user, stored.tenant, clientId, stored.scopes, stored.nonce, stored.acrs);
  };

  /** The token response of a code or refresh grant: an ID token, a delegated access token, and a refresh token with `offline_access`. */
  const issueTokens = (
    res: ServerResponse,
    entra: MockEntra,
    user: MockLoginUser,
    tenant: string,
    clientId: string,
    scopes: string[],
    nonce: string | undefined,
    acrs: string[],
  ): void => {
    const claims: Record<string, unknown> = { ...(user.claims ?? {}) };
    if (nonce !== undefined) claims.nonce = nonce;
    if (acrs.length > 0) claims.acrs = acrs;
    // An ID token carries no `scp` (the mock's tokens are delegated access tokens by default).
    const idToken = entra.mintToken({ version: user.version ?? '2.0', tenant, claims: { scp: undefined, ...claims } });
    const oid = decodeOid(idToken);
    const graphScopes = scopes.filter((s) => !['openid', 'profile', 'email', 'offline_access'].includes(s));
    const access = issueAccessToken({
      kind: 'delegated',
      tenant,
      clientId,
      ...(oid ? { oid } : {}),
      scopes: graphScopes.length > 0 ? graphScopes : ['User.Read'],
    });
    let refresh: string | undefined;
    if (scopes.includes('offline_access')) {
      refresh = `mock-rt.${randomBytes(24).toString('base64url')}`;
      refreshTokens.set(refresh, { user, tenant, clientId, scopes, acrs });
    }
    json(res, 200, {
      token_type: 'Bearer',
      scope: scopes.join(' '),
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: access,
      id_token: idToken,
      ...(refresh === undefined ? {} : { refresh_token: refresh }),
    });
  };

  /** Why a client assertion is refused (AADSTS text), or `undefined` when it verifies. */
  const checkAssertion = (assertion: string, clientId: string, tokenEndpoint: string): string | undefined => {
    const [h, p, sig] = assertion.split('.');
    if (h === undefined || p === undefined || sig === undefined) return 'AADSTS50027: JWT token is invalid or malformed.';
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return 'AADSTS50027: JWT token is invalid or malformed.';
    }
    const key =
      header.alg === 'PS256' && typeof header['x5t#S256'] === 'string'
        ? `S256:${header['x5t#S256']}`
        : header.alg === 'RS256' && typeof header.x5t === 'string'
          ? `S1:${header.x5t}`
          : undefined;
    const cert = key === undefined ? undefined : certificates.get(key);
    if (cert === undefined) return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
    const input = Buffer.from(`${h}.${p}`);
    const signature = Buffer.from(sig, 'base64url');
    const ok =
      header.alg === 'PS256'
        ? verify('sha256', input, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
        : verify('sha256', input, cert.publicKey, signature);
    if (!ok) return 'AADSTS7000274: Key was found, but use of the key to verify the signature failed.';
    if (payload.aud !== tokenEndpoint)
      return `AADSTS700212: No matching federated identity record found for presented assertion audience '${String(payload.aud)}'.`;
    if (payload.iss !== clientId || payload.sub !== clientId)
      return 'AADSTS700021: Client assertion application identifier does not match client_id parameter.';
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.exp !== 'number' || payload.exp <= now) return 'AADSTS700024: Client assertion is not within its valid time range.';
    if (typeof payload.jti !== 'string' || seenAssertions.has(payload.jti)) return 'AADSTS700025: Client assertion has been used before (jti replay).';
    seenAssertions.add(payload.jti);
    return undefined;
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

/**
 * The authentication contexts a `claims` request parameter asks for as essential
 * (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, or `values`), from either the
 * `access_token` or the `id_token` member; `'invalid'` for a parameter that is not JSON.
 */
function requestedAcrs(claims: string | null): string[] | 'invalid' {
  if (claims === null) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    return 'invalid';
  }
  const out = new Set<string>();
  if (typeof parsed === 'object' && parsed !== null) {
    for (const member of ['access_token', 'id_token']) {
      const request = (parsed as Record<string, unknown>)[member];
      const acrs = typeof request === 'object' && request !== null ? (request as Record<string, unknown>).acrs : undefined;
      if (typeof acrs !== 'object' || acrs === null) continue;
      const { value, values } = acrs as { value?: unknown; values?: unknown };
      if (typeof value === 'string') out.add(value);
      if (Array.isArray(values)) for (const v of values) if (typeof v === 'string') out.add(v);
    }
  }
  return [...out];
}
