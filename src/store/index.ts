/**
 * `entragate/store`: the durable directory (SCIM users, groups, memberships),
 * session revocations and an event log on one SQL schema — embedded PGlite or a
 * PostgreSQL server shared by many instances.
 *
 * @example
 * ```ts
 * import { openDirectoryStore } from 'entragate/store';
 * const store = await openDirectoryStore({ driver: 'pglite' });
 * store.revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 1_700_000_000 });
 * ```
 * @packageDocumentation
 */
export { openDirectoryStore, SCIM_CHANGE_CHANNEL, type DirectoryStoreOptions } from './open-store.js';
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
  StoredMember,
  StoredResource,
  UserRepository,
  WriteContext,
  WriteResult,
} from './types.js';
