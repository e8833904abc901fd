import { z } from 'zod';
import { isGuid, parseWith } from '../config/idp.js';
import type { Assert, Equal } from '../config/type-equal.js';
import type { DirectoryIndex, DirectoryUser, UserLookup } from '../directory/types.js';
import type { GroupField, GroupMembership, Identity } from '../types.js';
import { quoteId, unknownResolution } from './resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext, UserStanding } from './types.js';

/** What the source needs of a directory store (`openDirectoryStore` from `entragate/store` has it). */
export interface DirectoryStoreLike {
  readonly index: DirectoryIndex;
  /**
   * Whether the in-memory index is known to be current: false while a store shared by several
   * instances has not heard from its database within its staleness bound. Absent: always current.
   */
  isFresh?(): boolean;
}

const directoryIndexSchema = z.custom<DirectoryIndex>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DirectoryIndex).findUser === 'function' &&
    typeof (value as DirectoryIndex).groupsOfUser === 'function',
  { message: 'expected a directory index (createDirectoryIndex())' },
);

const directoryStoreSchema = z.custom<DirectoryStoreLike>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    directoryIndexSchema.safeParse((value as DirectoryStoreLike).index).success &&
    ((value as DirectoryStoreLike).isFresh === undefined || typeof (value as DirectoryStoreLike).isFresh === 'function'),
  { message: 'expected a directory store (openDirectoryStore() from entragate/store)' },
);

/**
 * Options of {@link createDirectoryGroupSource}: give exactly one of `store` and `index`. Written out by
 * hand so an editor shows each one's documentation; the internal schema below is checked against it.
 */
export interface DirectoryGroupSourceOptions {
  /**
   * The directory store the SCIM endpoint writes to: its index, and whether that index is current.
   * @defaultValue none: give `store` or `index`
   */
  store?: DirectoryStoreLike | undefined;
  /**
   * An index without a store (tests, a directory you keep yourself).
   * @defaultValue none: give `store` or `index`
   */
  index?: DirectoryIndex | undefined;
  /**
   * How a token's user is matched to a directory user, tried in this order:
   * `oid` against `externalId` (the Entra object id: map `objectId` → `externalId`
   * in Entra's provisioning attribute mappings, see the README), the UPN
   * (`preferred_username`, `upn`, `unique_name`, else the identity email) against
   * `userName`, the identity email against the user's emails. The UPN and the email
   * are mutable attributes: they are only matched for users of the directory's own
   * tenant (`tenantId`, else the gate's home tenant), never across tenants.
   * @defaultValue `['oid', 'userName', 'email']`
   */
  match?: ('oid' | 'userName' | 'email')[] | undefined;
  /**
   * The Entra tenant that provisions this directory. A token of another tenant is matched by its
   * object id only (never by UPN or email: another tenant's user can carry any of them).
   * @defaultValue the gate's IdP `directory_id`
   */
  tenantId?: string | undefined;
}

const directoryGroupSourceOptions = z
  .strictObject({
    store: directoryStoreSchema.optional(),
    index: directoryIndexSchema.optional(),
    match: z
      .array(z.enum(['oid', 'userName', 'email']))
      .min(1)
      .default(['oid', 'userName', 'email']),
    tenantId: z.string().refine(isGuid, { message: 'must be a tenant GUID' }).optional(),
  })
  .refine((o) => (o.store === undefined) !== (o.index === undefined), { message: 'give exactly one of `store` and `index`' });

// The interface above and the schema cannot drift: this fails to compile if they do.
type _DirectoryOptionsMatch = Assert<Equal<z.input<typeof directoryGroupSourceOptions>, DirectoryGroupSourceOptions>>;

const UPN_CLAIMS = ['preferred_username', 'upn', 'unique_name'] as const;
const DIRECTORY_FIELDS: readonly GroupField[] = Object.freeze(['id', 'name']);
const COMPLETE: GroupMembership = Object.freeze({ state: 'complete', source: 'directory', fields: DIRECTORY_FIELDS });
const ACTIVE: UserStanding = Object.freeze({ state: 'active' });
const UNHELD: UserStanding = Object.freeze({ state: 'unheld' });
const STALE = Object.freeze({
  state: 'unknown',
  code: 'ERR_STORE_STALE',
  reason: 'the directory store has not heard from its database within its staleness bound',
} as const satisfies UserStanding);

/** How a user was found, or why not. */
type Match = { user: DirectoryUser } | { miss: string };

/** Which attributes a directory lookup may use (the source's `match` option). */
export interface LookupKeys {
  readonly oid: boolean;
  readonly userName: boolean;
  readonly email: boolean;
}

const ALL_KEYS: LookupKeys = Object.freeze({ oid: true, userName: true, email: true });

/**
 * The directory lookup for a token's user: by object id, and — only for a user of the directory's own
 * tenant (`sameTenant`) — by UPN (else the email) against `userName` and by email. One function, so the
 * directory source and the access review match a user the same way.
 */
export function directoryLookup(identity: Identity, claims: GroupSourceContext['claims'], sameTenant: boolean, keys: LookupKeys = ALL_KEYS): UserLookup {
  const lookup: UserLookup = {};
  if (keys.oid && identity.oid) lookup.oid = identity.oid;
  // INVARIANT: a mutable attribute (UPN, email) never matches across tenants: another tenant's user
  // can carry the victim's email or UPN, so only the immutable object id may cross.
  if (sameTenant) {
    if (keys.userName) {
      const userName = upnOf(claims) ?? identity.email;
      if (userName) lookup.userName = userName;
    }
    if (keys.email && identity.email) lookup.email = identity.email;
  }
  return lookup;
}

