import type { Identity } from '../types.js';
import { failureOf, isGroupResolution, unknownResolution } from './resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from './types.js';

/**
 * Resolves an identity's groups with a source and returns a new identity with
 * `groups` and `membership` filled. The input identity is not changed.
 *
 * A source that throws or returns something malformed yields `membership:
 * unknown` with the reason; `resolveGroups` itself never throws for it.
 *
 * @example
 * ```ts
 * import { createTokenGroupSource, resolveGroups } from 'entragate';
 *
 * const resolved = await resolveGroups(identity, createTokenGroupSource(), { claims });
 * if (resolved.membership.state !== 'complete') console.log('groups unknown:', resolved.membership);
 * ```
 */
export async function resolveGroups(identity: Identity, source: GroupSource, context: GroupSourceContext = { claims: {} }): Promise<Identity> {
  const resolution = await resolveMembership(identity, source, context);
  return { ...identity, groups: resolution.groups, membership: resolution.membership };
}

/**
 * Asks a source for an identity's groups and returns its answer, checked: a source that throws
 * or answers something malformed gives `unknown` with the reason. Never throws for it.
 */
export async function resolveMembership(identity: Identity, source: GroupSource, context: GroupSourceContext): Promise<GroupResolution> {
  try {
    const answer: unknown = await source.resolve(identity, context);
    return isGroupResolution(answer) ? answer : unknownResolution('ERR_GROUPS_UNAVAILABLE', `${source.name}: returned no group resolution`);
  } catch (err) {
    const failure = failureOf(err);
    return unknownResolution(failure.code, `${source.name}: ${failure.reason}`);
  }
}
