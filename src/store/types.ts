import type { DirectoryIndex } from '../directory/index.js';
// Type-only: the store never loads the login at run time.
import type { IdentityStore, SessionIdentity } from '../session/identity-store.js';
import type { RevocationQuery } from '../session/revocation-set.js';

/** A JSON value as SCIM sends it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object. Objects built from input use a null prototype. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** A direct member of a group: a user, or a group (a nesting edge). */
export interface StoredMember {
  /** The member's store `id` (the SCIM `id` the store assigned, not Entra's `externalId` or object id). */
  value: string;
  /** Whether the member is a user or a nested group. */
  type: 'User' | 'Group';
}

/**
 * A SCIM resource as the store keeps it: the attributes as sent (attribute names
 * canonicalised by the SCIM layer), without `id`, `meta` or `members`.
 */
export interface StoredResource {
  /** The SCIM `id` the store assigned at create (a random UUID); never changes, never Entra's `externalId`. */
  id: string;
  /** The SCIM attributes as last written (names canonicalised), without `id`, `meta` and `members`. */
  attributes: JsonObject;
  /** ISO 8601, from the injected clock. */
  created: string;
  /** ISO 8601 time of the last write that changed something (a write that changed nothing leaves it). */
  lastModified: string;
  /** Incremented on every write; the SCIM layer renders it as a weak ETag. */
  version: number;
  /** Direct members (groups only: when asked for, and always on the result of a group create). */
  members?: StoredMember[];
}

/**
 * An equality the store answers from an index. Values compare as the schema says: `userName`
 * under NFKC case folding, `email` and `displayName` case-insensitively, `id` and `externalId`
 * exactly. Tombstones (deleted users) never match.
 */
export interface IndexedKey {
  /**
   * The indexed field: `email` is any of a user's `emails[].value`, `workEmail` the one of `type` `work`.
   * `userName`, `email` and `workEmail` exist on users only: on groups they match nothing.
   */
  field: 'id' | 'userName' | 'externalId' | 'email' | 'workEmail' | 'displayName';
  /** The value to equal, compared as the field's rule above says (no wildcard, no prefix). */
  value: string;
}

/**
 * A page request. `keys` are AND-ed and answered from indexes; `match` is a
 * residual predicate run in memory over what the keys select (or over a paged
 * scan of the whole table when there are no keys).
 */
export interface ResourceQuery {
  /** Equalities that must all hold (AND), answered from indexes. @defaultValue none: every resource of the table */
  keys?: readonly IndexedKey[];
  /** A residual filter over what `keys` select, run in memory (slower: the rows are read to test it). @defaultValue none */
  match?: (resource: StoredResource) => boolean;
  /** 1-based, as SCIM. */
  startIndex: number;
  /** The most resources in the page; `0` (or anything not a positive safe integer) returns only `totalResults`. Not capped here: the SCIM handler caps it. */
  count: number;
  /** Load group members (ignored for users). */
  members?: boolean;
}

/** A page of results and the total count of matches. */
export interface ResourcePage {
  /** How many resources match the whole query, across every page (SCIM's `totalResults`). */
  totalResults: number;
  /** This page's resources, ordered by `id`; `[]` past the end. */
  resources: StoredResource[];
}

/** Cloudflare's `identity_update_behavior`. */
export type IdentityUpdateBehavior = 'automatic' | 'reauth' | 'no_action';

/**
 * What a SCIM write does to sessions, as Cloudflare's `scim_config`.
 *
 * - `userDeprovision`: a user set inactive or deleted has its sessions revoked.
 * - `seatDeprovision`: a deactivated user's record is also removed.
 * - `identityUpdateBehavior: 'reauth'`: a change of a user's group membership
 *   (direct, or through a nested group) revokes that user's sessions.
 */
export interface ProvisioningPolicy {
  /** Cloudflare's `user_deprovision`: deactivating or deleting a user revokes their sessions. */
  userDeprovision: boolean;
  /** Cloudflare's `seat_deprovision`: deactivating a user also removes their record (the write's change says `seatRemoved`). */
  seatDeprovision: boolean;
  /** Cloudflare's `identity_update_behavior`: only `reauth` revokes on a membership change; `automatic` and `no_action` revoke nothing here. */
  identityUpdateBehavior: IdentityUpdateBehavior;
}

/** Options of one write. */
export interface WriteContext {
  /**
   * The lifecycle to apply (the SCIM handler passes the gate's `scim_config`). Absent: the write revokes
   * nothing and removes no seat, whatever it changes.
   */
  provisioning?: ProvisioningPolicy;
}

