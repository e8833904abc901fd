import type { ErrorCode } from '../errors/index.js';
import type { GroupField, GroupMembership, GroupRef, Identity } from '../types.js';

/** What a group source answers: the groups, and how complete they are. */
export interface GroupResolution {
  /**
   * The groups. A source may hand back a shared, frozen array (the directory does, unchanged while the
   * user's groups are): callers must not mutate it.
   */
  groups: GroupRef[];
  /**
   * How complete `groups` is: `complete` (with the fields the source supplied), or `unknown` with a reason and
   * a code when the source could not answer. INVARIANT: a source never answers `complete` with groups it did
   * not learn, and never an empty `complete` for a lookup that failed.
   */
  membership: GroupMembership;
}

/** Per-call inputs a source may need beyond the identity. */
export interface GroupSourceContext {
  /** The verified token claims the identity came from (read-only). */
  claims: Readonly<Record<string, unknown>>;
  /** A delegated Microsoft Graph token for this user (from the login flow), when the app has one. */
  graphToken?: string;
  /** Aborts a slow lookup. */
  signal?: AbortSignal;
  /**
   * The gate's home tenant (the IdP `directory_id`, lower case), passed by the gate. A directory source
   * that was not told its own tenant takes this one: it never matches a user of another tenant by a
   * mutable attribute (UPN, email).
   */
  homeTenant?: string;
}

/**
 * What a source that keeps a directory says about the user themselves, before any group:
 *
 * - `active`: the directory holds the user, active.
 * - `unheld`: the directory does not hold the user (never provisioned, or another tenant's): it has
 *   nothing to say about them; their membership from it would be `unknown`.
 * - `refused`: the directory holds the user as deprovisioned (`active: false`, or deleted and remembered
 *   as a tombstone). The identity pipeline refuses them: no session, no bearer access (403-class).
 * - `unknown`: the directory cannot say right now (a store that has not heard from its database within
 *   its staleness bound). The pipeline fails closed with a 503.
 */
export type UserStanding =
  | { state: 'active' }
  | { state: 'unheld' }
  | { state: 'refused'; code: ErrorCode; reason: string }
  | { state: 'unknown'; code: ErrorCode; reason: string };

/**
 * Turns a verified identity into its transitive groups. A source never answers
 * "no groups" when it does not know: it returns `membership.state: 'unknown'`
 * with a reason, and the policy engine fails closed on it.
 */
export interface GroupSource {
  /** A short name for traces and diagnostics (`token`, `graph`, `directory`). */
  readonly name: string;
  /**
   * The group fields every `complete` answer of this source supplies (see `GroupField`); the gate warns
   * at construction when a rule reads one that no configured source supplies. Absent: not declared (the
   * gate assumes all; each answer's `membership.fields` still decides what is known).
   */
  readonly fields?: readonly GroupField[];
  /**
   * The identity's transitive groups from this source. A source that cannot answer (an outage, throttling,
   * a user it does not hold) resolves with `membership.state: 'unknown'` and a reason; a rejection or a
   * malformed answer is read the same way by the gate and the chain, so either fails closed, never as "no groups".
   */
  resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution>;
  /**
   * Whether the source's directory admits the user at all (see {@link UserStanding}). Synchronous and
   * cheap: the identity pipeline asks it on every bearer request, login and session request, whether
   * or not groups come from this source. Sources without a directory leave it out.
   */
  standing?(identity: Identity, context: GroupSourceContext): UserStanding;
}
