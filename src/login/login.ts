/** The login's composer: `createLogin` builds the keys, sessions, exchange and renewal and wires the route handlers to them. */
import { createHash, randomBytes } from 'node:crypto';
import { parseWith } from '../config/idp.js';
import { publish } from '../diagnostics.js';
import { ConfigError, EntragateError, StoreError, TokenError } from '../errors/index.js';
import { createOidcExchange, type ExchangeSettings } from './exchange.js';
import { createClientAssertionSigner } from '../credentials/client-credential.js';
import type { Identity } from '../types.js';
import { serializeCookie, readCookie, type CookieAttributes } from '../http/cookies.js';
import { loginChannels } from './diagnostics.js';
import { createMemoryIdentityStore, type IdentityStore, type SessionIdentity } from '../session/identity-store.js';
import { importSessionKey, type ImportedKey } from './keys.js';
import { loginOptionsSchema, type LoginOptions, type ParsedLoginOptions } from './options.js';
import { bearerToken, challengeOf, header, type RequestLike } from '../http/request.js';
import type { RevocationList } from '../session/revocation.js';
import { SessionManager, type AuthenticatedSession, type SessionClaims, type SessionSecrets } from './session.js';
import { Sealer } from './seal.js';
import { createRenewal } from './renewal.js';
import { TransactionSealer } from './transaction.js';
import { createLiveIdentity, sessionClaims } from './live-identity.js';
import { getIdentityJson, type GetIdentityResponse } from './get-identity.js';
import type { LoginStartOptions } from './parameters.js';
import { createStartHandler } from './start.js';
import { createCallbackHandler } from './callback.js';
import { createLogoutHandler } from './logout.js';

/** An API client authenticated with an Entra access token (`Authorization: Bearer`). */
export interface AuthenticatedBearer {
  /** Tells a bearer client from a browser session (`AuthenticatedSession.kind` is `session`). */
  kind: 'bearer';
  /** The token's user, through the gate's one pipeline: revocations and the directory's standing checked, groups resolved. */
  identity: Identity;
  /** The verified token claims (frozen). */
  claims: Readonly<Record<string, unknown>>;
}

/** What `authenticateRequest` returns: a bearer client or a browser session. */
export type Authenticated = AuthenticatedBearer | AuthenticatedSession;

/** A freshly issued session: the token, its claims and the `Set-Cookie` value carrying it. */
export interface IssuedSession {
  /** The signed session token (a JWT shaped like Cloudflare's application token): the cookie's value. A credential: never log it. */
  token: string;
  /** The claims the token carries (`sub`, `identity_nonce`, `exp`, …), as signed. */
  claims: SessionClaims;
  /** The whole `Set-Cookie` header value: the login's cookie name, HttpOnly, SameSite=Lax, `Secure` unless turned off, `Max-Age` the session's duration. */
  setCookie: string;
}