/** One change to a group's direct members, applied in order inside the write's transaction. */
export type MemberOp =
  | { op: 'add'; ids: readonly string[] }
  | { op: 'remove'; ids: readonly string[] }
  | { op: 'removeAll' }
  | { op: 'set'; ids: readonly string[] }
  | { op: 'removeWhere'; match: (member: StoredMember) => boolean };

/** Why sessions were revoked. */
export type RevocationReason = 'user_deprovision' | 'reauth' | 'api';

/**
 * What one committed write changed. Published on `onChange`, `onEvent` and the
 * `entragate:scim:change` diagnostics channel; it never carries a secret or a
 * whole request body.
 */
export interface DirectoryChange {
  /** The event-log id (a decimal string; ids grow with commit order per resource). */
  eventId: string;
  /** `local` when this store instance wrote it; `remote` when learnt from another instance. */
  origin: 'local' | 'remote';
  /** ISO 8601 time of the write. */
  at: string;
  /** `Identity`: a session identity was deleted (a logout) or replaced (a renewal); its nonce is never published. */
  resourceType: 'User' | 'Group' | 'Revocation' | 'Identity';
  /** The store `id` of the user or group written; absent for `Revocation` and `Identity` changes. */
  resourceId?: string;
  /** What was done: `create`, `replace` (PUT), `patch`, `delete`, or `revoke` (a revocation through the API); `replace`/`delete` for an `Identity`. */
  operation: 'create' | 'replace' | 'patch' | 'delete' | 'revoke';
  /** Top-level attribute names whose value changed (`members` for member changes). */
  changedAttributes: string[];
  /** Net change of direct members (group writes). */
  members?: { added: string[]; removed: string[] };
  /** Sessions revoked by this write. */
  revocation?: { subjects: string[]; appId?: string; notBefore: number; reason: RevocationReason };
  /** The user record was removed because of `seatDeprovision`. */
  seatRemoved?: boolean;
}

/**
 * The result of a write: the stored resource (absent after a delete or a seat
 * removal) and the change — absent when the write changed nothing (a PATCH that
 * re-sends stored values, an `Add` of existing members), which writes and
 * publishes nothing.
 */
export interface WriteResult {
  /** The resource as stored after the write; absent after a delete or a seat removal. */
  resource?: StoredResource;
  /** What the write changed, as published; absent when it changed nothing (and published nothing). */
  change?: DirectoryChange;
}

/** SCIM user persistence. Every write is one transaction; the index changes only after commit. */
export interface UserRepository {
  /** The user with this store `id`, read from the database; `undefined` when none (a tombstone is none). */
  get(id: string): Promise<StoredResource | undefined>;
  /** A page of users matching `query`, read from the database (not the in-memory index). */
  query(query: ResourceQuery): Promise<ResourcePage>;
  /**
   * Inserts a user; a `userName` taken under NFKC case folding (`ａdmin` is `admin`, NFD `café` is
   * NFC `café`) is `ERR_SCIM_UNIQUENESS`. Tombstones do not count: creating a user with a deleted
   * user's `userName`, `externalId` or an email removes that tombstone.
   */
  create(attributes: JsonObject, ctx?: WriteContext): Promise<WriteResult>;
  /** Replaces the attributes of a user (PUT). */
  replace(id: string, attributes: JsonObject, ctx?: WriteContext): Promise<WriteResult>;
  /** Reads the user under a row lock, applies `mutate`, writes the result (PATCH). `mutate` may run again on a retry. */
  update(id: string, mutate: (current: StoredResource) => JsonObject, ctx?: WriteContext): Promise<WriteResult>;
  /**
   * Deletes a user and their memberships, and remembers them as a tombstone (the identity pipeline then
   * refuses them rather than finding them unknown). Revokes their sessions under `userDeprovision`, or under
   * `reauth` when they were in a group. A missing id is `ERR_SCIM_NOT_FOUND`.
   */
  delete(id: string, ctx?: WriteContext): Promise<WriteResult>;
}