/** The first non-empty UPN claim (no array built: this runs on every request). */
function upnOf(claims: GroupSourceContext['claims']): string | undefined {
  for (const name of UPN_CLAIMS) {
    const value = claims[name];
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/**
 * A group source that answers from the directory Entra provisions over SCIM (a
 * {@link DirectoryStoreLike} store, or a bare `index`): all groups of the user,
 * nested ones included, `complete` (source `directory`, fields `id` and `name`),
 * with ids as Entra object ids when the directory knows them. The answer is the
 * index's shared, frozen array: the same array while the user's groups are unchanged.
 *
 * It also judges the user's {@link UserStanding} (`standing`), which the gate asks on
 * every bearer request, login and session request: a user the directory holds as
 * inactive, or remembers as deleted, is refused (`ERR_DIRECTORY_USER_INACTIVE`).
 *
 * Fails closed rather than answering "no groups":
 * - a user the directory does not hold → `unknown` (`user not in directory`);
 * - a user found by UPN or email whose `externalId` is an Entra object id other
 *   than the token's `oid` → `unknown` (another Entra object holds that name);
 * - a user of another tenant, unless matched by object id → `unknown`;
 * - an inactive or deleted user → `unknown`, and `standing` refuses them;
 * - a store whose index may be stale → `unknown` with `ERR_STORE_STALE` (a 503).
 *
 * @example
 * ```ts
 * import { createDirectoryGroupSource, createGate } from 'entragate';
 * import { openDirectoryStore } from 'entragate/store';
 *
 * const store = await openDirectoryStore({ driver: 'pglite', dataDir: './.entragate-data' });
 * const gate = createGate({ idp, groups: createDirectoryGroupSource({ store }), tokenGroups: 'ignore', revocations: store.revocations });
 * ```
 */
export function createDirectoryGroupSource(options: DirectoryGroupSourceOptions): GroupSource {
  const o = parseWith(directoryGroupSourceOptions, options, 'directory group source');
  const index = (o.store?.index ?? o.index)!;
  const store = o.store;
  const fresh = store?.isFresh === undefined ? () => true : () => store.isFresh!();
  const ownTenant = o.tenantId?.toLowerCase();
  const useOid = o.match.includes('oid');
  const useUserName = o.match.includes('userName');
  const useEmail = o.match.includes('email');

  const keys: LookupKeys = { oid: useOid, userName: useUserName, email: useEmail };

  function find(identity: Identity, context: GroupSourceContext): Match {
    const tenant = ownTenant ?? context.homeTenant;
    const sameTenant = tenant !== undefined && typeof identity.tid === 'string' && identity.tid.toLowerCase() === tenant;
    const user = index.findUser(directoryLookup(identity, context.claims, sameTenant, keys));
    if (user === undefined) {
      return {
        miss: sameTenant
          ? `user not in directory: oid ${quoteId(identity.oid)}`
          : `user not in directory: oid ${quoteId(identity.oid)} of tenant ${quoteId(identity.tid)} matches no directory object id`,
      };
    }
    // INVARIANT: a user matched by a mutable attribute (UPN, email) whose directory object id names another
    // Entra object is not this token's user: a recycled UPN, or an email set in another tenant (nOAuth).
    // (The cheap comparison first: on the hot path the ids are equal and no GUID test runs.)
    if (user.externalId !== identity.oid && isGuid(user.externalId) && isGuid(identity.oid) && user.externalId.toLowerCase() !== identity.oid.toLowerCase()) {
      return { miss: `directory user ${quoteId(user.id)} is another entra object: oid ${quoteId(identity.oid)}` };
    }
    return { user };
  }

  return {
    name: 'directory',
    fields: DIRECTORY_FIELDS,
    resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      // INVARIANT: an index that may have missed changes answers nothing (fail closed: a 503, never an allow).
      if (!fresh()) return Promise.resolve(unknownResolution(STALE.code, STALE.reason));
      const found = find(identity, context);
      if ('miss' in found) return Promise.resolve(unknownResolution('ERR_DIRECTORY_USER_UNKNOWN', found.miss));
      const user = found.user;
      // INVARIANT: an inactive or deleted user gets no groups from the directory (fail closed), not "no groups".
      if (!user.active) {
        return Promise.resolve(
          unknownResolution('ERR_DIRECTORY_USER_INACTIVE', `user ${user.deleted ? 'deleted' : 'inactive'}: directory user ${quoteId(user.id)}`),
        );
      }
      // The index's shared, frozen answer: the same array while the user's groups are unchanged.
      return Promise.resolve({ groups: index.groupsOfUser(user.id) as GroupResolution['groups'], membership: COMPLETE });
    },
    standing(identity: Identity, context: GroupSourceContext): UserStanding {
      if (!fresh()) return STALE;
      const found = find(identity, context);
      if ('miss' in found) return UNHELD;
      const user = found.user;
      if (user.active) return ACTIVE;
      return {
        state: 'refused',
        code: 'ERR_DIRECTORY_USER_INACTIVE',
        reason: user.deleted
          ? `the directory deleted this user (directory user ${quoteId(user.id)})`
          : `the directory holds this user as inactive (directory user ${quoteId(user.id)})`,
      };
    },
  };
}
