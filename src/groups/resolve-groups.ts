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
export async function resolveGroups(
  identity: Identity,
  source: GroupSource,
  context: GroupSourceContext = { claims: {} },
): Promise<Identity> {
  let resolution: GroupResolution;
  try {
    const answer: unknown = await source.resolve(identity, context);
    resolution = isGroupResolution(answer)
      ? answer
      : unknownResolution('ERR_GROUPS_UNAVAILABLE', `${source.name}: returned no group resolution`);
  } catch (err) {
    const failure = failureOf(err);
    resolution = unknownResolution(failure.code, `${source.name}: ${failure.reason}`);
  }
  return { ...identity, groups: resolution.groups, membership: resolution.membership };
}