/** SCIM group persistence; members are rows, one per direct member. */
export interface GroupRepository {
  /** The group with this store `id`, with its direct `members` only when `options.members` is true; `undefined` when none. */
  get(id: string, options?: { members?: boolean }): Promise<StoredResource | undefined>;
  /** A page of groups matching `query`, read from the database; `members` loaded only when `query.members` is true. */
  query(query: ResourceQuery): Promise<ResourcePage>;
  /** Inserts a group and its members; every member id must be an existing user or group. The result carries `members`. */
  create(attributes: JsonObject, memberIds: readonly string[], ctx?: WriteContext): Promise<WriteResult>;
  /** Replaces a group's attributes and sets its direct members to exactly `memberIds` (PUT); a missing id is `ERR_SCIM_NOT_FOUND`. */
  replace(id: string, attributes: JsonObject, memberIds: readonly string[], ctx?: WriteContext): Promise<WriteResult>;
  /**
   * Locks the group row, applies `attributes` (when given) and the member ops in
   * order. Concurrent updates of one group serialise on the lock: no member is lost.
   */
  update(id: string, change: { attributes?: (current: StoredResource) => JsonObject; members?: readonly MemberOp[] }, ctx?: WriteContext): Promise<WriteResult>;
  /**
   * Deletes a group and every membership edge to or from it (its members are not deleted). Under `reauth`,
   * everyone who was under it loses it and has their sessions revoked. A missing id is `ERR_SCIM_NOT_FOUND`.
   */
  delete(id: string, ctx?: WriteContext): Promise<WriteResult>;
}

/**
 * Session revocations, persisted with the directory and mirrored in memory on
 * every instance.
 */
export interface Revocations {
  /** Revokes every session of these subjects (lower-cased: Entra `oid`/`externalId`, `userName`, emails) issued at or before `notBefore` (Unix seconds). */
  revokeUser(subjects: readonly string[], notBefore: number): Promise<void>;
  /** Revokes every session of an app issued at or before `notBefore` (Unix seconds). */
  revokeApp(appId: string, notBefore: number): Promise<void>;
  /**
   * Synchronous check: `true` when any subject or the app has a revocation with
   * `issuedAt <= notBefore + toleranceSeconds` (default 60 s, the gate's clock
   * tolerance). A session issued in the same second as a revocation is revoked
   * (fail closed: seconds cannot order the two), and so is one whose issuer clock ran
   * up to the tolerance ahead of ours.
   *
   * `'unknown'` while the store is not fresh ({@link DirectoryStore.isFresh}: a
   * PostgreSQL instance that has not heard from the server within `maxStalenessMs`)
   * and this instance holds no revocation that already answers `true`: a revocation
   * written on another instance may not have reached this one. Callers answer 503,
   * never allow (`'unknown'` is truthy, so `if (isRevoked(q))` fails closed).
   */
  isRevoked(session: RevocationQuery): boolean | 'unknown';
}

/**
 * The identities login sessions point at (`identity_nonce` → the identity with its
 * groups), shared by every instance on the store: the login's `IdentityStore`,
 * durable and cached. Pass it as `createLogin({ identities: store.identities })`.
 *
 * - `set` is one INSERT (never an overwrite: a nonce already stored is
 *   `ERR_STORE_CONFLICT`), and caches the identity here.
 * - `get` answers from a bounded in-process LRU when it can: synchronously, with
 *   the same frozen object each time, and never past the identity's expiry (by the
 *   store's `now`). A miss reads one row and returns a promise; a row that is not a
 *   valid session identity is treated as missing (the user logs in again).
 * - `delete` (logout) removes the row and appends an `Identity` deletion event to
 *   the event log in the same statement; every instance drops its cached entry
 *   when the event reaches it.
 *
 * The remaining window: between the commit of a delete on one instance and the
 * arrival of its notification on another (NOTIFY delivery plus one event read,
 * milliseconds; longer while that instance's notification queue is busy), the
 * other instance may still honour the session from its cache. This is the window
 * revocations already have, and the user who logged out holds the cookie and just
 * had it cleared. While an instance's notification connection is down it caches
 * nothing and reads every identity from the database, and when it reconnects it
 * drops its whole cache, so missed deletions cannot linger. To narrow the window
 * to one query, set `identities: { cacheMax: 0 }`: one database read per session
 * check (a check that starts while a read of the same identity is in flight shares
 * it, so it may still see a row deleted during that read). A notification connection that goes quiet
 * without closing (half-open) is noticed by the store's heartbeat within `maxStalenessMs`: from then on,
 * until the instance has reconnected and reloaded, nothing is served from (or put in) the cache.
 *
 * Expired rows stay in the table until {@link DirectoryStore.prune} (they are
 * never served).
 *
 * @example
 * ```ts
 * import { openDirectoryStore } from 'entragate/store';
 * import { createLogin } from 'entragate/login';
 *
 * const store = await openDirectoryStore({ driver: 'postgres', connectionString: process.env.DATABASE_URL! });
 * const login = createLogin({
 *   gate,
 *   redirectUri: 'https://app.example.com/auth/callback',
 *   keys: { signing: { kid: 'k1', alg: 'ES256', privateKey: process.env.SESSION_KEY! } },
 *   transactionSecret: process.env.LOGIN_SECRET!,
 *   identities: store.identities,
 *   revocations: store.revocations,
 * });
 * ```
 */
