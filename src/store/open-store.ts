import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { z } from 'zod';
import { createDirectoryIndex, type DirectoryIndex, type DirectoryUser, type DirectoryGroup } from '../directory/index.js';
import { ConfigError, EntragateError, ScimError, StoreError } from '../errors/index.js';
import { openPgliteDriver, openPostgresDriver, SCHEMA_NAME, type ListenerHandle, type SqlDriver, type SqlExecutor } from './driver.js';
import { createIdentities } from './identities.js';
import { groupEmail, userNameKey } from './columns.js';
import { MIGRATIONS } from './migrations.js';
import { RevocationSet, type RevocationQuery } from './revocation-set.js';
import type {
  DirectoryChange,
  DirectoryStore,
  GroupRepository,
  IndexedKey,
  JsonObject,
  JsonValue,
  MemberOp,
  ProvisioningPolicy,
  ResourcePage,
  ResourceQuery,
  RevocationReason,
  StoredMember,
  StoredResource,
  UserRepository,
  WriteContext,
  WriteResult,
} from './types.js';

/**
 * The diagnostics channel every committed directory change (local or remote) is
 * published on, as a {@link DirectoryChange}; never a secret or a request body.
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { SCIM_CHANGE_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(SCIM_CHANGE_CHANNEL, (change) => console.log(change));
 * ```
 */
export const SCIM_CHANGE_CHANNEL = 'entragate:scim:change';
const changeChannel = diagnostics.channel(SCIM_CHANGE_CHANNEL);

/**
 * The diagnostics channel of a PostgreSQL store's freshness transitions:
 * `{ state: 'stale', reason }` when the instance may have missed writes — `reason` is
 * `'heartbeat'` (its own heartbeat not heard back within `maxStalenessMs`: the listener
 * is half-open or the server is unreachable), `'listener'` (the listener connection
 * failed) or `'event'` (a notified event could not be read) — and `{ state: 'fresh' }`
 * once it has reloaded. While stale, `store.isFresh()` is false.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { STALENESS_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(STALENESS_CHANNEL, (message) => console.log(message));
 * ```
 */
export const STALENESS_CHANNEL = 'entragate:store:staleness';
const stalenessChannel = diagnostics.channel(STALENESS_CHANNEL);
/** Why a store went stale (see {@link STALENESS_CHANNEL}). */
export type StalenessReason = 'heartbeat' | 'listener' | 'event';

const clockSchema = z.custom<() => number>((v) => typeof v === 'function', { message: 'expected a function returning milliseconds' });

const DAY_SECONDS = 86_400;
/** After a failed reload (an event could not be read), the next attempt waits this long. */
const RESYNC_RETRY_MS = 1000;

const retentionSchema = z
  .strictObject({
    /**
     * `prune()` deletes event-log rows older than this. Instances read an event
     * only right after its commit (or reload everything after a reconnect), so
     * old rows serve only as an audit trail.
     */
    eventsMaxAgeSeconds: z.number().int().min(3600).default(30 * DAY_SECONDS),
    /**
     * `prune()` deletes revocations whose `notBefore` is older than this. Set it
     * above the longest lifetime of any session or token checked against the
     * store: a session issued before a pruned revocation is no longer revoked.
     * Absent (the default): revocations are kept forever.
     */
    revocationsMaxAgeSeconds: z.number().int().min(3600).optional(),
  })
  .default({ eventsMaxAgeSeconds: 30 * DAY_SECONDS });

const identitiesSchema = z
  .strictObject({
    /**
     * Most session identities cached in this process (least recently used dropped
     * first). `0` caches nothing: every session check reads the database, which
     * closes the cross-instance logout window (see `SessionIdentities`).
     */
    cacheMax: z.number().int().min(0).max(10_000_000).default(10_000),
  })
  .prefault({});

const storeOptionsSchema = z.discriminatedUnion('driver', [
  z.strictObject({
    driver: z.literal('pglite'),
    /** A folder (created when missing), or `memory://` for a throw-away store. */
    dataDir: z.string().min(1).default('./.entragate-data'),
    now: clockSchema.optional(),
    retention: retentionSchema,
    identities: identitiesSchema,
  }),
  z.strictObject({
    driver: z.literal('postgres'),
    connectionString: z.string().min(1),
    /** A plain lower-case identifier; created when missing. */
    schema: z.string().regex(SCHEMA_NAME, 'expected a lower-case SQL identifier').default('entragate'),
    poolSize: z.number().int().min(1).max(100).default(10),
    /**
     * The bound on how far behind the other instances this one may be: past it without
     * hearing its own heartbeat back (or after its listener failed, until it has reloaded),
     * `isFresh()` is false and revocations answer `'unknown'`. Must exceed `heartbeatMs`.
     */
    maxStalenessMs: z.number().int().min(20).max(600_000).default(5000),
    /** How often this instance sends itself a heartbeat NOTIFY through the pool, heard back through its listener. */
    heartbeatMs: z.number().int().min(5).max(60_000).default(1000),
    now: clockSchema.optional(),
    retention: retentionSchema,
    identities: identitiesSchema,
  }),
]);

/** Options of {@link openDirectoryStore}: the embedded PGlite driver, or a PostgreSQL server shared by many instances. */
export type DirectoryStoreOptions = z.input<typeof storeOptionsSchema>;

const NO_LIFECYCLE: ProvisioningPolicy = { userDeprovision: false, seatDeprovision: false, identityUpdateBehavior: 'no_action' };
const MAX_RETRIES = 5;
const SCAN_PAGE = 500;
const APPLIED_MEMORY = 20_000;

type IndexOp =
  | { op: 'user'; user: DirectoryUser }
  | { op: 'removeUser'; id: string }
  | { op: 'group'; group: DirectoryGroup }
  | { op: 'removeGroup'; id: string }
  | { op: 'members'; groupId: string; add: string[]; remove: string[] }
  | { op: 'revoke'; kind: 'subject' | 'app'; keys: string[]; notBefore: number }
  | { op: 'forgetIdentity'; nonce: string };

type PendingChange = Omit<DirectoryChange, 'eventId' | 'origin' | 'at'>;

/** One SQL statement and its bind parameters. */
interface Statement {
  sql: string;
  params: unknown[];
  /** A `DELETE FROM scim_user_tombstones … RETURNING id`: each id it deletes is a `removeUser` op of the event. */
  dropsTombstones?: true;
}

/** Appends a write's event; `data` are the write's last data statements (plain INSERT/UPDATE/DELETE), run in the same statement. */
type Logger = (change: PendingChange, ops: IndexOp[], ...data: Statement[]) => Promise<void>;

interface UserRow {
  id: string;
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  active: boolean;
  resource: JsonObject;
  created_at: string;
  updated_at: string;
  version: string | number;
}
interface GroupRow {
  id: string;
  display_name: string;
  external_id: string | null;
  email: string | null;
  resource: JsonObject;
  created_at: string;
  updated_at: string;
  version: string | number;
}
interface MemberRow {
  group_id: string;
  member_id: string;
  member_type: 'User' | 'Group';
}

const USER_COLUMNS = 'id, user_name, external_id, display_name, active, resource, created_at, updated_at, version';
const GROUP_COLUMNS = 'id, display_name, external_id, email, resource, created_at, updated_at, version';

/**
 * Opens the directory store: runs pending migrations in one transaction, loads
 * the in-memory index and revocation list, and (PostgreSQL) starts listening for
 * other instances' changes.
 *
 * Both drivers are optional peers loaded on demand: a missing package rejects
 * with `ERR_STORE_UNAVAILABLE` naming what to install. Options are validated
 * synchronously (`ERR_CONFIG_INVALID` is thrown, not returned as a rejection).
 *
 * Nothing is pruned behind the app's back: call `prune()` on an interval the app
 * controls (see `retention`); revocations are pruned only when
 * `retention.revocationsMaxAgeSeconds` is set.
 *
 * @example
 * ```ts
 * import { openDirectoryStore } from 'entragate/store';
 *
 * const store = await openDirectoryStore({ driver: 'pglite', dataDir: './.entragate-data' });
 * // or, for many instances: { driver: 'postgres', connectionString: process.env.DATABASE_URL!, schema: 'entragate' }
 * store.onChange((change) => console.log(change.resourceType, change.operation, change.resourceId));
 * const groups = store.index.groupsOfUser(store.index.findUser({ email: 'ada@contoso.com' })?.id ?? '');
 * await store.close();
 * ```
 */
