import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { isGuid, parseWith } from '../config/idp.js';
import { publish } from '../diagnostics.js';
import { ConfigError, EntragateError, ERROR_CODES, GroupsError, JwksError, SessionError, StoreError, TokenError, type ErrorCode } from '../errors/index.js';
import { groupsFromClaims } from '../token/identity.js';
import type { Identity } from '../types.js';
import { cookiesWithPrefix, serializeCookie, readCookie, type CookieAttributes } from './cookies.js';
import { loginChannels } from './diagnostics.js';
import { createMemoryIdentityStore, type IdentityStore, type SessionIdentity } from './identity-store.js';
import { importSessionKey, type ImportedKey } from './keys.js';
import { loginOptionsSchema, type LoginOptions } from './options.js';
import { bearerToken, challengeOf, header, queryOf, safeReturnTo, type RequestLike } from './request.js';
import type { RevocationList } from './revocation.js';
import { SessionManager, storedIdentityOf, subjectsOf, type AuthenticatedSession, type SessionClaims } from './session.js';
import { TransactionSealer, type LoginTransaction } from './transaction.js';

/** An API client authenticated with an Entra access token (`Authorization: Bearer`). */
export interface AuthenticatedBearer {
  kind: 'bearer';
  identity: Identity;
  /** The verified token claims (frozen). */
  claims: Readonly<Record<string, unknown>>;
}

/** What `authenticateRequest` returns: a bearer client or a browser session. */
export type Authenticated = AuthenticatedBearer | AuthenticatedSession;

/**
 * Cloudflare's get-identity JSON for a session (`/cdn-cgi/access/get-identity`), with
 * entragate's `membership` so a caller knows whether `groups` is complete.
 */
export interface GetIdentityResponse {
  email: string;
  name?: string;
  user_uuid: string;
  idp: { id: string; type: 'azureAD' };
  amr: string[];
  groups: Array<{ id: string; name?: string; email?: string }>;
  oidc_fields: Record<string, unknown>;
  /** When the session was issued (Unix seconds). */
  iat: number;
  geo?: { country: string };
  membership: Identity['membership'];
}

/** A freshly issued session: the token, its claims and the `Set-Cookie` value carrying it. */
export interface IssuedSession {
  token: string;
  claims: SessionClaims;
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
   * path becomes `/`. When discovery fails it answers a 503 failure page.
   */
  start(request: RequestLike, options?: { returnTo?: string }): Promise<Response>;
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
  createSession(identity: Identity, options?: { durationSeconds?: number; country?: string; claims?: Readonly<Record<string, unknown>> }): Promise<IssuedSession>;
  /** Revokes every session of these subjects (`oid`, email; lower-cased) issued at or before `at` (Unix seconds, default now). */
  revokeUser(subjects: string | readonly string[], at?: number): Promise<void>;
  /** Revokes every session of an app (default: this app) issued at or before `at` (Unix seconds, default now). */
  revokeApp(appAud?: string, at?: number): Promise<void>;
  /** Forgets every cached session verification. */
  clearSessionCache(): void;
}

