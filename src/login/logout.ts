/** The login's sign-out: the cross-site check, forgetting (or revoking) the session, and Entra's optional sign-out. */
import { publish } from '../diagnostics.js';
import { EntragateError, SessionError, StoreError } from '../errors/index.js';
import type { OidcExchange } from './exchange.js';
import { confirmLogout, failure } from './pages.js';
import { serializeCookie, readCookie, type CookieAttributes } from '../http/cookies.js';
import { loginChannels } from './diagnostics.js';
import type { IdentityStore } from '../session/identity-store.js';
import type { ParsedLoginOptions } from './options.js';
import { header, requestOrigin, type RequestLike } from '../http/request.js';
import { storedIdentityOf, subjectsOf, type SessionClaims, type SessionManager } from './session.js';

/** What the sign-out needs from the login. */
export interface LogoutSettings {
  options: ParsedLoginOptions;
  /** The callback URL (`redirectUri`): its origin is the app's. */
  redirect: URL;
  exchange: OidcExchange;
  sessions: SessionManager;
  identities: IdentityStore;
  cookieName: string;
  /** The session cookie's attributes. */
  sessionCookie: CookieAttributes;
  /** `Login.revokeUser`. */
  revokeUser: (subjects: string | readonly string[], at?: number) => Promise<void>;
}

/** `Login.logout`: a 302 that clears the session cookie, a confirmation page, or a failure page. */
export function createLogoutHandler(s: LogoutSettings): (request: RequestLike) => Promise<Response> {
  const { options: o, redirect, exchange, sessions, identities, cookieName, sessionCookie, revokeUser } = s;
  return async (request) => {
    // INVARIANT: another site cannot end a session (logout CSRF), not even a sibling subdomain (same-site):
    // a POST signs out only when its `Origin` (or, without one, its `Referer`) is this app's origin, and
    // is refused otherwise; a GET only on a same-origin navigation or one the user typed (`Sec-Fetch-Site:
    // same-origin` or `none`). Anything else (a HEAD, a cross-site or unlabelled GET) gets a page whose
    // same-origin POST button signs out, and changes nothing.
    const origin = requestOrigin(request);
    if (request.method === 'POST') {
      if (origin === undefined) return confirmLogout(request);
      if (origin !== redirect.origin) {
        return failure(
          new SessionError('ERR_LOGIN_ORIGIN_MISMATCH', 'the sign-out was posted from another origin: use the sign-out button of this app'),
          [],
          'Sign-out refused',
        );
      }
    } else {
      const site = header(request.headers, 'sec-fetch-site');
      if (request.method !== 'GET' || (site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin !== redirect.origin))
        return confirmLogout(request);
    }
    const value = readCookie(header(request.headers, 'cookie'), cookieName);
    const clearSession = serializeCookie(cookieName, '', { ...sessionCookie, maxAge: 0 });
    let user: string | undefined;
    const hints: { logout_hint?: string; id_token_hint?: string } = {};
    if (value !== undefined) {
      let session: SessionClaims | undefined;
      try {
        const verified = await sessions.verify(value);
        session = verified.session;
        const stored = storedIdentityOf(verified);
        // Entra's sign-out hints come from what the session kept server-side, never from the request.
        if (stored !== undefined && o.entraLogout !== undefined) {
          const loginHint = stored.claims?.login_hint;
          if (o.entraLogout.logoutHint && typeof loginHint === 'string' && loginHint.length > 0) hints.logout_hint = loginHint;
          const { idToken } = o.entraLogout.idTokenHint ? sessions.secretsOf(stored, session.identity_nonce) : {};
          if (idToken !== undefined) hints.id_token_hint = idToken;
        }
      } catch (error) {
        // An invalid or already revoked session has nothing left to end; the cookie is cleared regardless.
        // A store that could not answer is another matter: the session may still be live (see below).
        if (!(error instanceof EntragateError) || error.status >= 500) {
          sessions.evict(value);
          const e =
            error instanceof EntragateError ? error : new StoreError('ERR_STORE_UNAVAILABLE', 'the session could not be read to sign it out', { cause: error });
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
    if (o.entraLogout !== undefined) {
      try {
        location = (await exchange.endSessionUrl(new URL(o.postLogoutPath, redirect.origin).href, hints)).href;
      } catch {
        // Entra's sign-out is best effort; the local session is gone already.
      }
    }
    const headers = new Headers({ location, 'cache-control': 'no-store' });
    headers.append('set-cookie', clearSession);
    publish(loginChannels.login, { event: 'logout', ...(user ? { user_uuid: user } : {}) });
    return new Response(null, { status: 302, headers });
  };
}
