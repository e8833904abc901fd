import type { GroupMembership, GroupRef, Identity } from '../types.js';

/** What a group source answers: the groups, and how complete they are. */
export interface GroupResolution {
  groups: GroupRef[];
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
}

/**
 * Turns a verified identity into its transitive groups. A source never answers
 * "no groups" when it does not know: it returns `membership.state: 'unknown'`
 * with a reason, and the policy engine fails closed on it.
 */
export interface GroupSource {
  /** A short name for traces and diagnostics (`token`, `graph`, `directory`). */
  readonly name: string;
  resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution>;
}