const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/** The most login transactions (tabs mid-login) a browser keeps; a new start evicts the oldest beyond it. */
const MAX_LOGIN_TRANSACTIONS = 4;

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
  const clientSecret = o.clientSecret ?? idp.config.client_secret;
  if (clientSecret === undefined) {
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid login configuration: the login needs a client secret: set `clientSecret` or the IdP `config.client_secret`');
  }
  const now = o.now ?? gate.now;
  const redirect = new URL(o.redirectUri);
  const application = o.application ?? gate.application()?.name;
  const app = application === undefined ? undefined : gate.application(application);
  if (o.application !== undefined && app === undefined) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid login configuration: the gate has no application \`${o.application}\``);
  }
  const audience = o.audience ?? app?.aud ?? createHash('sha256').update(`${clientId}\n${redirect.origin}`).digest('hex');
  const issuer = o.issuer ?? redirect.origin;
  const supportGroups = idp.config.support_groups;
  const scopes = o.scopes ?? (supportGroups && gate.groups !== undefined ? [...DEFAULT_SCOPES, 'User.Read'] : DEFAULT_SCOPES);
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
  const identities = o.identities ?? createMemoryIdentityStore({ now, max: o.sessionCache === false ? 10_000 : o.sessionCache.max });
  const sessions = new SessionManager({
    signing,
    verification,
    issuer,
    audience,
    cacheMax: o.sessionCache === false ? 0 : o.sessionCache.max,
    clockTolerance: o.clockTolerance,
    maxTokenBytes: 8_192,
    assertNotRevoked: (claims, stored) =>
      gate.assertNotRevoked({ subjects: gate.subjectsOf(stored.identity, stored.claims ?? {}), issuedAt: claims.iat, appId: audience, userId: claims.sub }),
    identities,
    now,
  });
  const sealer = new TransactionSealer(o.transactionSecret ?? randomBytes(32).toString('base64url'));
  const usedStates = new LRUCache<string, number>({ max: 10_000 });
  const cookieName = o.cookie.name;
  const sessionCookie: CookieAttributes = { path: o.cookie.path, domain: o.cookie.domain, secure: o.cookie.secure, httpOnly: true, sameSite: 'Lax' };
  // Transaction cookies live on the callback's folder (`/auth/` for `/auth/callback`), so the login start
  // beside it (`/auth/login`) sees the ones a browser holds and can bound them: a cookie scoped to the
  // callback alone is invisible to the start, and abandoned logins piled up until the callback got a 431.
  const txCookie: CookieAttributes = { path: redirect.pathname.slice(0, redirect.pathname.lastIndexOf('/') + 1), secure: o.cookie.secure, httpOnly: true, sameSite: 'Lax' };
  const fetchImpl = o.fetch ?? globalThis.fetch;
  const authorityTenant = o.authorityTenant ?? idp.config.directory_id;

  // The ID token is validated once, by the gate (signature, issuer with Entra's `{tenantid}` template,
  // tenant allow-list, audience, lifetime, nonce), for every cloud and authority alike. openid-client
  // runs the protocol (PKCE, state, the code exchange, error responses); it would check the ID token
  // too, but it resolves Entra's multi-tenant issuer template only on login.microsoftonline.com, so
  // `organizations` logins failed on the US Government and China clouds (and on the mock). The token
  // response reaches it with the ID token set aside under another name.
  let tokenEndpoint: string | undefined;
  const oidcFetch = async (url: string, init: oidc.CustomFetchOptions): Promise<Response> => {
    const response = await fetchImpl(url, init as RequestInit);
    return url === tokenEndpoint ? setIdTokenAside(response) : response;
  };

  let configuration: Promise<oidc.Configuration> | undefined;
  const discover = (): Promise<oidc.Configuration> => {
    configuration ??= (async () => {
      const authority = `${gate.hosts.authorityHost}/${authorityTenant}/v2.0`;
      // The document's own URL: openid-client then leaves its issuer to us (checked below), since a
      // multi-tenant authority announces the `{tenantid}` template rather than its own URL.
      const server = new URL(`${authority}/.well-known/openid-configuration`);
      const auth = o.clientAuth === 'client_secret_basic' ? oidc.ClientSecretBasic(clientSecret) : oidc.ClientSecretPost(clientSecret);
      const config = await oidc.discovery(server, clientId, { client_secret: clientSecret }, auth, {
        [oidc.customFetch]: oidcFetch,
        timeout: Math.ceil(o.timeout / 1000),
        execute: server.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
      });
      const metadata = config.serverMetadata();
      if (!issuerFitsAuthority(metadata.issuer, gate.hosts.authorityHost, authorityTenant)) {
        throw new Error(`the discovery document of \`${authorityTenant}\` names an issuer of another authority`);
      }
      tokenEndpoint = metadata.token_endpoint;
      return config;
    })().catch((cause: unknown) => {
      configuration = undefined;
      throw new JwksError('ERR_JWKS_UNAVAILABLE', `the login discovery document of tenant \`${authorityTenant}\` could not be fetched`, { cause });
    });
    return configuration;
  };

  /**
   * The identity a session stands for on this request. With `identity_update_behavior: 'automatic'`,
   * the identity pipeline resolves it again from the sources (the directory's current membership and
   * standing), from the claims kept at login; with `reauth` and `no_action`, it is the identity captured
   * at login (SCIM changes revoke the session under `reauth`).
   */
  const live = new WeakMap<SessionIdentity, Identity>();
  const liveResults = new WeakMap<AuthenticatedSession, { identity: Identity; result: AuthenticatedSession }>();
  const followDirectory = async (session: AuthenticatedSession): Promise<AuthenticatedSession> => {
    const stored = storedIdentityOf(session);
    if (!automatic || stored === undefined) return session;
    let base = live.get(stored);
    if (base === undefined) {
      // The identity as the token stated it: the pipeline applies `tokenGroups` to the token's own groups.
      const claims = stored.claims ?? {};
      const token = groupsFromClaims(claims as Record<string, unknown>);
      base = Object.freeze({ ...stored.identity, groups: token.groups, membership: token.membership });
      live.set(stored, base);
    }
    const identity = await gate.resolveIdentity(base, { claims: stored.claims ?? {} });
    if (identity === session.identity) return session;
    const last = liveResults.get(session);
    if (last !== undefined && last.identity === identity) return last.result;
    const result: AuthenticatedSession = { ...session, identity };
    liveResults.set(session, { identity, result });
    return result;
  };

  const issueSession = async (identity: Identity, durationSeconds: number, country: string | undefined, claims?: Readonly<Record<string, unknown>>): Promise<IssuedSession> => {
    const { token, claims: sessionClaims } = await sessions.issue(identity, { durationSeconds, country, claims });
    return { token, claims: sessionClaims, setCookie: serializeCookie(cookieName, token, { ...sessionCookie, maxAge: durationSeconds }) };
  };

  const verifySession = (token: string): Promise<AuthenticatedSession> => (automatic ? sessions.verify(token).then(followDirectory) : sessions.verify(token));

  const authenticate = (request: RequestLike): Promise<AuthenticatedSession> => {
    const token = readCookie(header(request.headers, 'cookie'), cookieName);
    if (token === undefined) return Promise.reject(new SessionError('ERR_TOKEN_MISSING', 'no session cookie or bearer token was presented'));
    return verifySession(token);
  };

  const authenticateBearer = async (bearer: string): Promise<AuthenticatedBearer> => {
    // The one pipeline: revocations (of the user, and of this login's application), standing, groups.
    const { identity, claims } = await gate.identifyToken(bearer, application === undefined ? {} : { application });
    return { kind: 'bearer', identity, claims };
  };

  /**
   * The transaction cookies a new `start` clears: expired or unreadable ones, and the oldest beyond
   * {@link MAX_LOGIN_TRANSACTIONS} - 1, so that with the new one a browser holds at most that many.
   */
  const transactionsToEvict = (cookieHeader: string | undefined): string[] => {
    const prefix = `${o.cookie.transactionPrefix}_`;
    const found = cookiesWithPrefix(cookieHeader, prefix);
    if (found.length === 0) return [];
    const at = now();
    const evict = new Set<string>();
    const live: Array<{ name: string; expiresAt: number }> = [];
    for (const [name, value] of found) {
      const tx = sealer.open(value, name);
      if (tx === undefined || at >= tx.expiresAt) evict.add(name);
      else live.push({ name, expiresAt: tx.expiresAt });
    }
    live.sort((a, b) => a.expiresAt - b.expiresAt);
    for (let i = 0; i < live.length - (MAX_LOGIN_TRANSACTIONS - 1); i++) evict.add(live[i]!.name);
    return [...evict];
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

    async start(request, startOptions = {}) {
      try {
        const config = await discover();
        const returnTo = safeReturnTo(startOptions.returnTo ?? queryOf(request).get('returnTo'), '/');
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        const params: Record<string, string> = {
          redirect_uri: redirect.href,
          response_type: 'code',
          response_mode: 'query',
          scope: scopes.join(' '),
          state,
          nonce,
        };
        if (idp.config.prompt) params.prompt = idp.config.prompt;
        const tx: LoginTransaction = { state, nonce, returnTo, expiresAt: now() + o.transactionTtl * 1000 };
        if (idp.config.pkce_enabled) {
          tx.verifier = oidc.randomPKCECodeVerifier();
          params.code_challenge = await oidc.calculatePKCECodeChallenge(tx.verifier);
          params.code_challenge_method = 'S256';
        }
        const location = oidc.buildAuthorizationUrl(config, params);
        const name = TransactionSealer.cookieName(o.cookie.transactionPrefix, state);
        const headers = new Headers({ location: location.href, 'cache-control': 'no-store' });
        // INVARIANT: a browser holds a bounded number of login transactions: abandoned starts (closed tabs,
        // a bot) evict the oldest instead of piling up cookies until the callback's headers are refused (431).
        for (const stale of transactionsToEvict(header(request.headers, 'cookie'))) headers.append('set-cookie', serializeCookie(stale, '', { ...txCookie, maxAge: 0 }));
        headers.append('set-cookie', serializeCookie(name, sealer.seal(tx, name), { ...txCookie, maxAge: o.transactionTtl }));
        publish(loginChannels.login, { event: 'start', pkce: idp.config.pkce_enabled });
        return new Response(null, { status: 302, headers });
      } catch (error) {
        return failure(error, []);
      }
    },

    async callback(request, context = {}) {
      const params = queryOf(request);
      const state = params.get('state');
      const clear: string[] = [];
      try {
        let tx: LoginTransaction | undefined;
        if (state) {
          const name = TransactionSealer.cookieName(o.cookie.transactionPrefix, state);
          const sealed = readCookie(header(request.headers, 'cookie'), name);
          if (sealed !== undefined) {
            clear.push(serializeCookie(name, '', { ...txCookie, maxAge: 0 }));
            tx = sealer.open(sealed, name);
          }
        }
        const idpError = params.get('error');
        if (idpError !== null) {
          if (tx !== undefined) usedStates.set(tx.state, tx.expiresAt);
          const detail = aadsts(params.get('error_description'));
          throw new SessionError('ERR_LOGIN_IDP_ERROR', `entra refused the login: \`${token(idpError)}\`${detail ? `: ${detail}` : ''}`);
        }
        if (!state) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login callback has no `state`');
        if (tx === undefined) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` matches no transaction of this browser (forged, expired or already used)');
        if (!sameString(tx.state, state)) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` does not match its transaction');
        if (now() >= tx.expiresAt) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login transaction expired: start the login again');
        // INVARIANT: a state is accepted once per instance; the browser's cookie is cleared too, and Entra's code is single use.
        if (usedStates.has(state)) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` was already used');
        usedStates.set(state, tx.expiresAt);
        if (!params.get('code')) throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the login callback has no `code`');

        const config = await discover();
        const current = new URL(redirect.href);
        for (const [k, v] of params) current.searchParams.append(k, v);
        let tokens: oidc.TokenEndpointResponse;
        try {
          tokens = await oidc.authorizationCodeGrant(config, current, {
            expectedState: tx.state,
            ...(tx.verifier ? { pkceCodeVerifier: tx.verifier } : {}),
          });
        } catch (cause) {
          throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', `the authorization code could not be exchanged: ${describeOidcError(cause)}`, { cause });
        }
        const idToken = tokens[ID_TOKEN_ASIDE];
        if (typeof idToken !== 'string') throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the token endpoint returned no `id_token`');
        // The ID token is verified by the gate: signature, issuer, tenant, audience, lifetime and nonce.
        const verified = await gate.verifyToken(idToken, { nonce: tx.nonce });
        checkIdTokenParty(verified.claims, clientId);
        // The one identity pipeline, as for a bearer token and every session request: the directory's
        // standing (a deprovisioned user gets no session), then the groups under the gate's `tokenGroups`.
        const graphToken = typeof tokens.access_token === 'string' ? tokens.access_token : undefined;
        const identity = await gate.resolveIdentity(verified.identity, graphToken === undefined ? { claims: verified.claims } : { claims: verified.claims, graphToken });
        // INVARIANT: no session is issued on groups a source tried and could not resolve: the user retries
        // (a 503 for an outage) or is refused (a 403 for a user the directory does not hold).
        if (identity.membership.state === 'unknown') {
          const m = identity.membership;
          const code = isErrorCode(m.code) ? m.code : 'ERR_GROUPS_UNAVAILABLE';
          throw new GroupsError(code, `the groups could not be resolved at login: ${m.reason}`);
        }
        // A session issued now, within the clock tolerance after a revocation of this user, would be
        // refused on its first request: say so here instead (Cloudflare, too, refuses a revoked user's
        // new login for up to a minute).
        const issuedAt = Math.floor(now() / 1000);
        try {
          gate.assertNotRevoked({ subjects: gate.subjectsOf(verified.identity, verified.claims), issuedAt, appId: audience, userId: identity.user_uuid });
        } catch (error) {
          if (error instanceof SessionError) throw new SessionError('ERR_SESSION_REVOKED', 'this account was signed out moments ago: try again in a minute', { cause: error });
          throw error;
        }
        const issued = await issueSession(identity, sessionSeconds, context.country, sessionClaims(verified.claims));
        const duration = sessionSeconds;
        const headers = new Headers({ location: tx.returnTo, 'cache-control': 'no-store' });
        headers.append('set-cookie', issued.setCookie);
        for (const c of clear) headers.append('set-cookie', c);
        publish(loginChannels.login, { event: 'success', user_uuid: identity.user_uuid, duration });
        return new Response(null, { status: 302, headers });
      } catch (error) {
        return failure(error, clear);
      }
    },

    async logout(request) {
      // INVARIANT: another site cannot end a session (logout CSRF), not even a sibling subdomain (same-site):
      // a POST signs out only when its `Origin` (or, without one, its `Referer`) is this app's origin, and
      // is refused otherwise; a GET only on a same-origin navigation or one the user typed (`Sec-Fetch-Site:
      // same-origin` or `none`). Anything else (a HEAD, a cross-site or unlabelled GET) gets a page whose
      // same-origin POST button signs out, and changes nothing.
      const origin = requestOrigin(request);
      if (request.method === 'POST') {
        if (origin === undefined) return confirmLogout(request);
        if (origin !== redirect.origin) {
          return failure(new SessionError('ERR_LOGIN_ORIGIN_MISMATCH', 'the sign-out was posted from another origin: use the sign-out button of this app'), [], 'Sign-out refused');
        }
      } else {
        const site = header(request.headers, 'sec-fetch-site');
        if (request.method !== 'GET' || (site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin !== redirect.origin)) return confirmLogout(request);
      }
      const value = readCookie(header(request.headers, 'cookie'), cookieName);
      const clearSession = serializeCookie(cookieName, '', { ...sessionCookie, maxAge: 0 });
      let user: string | undefined;
      if (value !== undefined) {
        let session: SessionClaims | undefined;
        try {
          session = (await sessions.verify(value)).session;
        } catch (error) {
          // An invalid or already revoked session has nothing left to end; the cookie is cleared regardless.
          // A store that could not answer is another matter: the session may still be live (see below).
          if (!(error instanceof EntragateError) || error.status >= 500) {
            sessions.evict(value);
            const e = error instanceof EntragateError ? error : new StoreError('ERR_STORE_UNAVAILABLE', 'the session could not be read to sign it out', { cause: error });
            return failure(e, [clearSession], 'Sign-out failed');
          }
        }
        sessions.evict(value);
        if (session !== undefined) {
          user = session.sub;
          try {
            await identities.delete(session.identity_nonce);
            if (o.logoutRevokes === 'user') await revokeUser(subjectsOf(session.sub, session.email));
          } catch (error) {
            // INVARIANT: a sign-out the server could not record is not reported as done: the session would
            // still open on any copy of the cookie. The browser's cookie is cleared; the user can try again.
            const e = error instanceof EntragateError ? error : new StoreError('ERR_STORE_UNAVAILABLE', 'the sign-out could not be recorded', { cause: error });
            return failure(e, [clearSession], 'Sign-out failed');
          }
        }
      }
      let location = o.postLogoutPath;
      if (o.entraLogout) {
        try {
          const config = await discover();
          location = oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: new URL(o.postLogoutPath, redirect.origin).href }).href;
        } catch {
          // Entra's sign-out is best effort; the local session is gone already.
        }
      }
      const headers = new Headers({ location, 'cache-control': 'no-store' });
      headers.append('set-cookie', clearSession);
      publish(loginChannels.login, { event: 'logout', ...(user ? { user_uuid: user } : {}) });
      return new Response(null, { status: 302, headers });
    },

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
      if (!Number.isInteger(duration) || duration < 1) throw new ConfigError('ERR_CONFIG_INVALID', `the session duration \`${duration}\` must be a whole number of seconds ≥ 1`);
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

