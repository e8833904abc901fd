/**
 * Session renewal through Entra (opt-in, `renewAfterSeconds`): a session whose identity Entra last
 * confirmed more than `renewAfterSeconds` ago is renewed with its refresh token (kept server-side,
 * sealed) before it is honoured again, so a user disabled, blocked or signed out in Entra loses the
 * session at the next renewal even without SCIM.
 *
 * Across instances on one identity store (with one `transactionSecret`): a renewal replaces the record
 * atomically (readers see the old record or the new one), and a refusal of a refresh token another
 * instance already redeemed is checked against the record as stored now before the session is ended.
 */
import { publish } from '../diagnostics.js';
import { EntragateError, GroupsError, SessionError, StoreError } from '../errors/index.js';
import type { Gate } from '../gate.js';
import { checkIdTokenParty, type OidcExchange } from './exchange.js';
import { loginChannels } from './diagnostics.js';
import type { IdentityStore, SessionIdentity } from '../session/identity-store.js';
import { sessionClaims } from './live-identity.js';
import { storedIdentityOf, type AuthenticatedSession, type SessionManager } from './session.js';

/** What the renewal needs from the login. */
export interface RenewalSettings {
  renewAfterSeconds: number;
  /** Keep the refreshed ID token for `id_token_hint`. */
  keepIdToken: boolean;
  sessions: SessionManager;
  identities: IdentityStore;
  exchange: OidcExchange;
  gate: Gate;
  clientId: string;
  now: () => number;
}

/** Renews due sessions; a session not due passes through untouched (one WeakMap lookup). */
export interface Renewal {
  /** The session as honoured now: renewed first when due. Rejects as described on `renewAfterSeconds`. */
  check(result: AuthenticatedSession, token: string): Promise<AuthenticatedSession>;
}