/** The login and session API of `createLogin`. Framework-free: WHATWG `Response` out, `Request` or a plain object in. */
export interface Login {
  /** The app's AUD tag (the `aud` of every session, the unit of `revokeApp`). */
  readonly audience: string;
  /** The `iss` of every session. */
  readonly issuer: string;
  /** The session cookie name (`CF_Authorization` by default). */
  readonly cookieName: string;
  /** The revocation list checked on every request: the gate's (`createGate({ revocations })`). */
  readonly revocations: RevocationList;
  /** The gate application this login serves (its policies' session durations apply), if any. */
  readonly application: string | undefined;
  /** Where identities live, by `identity_nonce`. */
  readonly identities: IdentityStore;
  /**
   * Starts a login: a 302 to Entra's authorize endpoint with `state`, `nonce`, PKCE
   * (S256, when `pkce_enabled`) and `prompt`; the transaction goes in an encrypted,
   * HttpOnly cookie scoped to the callback path. The return-to path comes from
   * `options.returnTo` or the `returnTo` query parameter; anything but a relative
   * path becomes `/`. Per request, `loginHint`, `domainHint`, `prompt` and `claims` (or the
   * `login_hint`, `domain_hint`, `prompt` and `claims` query parameters) are checked and sent to
   * Entra; a refused one answers a 400 failure page (`ERR_LOGIN_PARAMETER_INVALID`,
   * `ERR_LOGIN_CLAIMS_INVALID`). When discovery fails it answers a 503 failure page.
   */
  start(request: RequestLike, options?: LoginStartOptions): Promise<Response>;
  /**
   * Finishes a login: checks `state` (single use), refuses an Entra `error`, exchanges
   * the code (with the PKCE verifier), verifies the ID token with the gate (nonce
   * included), resolves groups, issues the session cookie and redirects to the
   * return-to path. Every failure is an HTML failure page with the error status and
   * an `x-entragate-error` header holding the code, and never sets a session.
   */
  callback(request: RequestLike, context?: { country?: string }): Promise<Response>;
  /**
   * Ends the session (forgets its identity; with `logoutRevokes: 'user'` revokes every session of the user), clears the cookie and redirects.
   * A cross-site request (`Sec-Fetch-Site: cross-site` or `Origin: null`) or a `HEAD` changes nothing: it gets a page
   * with a same-origin POST button that signs out.
   */
  logout(request: RequestLike): Promise<Response>;
  /** Cloudflare's get-identity for the request's session, as JSON; a 401 JSON body with `code` when there is none. */
  identity(request: RequestLike): Promise<Response>;
  /** Verifies a session token (the cookie value). Throws `SessionError` (`ERR_TOKEN_MISSING`, `ERR_SESSION_INVALID`, `ERR_SESSION_EXPIRED`, `ERR_SESSION_REVOKED`). */
  verifySession(token: string): Promise<AuthenticatedSession>;
  /** Verifies the session cookie of a request. Throws as `verifySession`. */
  authenticate(request: RequestLike): Promise<AuthenticatedSession>;
  /**
   * Authenticates an API client or a browser: `Authorization: Bearer` first (verified by
   * the gate, user revocations applied, groups resolved as at login), else the session
   * cookie. Throws `TokenError`, `JwksError`, `GroupsError` or `SessionError`.
   */
  authenticateRequest(request: RequestLike): Promise<Authenticated>;
  /**
   * Issues a session for an already verified identity (as the callback does; exposed for custom flows).
   * `claims` are the verified claims the identity came from: the session keeps the few the group sources
   * read, so `identity_update_behavior: 'automatic'` can resolve it again on every request.
   * @defaultValue `durationSeconds`: the application's session duration, else the gate's global one
   */
  createSession(
    identity: Identity,
    options?: { durationSeconds?: number; country?: string; claims?: Readonly<Record<string, unknown>> },
  ): Promise<IssuedSession>;
  /** Revokes every session of these subjects (`oid`, email; lower-cased) issued at or before `at` (Unix seconds, default now). */
  revokeUser(subjects: string | readonly string[], at?: number): Promise<void>;
  /** Revokes every session of an app (default: this app) issued at or before `at` (Unix seconds, default now). */
  revokeApp(appAud?: string, at?: number): Promise<void>;
  /** Forgets every cached session verification. */
  clearSessionCache(): void;
}

// No `offline_access` unless asked (`refreshTokens`): a refresh token the login would not keep is a credential
// issued for nothing (RFC 6749 §10.4; Microsoft: "offline_access … the app receives refresh tokens").
const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

/**
 * Creates the Entra ID login (authorization code + PKCE, with `openid-client`) and
 * Cloudflare Access-style sessions: a signed `type: "app"` JWT in `CF_Authorization`,
 * groups kept server-side by `identity_nonce`, Cloudflare's session-duration
 * precedence, and per-user / per-app revocation checked on every request.
 *
 * Validates every option once and imports the keys; a bad option throws a
 * `ConfigError` (`ERR_CONFIG_INVALID`) synchronously. Discovery happens at the
 * first `start`/`callback`, not here.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { createGate } from 'entragate';
 * import { createLogin } from 'entragate/login';
 * const gate = createGate({ idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: '…', client_secret: '…', directory_id: '…', pkce_enabled: true } } });
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * const login = createLogin({
 *   gate,
 *   redirectUri: 'https://app.example.com/auth/callback',
 *   keys: { signing: { kid: '2025-06', alg: 'ES256', privateKey } },
 *   sessionDuration: '8h',
 * });
 * // GET /auth/login    → login.start(request)
 * // GET /auth/callback → login.callback(request)
 * const { identity } = await login.authenticateRequest(request);
 * ```
 */