/**
 * Builds Cloudflare's get-identity JSON from a verified session.
 *
 * @example
 * ```ts
 * import { getIdentityJson } from 'entragate/login';
 * const body = getIdentityJson(await login.authenticate(request));
 * console.log(body.groups.map((g) => g.id));
 * ```
 */
export function getIdentityJson(result: AuthenticatedSession): GetIdentityResponse {
  const i = result.identity;
  return {
    email: i.email,
    ...(i.name ? { name: i.name } : {}),
    user_uuid: i.user_uuid,
    idp: { id: i.idp.id, type: i.idp.type },
    amr: [...i.amr],
    groups: i.groups.map((g) => ({ ...g })),
    oidc_fields: { ...i.oidc_fields },
    iat: result.session.iat,
    ...(result.country ? { geo: { country: result.country } } : {}),
    membership: i.membership,
  };
}

/** The verified claims a session keeps for the identity pipeline (see `SessionIdentity.claims`). */
const SESSION_CLAIMS = ['tid', 'oid', 'preferred_username', 'upn', 'unique_name', 'email', 'groups', 'hasgroups', '_claim_names', 'roles'] as const;

function sessionClaims(claims: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const name of SESSION_CLAIMS) if (Object.hasOwn(claims, name) && claims[name] !== undefined) out[name] = claims[name];
  return Object.freeze(out);
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** Renders a failed login: the error status, a short HTML page and the code in `x-entragate-error`. Never sets a session. */
function failure(error: unknown, setCookies: readonly string[], title = 'Sign-in failed'): Response {
  const e =
    error instanceof EntragateError
      ? error
      : new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the login could not be completed', { cause: error, status: 500 });
  // The message goes to the operator (messages never hold a token or a secret), even when the page hides it.
  publish(loginChannels.login, { event: 'failure', code: e.code, message: e.message });
  const headers = new Headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-entragate-error': e.code });
  for (const c of setCookies) headers.append('set-cookie', c);
  // 5xx messages stay on the server (the diagnostics channel has them): they may describe the infrastructure.
  const text = e.expose ? e.message : 'the identity provider or the directory is unavailable: try again in a moment';
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${escapeHtml(text)}</p><p><code>${e.code}</code></p></body></html>`;
  return new Response(body, { status: e.status, headers });
}

/**
 * The origin a browser says the request comes from: the `Origin` header (`null` when opaque, which matches
 * no app), else the origin of the `Referer`; `undefined` when it sends neither.
 */
function requestOrigin(request: RequestLike): string | undefined {
  const origin = header(request.headers, 'origin');
  if (origin !== undefined) return origin.trim().toLowerCase();
  const referer = header(request.headers, 'referer');
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return 'null';
  }
}

/** The sign-out confirmation: a POST form to the same path, so only a same-origin click ends the session. */
function confirmLogout(request: RequestLike): Response {
  const path = new URL(request.url ?? '/', 'http://entragate.invalid').pathname;
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>Sign out</title></head><body><form method="post" action="${escapeHtml(path)}"><button type="submit">Sign out</button></form></body></html>`;
  return new Response(body, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Keeps an OAuth error value printable and short (it comes from the query string). */
function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
}

/** The `AADSTS…` code of an Entra error description (the rest may carry trace ids). */
function aadsts(description: string | null): string | undefined {
  return description?.match(/AADSTS\d{4,7}/)?.[0];
}

/** Where the token response's `id_token` is set aside from openid-client (see `oidcFetch`). */
const ID_TOKEN_ASIDE = 'entragate_id_token';

/**
 * A successful JSON token response with its `id_token` renamed to {@link ID_TOKEN_ASIDE}; any
 * other response (an error, not JSON) unchanged.
 */
async function setIdTokenAside(response: Response): Promise<Response> {
  if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  }
  // INVARIANT: the set-aside name only ever holds the response's own `id_token`: a response that
  // carries the name itself has it dropped, so no other member can stand in for the ID token.
  const { id_token: idToken, [ID_TOKEN_ASIDE]: _carried, ...rest } = body as Record<string, unknown>;
  const aside = Object.hasOwn(body, 'id_token') ? { ...rest, [ID_TOKEN_ASIDE]: idToken } : rest;
  return new Response(JSON.stringify(aside), { status: response.status, statusText: response.statusText, headers });
}

