import { TokenError } from '../errors/index.js';
import type { GroupMembership, GroupRef, Identity, IdpRef } from '../types.js';

/** What identity mapping needs of the IdP configuration. */
export interface IdentityMapping {
  /** Shared by every identity of this IdP, so frozen. */
  idp: Readonly<IdpRef>;
  /** Cloudflare's `email_claim_name`: looked up first. */
  emailClaim: string | undefined;
  /** Cloudflare's `claims`: copied into `oidc_fields`. */
  claims: readonly string[];
  /**
   * The IdP's tenant (`directory_id`, lower case): the only tenant whose `acrs` count. Authentication
   * context ids (`c1`…`c99`) are each tenant's own Conditional Access configuration, so another allowed
   * tenant's `c1` (one whose admin, or an attacker running it, attached no requirement to it) says
   * nothing about this tenant's `c1`.
   */
  homeTenant: string;
}

/**
 * Builds an `Identity` from verified claims, as Cloudflare's get-identity would
 * show it. Email is resolved as Cloudflare does: the configured claim, then
 * `email`, then the UPN (`upn`, or v2's `preferred_username`, or v1's `unique_name`).
 *
 * The group state comes from the token alone: `complete` when a `groups` array is
 * present, `overage` when `_claim_names.groups` or `hasgroups` says the list was
 * left out, `absent` otherwise. A group source may complete it later. The group list and its
 * entries are frozen.
 */
export function identityFromClaims(claims: Record<string, unknown>, ver: '1.0' | '2.0', mapping: IdentityMapping): Identity {
  const oid = str(claims.oid);
  const sub = str(claims.sub);
  const { groups, membership } = groupsFromClaims(claims);
  let oidc_fields: Record<string, unknown> = NO_FIELDS;
  for (const name of mapping.claims) {
    // INVARIANT: a configured claim name is looked up among the token's own claims only, so
    // `constructor` or `toString` never reads an `Object.prototype` member; `__proto__` is never
    // copied, since assigning it would set the prototype of `oidc_fields` instead.
    if (name === '__proto__' || !Object.hasOwn(claims, name)) continue;
    if (oidc_fields === NO_FIELDS) oidc_fields = {};
    oidc_fields[name] = claims[name];
  }
  const name = str(claims.name);
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : NONE;
  // The Conditional Access authentication contexts the user satisfied (`acrs`: `["c1", "c2"]`). A malformed
  // claim is refused with a code, not read as "none": the token is broken, and the caller should know.
  const claimed = claims.acrs;
  if (claimed !== undefined && !(Array.isArray(claimed) && claimed.every((v) => typeof v === 'string'))) {
    throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the `acrs` claim must be an array of authentication context ids');
  }
  // INVARIANT: only the IdP's own tenant states which of its authentication contexts were satisfied: a
  // token of another allowed tenant carries that tenant's contexts, so it has none of ours.
  const acrs = claimed !== undefined && str(claims.tid).toLowerCase() === mapping.homeTenant ? claimed : undefined;
  const email = resolveEmail(claims, mapping.emailClaim);
  const user_uuid = oid || sub;
  const idp = mapping.idp as IdpRef;
  const tid = str(claims.tid);
  const iat = typeof claims.iat === 'number' ? claims.iat : 0;
  const exp = typeof claims.exp === 'number' ? claims.exp : 0;
  // Two literals rather than a spread of an optional member: a spread in the middle of a literal
  // copies through the runtime on every token. The members keep their order either way.
  const identity: Identity = name
    ? { email, name, user_uuid, idp, amr, groups, membership, oidc_fields, oid, tid, sub, iat, exp, ver }
    : { email, user_uuid, idp, amr, groups, membership, oidc_fields, oid, tid, sub, iat, exp, ver };
  if (acrs !== undefined) identity.acrs = Object.freeze([...(acrs as string[])]);
  return identity;
}

/**
 * Cloudflare's email resolution order, extended with the v1/v2 UPN claims. The configured
 * `email_claim_name` is read from the token's own claims only: a name such as `constructor`
 * never reads an `Object.prototype` member.
 */
export function resolveEmail(claims: Record<string, unknown>, emailClaim: string | undefined): string {
  if (emailClaim !== undefined && Object.hasOwn(claims, emailClaim)) {
    const configured = str(claims[emailClaim]);
    if (configured) return configured;
  }
  return str(claims.email) || str(claims.upn) || str(claims.preferred_username) || str(claims.unique_name);
}

// Identities are frozen and shared through the verified-token cache, so the parts most of
// them have in common are made once: no allocation, and nothing to freeze, per token.
const NONE = Object.freeze([]) as unknown as never[];
const NO_FIELDS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const ABSENT: GroupMembership = Object.freeze({ state: 'absent' });
const FROM_TOKEN: GroupMembership = Object.freeze({ state: 'complete', source: 'token', fields: Object.freeze(['id'] as const) });
const OVERAGE_CLAIM_NAMES: GroupMembership = Object.freeze({ state: 'overage', signal: 'claim_names' });
const OVERAGE_HASGROUPS: GroupMembership = Object.freeze({ state: 'overage', signal: 'hasgroups' });

/**
 * Reads the `groups` claim and the overage markers. The lists (frozen, with frozen entries)
 * and the membership states are shared frozen values: copy before changing them.
 */
export function groupsFromClaims(claims: Record<string, unknown>): { groups: GroupRef[]; membership: GroupMembership } {
  const names = claims._claim_names;
  if (typeof names === 'object' && names !== null && typeof (names as Record<string, unknown>).groups === 'string') {
    return { groups: NONE, membership: OVERAGE_CLAIM_NAMES };
  }
  if (claims.hasgroups === true || claims.hasgroups === 'true') {
    return { groups: NONE, membership: OVERAGE_HASGROUPS };
  }
  if (Array.isArray(claims.groups)) {
    const ids = claims.groups as unknown[];
    const groups: GroupRef[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      // INVARIANT: a malformed claim is not a complete answer: hand over to the group sources, fail closed.
      if (typeof id !== 'string' || id.length === 0) {
        return {
          groups: NONE,
          membership: { state: 'unknown', code: 'ERR_TOKEN_CLAIM_INVALID', reason: 'the `groups` claim holds a value that is not a group id' },
        };
      }
      // Frozen as made: identities are shared through the verified-token cache.
      groups.push(Object.freeze({ id }));
    }
    return { groups: Object.freeze(groups) as GroupRef[], membership: FROM_TOKEN };
  }
  return { groups: NONE, membership: ABSENT };
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