export function createLogin(options: LoginOptions): Login {
  const o = parseWith(loginOptionsSchema, options, 'login');
  const gate = o.gate;
  const idp = gate.idp;
  const clientId = idp.config.client_id;
  const now = o.now ?? gate.now;
  const credential = loginCredential(o, clientId, now);
  const redirect = new URL(o.redirectUri);
  const application = o.application ?? gate.application()?.name;
  const app = application === undefined ? undefined : gate.application(application);
  if (o.application !== undefined && app === undefined) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid login configuration: the gate has no application \`${o.application}\``);
  }
  const audience = o.audience ?? app?.aud ?? createHash('sha256').update(`${clientId}\n${redirect.origin}`).digest('hex');
  const issuer = o.issuer ?? redirect.origin;
  const supportGroups = idp.config.support_groups;
  const baseScopes = o.scopes ?? (supportGroups && gate.groups !== undefined ? [...DEFAULT_SCOPES, 'User.Read'] : DEFAULT_SCOPES);
  const renewing = o.renewAfterSeconds !== undefined;
  const scopes = (o.refreshTokens || renewing) && !baseScopes.includes('offline_access') ? [...baseScopes, 'offline_access'] : baseScopes;
  // The cookie lasts the application's session duration (else the global one); a deciding policy's
  // shorter duration is enforced on every request by the gate (`authorize` with `session`).
  const sessionSeconds = gate.sessionDuration(undefined, application);
  const automatic = gate.identityUpdateBehavior === 'automatic';

  const signing = importSessionKey(o.keys.signing.kid, o.keys.signing.alg, o.keys.signing.privateKey, 'private');
  const verification = new Map<string, ImportedKey>([[signing.kid, importSessionKey(signing.kid, signing.alg, signing.key, 'public')]]);
  for (const k of o.keys.verification) {
    if (verification.has(k.kid)) throw new ConfigError('ERR_CONFIG_INVALID', `invalid login configuration: the session key id \`${k.kid}\` is used twice`);
    verification.set(k.kid, importSessionKey(k.kid, k.alg, k.publicKey, 'public'));
  }

  const revocations = gate.revocations;
  const transactionSecret = o.transactionSecret ?? randomBytes(32).toString('base64url');
  const identities = o.identities ?? createMemoryIdentityStore({ now, max: o.sessionCache === false ? 10_000 : o.sessionCache.max });
  const sessions = new SessionManager({
    signing,
    verification,
    issuer,
    audience,
    cacheMax: o.sessionCache === false ? 0 : o.sessionCache.max,
    clockTolerance: o.clockToleranceSeconds,
    maxTokenBytes: 8_192,
    assertNotRevoked: (claims, stored) =>
      gate.assertNotRevoked({ subjects: gate.subjectsOf(stored.identity, stored.claims ?? {}), issuedAt: claims.iat, appId: audience, userId: claims.sub }),
    identities,
    // Sessions' server-side credentials: sealed under the same secret as the transactions, another purpose.
    sealer: new Sealer(transactionSecret, 'entragate session secrets v1'),
    now,
  });
  const sealer = new TransactionSealer(transactionSecret);
  const cookieName = o.cookie.name;
  const sessionCookie: CookieAttributes = { path: o.cookie.path, domain: o.cookie.domain, secure: o.cookie.secure, httpOnly: true, sameSite: 'Lax' };
  // Transaction cookies live on the callback's folder (`/auth/` for `/auth/callback`), so the login start
  // beside it (`/auth/login`) sees the ones a browser holds and can bound them: a cookie scoped to the
  // callback alone is invisible to the start, and abandoned logins piled up until the callback got a 431.
  const txCookie: CookieAttributes = {
    path: redirect.pathname.slice(0, redirect.pathname.lastIndexOf('/') + 1),
    secure: o.cookie.secure,
    httpOnly: true,
    sameSite: 'Lax',
  };
  const fetchImpl = o.fetch ?? globalThis.fetch;
  const authorityTenant = o.authorityTenant ?? idp.config.directory_id;

  const exchange = createOidcExchange({
    authorityHost: gate.hosts.authorityHost,
    authorityTenant,
    clientId,
    credential,
    fetch: fetchImpl,
    timeoutMs: o.timeoutMs,
  });

  const live = createLiveIdentity(gate);
  const renewal =
    o.renewAfterSeconds === undefined
      ? undefined
      : createRenewal({
          renewAfterSeconds: o.renewAfterSeconds,
          keepIdToken: o.entraLogout?.idTokenHint === true,
          sessions,
          identities,
          exchange,
          gate,
          clientId,
          now,
        });

  const issueSession = async (
    identity: Identity,
    durationSeconds: number,
    country: string | undefined,
    claims?: Readonly<Record<string, unknown>>,
    secrets?: SessionSecrets,
  ): Promise<IssuedSession> => {
    const { token, claims: sessionClaims } = await sessions.issue(identity, { durationSeconds, country, claims, secrets });
    return { token, claims: sessionClaims, setCookie: serializeCookie(cookieName, token, { ...sessionCookie, maxAge: durationSeconds }) };
  };

  const verifySession = (token: string): Promise<AuthenticatedSession> => {
    // Renewal first (when due), so the pipeline and the caller see the identity Entra just confirmed.
    const verified = renewal === undefined ? sessions.verify(token) : sessions.verify(token).then((r) => renewal.check(r, token));
    return automatic ? verified.then(live.follow) : verified;
  };

  const authenticate = (request: RequestLike): Promise<AuthenticatedSession> => {
    const token = readCookie(header(request.headers, 'cookie'), cookieName);
    if (token === undefined) return Promise.reject(new TokenError('ERR_TOKEN_MISSING', 'no session cookie or bearer token was presented'));
    return verifySession(token);
  };

  const authenticateBearer = async (bearer: string): Promise<AuthenticatedBearer> => {
    // The one pipeline: revocations (of the user, and of this login's application), standing, groups.
    const { identity, claims } = await gate.identifyToken(bearer, application === undefined ? {} : { application });
    return { kind: 'bearer', identity, claims };
  };

  const revokeUser = async (subjects: string | readonly string[], at?: number): Promise<void> => {
    const list = (typeof subjects === 'string' ? [subjects] : [...subjects]).map((s) => s.toLowerCase()).filter((s) => s.length > 0);
    if (list.length === 0) return;
    const notBefore = at ?? Math.floor(now() / 1000);
    await revocations.revokeUser(list, notBefore);
    publish(loginChannels.revoked, { event: 'revoke-user', subjects: list.length, notBefore });
  };

  return {
    audience,
    application,
    issuer,
    cookieName,
    revocations,
    identities,
    start: createStartHandler({ options: o, redirect, scopes, exchange, sealer, txCookie, now }),
    callback: createCallbackHandler({ options: o, redirect, exchange, sealer, txCookie, clientId, audience, sessionSeconds, renewing, issueSession, now }),
    logout: createLogoutHandler({ options: o, redirect, exchange, sessions, identities, cookieName, sessionCookie, revokeUser }),

    async identity(request) {
      try {
        const result = await authenticate(request);
        return Response.json(getIdentityJson(result), { headers: { 'cache-control': 'no-store' } });
      } catch (error) {
        const e = error instanceof EntragateError ? error : new StoreError('ERR_STORE_UNAVAILABLE', 'the session could not be read', { cause: error });
        const headers: Record<string, string> = { 'cache-control': 'no-store' };
        // RFC 7235 §3.1: a 401 carries a challenge.
        if (e.status === 401) headers['www-authenticate'] = challengeOf(e);
        // 5xx messages stay on the server: they may describe the infrastructure.
        return Response.json({ err: e.expose ? e.message : 'the session store is unavailable', code: e.code }, { status: e.status, headers });
      }
    },

    verifySession,
    authenticate,

    authenticateRequest(request) {
      const bearer = bearerToken(request.headers);
      // The cookie path hands back the session promise as is: no extra async frame on the hot path.
      return bearer === undefined ? authenticate(request) : authenticateBearer(bearer);
    },

    async createSession(identity, sessionOptions = {}) {
      const duration = sessionOptions.durationSeconds ?? sessionSeconds;
      if (!Number.isInteger(duration) || duration < 1)
        throw new ConfigError('ERR_CONFIG_INVALID', `the session duration \`${duration}\` must be a whole number of seconds ≥ 1`);
      return issueSession(identity, duration, sessionOptions.country, sessionOptions.claims === undefined ? undefined : sessionClaims(sessionOptions.claims));
    },

    revokeUser,

    async revokeApp(appAud = audience, at) {
      const notBefore = at ?? Math.floor(now() / 1000);
      await revocations.revokeApp(appAud, notBefore);
      publish(loginChannels.revoked, { event: 'revoke-app', appId: appAud, notBefore });
    },

    clearSessionCache: () => sessions.clearCache(),
  };
}