/**
 * The ID-token checks of OpenID Connect Core 3.1.3.7 the gate does not make, since it also
 * verifies access tokens: `aud` is exactly this client (the gate accepts `api://` and the
 * configured API audiences too), an `azp` names this client, and `sub` is present.
 */
function checkIdTokenParty(claims: Readonly<Record<string, unknown>>, clientId: string): void {
  if (claims.aud !== clientId || (claims.azp !== undefined && claims.azp !== clientId)) {
    throw new TokenError('ERR_TOKEN_AUDIENCE_INVALID', 'the ID token is not for this client: its `aud` or `azp` is not the client id');
  }
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
    throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the ID token has no `sub` claim');
  }
}

/** The tenant of Microsoft personal accounts: the one issuer of the `consumers` authority. */
const MSA_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/**
 * Authority hosts whose issuer is on another host. Azure China (21Vianet) serves
 * `login.chinacloudapi.cn` and issues as `login.partner.microsoftonline.cn` (MSAL's
 * `AuthorityMetadata`: "Issuer differs").
 */
const ISSUER_HOSTS = new Map([['https://login.chinacloudapi.cn', 'https://login.partner.microsoftonline.cn']]);

/**
 * Whether a discovery document's issuer belongs to the login authority: the authority's own v2
 * issuer for a tenant id, Entra's `{tenantid}` template for `organizations`/`common`, the MSA
 * tenant (or the template) for `consumers`, or some tenant's v2 issuer for a domain name
 * (`contoso.onmicrosoft.com`); on the authority's host or the issuer host of its cloud.
 */
export function issuerFitsAuthority(issuer: string, authorityHost: string, tenant: string): boolean {
  if (!issuer.endsWith('/v2.0')) return false;
  const alias = ISSUER_HOSTS.get(authorityHost);
  const host = issuer.startsWith(`${authorityHost}/`) ? authorityHost : alias !== undefined && issuer.startsWith(`${alias}/`) ? alias : undefined;
  if (host === undefined) return false;
  const named = issuer.slice(host.length + 1, -'/v2.0'.length);
  if (isGuid(tenant)) return named.toLowerCase() === tenant.toLowerCase();
  if (tenant === 'organizations' || tenant === 'common') return named === '{tenantid}';
  if (tenant === 'consumers') return named === '{tenantid}' || named.toLowerCase() === MSA_TENANT;
  return isGuid(named);
}

function describeOidcError(error: unknown): string {
  if (error instanceof oidc.ResponseBodyError) {
    const detail = aadsts(error.error_description ?? null);
    return `\`${token(error.error)}\`${detail ? ` (${detail})` : ''}`;
  }
  if (error instanceof Error) return error.message.slice(0, 200);
  return 'unknown error';
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type { SessionIdentity };