export function openDirectoryStore(options: DirectoryStoreOptions): Promise<DirectoryStore> {
  const parsed = storeOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid directory store options: ${z.prettifyError(parsed.error)}`);
  }
  const opts = parsed.data;
  if (opts.driver === 'postgres' && opts.heartbeatMs >= opts.maxStalenessMs) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `invalid directory store options: \`heartbeatMs\` (\`${opts.heartbeatMs}\`) must be below \`maxStalenessMs\` (\`${opts.maxStalenessMs}\`), or every instance is always stale`,
    );
  }
  const now = opts.now ?? Date.now;
  return (async () => {
    const driver =
      opts.driver === 'pglite'
        ? await openPgliteDriver(opts.dataDir)
        : await openPostgresDriver(opts.connectionString, opts.schema, opts.poolSize, { keepAliveInitialDelayMs: opts.maxStalenessMs });
    const channel = opts.driver === 'postgres' ? `entragate_${opts.schema}`.slice(0, 63) : undefined;
    try {
      await migrate(driver, opts.driver === 'postgres' ? opts.schema : 'public');
      const sync = opts.driver === 'postgres' ? { maxStalenessMs: opts.maxStalenessMs, heartbeatMs: opts.heartbeatMs } : undefined;
      return await createStore(driver, channel, now, opts.retention, opts.identities.cacheMax, sync);
    } catch (err) {
      await driver.close().catch(() => undefined);
      throw err instanceof EntragateError ? err : new StoreError('ERR_STORE_UNAVAILABLE', 'directory store could not be opened', { cause: err });
    }
  })();
}

async function migrate(driver: SqlDriver, lockKey: string): Promise<void> {
  await driver.transaction(async (tx) => {
    // Two instances starting together must not run the same migration twice.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`entragate:migrate:${lockKey}`]);
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of m.sql.split(/;\s*\n/).map((s) => s.trim()).filter((s) => s && !/^--[^\n]*$/.test(s))) {
        await tx.query(statement);
      }
      if (m.run) await m.run(tx);
      await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
    }
  });
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function lower(values: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const v of values) if (v.trim() !== '') out.add(v.trim().toLowerCase());
  return [...out];
}

function emailValues(emails: JsonValue | undefined): string[] {
  if (!Array.isArray(emails)) return [];
  const out: string[] = [];
  for (const e of emails) {
    if (e !== null && typeof e === 'object' && !Array.isArray(e) && typeof e.value === 'string' && e.value !== '') out.push(e.value);
  }
  return out;
}

function workEmail(emails: JsonValue | undefined): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  for (const e of emails) {
    if (e !== null && typeof e === 'object' && !Array.isArray(e) && typeof e.value === 'string' && typeof e.type === 'string' && e.type.toLowerCase() === 'work') return e.value;
  }
  return undefined;
}

interface UserColumns {
  userName: string;
  externalId: string | undefined;
  displayName: string | undefined;
  active: boolean;
  emails: string[];
  workEmail: string | undefined;
}

/** Reads the indexed columns from canonical attributes; the SCIM layer has already checked types. */
function userColumns(a: JsonObject): UserColumns {
  const userName = a.userName;
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'attribute `userName` is required and must be a non-empty string', { scimType: 'invalidValue' });
  }
  return {
    userName,
    externalId: typeof a.externalId === 'string' && a.externalId !== '' ? a.externalId : undefined,
    displayName: typeof a.displayName === 'string' ? a.displayName : undefined,
    active: a.active === undefined || a.active === true,
    emails: emailValues(a.emails),
    workEmail: workEmail(a.emails),
  };
}

interface GroupColumns {
  displayName: string;
  externalId: string | undefined;
  /** The group's mail, when SCIM sent one (see {@link groupEmail}). */
  email: string | undefined;
}

function groupColumns(a: JsonObject): GroupColumns {
  const displayName = a.displayName;
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'attribute `displayName` is required and must be a non-empty string', { scimType: 'invalidValue' });
  }
  return { displayName, externalId: typeof a.externalId === 'string' && a.externalId !== '' ? a.externalId : undefined, email: groupEmail(a.emails) };
}

function toDirectoryUser(id: string, c: UserColumns): DirectoryUser {
  const user: DirectoryUser = { id, userName: c.userName, emails: c.emails, active: c.active };
  if (c.externalId !== undefined) user.externalId = c.externalId;
  if (c.displayName !== undefined) user.displayName = c.displayName;
  return user;
}

function toDirectoryGroup(id: string, c: GroupColumns): DirectoryGroup {
  const group: DirectoryGroup = { id, displayName: c.displayName };
  if (c.externalId !== undefined) group.externalId = c.externalId;
  if (c.email !== undefined) group.email = c.email;
  return group;
}

/** A deleted user as the index holds it: refused by the identity pipeline, never in a group. */
function toTombstone(id: string, c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): DirectoryUser {
  const user: DirectoryUser = { id, userName: c.userName, emails: c.emails, active: false, deleted: true };
  if (c.externalId !== undefined) user.externalId = c.externalId;
  return user;
}

/** Writes the tombstone of user `id` (its keys as last stored), in the delete's transaction. */
function tombstoneStatement(id: string, c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>, at: string): Statement {
  return {
    sql: `INSERT INTO scim_user_tombstones (id, user_name, user_name_lc, external_id, external_id_lc, emails, emails_lc, deleted_at)
          VALUES ($1, $2, $3, $4, $5, $6::text[], $7::text[], $8)
          ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, external_id = excluded.external_id,
            external_id_lc = excluded.external_id_lc, emails = excluded.emails, emails_lc = excluded.emails_lc, deleted_at = excluded.deleted_at`,
    params: [id, c.userName, userNameKey(c.userName), c.externalId ?? null, c.externalId?.toLowerCase() ?? null, c.emails, lower(c.emails), at],
  };
}

/** The keys a user is matched to a tombstone by. */
interface TombstoneKeys {
  userName: string | undefined;
  externalId: string | undefined;
  emails: string[];
}

function tombstoneKeys(c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): TombstoneKeys {
  return { userName: userNameKey(c.userName), externalId: c.externalId?.toLowerCase(), emails: lower(c.emails) };
}

/** The keys `after` holds that `before` did not: what a replace or a patch brings to the directory. */
function newKeys(before: TombstoneKeys, after: TombstoneKeys): TombstoneKeys {
  return {
    userName: after.userName === before.userName ? undefined : after.userName,
    externalId: after.externalId === before.externalId ? undefined : after.externalId,
    emails: after.emails.filter((e) => !before.emails.includes(e)),
  };
}

/**
 * Removes the tombstones matching any of these keys, fused with the write of a live user that
 * brings them (a create, or a replace or patch that adds a key): the directory holds that user
 * again. Nothing when there is no key.
 */
function dropTombstonesStatement(keys: TombstoneKeys): Statement | undefined {
  if (keys.userName === undefined && keys.externalId === undefined && keys.emails.length === 0) return undefined;
  return {
    sql: 'DELETE FROM scim_user_tombstones WHERE user_name_lc = $1 OR external_id_lc = $2 OR emails_lc && $3::text[] RETURNING id',
    params: [keys.userName ?? null, keys.externalId ?? null, keys.emails],
    dropsTombstones: true,
  };
}

/** Subjects a user's sessions are revoked under: its Entra id (`externalId`), `userName` and emails, lower-cased. */
function userSubjects(c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): string[] {
  return lower([c.userName, ...(c.externalId ? [c.externalId] : []), ...c.emails]);
}

function userRowColumns(row: UserRow): UserColumns {
  return {
    userName: row.user_name,
    externalId: row.external_id ?? undefined,
    displayName: row.display_name ?? undefined,
    active: row.active,
    emails: emailValues(row.resource.emails),
    workEmail: workEmail(row.resource.emails),
  };
}

function toStored(row: UserRow | GroupRow): StoredResource {
  return { id: row.id, attributes: row.resource, created: row.created_at, lastModified: row.updated_at, version: Number(row.version) };
}

/** Top-level attribute names whose JSON differs. */
function changedAttributes(before: JsonObject, after: JsonObject): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: string[] = [];
  for (const n of names) if (JSON.stringify(before[n]) !== JSON.stringify(after[n])) out.push(n);
  return out;
}

function uniqueness(err: unknown, message: string): never {
  if (pgCode(err) === '23505') throw new ScimError('ERR_SCIM_UNIQUENESS', message, { scimType: 'uniqueness' });
  throw err;
}

function notFound(type: 'User' | 'Group', id: string): never {
  throw new ScimError('ERR_SCIM_NOT_FOUND', `${type.toLowerCase()} \`${id}\` not found`);
}