export function createRenewal(s: RenewalSettings): Renewal {
  /** When each stored identity is due (Unix seconds), read once from its sealed credentials. */
  const dueAt = new WeakMap<SessionIdentity, number>();
  /** INVARIANT: one renewal per session at a time in this process (a refresh token is redeemed once). */
  const flights = new Map<string, Promise<void>>();

  const due = (stored: SessionIdentity, nonce: string): number => {
    let at = dueAt.get(stored);
    if (at === undefined) {
      const { renewedAt } = s.sessions.secretsOf(stored, nonce);
      // No record (a session from `createSession`, or credentials that do not open): due from its issue.
      at = (renewedAt ?? stored.issuedAt) + s.renewAfterSeconds;
      dueAt.set(stored, at);
    }
    return at;
  };

  /** Ends the session everywhere: its identity is forgotten, so no copy of the cookie opens it again. */
  const end = async (nonce: string, error: SessionError, user: string): Promise<never> => {
    try {
      await s.identities.delete(nonce);
    } catch (cause) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session could not be ended after a refused renewal', { cause });
    }
    publish(loginChannels.login, { event: 'renewal', outcome: 'refused', code: error.code, user_uuid: user });
    throw error;
  };

  /**
   * Whether the session's record, as stored now, was renewed since `stored` (by another instance, with
   * this login's `transactionSecret`): other sealed credentials, with another refresh token and a
   * renewal stamp that is not due. INVARIANT: fail closed: a record that is gone, unchanged, or sealed
   * with another secret (it does not open) is not a renewal, and the refusal ends the session.
   */
  const renewedElsewhere = async (nonce: string, stored: SessionIdentity, refused: string): Promise<boolean> => {
    let current: SessionIdentity | undefined;
    try {
      current = await s.identities.get(nonce, { fresh: true });
    } catch (cause) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session could not be read after a refused renewal', { cause });
    }
    if (current === undefined || current.sealed === undefined || current.sealed === stored.sealed) return false;
    const { refreshToken, renewedAt } = s.sessions.secretsOf(current, nonce);
    return refreshToken !== undefined && refreshToken !== refused && renewedAt !== undefined && s.now() / 1000 < renewedAt + s.renewAfterSeconds;
  };

  const renew = async (result: AuthenticatedSession, stored: SessionIdentity): Promise<void> => {
    const { identity_nonce: nonce, exp } = result.session;
    const user = result.identity.user_uuid;
    const secrets = s.sessions.secretsOf(stored, nonce);
    if (secrets.refreshToken === undefined) {
      return end(nonce, new SessionError('ERR_SESSION_RENEWAL_FAILED', 'the session is due for renewal and holds no refresh token: log in again'), user);
    }
    let refreshed;
    try {
      refreshed = await s.exchange.refresh(secrets.refreshToken);
    } catch (error) {
      if (error instanceof SessionError && error.code === 'ERR_SESSION_RENEWAL_FAILED') {
        // Another instance may have renewed it meanwhile with the same token (Entra rotates them, so
        // this one was spent): its record wins over this refusal. Read past the cache, which may still
        // hold the record this instance renewed from.
        if (await renewedElsewhere(nonce, stored, secrets.refreshToken)) return;
        return end(nonce, error, user);
      }
      publish(loginChannels.login, {
        event: 'renewal',
        outcome: 'unavailable',
        code: error instanceof EntragateError ? error.code : 'ERR_SESSION_RENEWAL_UNAVAILABLE',
        user_uuid: user,
      });
      throw error;
    }
    const renewedAt = Math.floor(s.now() / 1000);
    let next: SessionIdentity;
    if (refreshed.idToken === undefined) {
      // Entra redeemed the refresh token: the user still stands; the identity is kept as it was.
      next = { ...stored };
    } else {
      // No nonce to check: a refreshed ID token carries none of its own (OpenID Connect Core §12.2), and
      // the `aud`/`azp`/`sub` checks of an ID token follow.
      const verified = await s.gate.verifyToken(refreshed.idToken);
      checkIdTokenParty(verified.claims, s.clientId);
      // OpenID Connect Core §12.2: a refreshed ID token is of the same user, from the same tenant.
      const before = stored.identity;
      if (verified.identity.sub !== before.sub || verified.identity.oid !== before.oid || verified.identity.tid !== before.tid) {
        return end(nonce, new SessionError('ERR_SESSION_RENEWAL_FAILED', 'the renewed ID token is of another user: log in again'), user);
      }
      // The one pipeline again: standing, then groups as they are now.
      const identity = await s.gate.resolveIdentity(
        verified.identity,
        refreshed.accessToken === undefined ? { claims: verified.claims } : { claims: verified.claims, graphToken: refreshed.accessToken },
      );
      if (identity.membership.state === 'unknown') {
        throw new GroupsError('ERR_GROUPS_UNAVAILABLE', `the groups could not be resolved at renewal: ${identity.membership.reason}`);
      }
      // The authentication contexts the login stepped up to stay: a refresh does not repeat the step-up.
      const acrs = identity.acrs ?? before.acrs;
      next = { ...stored, identity: acrs === undefined ? identity : Object.freeze({ ...identity, acrs }), claims: sessionClaims(verified.claims) };
    }
    // The login's ID token stays the sign-out's `id_token_hint` (Entra takes an expired one, RP-Initiated
    // Logout §2): it carries the login's `nonce`, so the gate never takes it as a bearer token once the
    // browser holds it; a refreshed one carries none. Only without one is the refreshed one kept.
    const idToken = s.keepIdToken ? (secrets.idToken ?? refreshed.idToken) : undefined;
    next.sealed = s.sessions.sealSecrets(
      { refreshToken: refreshed.refreshToken ?? secrets.refreshToken, ...(idToken === undefined ? {} : { idToken }), renewedAt },
      nonce,
    );
    // INVARIANT: a renewal replaces the record only while there is one: a sign-out (on any instance) while
    // Entra answered stays a sign-out, and no copy of the cookie opens the session again.
    let replaced: boolean;
    try {
      replaced = await replaceIdentity(s.identities, nonce, Object.freeze(next), exp);
    } catch (cause) {
      if (cause instanceof EntragateError) throw cause;
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the renewed session could not be stored', { cause });
    }
    if (!replaced) {
      publish(loginChannels.login, { event: 'renewal', outcome: 'refused', code: 'ERR_SESSION_REVOKED', user_uuid: user });
      throw new SessionError('ERR_SESSION_REVOKED', 'the session was signed out while it was being renewed: log in again');
    }
    publish(loginChannels.login, { event: 'renewal', outcome: 'renewed', user_uuid: user });
  };

  return {
    async check(result, token) {
      const stored = storedIdentityOf(result);
      if (stored === undefined) return result;
      const nonce = result.session.identity_nonce;
      if (s.now() / 1000 < due(stored, nonce)) return result;
      let flight = flights.get(nonce);
      if (flight === undefined) {
        flight = renew(result, stored).finally(() => flights.delete(nonce));
        flights.set(nonce, flight);
      }
      await flight;
      // INVARIANT: the renewed record is what is honoured: the session is verified again against it.
      const again = await s.sessions.verify(token);
      const renewed = storedIdentityOf(again);
      if (renewed === undefined || s.now() / 1000 >= due(renewed, nonce)) {
        throw new SessionError('ERR_SESSION_RENEWAL_UNAVAILABLE', 'the renewed session could not be read back: try again');
      }
      return again;
    },
  };
}

/**
 * Replaces a session's stored identity only if it still has one: the store's atomic `replace`, else (a
 * store without it) a read, then a `delete` and a `set` (stores insert once per nonce; other instances
 * drop their copy on the delete).
 */
async function replaceIdentity(identities: IdentityStore, nonce: string, next: SessionIdentity, exp: number): Promise<boolean> {
  if (identities.replace !== undefined) return identities.replace(nonce, next, exp);
  if ((await identities.get(nonce)) === undefined) return false;
  await identities.delete(nonce);
  await identities.set(nonce, next, exp);
  return true;
}
