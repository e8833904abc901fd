import { z } from 'zod';
import { isGuid, parseWith } from '../config/idp.js';
import type { DirectoryIndex, UserLookup } from '../directory/types.js';
import type { Identity } from '../types.js';
import { quoteId, unknownResolution } from './resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from './types.js';

const directoryIndexSchema = z.custom<DirectoryIndex>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DirectoryIndex).findUser === 'function' &&
    typeof (value as DirectoryIndex).groupsOfUser === 'function',
  { message: 'expected a directory index (createDirectoryIndex())' },
);

const directoryGroupSourceOptions = z.strictObject({
  /** The index the SCIM endpoint keeps in sync with Entra. */
  index: directoryIndexSchema,
  /**
   * How a token's user is matched to a directory user, tried in this order:
   * `oid` against `externalId`, the UPN (`preferred_username`, `upn`,
   * `unique_name`, else the identity email) against `userName`, the identity
   * email against the user's emails. Drop `email` to avoid matching on a mutable
   * attribute.
   * @defaultValue `['oid', 'userName', 'email']`
   */
  match: z
    .array(z.enum(['oid', 'userName', 'email']))
    .min(1)
    .default(['oid', 'userName', 'email']),
  /**
   * The Entra tenant that provisions this directory. When set, a token of any
   * other tenant gets no directory groups (`unknown`): set it when the gate
   * accepts several tenants, since another tenant's user can carry any email.
   */
  tenantId: z.string().refine(isGuid, { message: 'must be a tenant GUID' }).optional(),
});

/** Options of {@link createDirectoryGroupSource}. */
export type DirectoryGroupSourceOptions = z.input<typeof directoryGroupSourceOptions>;

const UPN_CLAIMS = ['preferred_username', 'upn', 'unique_name'] as const;

/**
 * A group source that answers from a {@link DirectoryIndex} (the users, groups
 * and nesting Entra provisioned over SCIM): all groups of the user, nested ones
 * included, `complete` (source `directory`), with ids as Entra object ids when
 * the directory knows them.
 *
 * Fails closed rather than answering "no groups":
 * - a user the directory does not hold → `unknown` (`user not in directory`);
 * - a user found by UPN or email whose `externalId` is an Entra object id other
 *   than the token's `oid` → `unknown` (another Entra object holds that name);
 * - with `tenantId`, a token of another tenant → `unknown`;
 * - an inactive user (Entra disabled or unassigned them) → `unknown`
 *   (`user inactive`), so no group selector matches until Entra re-enables them.
 *
 * @example
 * ```ts
 * import { createDirectoryGroupSource, createDirectoryIndex } from 'entragate';
 *
 * const index = createDirectoryIndex();
 * const source = createDirectoryGroupSource({ index });
 * const { groups, membership } = await source.resolve(identity, { claims });
 * ```
 */
export function createDirectoryGroupSource(options: DirectoryGroupSourceOptions): GroupSource {
  const { index, match, tenantId } = parseWith(directoryGroupSourceOptions, options, 'directory group source');
  const tenant = tenantId?.toLowerCase();
  const useOid = match.includes('oid');
  const useUserName = match.includes('userName');
  const useEmail = match.includes('email');
  return {
    name: 'directory',
    resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      if (tenant !== undefined && identity.tid.toLowerCase() !== tenant) {
        return Promise.resolve(unknownResolution('ERR_DIRECTORY_USER_UNKNOWN', `token tenant ${quoteId(identity.tid)} is not the directory tenant`));
      }
      const lookup: UserLookup = {};
      if (useOid && identity.oid) lookup.oid = identity.oid;
      if (useUserName) {
        const upn = UPN_CLAIMS.map((c) => context.claims[c]).find((v): v is string => typeof v === 'string' && v.length > 0);
        const userName = upn ?? identity.email;
        if (userName) lookup.userName = userName;
      }
      if (useEmail && identity.email) lookup.email = identity.email;
      const user = index.findUser(lookup);
      if (user === undefined) {
        return Promise.resolve(unknownResolution('ERR_DIRECTORY_USER_UNKNOWN', `user not in directory: oid ${quoteId(identity.oid)}`));
      }
      // INVARIANT: a user matched by a mutable attribute (UPN, email) whose directory object id names another
      // Entra object is not this token's user: a recycled UPN, or an email set in another tenant (nOAuth).
      if (isGuid(user.externalId) && isGuid(identity.oid) && user.externalId.toLowerCase() !== identity.oid.toLowerCase()) {
        return Promise.resolve(
          unknownResolution('ERR_DIRECTORY_USER_UNKNOWN', `directory user ${quoteId(user.id)} is another entra object: oid ${quoteId(identity.oid)}`),
        );
      }
      // INVARIANT: an inactive user gets no groups from the directory (fail closed), not "no groups".
      if (!user.active) {
        return Promise.resolve(unknownResolution('ERR_DIRECTORY_USER_UNKNOWN', `user inactive: directory user ${quoteId(user.id)}`));
      }
      return Promise.resolve({ groups: [...index.groupsOfUser(user.id)], membership: { state: 'complete', source: 'directory' } });
    },
  };
}
