import { z } from 'zod';
import { parseWith } from '../config/idp.js';
import type { Assert, Equal } from '../config/type-equal.js';
import { groupsFromClaims } from '../token/identity.js';
import type { GroupField, GroupRef, Identity } from '../types.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from './types.js';

/** Options of {@link createTokenGroupSource}. */
export interface TokenGroupSourceOptions {
  /**
   * The claim holding group ids: `groups`, or `roles` when the app registration
   * uses `emit_as_roles` (groups then replace the app roles in `roles`).
   * @defaultValue `'groups'`
   */
  claim?: 'groups' | 'roles' | undefined;
}

const tokenGroupSourceOptions = z.strictObject({
  claim: z.enum(['groups', 'roles']).default('groups'),
});

// The interface above and the schema cannot drift: this fails to compile if they do.
type _TokenOptionsMatch = Assert<Equal<z.input<typeof tokenGroupSourceOptions>, TokenGroupSourceOptions>>;

const GROUP_KEYS = ['groups', '_claim_names', 'hasgroups'] as const;
const TOKEN_FIELDS: readonly GroupField[] = Object.freeze(['id']);

/**
 * A group source that answers from the token alone: the `groups` claim as Entra
 * emitted it, `complete` (source `token`).
 *
 * What it does NOT do:
 * - It never fetches the `_claim_sources` endpoint of an overage token. That URL
 *   is whatever the token says (often the retired `graph.windows.net`); calling it
 *   would be an SSRF. On overage (`_claim_names.groups` or `hasgroups: true`) it
 *   answers `overage` and a chain hands over to the next source (Graph, rebuilt
 *   from `oid` and the configured cloud, or the directory).
 * - It does not expand nesting. Entra's claim is already transitive, except when
 *   the app registration emits only "groups assigned to the application"
 *   (`groupMembershipClaims: ApplicationGroup`): then it holds direct
 *   assignments only, and nested groups are missing. Use the Graph or directory
 *   source for those apps.
 *
 * When `context.claims` holds no group claim and no overage marker, it answers
 * from `identity.groups` / `identity.membership` (what the token verifier put
 * there), so hand-built identities work too.
 *
 * @example
 * ```ts
 * import { createGroupSourceChain, createTokenGroupSource } from 'entragate';
 * import { createGraphGroupSource } from 'entragate/graph';
 *
 * const groups = createGroupSourceChain([
 *   createTokenGroupSource(),
 *   createGraphGroupSource({ tenantId, clientId, clientSecret }),
 * ]);
 * ```
 */
export function createTokenGroupSource(options: TokenGroupSourceOptions = {}): GroupSource {
  const { claim } = parseWith(tokenGroupSourceOptions, options, 'token group source');
  return {
    name: 'token',
    // The `groups` claim lists Object Ids only: a rule on group names or mails is unknown on it.
    fields: TOKEN_FIELDS,
    resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      return Promise.resolve(fromToken(identity, context.claims, claim));
    },
  };
}

function fromToken(identity: Identity, claims: Readonly<Record<string, unknown>>, claim: 'groups' | 'roles'): GroupResolution {
  const hasGroupClaims = claims[claim] !== undefined || GROUP_KEYS.some((key) => claims[key] !== undefined);
  if (!hasGroupClaims) return { groups: dedupe(identity.groups), membership: identity.membership };
  // `groupsFromClaims` reads `groups`; for `roles`, present the same shape under that name.
  const view = claim === 'groups' ? claims : { ...claims, groups: claims.roles };
  const { groups, membership } = groupsFromClaims(view as Record<string, unknown>);
  return { groups: dedupe(groups), membership };
}

function dedupe(groups: readonly GroupRef[]): GroupRef[] {
  const seen = new Set<string>();
  const out: GroupRef[] = [];
  for (const group of groups) {
    if (seen.has(group.id)) continue;
    seen.add(group.id);
    out.push(group);
  }
  return out;
}