export interface SessionIdentities extends IdentityStore {
  /**
   * The identity stored under `nonce` while unexpired: synchronously from the cache, else a promise.
   * With `{ fresh: true }`, read from the database past the cache (and cached); a read in flight while
   * a logout or a renewal of the nonce commits anywhere answers the row as that change left it.
   */
  get(nonce: string, options?: { fresh?: boolean }): SessionIdentity | undefined | Promise<SessionIdentity | undefined>;
  /** Stores an identity until `expiresAt` (Unix seconds, an integer). */
  set(nonce: string, value: SessionIdentity, expiresAt: number): Promise<void>;
  /** Deletes it here and, through the event log, from every instance's cache. A nonce with nothing stored is a no-op. */
  delete(nonce: string): Promise<void>;
  /** Replaces the identity of a nonce that still has one (never creates one), dropping every instance's copy; `false` when none is stored. */
  replace(nonce: string, value: SessionIdentity, expiresAt: number): Promise<boolean>;
}

/** What one {@link DirectoryStore.prune} deleted. */
export interface PruneResult {
  /** Event-log rows deleted (older than `retention.eventsMaxAgeSeconds`). */
  events: number;
  /** Revocations deleted; always `0` unless `retention.revocationsMaxAgeSeconds` is set. */
  revocations: number;
  /** Expired session identities. */
  identities: number;
}

/** The durable directory: SCIM resources, memberships, revocations and an event log on one SQL schema. */
export interface DirectoryStore {
  /** The database the store opened: `pglite` (one process, data in a folder) or `postgres` (shared by instances). */
  readonly driver: 'pglite' | 'postgres';
  /** The in-memory directory, loaded at open and updated after each committed write (local or remote). */
  readonly index: DirectoryIndex;
  /** SCIM users: reads go to the database; each write is one transaction, reflected in `index` after commit. */
  readonly users: UserRepository;
  /** SCIM groups and their direct members, as `users`. */
  readonly groups: GroupRepository;
  /** Session revocations, persisted and mirrored in memory on every instance (pass it as the login's `revocations`). */
  readonly revocations: Revocations;
  /** Session identities shared by every instance: the login's `IdentityStore` (see {@link SessionIdentities}). */
  readonly identities: SessionIdentities;
  /**
   * Deletes event-log rows older than `retention.eventsMaxAgeSeconds`, expired
   * session identities, and, only when `retention.revocationsMaxAgeSeconds` is
   * set, revocations whose `notBefore` is older than that (in the store and in
   * this instance's memory; other instances forget them at their own `prune`).
   * Never runs by itself: call it on an interval the app controls.
   *
   * @example
   * ```ts
   * setInterval(() => void store.prune().catch(() => undefined), 3_600_000).unref();
   * ```
   */
  prune(): Promise<PruneResult>;
  /**
   * Whether this instance's index, revocations and identity cache reflect every write
   * committed more than `maxStalenessMs` ago. One clock read and a compare: call it on
   * the hot path. Always `true` with PGlite (one process, no other writer).
   *
   * With PostgreSQL, an instance is fresh while it has heard its own heartbeat (a NOTIFY
   * every `heartbeatMs`, sent through the pool and heard back through its LISTEN
   * connection, so a half-open listener is noticed) within `maxStalenessMs`, and has
   * reloaded since its listener last failed or an event could not be read. While not
   * fresh, `revocations.isRevoked` answers `'unknown'`, `identities` serves nothing from
   * its cache, and a caller of `index` must treat membership as unknown; transitions
   * are published on {@link STALENESS_CHANNEL}.
   */
  isFresh(): boolean;
  /**
   * Throws `ERR_STORE_STALE` (503, `Retry-After: 1`) when {@link DirectoryStore.isFresh}
   * is false: for a caller that got `'unknown'` and answers with an error.
   */
  assertFresh(): void;
  /** Subscribes to committed changes (local and remote); returns the unsubscribe function. */
  onChange(listener: (change: DirectoryChange) => void): () => void;
  /** Closes the database connections; the index stays readable. */
  close(): Promise<void>;
}