/** The login's client credential: a certificate (`private_key_jwt`) or a secret, refusing a mix at construction. */
function loginCredential(o: ParsedLoginOptions, clientId: string, now: () => number): ExchangeSettings['credential'] {
  if (o.clientCertificate !== undefined) {
    if (o.clientSecret !== undefined)
      throw new ConfigError('ERR_CONFIG_INVALID', 'invalid login configuration: set `clientCertificate` or `clientSecret`, not both');
    if (o.clientAuth !== undefined && o.clientAuth !== 'private_key_jwt') {
      throw new ConfigError(
        'ERR_CONFIG_INVALID',
        `invalid login configuration: a \`clientCertificate\` authenticates with \`private_key_jwt\`, not \`${o.clientAuth}\``,
      );
    }
    return { method: 'private_key_jwt', signer: createClientAssertionSigner(clientId, o.clientCertificate, 'login'), now };
  }
  if (o.clientAuth === 'private_key_jwt')
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid login configuration: `private_key_jwt` needs a `clientCertificate`');
  const secret = o.clientSecret ?? o.gate.idp.config.client_secret;
  if (secret === undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid login configuration: the login needs a client secret or certificate: set `clientSecret`, `clientCertificate` or the IdP `config.client_secret`',
    );
  }
  return { method: o.clientAuth ?? 'client_secret_post', secret };
}

export type { SessionIdentity, GetIdentityResponse };
export { getIdentityJson };
export { issuerFitsAuthority } from './authority.js';
