/**
 * `entragate/store`: the durable directory (SCIM users, groups, memberships),
 * session revocations, the identities login sessions point at, and an event log
 * on one SQL schema — embedded PGlite or a PostgreSQL server shared by many
 * instances.
 *
 * @example
 * ```ts
 * import { openDirectoryStore } from 'entragate/store';
 * const store = await openDirectoryStore({ driver: 'pglite' });
 * store.revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 1_700_000_000 });
 * // createLogin({ ..., identities: store.identities, revocations: store.revocations })
 * ```
 * @packageDocumentation
 */
export { openDirectoryStore, SCIM_CHANGE_CHANNEL, STALENESS_CHANNEL, type DirectoryStoreOptions, type StalenessReason } from './open-store.js';
export { DEFAULT_TOLERANCE_SECONDS, type RevocationQuery } from './revocation-set.js';
export { IDENTITY_CHANNEL } from './identities.js';
export type {
  DirectoryChange,
  DirectoryStore,
  GroupRepository,
  IdentityUpdateBehavior,
  IndexedKey,
  JsonObject,
  JsonValue,
  MemberOp,
  ProvisioningPolicy,
  PruneResult,
  ResourcePage,
  ResourceQuery,
  RevocationReason,
  Revocations,
  SessionIdentities,
  StoredMember,
  StoredResource,
  UserRepository,
  WriteContext,
  WriteResult,
} from './types.js';
// Access reviews read the directory this store holds: `reviewAccess({ gate, store, application })`.
export * from '../review/index.js';
