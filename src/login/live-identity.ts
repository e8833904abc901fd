import type { Gate } from '../gate.js';
import { groupsFromClaims } from '../token/identity.js';
import type { Identity } from '../types.js';
import type { SessionIdentity } from '../session/identity-store.js';
import { storedIdentityOf, type AuthenticatedSession } from './session.js';

/** The verified claims a session keeps for the identity pipeline (see `SessionIdentity.claims`). */
// `login_hint` (an optional claim) is what Entra's sign-out takes as `logout_hint`.
const SESSION_CLAIMS = [
  'tid',
  'oid',
  'preferred_username',
  'upn',
  'unique_name',
  'email',
  'groups',
  'hasgroups',
  '_claim_names',
  'roles',
  'login_hint',
] as const;

/** The few verified claims of a login's ID token a session keeps: those the group sources read. */
export function sessionClaims(claims: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const name of SESSION_CLAIMS) if (Object.hasOwn(claims, name) && claims[name] !== undefined) out[name] = claims[name];
  return Object.freeze(out);
}

/** Resolves a verified session's identity again through the gate's pipeline. */
export interface LiveIdentity {
  follow(session: AuthenticatedSession): Promise<AuthenticatedSession>;
}

/**
 * The identity a session stands for on this request under `identity_update_behavior: 'automatic'`:
 * the gate's pipeline resolves it again from the sources (the directory's current standing and
 * membership), from the claims the session kept at login. Each answer is the same object while the
 * sources answer the same, so decisions stay cached.
 */
export function createLiveIdentity(gate: Gate): LiveIdentity {
  const bases = new WeakMap<SessionIdentity, Identity>();
  const results = new WeakMap<AuthenticatedSession, { identity: Identity; result: AuthenticatedSession }>();
  return {
    async follow(session) {
      const stored = storedIdentityOf(session);
      if (stored === undefined) return session;
      let base = bases.get(stored);
      if (base === undefined) {
        // The identity as the token stated it: the pipeline applies `tokenGroups` to the token's own groups.
        const token = groupsFromClaims((stored.claims ?? {}) as Record<string, unknown>);
        base = Object.freeze({ ...stored.identity, groups: token.groups, membership: token.membership });
        bases.set(stored, base);
      }
      const identity = await gate.resolveIdentity(base, { claims: stored.claims ?? {} });
      if (identity === session.identity) return session;
      const last = results.get(session);
      if (last !== undefined && last.identity === identity) return last.result;
      const result: AuthenticatedSession = { ...session, identity };
      results.set(session, { identity, result });
      return result;
    },
  };
}
