/** The login's callback: the transaction and `state` checks, the code exchange, the identity pipeline and the new session. */
import { timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { publish } from '../diagnostics.js';
import { ERROR_CODES, SessionError, type ErrorCode } from '../errors/index.js';
import { errorOf } from '../errors/errors.js';
import { aadsts, checkIdTokenParty, printableError, type OidcExchange } from './exchange.js';
import { failure } from './pages.js';
import type { Identity } from '../types.js';
import { serializeCookie, readCookie, type CookieAttributes } from '../http/cookies.js';
import { loginChannels } from './diagnostics.js';
import type { ParsedLoginOptions } from './options.js';
import { header, queryOf, type RequestLike } from '../http/request.js';
import type { SessionSecrets } from './session.js';
import { TransactionSealer, type LoginTransaction } from './transaction.js';
import { sessionClaims } from './live-identity.js';

/** What the callback needs from the login. */
export interface CallbackSettings {
  options: ParsedLoginOptions;
  /** The callback URL (`redirectUri`). */
  redirect: URL;
  exchange: OidcExchange;
  sealer: TransactionSealer;
  /** The transaction cookies' attributes (scoped to the callback's folder). */
  txCookie: CookieAttributes;
  clientId: string;
  /** The sessions' `aud` (the unit of `revokeApp`). */
  audience: string;
  /** The session duration of the login's application (else the gate's). */
  sessionSeconds: number;
  /** Whether sessions are renewed (`renewAfterSeconds`): a session then needs a refresh token. */
  renewing: boolean;
  issueSession: (
    identity: Identity,
    durationSeconds: number,
    country: string | undefined,
    claims?: Readonly<Record<string, unknown>>,
    secrets?: SessionSecrets,
  ) => Promise<{ readonly setCookie: string }>;
  now: () => number;
}

/** `Login.callback`: a 302 to the return-to path with the session cookie, or a failure page that sets no session. */
export function createCallbackHandler(s: CallbackSettings): (request: RequestLike, context?: { country?: string }) => Promise<Response> {
  const { options: o, redirect, exchange, sealer, txCookie, clientId, audience, sessionSeconds, renewing, issueSession, now } = s;
  const gate = o.gate;
  const usedStates = new LRUCache<string, number>({ max: 10_000 });
  return async (request, context = {}) => {
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
        throw new SessionError('ERR_LOGIN_IDP_ERROR', `entra refused the login: \`${printableError(idpError)}\`${detail ? `: ${detail}` : ''}`);
      }
      if (!state) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login callback has no `state`');
      if (tx === undefined)
        throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` matches no transaction of this browser (forged, expired or already used)');
      if (!sameString(tx.state, state)) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` does not match its transaction');
      if (now() >= tx.expiresAt) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login transaction expired: start the login again');
      // INVARIANT: a state is accepted once per instance; the browser's cookie is cleared too, and Entra's code is single use.
      if (usedStates.has(state)) throw new SessionError('ERR_LOGIN_STATE_MISMATCH', 'the login `state` was already used');
      usedStates.set(state, tx.expiresAt);
      if (!params.get('code')) throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the login callback has no `code`');

      const current = new URL(redirect.href);
      for (const [k, v] of params) current.searchParams.append(k, v);
      const { idToken, accessToken: graphToken, refreshToken } = await exchange.exchange(current, { state: tx.state, verifier: tx.verifier });
      const secrets: SessionSecrets = o.entraLogout?.idTokenHint ? { idToken } : {};
      if (renewing) {
        // INVARIANT: with renewal on, no session is issued that could not be renewed.
        if (refreshToken === undefined)
          throw new SessionError(
            'ERR_LOGIN_EXCHANGE_FAILED',
            'the token endpoint returned no `refresh_token`: renewal needs the `offline_access` scope consented',
          );
        secrets.refreshToken = refreshToken;
        secrets.renewedAt = Math.floor(now() / 1000);
      }
      // The ID token is verified by the gate: signature, issuer, tenant, audience, lifetime and nonce.
      const verified = await gate.verifyToken(idToken, { nonce: tx.nonce, idToken: true });
      checkIdTokenParty(verified.claims, clientId);
      // The one identity pipeline, as for a bearer token and every session request: the directory's
      // standing (a deprovisioned user gets no session), then the groups under the gate's `tokenGroups`.
      const identity = await gate.resolveIdentity(
        verified.identity,
        graphToken === undefined ? { claims: verified.claims } : { claims: verified.claims, graphToken },
      );
      // INVARIANT: no session is issued on groups a source tried and could not resolve: the user retries
      // (a 503 for an outage) or is refused (a 403 for a user the directory does not hold).
      if (identity.membership.state === 'unknown') {
        const m = identity.membership;
        const code = isErrorCode(m.code) ? m.code : 'ERR_GROUPS_UNAVAILABLE';
        throw errorOf(code, `the groups could not be resolved at login: ${m.reason}`);
      }
      // A session issued now, within the clock tolerance after a revocation of this user, would be
      // refused on its first request: say so here instead (Cloudflare, too, refuses a revoked user's
      // new login for up to a minute).
      const issuedAt = Math.floor(now() / 1000);
      try {
        gate.assertNotRevoked({ subjects: gate.subjectsOf(verified.identity, verified.claims), issuedAt, appId: audience, userId: identity.user_uuid });
      } catch (error) {
        if (error instanceof SessionError)
          throw new SessionError('ERR_SESSION_REVOKED', 'this account was signed out moments ago: try again in a minute', { cause: error });
        throw error;
      }
      const issued = await issueSession(identity, sessionSeconds, context.country, sessionClaims(verified.claims), secrets);
      const duration = sessionSeconds;
      const headers = new Headers({ location: tx.returnTo, 'cache-control': 'no-store' });
      headers.append('set-cookie', issued.setCookie);
      for (const c of clear) headers.append('set-cookie', c);
      publish(loginChannels.login, { event: 'success', user_uuid: identity.user_uuid, duration });
      return new Response(null, { status: 302, headers });
    } catch (error) {
      return failure(error, clear);
    }
  };
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