async function createStore(
  driver: SqlDriver,
  channel: string | undefined,
  now: () => number,
  retention: z.output<typeof retentionSchema>,
  identityCacheMax: number,
  sync: { maxStalenessMs: number; heartbeatMs: number } | undefined,
): Promise<DirectoryStore> {
  const instanceId = randomUUID();
  const index: DirectoryIndex = createDirectoryIndex();
  const revocationSet = new RevocationSet();
  const listeners = new Set<(change: DirectoryChange) => void>();
  // Event ids already applied here (local writes and notifications); bounded, oldest dropped first.
  const applied = new Set<string>();
  let closed = false;
  const assertOpen = (): void => {
    if (closed) throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store is closed');
  };

  // ---------------------------------------------------------------- freshness (PostgreSQL)

  const maxStalenessMs = sync?.maxStalenessMs ?? Number.POSITIVE_INFINITY;
  // Reloaded since the listener last failed, the heartbeat last went quiet, or an event could not be read.
  let synced = false;
  // This instance's clock (ms) at which it sent the latest heartbeat heard back and processed in
  // notification order (or started the snapshot of its latest reload): every write committed
  // before then is reflected here.
  let freshAsOf = Number.NEGATIVE_INFINITY;
  // Bumped on every loss: a reload that started before one does not make the instance fresh.
  let lossEpoch = 0;
  let listening = false;
  let reportedStale = false;
  /**
   * INVARIANT: fail closed. A PostgreSQL instance is fresh only while it is synced and has
   * heard from the server within the bound; one clock read and a compare (the hot path).
   */
  const isFresh: () => boolean = channel ? () => synced && now() - freshAsOf <= maxStalenessMs : () => true;

  function publishStaleness(state: 'stale' | 'fresh', reason?: StalenessReason): void {
    if ((state === 'stale') === reportedStale) return;
    reportedStale = state === 'stale';
    if (stalenessChannel.hasSubscribers) stalenessChannel.publish(state === 'stale' ? { state, reason } : { state });
  }

  /** This instance may have missed writes: stale until a reload that starts after now has finished. */
  function lose(reason: StalenessReason): void {
    if (!channel) return;
    lossEpoch++;
    synced = false;
    publishStaleness('stale', reason);
  }

  const { identities, control: identityCache } = createIdentities({ sql: driver, now, cacheMax: identityCacheMax, assertOpen, remove: removeIdentity, isFresh });

  const markApplied = (id: string): boolean => {
    if (applied.has(id)) return false;
    applied.add(id);
    if (applied.size > APPLIED_MEMORY) {
      const oldest = applied.values().next().value;
      if (oldest !== undefined) applied.delete(oldest);
    }
    return true;
  };

  function applyOps(ops: readonly IndexOp[]): void {
    for (const op of ops) {
      switch (op.op) {
        case 'user':
          index.upsertUser(op.user);
          break;
        case 'removeUser':
          index.removeUser(op.id);
          break;
        case 'group':
          index.upsertGroup(op.group);
          break;
        case 'removeGroup':
          index.removeGroup(op.id);
          break;
        case 'members':
          for (const m of op.remove) index.removeMember(op.groupId, m);
          for (const m of op.add) index.addMember(op.groupId, m);
          break;
        case 'revoke':
          for (const key of op.keys) revocationSet.add(op.kind, key, op.notBefore);
          break;
        case 'forgetIdentity':
          identityCache.forget(op.nonce);
          break;
      }
    }
  }

  function emit(change: DirectoryChange): void {
    if (changeChannel.hasSubscribers) changeChannel.publish(change);
    for (const l of listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure must not undo or hide a committed write.
      }
    }
  }

  function applyEvent(id: string, stored: PendingChange & { at: string; instance?: string }, ops: readonly IndexOp[]): DirectoryChange {
    const { instance, ...rest } = stored;
    const change: DirectoryChange = { eventId: id, origin: instance === instanceId ? 'local' : 'remote', ...rest };
    if (markApplied(id)) {
      applyOps(ops);
      reloading?.push({ id, ops });
      emit(change);
    }
    return change;
  }

  /** Events applied while `loadAll` reads its snapshot (local writes do not wait for it). */
  let reloading: { id: string; ops: readonly IndexOp[] }[] | undefined;

  async function loadAll(): Promise<void> {
    const during: { id: string; ops: readonly IndexOp[] }[] = [];
    const epoch = lossEpoch;
    // Before the snapshot's first read: every write committed before this is in the snapshot.
    const startedAt = now();
    reloading = during;
    try {
      await reload(during);
    } finally {
      reloading = undefined;
    }
    // INVARIANT: fresh again only after a reload that started while listening and after the last loss:
    // what the snapshot missed, the listener heard (and the queue applies after this reload).
    if (channel && epoch === lossEpoch && listening && !closed) {
      synced = true;
      if (startedAt > freshAsOf) freshAsOf = startedAt;
      publishStaleness('fresh');
    }
  }

  async function reload(during: readonly { id: string; ops: readonly IndexOp[] }[]): Promise<void> {
    const snapshot = await driver.transaction(async (tx) => {
      if (driver.kind === 'postgres') await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      const users = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users`);
      const tombstones = await tx.query<{ id: string; user_name: string; external_id: string | null; emails: string[] }>('SELECT id, user_name, external_id, emails FROM scim_user_tombstones');
      const groups = await tx.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups`);
      const members = await tx.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships');
      const revs = await tx.query<{ kind: 'subject' | 'app'; key: string; not_before: string | number }>('SELECT kind, key, not_before FROM scim_revocations');
      // Events visible in this snapshot are already reflected: never apply them again.
      const recent = await tx.query<{ id: string }>(`SELECT id::text AS id FROM scim_events ORDER BY id DESC LIMIT ${APPLIED_MEMORY}`);
      return { users, tombstones, groups, members, revs, recent };
    });
    // The snapshot's events are marked applied below without their ops: right for the index and
    // revocations (the snapshot holds their effect), not for identity deletions, whose effect is on
    // caches. A deletion it counts may have committed after an identity was cached here (after a
    // resync, while this reload waited): drop the cache, and keep reads in flight from filling it.
    identityCache.invalidate();
    index.load({
      users: [
        ...snapshot.users.map((r) => toDirectoryUser(r.id, userRowColumns(r))),
        ...snapshot.tombstones.map((r) => toTombstone(r.id, { userName: r.user_name, externalId: r.external_id ?? undefined, emails: r.emails })),
      ],
      groups: snapshot.groups.map((r) => toDirectoryGroup(r.id, { displayName: r.display_name, externalId: r.external_id ?? undefined, email: r.email ?? undefined })),
      memberships: snapshot.members.map((m) => ({ groupId: m.group_id, memberId: m.member_id })),
    });
    revocationSet.clear();
    for (const r of snapshot.revs) revocationSet.add(r.kind, r.key, Number(r.not_before));
    // INVARIANT: a write applied here while the snapshot was read, and committed after it, is
    // applied again on top of the snapshot: replacing the index never loses a write or a revocation.
    const inSnapshot = new Set(snapshot.recent.map((r) => r.id));
    for (const ev of during) if (!inSnapshot.has(ev.id)) applyOps(ev.ops);
    for (const r of snapshot.recent.reverse()) markApplied(r.id);
  }

  // Notifications are handled one at a time, in the order the server delivers them (commit order).
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (task: () => Promise<void>): void => {
    queue = queue.then(task).catch(() => undefined);
  };
  const buffered: string[] = [];
  let loaded = false;

  /**
   * Reloads the whole directory, retried every second until it succeeds (or the store closes).
   * The way back to a consistent state when an event this instance was told of cannot be applied.
   */
  let resyncTimer: ReturnType<typeof setTimeout> | undefined;
  let resyncPending = false;
  function resync(): void {
    if (closed || resyncPending) return;
    resyncPending = true;
    enqueue(async () => {
      try {
        await loadAll();
        resyncPending = false;
      } catch {
        resyncPending = false;
        if (!closed) resyncTimer = setTimeout(resync, RESYNC_RETRY_MS).unref();
      }
    });
  }

  async function fetchEvent(id: string): Promise<void> {
    if (closed || applied.has(id)) return;
    let rows: { id: string; at: string; change: PendingChange & { instance?: string }; ops: IndexOp[] }[];
    try {
      rows = await driver.query('SELECT id::text AS id, at, change, ops FROM scim_events WHERE id = $1', [id]);
    } catch (err) {
      // INVARIANT: an event this instance was told of and could not read may be a logout or a
      // revocation: no identity cached before it is served again (fail closed; the cache refills
      // from the database), and the index and revocations are reloaded until that succeeds. Until
      // then the instance is stale: the event may be a revocation.
      lose('event');
      identityCache.invalidate();
      resync();
      throw err;
    }
    const row = rows[0];
    if (row) applyEvent(row.id, { ...row.change, at: row.at }, row.ops);
    else {
      // Pruned before it was read: its effect is only in the tables now.
      lose('event');
      identityCache.invalidate();
      resync();
    }
  }

  // Writes of this instance in flight: the notification of one usually arrives before the write
  // has applied its own event, and must not cost a query to fetch what the write is about to apply.
  const inflight = new Set<Promise<unknown>>();
  const NOTIFICATION = /^(\d{1,19})(?::([0-9a-f-]{36}))?$/;

  /** Own heartbeats, as sent: `hb:<instance>:<this instance's clock in ms when sent>`. */
  const HEARTBEAT = /^hb:([0-9a-f-]{36}):(\d{1,16})$/;

  /**
   * A heartbeat of ours came back: every write committed before it was sent has been heard
   * (PostgreSQL delivers notifications in commit order). It counts once the notifications
   * heard before it are applied (it queues behind them) and our writes in flight then have
   * applied their own events.
   */
  function heardHeartbeat(sentAt: number): void {
    const mark = async (): Promise<void> => {
      if (sentAt > freshAsOf) freshAsOf = sentAt;
    };
    if (inflight.size === 0) enqueue(mark);
    else void Promise.allSettled([...inflight]).then(() => enqueue(mark));
  }

  let listener: ListenerHandle | undefined;
  let reloadQueued = false;
  if (channel && driver.listen) {
    listener = await driver.listen(
      channel,
      (payload) => {
        const hb = HEARTBEAT.exec(payload);
        if (hb) {
          if (loaded && hb[1] === instanceId) heardHeartbeat(Number(hb[2]));
          return;
        }
        const m = NOTIFICATION.exec(payload);
        if (!m) return;
        const id = m[1]!;
        if (!loaded) buffered.push(id);
        else if (m[2] !== instanceId) enqueue(() => fetchEvent(id));
        else {
          // Our own write: it applies the event after its commit. Fetch only if it did not
          // (its commit reply was lost), once every write in flight now has settled.
          void Promise.allSettled([...inflight]).then(() => {
            if (!applied.has(id)) enqueue(() => fetchEvent(id));
          });
        }
      },
      () => {
        listening = true;
        // Deletions may have been missed while disconnected: nothing cached before now is trusted.
        identityCache.reset(true);
        // One reload waiting is enough: it starts after this, so it covers every loss before it
        // (reconnects repeat every `maxStalenessMs` while the queue is stuck behind a hung read).
        if (reloadQueued) return;
        reloadQueued = true;
        enqueue(async () => {
          reloadQueued = false;
          await loadAll();
        });
      },
      () => {
        listening = false;
        lose('listener');
        // Until the listener is back, deletions cannot be heard: cache no identity meanwhile.
        identityCache.reset(false);
      },
    );
    listening = true;
  }
  await loadAll();
  loaded = true;
  for (const id of buffered.splice(0)) enqueue(() => fetchEvent(id));

  // The heartbeat: sent through the pool, heard back through the listener. A listener that
  // hears nothing for `maxStalenessMs` is dropped and opened again (then reloaded); so is each
  // new one that stays quiet as long (a connect or LISTEN that hangs).
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  if (channel && sync && listener) {
    const handle = listener;
    let restartedAt = Number.NEGATIVE_INFINITY;
    let sending: { at: number } | undefined;
    const tick = (): void => {
      if (closed) return;
      const t = now();
      const quiet = t - freshAsOf > maxStalenessMs;
      if (quiet && synced) lose('heartbeat');
      if (quiet && t - restartedAt > maxStalenessMs) {
        restartedAt = t;
        handle.reconnect();
      }
      // One heartbeat in flight at a time, unless it has hung for the whole bound.
      if (sending !== undefined && t - sending.at < maxStalenessMs) return;
      const mine = (sending = { at: t });
      const done = (): void => {
        if (sending === mine) sending = undefined;
      };
      driver.query('SELECT pg_notify($1, $2)', [channel, `hb:${instanceId}:${Math.max(0, Math.floor(t))}`]).then(done, done);
    };
    heartbeatTimer = setInterval(tick, sync.heartbeatMs);
    heartbeatTimer.unref();
  }

  /**
   * Builds the statement that appends the event (and, with PostgreSQL, its NOTIFY,
   * sent by the server on commit only, in commit order) — fused with the write's
   * last data statements (no `RETURNING` needed, none read), so one round trip does all.
   * Data-modifying CTEs run exactly once and to completion whether or not the
   * outer query reads them (PostgreSQL docs, "Data-Modifying Statements in WITH").
   */
  function eventStatement(at: string, change: PendingChange, ops: IndexOp[], data: readonly Statement[]): Statement {
    const params: unknown[] = [];
    const ctes = data.map((d, i) => {
      const offset = params.length;
      params.push(...d.params);
      // Each data statement numbers its parameters from $1: shift them past the ones before it.
      return `w${i} AS (${d.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
    });
    const bind = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    // The ids a `dropsTombstones` statement deleted become `removeUser` ops ahead of the write's own,
    // computed by the statement itself, so the event says exactly what committed.
    const drops = data.flatMap((d, i) => (d.dropsTombstones ? [`w${i}`] : []));
    const dropped = drops.map((w) => `(SELECT coalesce(jsonb_agg(jsonb_build_object('op', 'removeUser', 'id', ${w}.id)), '[]'::jsonb) FROM ${w})`);
    const opsSql = [...dropped, `${bind(JSON.stringify(ops))}::jsonb`].join(' || ');
    ctes.push(`e AS (INSERT INTO scim_events (at, change, ops) VALUES (${bind(at)}, ${bind(JSON.stringify({ ...change, instance: instanceId }))}::jsonb, ${opsSql}) RETURNING id)`);
    const notify = channel ? `, pg_notify(${bind(channel)}, e.id::text || ${bind(`:${instanceId}`)})` : '';
    const droppedIds = drops.length > 0 ? `, (SELECT coalesce(json_agg(d.id), '[]'::json) FROM (${drops.map((w) => `SELECT id FROM ${w}`).join(' UNION ALL ')}) d) AS dropped` : '';
    return { sql: `WITH ${ctes.join(', ')} SELECT e.id::text AS id${notify}${droppedIds} FROM e`, params };
  }

  /**
   * Runs one write, retried on serialization failures and deadlocks, then applies
   * it here. `transaction` opens BEGIN … COMMIT; `statement` runs `fn`'s single
   * statement in autocommit, which PostgreSQL makes atomic on its own.
   *
   * `fn` logs its event with `log` (the generic event insert), or `record`s the id
   * of an event its own statement inserted. A write that logs nothing changed
   * nothing: it returns no `change` and publishes nothing.
   */
  async function write(
    fn: (tx: SqlExecutor, log: Logger, at: string, record: (id: string, change: PendingChange, ops: IndexOp[]) => void) => Promise<StoredResource | undefined>,
    mode: 'transaction' | 'statement' = 'transaction',
  ): Promise<WriteResult> {
    assertOpen();
    const running = attempts(fn, mode);
    inflight.add(running);
    try {
      return await running;
    } finally {
      inflight.delete(running);
    }
  }

  async function attempts(
    fn: (tx: SqlExecutor, log: Logger, at: string, record: (id: string, change: PendingChange, ops: IndexOp[]) => void) => Promise<StoredResource | undefined>,
    mode: 'transaction' | 'statement',
  ): Promise<WriteResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const at = new Date(now()).toISOString();
        let logged: { id: string; change: PendingChange; ops: IndexOp[] } | undefined;
        const record = (id: string, change: PendingChange, ops: IndexOp[]): void => {
          // INVARIANT: one write is one event, so a statement-mode write commits or fails whole.
          if (logged !== undefined) throw new StoreError('ERR_STORE_UNAVAILABLE', 'a write logged two events');
          logged = { id, change, ops };
        };
        const run = async (tx: SqlExecutor): Promise<StoredResource | undefined> => {
          logged = undefined;
          return fn(
            tx,
            async (change, ops, ...data) => {
              const statement = eventStatement(at, change, ops, data);
              const [row] = await tx.query<{ id: string; dropped?: string[] }>(statement.sql, statement.params);
              if (!row) throw new StoreError('ERR_STORE_UNAVAILABLE', 'event log insert returned no id');
              // As the event's ops say: the tombstones the write removed go first.
              if (row.dropped && row.dropped.length > 0) ops.unshift(...row.dropped.map((id): IndexOp => ({ op: 'removeUser', id })));
              record(row.id, change, ops);
            },
            at,
            record,
          );
        };
        const resource = mode === 'statement' ? await run(driver) : await driver.transaction(run);
        const ev = logged as { id: string; change: PendingChange; ops: IndexOp[] } | undefined;
        if (!ev) return resource ? { resource } : {};
        // INVARIANT: the index changes only after the commit succeeded.
        const change = applyEvent(ev.id, { ...ev.change, at, instance: instanceId }, ev.ops);
        return resource ? { resource, change } : { change };
      } catch (err) {
        const code = pgCode(err);
        if (code === '40001' || code === '40P01') {
          if (attempt < MAX_RETRIES) continue;
          throw new StoreError('ERR_STORE_CONFLICT', `directory write failed after ${MAX_RETRIES + 1} attempts on serialization conflicts`, { cause: err });
        }
        if (err instanceof EntragateError) throw err;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store write failed', { cause: err });
      }
    }
  }

  function revokeStatement(kind: 'subject' | 'app', keys: string[], notBefore: number): Statement {
    return {
      sql: `INSERT INTO scim_revocations (kind, key, not_before) SELECT $1, k, $3 FROM unnest($2::text[]) AS k
       ON CONFLICT (kind, key) DO UPDATE SET not_before = GREATEST(scim_revocations.not_before, excluded.not_before)`,
      params: [kind, keys, notBefore],
    };
  }

  async function revoke(tx: SqlExecutor, kind: 'subject' | 'app', keys: string[], notBefore: number): Promise<void> {
    if (keys.length === 0) return;
    const statement = revokeStatement(kind, keys, notBefore);
    await tx.query(statement.sql, statement.params);
  }

  const nowSeconds = (): number => Math.floor(now() / 1000);

  /** Users whose transitive groups change when these members join or leave a group: the users themselves, and every user under a member group. */
  async function affectedUsers(tx: SqlExecutor, userIds: readonly string[], groupIds: readonly string[]): Promise<string[]> {
    const out = new Set(userIds);
    if (groupIds.length > 0) {
      const rows = await tx.query<{ id: string }>(
        `WITH RECURSIVE sub(id) AS (
           SELECT unnest($1::text[])
           UNION
           SELECT m.member_id FROM scim_memberships m JOIN sub ON m.group_id = sub.id WHERE m.member_type = 'Group'
         )
         SELECT DISTINCT m.member_id AS id FROM scim_memberships m JOIN sub ON m.group_id = sub.id WHERE m.member_type = 'User'`,
        [groupIds],
      );
      for (const r of rows) out.add(r.id);
    }
    return [...out];
  }

  async function subjectsOf(tx: SqlExecutor, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await tx.query<{ user_name: string; external_id: string | null; emails_lc: string[] }>('SELECT user_name, external_id, emails_lc FROM scim_users WHERE id = ANY($1::text[])', [userIds]);
    return lower(rows.flatMap((r) => userSubjects({ userName: r.user_name, externalId: r.external_id ?? undefined, emails: r.emails_lc })));
  }

  async function reauthRevocation(
    tx: SqlExecutor,
    policy: ProvisioningPolicy,
    userIds: readonly string[],
    groupIds: readonly string[],
    ops: IndexOp[],
  ): Promise<DirectoryChange['revocation']> {
    if (policy.identityUpdateBehavior !== 'reauth' || (userIds.length === 0 && groupIds.length === 0)) return undefined;
    const subjects = await subjectsOf(tx, await affectedUsers(tx, userIds, groupIds));
    if (subjects.length === 0) return undefined;
    const notBefore = nowSeconds();
    await revoke(tx, 'subject', subjects, notBefore);
    ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
    return { subjects, notBefore, reason: 'reauth' };
  }

  function revocationOf(subjects: string[], notBefore: number, reason: RevocationReason): NonNullable<DirectoryChange['revocation']> {
    return { subjects, notBefore, reason };
  }

  // ---------------------------------------------------------------- users

  /**
   * One page of a table. `keys` become indexed SQL equalities; a residual `match`
   * runs in memory over keyset-paged scans (bounded memory), on resources built by
   * `toResources` (groups load their members there, so a members filter can match).
   * Paging values are bind parameters, so the statement text stays the same.
   */
  async function queryTable<Row extends UserRow | GroupRow>(
    table: 'scim_users' | 'scim_groups',
    q: ResourceQuery,
    toResources: (rows: Row[]) => Promise<StoredResource[]>,
  ): Promise<{ total: number; resources: StoredResource[] }> {
    const columns = table === 'scim_users' ? USER_COLUMNS : GROUP_COLUMNS;
    const where: string[] = [];
    const params: unknown[] = [];
    for (const key of q.keys ?? []) where.push(keyClause(table, key, params));
    const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const count = Number.isSafeInteger(q.count) && q.count > 0 ? q.count : 0;
    const offset = Number.isSafeInteger(q.startIndex) && q.startIndex > 1 ? q.startIndex - 1 : 0;
    const page = `LIMIT $${params.length + 1} OFFSET $${params.length + 2}`;
    if (!q.match) {
      if (q.keys?.some((k) => k.field === 'id' || k.field === (table === 'scim_users' ? 'userName' : 'displayName'))) {
        // A unique key (Entra's matching queries): at most one row, so no count, sort or window.
        const rows = await driver.query<Row>(`SELECT ${columns} FROM ${table} ${cond}`, params);
        return { total: rows.length, resources: offset === 0 && count > 0 ? await toResources(rows) : [] };
      }
      if (count > 0 && where.length > 0) {
        // Other index look-ups answer rows and total in one round trip.
        const rows = await driver.query<Row & { total_count: string | number }>(`SELECT ${columns}, count(*) OVER () AS total_count FROM ${table} ${cond} ORDER BY id ${page}`, [...params, count, offset]);
        if (rows.length > 0 || offset === 0) return { total: Number(rows[0]?.total_count ?? 0), resources: await toResources(rows) };
      }
      const [countRow] = await driver.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table} ${cond}`, params);
      const rows = count > 0 ? await driver.query<Row>(`SELECT ${columns} FROM ${table} ${cond} ORDER BY id ${page}`, [...params, count, offset]) : [];
      return { total: Number(countRow?.n ?? 0), resources: await toResources(rows) };
    }
    let total = 0;
    const resources: StoredResource[] = [];
    let after = '';
    for (;;) {
      const pageParams = [...params, after];
      const rows = await driver.query<Row>(`SELECT ${columns} FROM ${table} ${cond ? `${cond} AND` : 'WHERE'} id > $${pageParams.length} ORDER BY id LIMIT ${SCAN_PAGE}`, pageParams);
      for (const resource of await toResources(rows)) {
        if (!q.match(resource)) continue;
        if (total >= offset && resources.length < count) resources.push(resource);
        total++;
      }
      if (rows.length < SCAN_PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    return { total, resources };
  }

  function keyClause(table: 'scim_users' | 'scim_groups', key: IndexedKey, params: unknown[]): string {
    const add = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    switch (key.field) {
      case 'id':
        return `id = ${add(key.value)}`;
      case 'externalId':
        return `external_id = ${add(key.value)}`;
      case 'userName':
        return table === 'scim_users' ? `user_name_lc = ${add(userNameKey(key.value))}` : 'false';
      case 'email':
        return table === 'scim_users' ? `emails_lc @> ARRAY[${add(key.value.toLowerCase())}::text]` : 'false';
      case 'workEmail':
        return table === 'scim_users' ? `work_email_lc = ${add(key.value.toLowerCase())}` : 'false';
      case 'displayName':
        return table === 'scim_groups' ? `display_name_lc = ${add(key.value.toLowerCase())}` : `lower(display_name) = ${add(key.value.toLowerCase())}`;
    }
  }

  /**
   * Locks a user row: `FOR UPDATE` to delete it; `FOR NO KEY UPDATE` to change
   * attributes, which does not wait for group writes adding the user (they hold
   * `FOR KEY SHARE`).
   */
  async function lockUser(tx: SqlExecutor, id: string, mode: 'UPDATE' | 'NO KEY UPDATE'): Promise<UserRow> {
    const [row] = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE id = $1 FOR ${mode}`, [id]);
    return row ?? notFound('User', id);
  }

  function userWriteParams(id: string, c: UserColumns, attributes: JsonObject, at: string): unknown[] {
    return [id, c.userName, userNameKey(c.userName), c.externalId ?? null, c.displayName ?? null, c.active, lower(c.emails), c.workEmail?.toLowerCase() ?? null, JSON.stringify(attributes), at];
  }

  /**
   * Logs the write of a live user fused with `data` and with the removal of the tombstones it
   * matches; a `userName` taken case-insensitively is `ERR_SCIM_UNIQUENESS`.
   */
  async function logUserWrite(log: Logger, change: PendingChange, ops: IndexOp[], data: Statement, c: UserColumns, keys: TombstoneKeys): Promise<void> {
    const drop = dropTombstonesStatement(keys);
    try {
      await (drop ? log(change, ops, drop, data) : log(change, ops, data));
    } catch (err) {
      uniqueness(err, `a user with userName \`${c.userName}\` exists`);
    }
  }

  /** PUT and PATCH share this: deactivation drives `user_deprovision` and `seat_deprovision`. */
  async function updateUser(id: string, next: (current: UserRow) => JsonObject, operation: 'replace' | 'patch', ctx: WriteContext | undefined): Promise<WriteResult> {
    const policy = ctx?.provisioning ?? NO_LIFECYCLE;
    return write(async (tx, log, at) => {
      // Deactivation may remove the seat (a delete), which needs the stronger lock.
      const current = await lockUser(tx, id, policy.seatDeprovision ? 'UPDATE' : 'NO KEY UPDATE');
      const attributes = next(current);
      const c = userColumns(attributes);
      const before = userRowColumns(current);
      const changed = changedAttributes(current.resource, attributes);
      const ops: IndexOp[] = [];
      const change: PendingChange = { resourceType: 'User', resourceId: id, operation, changedAttributes: changed };
      const deactivated = before.active && !c.active;
      if (deactivated && policy.userDeprovision) {
        const subjects = lower([...userSubjects(before), ...userSubjects(c)]);
        const notBefore = nowSeconds();
        await revoke(tx, 'subject', subjects, notBefore);
        ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
        change.revocation = revocationOf(subjects, notBefore, 'user_deprovision');
        if (policy.seatDeprovision) {
          // The seat goes; a tombstone remembers it (the keys Entra sent last, and every email either held).
          const last = { userName: c.userName, externalId: c.externalId ?? before.externalId, emails: [...new Set([...c.emails, ...before.emails])] };
          ops.push({ op: 'removeUser', id }, { op: 'user', user: toTombstone(id, last) });
          change.seatRemoved = true;
          await log(
            change,
            ops,
            { sql: 'DELETE FROM scim_memberships WHERE member_id = $1', params: [id] },
            { sql: 'DELETE FROM scim_users WHERE id = $1', params: [id] },
            tombstoneStatement(id, last, at),
          );
          return undefined;
        }
      }
      // A PATCH that changes nothing (Entra re-sends values every cycle) writes and publishes nothing.
      if (changed.length === 0 && ops.length === 0) return toStored(current);
      ops.push({ op: 'user', user: toDirectoryUser(id, c) });
      // The row is locked, so the new version is known: nothing is read back.
      await logUserWrite(log, change, ops, {
        sql: `UPDATE scim_users SET user_name = $2, user_name_lc = $3, external_id = $4, display_name = $5, active = $6, emails_lc = $7::text[],
           work_email_lc = $8, resource = $9::jsonb, updated_at = $10, version = version + 1 WHERE id = $1`,
        params: userWriteParams(id, c, attributes, at),
      }, c, newKeys(tombstoneKeys(before), tombstoneKeys(c)));
      return { id, attributes, created: current.created_at, lastModified: at, version: Number(current.version) + 1 };
    });
  }

  const users: UserRepository = {
    async get(id) {
      const [row] = await driver.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE id = $1`, [id]);
      return row ? toStored(row) : undefined;
    },
    async query(q): Promise<ResourcePage> {
      const { total, resources } = await queryTable('scim_users', q, async (rows: UserRow[]) => rows.map(toStored));
      return { totalResults: total, resources };
    },
    create(attributes, ctx) {
      void ctx;
      const c = userColumns(attributes);
      const id = randomUUID();
      // One statement: the row, the event and the notification commit together.
      return write(async (tx, log, at) => {
        await logUserWrite(
          log,
          { resourceType: 'User', resourceId: id, operation: 'create', changedAttributes: Object.keys(attributes) },
          [{ op: 'user', user: toDirectoryUser(id, c) }],
          {
            sql: `INSERT INTO scim_users (id, user_name, user_name_lc, external_id, display_name, active, emails_lc, work_email_lc, resource, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9::jsonb, $10, $10)`,
            params: userWriteParams(id, c, attributes, at),
          },
          c,
          tombstoneKeys(c),
        );
        return { id, attributes, created: at, lastModified: at, version: 1 };
      }, 'statement');
    },
    replace: (id, attributes, ctx) => updateUser(id, () => attributes, 'replace', ctx),
    update: (id, mutate, ctx) => updateUser(id, (row) => mutate(toStored(row)), 'patch', ctx),
    delete(id, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      return write(async (tx, log, at) => {
        const current = await lockUser(tx, id, 'UPDATE');
        const groups = await tx.query<{ group_id: string }>('DELETE FROM scim_memberships WHERE member_id = $1 RETURNING group_id', [id]);
        const ops: IndexOp[] = [];
        const columns = userRowColumns(current);
        // INVARIANT: a deleted user is remembered (a tombstone, in this transaction), so the identity
        // pipeline refuses them rather than treating them as unknown.
        const data: Statement[] = [{ sql: 'DELETE FROM scim_users WHERE id = $1', params: [id] }, tombstoneStatement(id, columns, at)];
        const change: PendingChange = { resourceType: 'User', resourceId: id, operation: 'delete', changedAttributes: [] };
        // Deleting a user also changes its memberships, so `reauth` revokes as `user_deprovision` does.
        const reason: RevocationReason | undefined = policy.userDeprovision ? 'user_deprovision' : policy.identityUpdateBehavior === 'reauth' && groups.length > 0 ? 'reauth' : undefined;
        if (reason) {
          const subjects = userSubjects(columns);
          const notBefore = nowSeconds();
          data.push(revokeStatement('subject', subjects, notBefore));
          ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
          change.revocation = revocationOf(subjects, notBefore, reason);
        }
        ops.push({ op: 'removeUser', id }, { op: 'user', user: toTombstone(id, columns) });
        await log(change, ops, ...data);
        return undefined;
      });
    },
  };

  // ---------------------------------------------------------------- groups

  async function loadMembers(ids: readonly string[]): Promise<Map<string, StoredMember[]>> {
    const out = new Map<string, StoredMember[]>();
    if (ids.length === 0) return out;
    const rows = await driver.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships WHERE group_id = ANY($1::text[]) ORDER BY member_id', [ids]);
    for (const r of rows) {
      let list = out.get(r.group_id);
      if (!list) out.set(r.group_id, (list = []));
      list.push({ value: r.member_id, type: r.member_type });
    }
    return out;
  }

  async function withMembers(rows: GroupRow[], members: boolean | undefined): Promise<StoredResource[]> {
    const resources = rows.map(toStored);
    if (!members) return resources;
    const map = await loadMembers(rows.map((r) => r.id));
    for (const r of resources) r.members = map.get(r.id) ?? [];
    return resources;
  }

  async function lockGroup(tx: SqlExecutor, id: string): Promise<GroupRow> {
    const [row] = await tx.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1 FOR UPDATE`, [id]);
    return row ?? notFound('Group', id);
  }

  /**
   * Adds members in one statement; unknown ids are refused so a typo never becomes
   * a dangling edge. Returns the members actually added, by type.
   *
   * INVARIANT: the member rows are locked `FOR KEY SHARE` (as a foreign key would),
   * so a concurrent delete of a member waits for this write and then removes the
   * new edge with it: no membership outlives its user or group.
   */
  async function addMembers(tx: SqlExecutor, groupId: string, ids: readonly string[]): Promise<StoredMember[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    if (unique.includes(groupId)) {
      throw new ScimError('ERR_SCIM_INVALID_VALUE', `group \`${groupId}\` cannot be a member of itself`, { scimType: 'invalidValue' });
    }
    const known = await tx.query<{ id: string; type: 'User' | 'Group'; added: boolean }>(
      `WITH u AS (SELECT id FROM scim_users WHERE id = ANY($2::text[]) FOR KEY SHARE),
            g AS (SELECT id FROM scim_groups WHERE id = ANY($2::text[]) FOR KEY SHARE),
            k AS (SELECT id, 'User'::text AS type FROM u UNION ALL SELECT id, 'Group'::text AS type FROM g),
            ins AS (INSERT INTO scim_memberships (group_id, member_id, member_type) SELECT $1, id, type FROM k
                    ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id)
       SELECT k.id, k.type, ins.member_id IS NOT NULL AS added FROM k LEFT JOIN ins ON ins.member_id = k.id`,
      [groupId, unique],
    );
    if (known.length < unique.length) {
      // The transaction rolls back, and the rows inserted for the known ids with it.
      const found = new Set(known.map((k) => k.id));
      const missing = unique.find((id) => !found.has(id)) ?? '';
      throw new ScimError('ERR_SCIM_INVALID_VALUE', `member \`${missing}\` is not a known user or group`, { scimType: 'invalidValue' });
    }
    return known.filter((k) => k.added).map((k) => ({ value: k.id, type: k.type }));
  }

  async function removeMembers(tx: SqlExecutor, groupId: string, ids: readonly string[] | 'all'): Promise<StoredMember[]> {
    const rows =
      ids === 'all'
        ? await tx.query<{ member_id: string; member_type: 'User' | 'Group' }>('DELETE FROM scim_memberships WHERE group_id = $1 RETURNING member_id, member_type', [groupId])
        : ids.length === 0
          ? []
          : await tx.query<{ member_id: string; member_type: 'User' | 'Group' }>(
              'DELETE FROM scim_memberships WHERE group_id = $1 AND member_id = ANY($2::text[]) RETURNING member_id, member_type',
              [groupId, [...new Set(ids)]],
            );
    return rows.map((r) => ({ value: r.member_id, type: r.member_type }));
  }

  /** Applies member ops in order and returns the net delta (a member added then removed in one request is neither). */
  async function applyMemberOps(tx: SqlExecutor, groupId: string, memberOps: readonly MemberOp[]): Promise<{ added: StoredMember[]; removed: StoredMember[] }> {
    const added = new Map<string, StoredMember>();
    const removed = new Map<string, StoredMember>();
    const noteAdded = (ms: StoredMember[]): void => {
      for (const m of ms) if (!removed.delete(m.value)) added.set(m.value, m);
    };
    const noteRemoved = (ms: StoredMember[]): void => {
      for (const m of ms) if (!added.delete(m.value)) removed.set(m.value, m);
    };
    for (const op of memberOps) {
      switch (op.op) {
        case 'add':
          noteAdded(await addMembers(tx, groupId, op.ids));
          break;
        case 'remove':
          noteRemoved(await removeMembers(tx, groupId, op.ids));
          break;
        case 'removeAll':
          noteRemoved(await removeMembers(tx, groupId, 'all'));
          break;
        case 'set': {
          const want = new Set(op.ids);
          const current = await tx.query<{ member_id: string }>('SELECT member_id FROM scim_memberships WHERE group_id = $1', [groupId]);
          noteRemoved(await removeMembers(tx, groupId, current.map((r) => r.member_id).filter((m) => !want.has(m))));
          noteAdded(await addMembers(tx, groupId, [...want]));
          break;
        }
        case 'removeWhere': {
          const current = await tx.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships WHERE group_id = $1', [groupId]);
          const ids = current.filter((r) => op.match({ value: r.member_id, type: r.member_type })).map((r) => r.member_id);
          noteRemoved(await removeMembers(tx, groupId, ids));
          break;
        }
      }
    }
    return { added: [...added.values()], removed: [...removed.values()] };
  }

  /** Records the member delta, revokes under `reauth`, and logs the event fused with `data` (a `displayName` taken is `ERR_SCIM_UNIQUENESS`). */
  async function finishGroupWrite(
    tx: SqlExecutor,
    log: Logger,
    policy: ProvisioningPolicy,
    change: PendingChange,
    ops: IndexOp[],
    groupId: string,
    delta: { added: StoredMember[]; removed: StoredMember[] },
    data: { statement: Statement; displayName: string } | undefined,
  ): Promise<void> {
    if (delta.added.length > 0 || delta.removed.length > 0) {
      change.members = { added: delta.added.map((m) => m.value), removed: delta.removed.map((m) => m.value) };
      if (!change.changedAttributes.includes('members')) change.changedAttributes.push('members');
      ops.push({ op: 'members', groupId, add: change.members.added, remove: change.members.removed });
      const all = [...delta.added, ...delta.removed];
      const revocation = await reauthRevocation(
        tx,
        policy,
        all.filter((m) => m.type === 'User').map((m) => m.value),
        all.filter((m) => m.type === 'Group').map((m) => m.value),
        ops,
      );
      if (revocation) change.revocation = revocation;
    }
    // A write that changes nothing writes and publishes nothing.
    if (ops.length === 0) return;
    if (!data) return log(change, ops);
    try {
      await log(change, ops, data.statement);
    } catch (err) {
      uniqueness(err, `a group with displayName \`${data.displayName}\` exists`);
    }
  }

  function groupWriteStatement(id: string, c: GroupColumns, attributes: JsonObject, at: string, insert: boolean): Statement {
    return {
      sql: insert
        ? `INSERT INTO scim_groups (id, display_name, display_name_lc, external_id, email, resource, created_at, updated_at) VALUES ($1, $2, $3, $4, $7, $5::jsonb, $6, $6)`
        : `UPDATE scim_groups SET display_name = $2, display_name_lc = $3, external_id = $4, email = $7, resource = $5::jsonb, updated_at = $6, version = version + 1 WHERE id = $1`,
      params: [id, c.displayName, c.displayName.toLowerCase(), c.externalId ?? null, JSON.stringify(attributes), at, c.email ?? null],
    };
  }

  /**
   * Entra's member PATCH (`Add` of many members, no lifecycle revocation) as one
   * autocommit statement: lock the group, lock and classify the members, insert
   * the new edges, touch the group, append the event and notify. When a member is
   * unknown the statement inserts nothing, and the write is refused. When every
   * member is already there it changes nothing and publishes nothing.
   *
   * INVARIANT: same locks as the general path (group `FOR UPDATE`, members
   * `FOR KEY SHARE`), so concurrent PATCHes of one group serialise and lose no member.
   */
  function addMembersInOneStatement(id: string, ids: readonly string[]): Promise<WriteResult> {
    const unique = [...new Set(ids)];
    if (unique.includes(id)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `group \`${id}\` cannot be a member of itself`, { scimType: 'invalidValue' });
    return write(async (tx, _log, at, record) => {
      const change: PendingChange = { resourceType: 'Group', resourceId: id, operation: 'patch', changedAttributes: ['members'], members: { added: [], removed: [] } };
      const ops: IndexOp[] = [{ op: 'members', groupId: id, add: [], remove: [] }];
      const params: unknown[] = [id, unique, at, JSON.stringify({ ...change, instance: instanceId }), JSON.stringify(ops)];
      if (channel) params.push(channel, `:${instanceId}`);
      const [row] = await tx.query<{ grp: GroupRow | null; known: [string, 'User' | 'Group', boolean][] | null; event_id: string | null }>(
        `WITH g AS (SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1 FOR UPDATE),
              u AS (SELECT id FROM scim_users WHERE id = ANY($2::text[]) FOR KEY SHARE),
              sg AS (SELECT id FROM scim_groups WHERE id = ANY($2::text[]) FOR KEY SHARE),
              k AS (SELECT id, 'User'::text AS type FROM u UNION ALL SELECT id, 'Group'::text AS type FROM sg),
              ok AS (SELECT 1 FROM g WHERE (SELECT count(*) FROM k) = cardinality($2::text[])),
              ins AS (INSERT INTO scim_memberships (group_id, member_id, member_type) SELECT $1, k.id, k.type FROM k, ok
                      ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id),
              t AS (UPDATE scim_groups SET updated_at = $3, version = version + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)),
              a AS (SELECT jsonb_agg(member_id) AS ids FROM ins),
              e AS (INSERT INTO scim_events (at, change, ops)
                    SELECT $3, jsonb_set($4::jsonb, '{members,added}', a.ids), jsonb_set($5::jsonb, '{0,add}', a.ids) FROM a WHERE a.ids IS NOT NULL RETURNING id)
         SELECT (SELECT row_to_json(g) FROM g) AS grp,
                (SELECT json_agg(json_build_array(k.id, k.type, ins.member_id IS NOT NULL)) FROM k LEFT JOIN ins ON ins.member_id = k.id) AS known,
                (SELECT e.id::text FROM e) AS event_id${channel ? ', (SELECT pg_notify($6, e.id::text || $7) FROM e) AS notified' : ''}`,
        params,
      );
      const grp = row?.grp ?? notFound('Group', id);
      const known = row?.known ?? [];
      if (known.length < unique.length) {
        const found = new Set(known.map(([k]) => k));
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `member \`${unique.find((m) => !found.has(m)) ?? ''}\` is not a known user or group`, { scimType: 'invalidValue' });
      }
      const resource = toStored(grp);
      if (!row?.event_id) return resource;
      const added = known.filter(([, , isNew]) => isNew).map(([m]) => m);
      change.members = { added, removed: [] };
      ops[0] = { op: 'members', groupId: id, add: added, remove: [] };
      record(row.event_id, change, ops);
      return { ...resource, lastModified: at, version: resource.version + 1 };
    }, 'statement');
  }

  async function updateGroup(
    id: string,
    attributes: ((current: StoredResource) => JsonObject) | undefined,
    memberOps: readonly MemberOp[],
    operation: 'replace' | 'patch',
    ctx: WriteContext | undefined,
  ): Promise<WriteResult> {
    const policy = ctx?.provisioning ?? NO_LIFECYCLE;
    if (!attributes && memberOps.length > 0 && memberOps.every((m) => m.op === 'add') && policy.identityUpdateBehavior !== 'reauth') {
      return addMembersInOneStatement(id, memberOps.flatMap((m) => (m.op === 'add' ? m.ids : [])));
    }
    return write(async (tx, log, at) => {
      // INVARIANT: the row lock serialises concurrent writes of one group, so no member add is lost.
      const row = await lockGroup(tx, id);
      const ops: IndexOp[] = [];
      const change: PendingChange = { resourceType: 'Group', resourceId: id, operation, changedAttributes: [] };
      let next: { attributes: JsonObject; columns: ReturnType<typeof groupColumns> } | undefined;
      if (attributes) {
        const candidate = attributes(toStored(row));
        const columns = groupColumns(candidate);
        change.changedAttributes = changedAttributes(row.resource, candidate);
        if (change.changedAttributes.length > 0) next = { attributes: candidate, columns };
      }
      const delta = await applyMemberOps(tx, id, memberOps);
      const touched = next !== undefined || delta.added.length > 0 || delta.removed.length > 0;
      let data: { statement: Statement; displayName: string } | undefined;
      if (next) {
        ops.push({ op: 'group', group: toDirectoryGroup(id, next.columns) });
        data = { statement: groupWriteStatement(id, next.columns, next.attributes, at, false), displayName: next.columns.displayName };
      } else if (touched) {
        data = { statement: { sql: 'UPDATE scim_groups SET updated_at = $2, version = version + 1 WHERE id = $1', params: [id, at] }, displayName: row.display_name };
      }
      await finishGroupWrite(tx, log, policy, change, ops, id, delta, data);
      // The row is locked, so what it now holds is known: nothing is read back.
      return {
        id,
        attributes: next?.attributes ?? row.resource,
        created: row.created_at,
        lastModified: touched ? at : row.updated_at,
        version: Number(row.version) + (touched ? 1 : 0),
      };
    });
  }

  const groups: GroupRepository = {
    async get(id, options) {
      const rows = await driver.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1`, [id]);
      return (await withMembers(rows, options?.members))[0];
    },
    async query(q) {
      const { total, resources } = await queryTable('scim_groups', q, (rows: GroupRow[]) => withMembers(rows, q.members));
      return { totalResults: total, resources };
    },
    create(attributes, memberIds, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      const c = groupColumns(attributes);
      const id = randomUUID();
      const change = (): PendingChange => ({ resourceType: 'Group', resourceId: id, operation: 'create', changedAttributes: Object.keys(attributes) });
      const ops = (): IndexOp[] => [{ op: 'group', group: toDirectoryGroup(id, c) }];
      const created = (at: string, members: StoredMember[]): StoredResource => ({ id, attributes, created: at, lastModified: at, version: 1, members });
      if (memberIds.length === 0) {
        // Entra creates groups empty: one statement for the row, the event and the notification.
        return write(async (tx, log, at) => {
          await finishGroupWrite(tx, log, policy, change(), ops(), id, { added: [], removed: [] }, { statement: groupWriteStatement(id, c, attributes, at, true), displayName: c.displayName });
          return created(at, []);
        }, 'statement');
      }
      return write(async (tx, log, at) => {
        const insert = groupWriteStatement(id, c, attributes, at, true);
        try {
          await tx.query(insert.sql, insert.params);
        } catch (err) {
          uniqueness(err, `a group with displayName \`${c.displayName}\` exists`);
        }
        const added = await addMembers(tx, id, memberIds);
        await finishGroupWrite(tx, log, policy, change(), ops(), id, { added, removed: [] }, undefined);
        return created(at, [...added].sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0)));
      });
    },
    replace: (id, attributes, memberIds, ctx) => updateGroup(id, () => attributes, [{ op: 'set', ids: memberIds }], 'replace', ctx),
    update: (id, change, ctx) => updateGroup(id, change.attributes, change.members ?? [], 'patch', ctx),
    delete(id, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      return write(async (tx, log) => {
        await lockGroup(tx, id);
        const ops: IndexOp[] = [];
        const change: PendingChange = { resourceType: 'Group', resourceId: id, operation: 'delete', changedAttributes: [] };
        // Everyone under the group loses it (and its ancestors): computed before the edges go.
        const revocation = await reauthRevocation(tx, policy, [], [id], ops);
        if (revocation) change.revocation = revocation;
        await tx.query('DELETE FROM scim_memberships WHERE group_id = $1 OR member_id = $1', [id]);
        await tx.query('DELETE FROM scim_groups WHERE id = $1', [id]);
        ops.push({ op: 'removeGroup', id });
        await log(change, ops);
        return undefined;
      });
    },
  };

  // ---------------------------------------------------------------- session identities

  /**
   * Logout: deletes the identity row and, only when there was one, appends an
   * `Identity` deletion event and notifies, in one autocommit statement (so the
   * other instances hear of exactly the deletions that committed). The event's ops
   * carry the nonce (for the other caches); the published change does not.
   */
  async function removeIdentity(nonce: string): Promise<void> {
    await write(async (tx, _log, at, record) => {
      const change: PendingChange = { resourceType: 'Identity', operation: 'delete', changedAttributes: [] };
      const ops: IndexOp[] = [{ op: 'forgetIdentity', nonce }];
      const params: unknown[] = [nonce, at, JSON.stringify({ ...change, instance: instanceId }), JSON.stringify(ops)];
      if (channel) params.push(channel, `:${instanceId}`);
      const [row] = await tx.query<{ event_id: string | null }>(
        `WITH d AS (DELETE FROM session_identities WHERE nonce = $1 RETURNING 1),
              e AS (INSERT INTO scim_events (at, change, ops) SELECT $2, $3::jsonb, $4::jsonb WHERE EXISTS (SELECT 1 FROM d) RETURNING id)
         SELECT (SELECT e.id::text FROM e) AS event_id${channel ? ', (SELECT pg_notify($5, e.id::text || $6) FROM e) AS notified' : ''}`,
        params,
      );
      if (row?.event_id) record(row.event_id, change, ops);
      return undefined;
    }, 'statement');
  }

  // ---------------------------------------------------------------- revocations

  function checkNotBefore(notBefore: number): void {
    if (!Number.isSafeInteger(notBefore) || notBefore < 0) {
      throw new ConfigError('ERR_CONFIG_INVALID', `revocation \`notBefore\` must be Unix seconds, got \`${String(notBefore)}\``);
    }
  }

  const revocations = {
    async revokeUser(subjects: readonly string[], notBefore: number): Promise<void> {
      checkNotBefore(notBefore);
      const keys = lower(subjects.filter((s): s is string => typeof s === 'string'));
      if (keys.length === 0) return;
      await write(async (tx, log) => {
        await revoke(tx, 'subject', keys, notBefore);
        await log(
          { resourceType: 'Revocation', operation: 'revoke', changedAttributes: [], revocation: { subjects: keys, notBefore, reason: 'api' } },
          [{ op: 'revoke', kind: 'subject', keys, notBefore }],
        );
        return undefined;
      });
    },
    async revokeApp(appId: string, notBefore: number): Promise<void> {
      checkNotBefore(notBefore);
      const key = typeof appId === 'string' ? appId.trim().toLowerCase() : '';
      if (key === '') throw new ConfigError('ERR_CONFIG_INVALID', 'revocation `appId` must be a non-empty string');
      await write(async (tx, log) => {
        await revoke(tx, 'app', [key], notBefore);
        await log(
          { resourceType: 'Revocation', operation: 'revoke', changedAttributes: [], revocation: { subjects: [], appId: key, notBefore, reason: 'api' } },
          [{ op: 'revoke', kind: 'app', keys: [key], notBefore }],
        );
        return undefined;
      });
    },
    // A revocation held here answers `true` even when stale (revocations only move forward);
    // a "no" from an instance that may have missed writes is `'unknown'`.
    isRevoked: (session: RevocationQuery): boolean | 'unknown' => revocationSet.isRevoked(session) || (isFresh() ? false : 'unknown'),
  };

  return {
    driver: driver.kind,
    index,
    users,
    groups,
    revocations,
    identities,
    async prune() {
      assertOpen();
      const nowMs = now();
      const before = new Date(nowMs - retention.eventsMaxAgeSeconds * 1000).toISOString();
      try {
        // ISO 8601 UTC strings of one format order as text; "C" keeps the locale out of it.
        const [events] = await driver.query<{ n: string | number }>('WITH d AS (DELETE FROM scim_events WHERE at COLLATE "C" < $1 RETURNING 1) SELECT count(*) AS n FROM d', [before]);
        // Expired when `now >= expires_at` in seconds, as `get` judges it (`expires_at` is an integer).
        const [expired] = await driver.query<{ n: string | number }>('WITH d AS (DELETE FROM session_identities WHERE expires_at <= $1 RETURNING 1) SELECT count(*) AS n FROM d', [
          Math.floor(nowMs / 1000),
        ]);
        let revocations = 0;
        if (retention.revocationsMaxAgeSeconds !== undefined) {
          const cutoff = Math.floor(nowMs / 1000) - retention.revocationsMaxAgeSeconds;
          // A revocation raised concurrently has a recent `notBefore`, so the re-checked WHERE keeps it.
          const [deleted] = await driver.query<{ n: string | number }>('WITH d AS (DELETE FROM scim_revocations WHERE not_before < $1 RETURNING 1) SELECT count(*) AS n FROM d', [cutoff]);
          revocations = Number(deleted?.n ?? 0);
          revocationSet.prune(cutoff);
        }
        return { events: Number(events?.n ?? 0), revocations, identities: Number(expired?.n ?? 0) };
      } catch (err) {
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store prune failed', { cause: err });
      }
    },
    isFresh,
    assertFresh() {
      if (!isFresh()) {
        throw new StoreError(
          'ERR_STORE_STALE',
          `the directory store is not in sync with postgresql: nothing heard from it within \`${maxStalenessMs}\` ms, or a reload is pending`,
          { headers: { 'Retry-After': '1' } },
        );
      }
    },
    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      synced = false;
      clearTimeout(resyncTimer);
      clearInterval(heartbeatTimer);
      await queue.catch(() => undefined);
      await driver.close();
    },
  };
}
