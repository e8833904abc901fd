/*
 * `openDirectoryStore`: composes the store's modules around one context — the event log
 * (`event-log.ts`), the sync with the other instances and the consistency rules (`sync.ts`),
 * users (`users.ts`, `tombstones.ts`), groups and memberships (`groups.ts`, `memberships.ts`),
 * revocations (`revocations.ts`), session identities (`identities.ts`) and retention
 * (`retention.ts`).
 */
import { randomUUID } from 'node:crypto';
import { createDirectoryIndex } from '../directory/index.js';
import { EntragateError, StoreError } from '../errors/index.js';
import type { StoreContext } from './context.js';
import { openPgliteDriver, openPostgresDriver, type SqlDriver } from './driver.js';
import { createEventLog } from './event-log.js';
import { createGroups } from './groups.js';
import { createIdentities, removeIdentity } from './identities.js';
import { migrate } from './migrations.js';
import { parseStoreOptions, type DirectoryStoreOptions, type RetentionOptions } from './options.js';
import { prune } from './retention.js';
import { RevocationSet } from '../session/revocation-set.js';
import { createRevocations } from './revocations.js';
import { createSync, type HeartbeatOptions, type Sync } from './sync.js';
import type { DirectoryStore } from './types.js';
import { createUsers } from './users.js';

export { SCIM_CHANGE_CHANNEL, STALENESS_CHANNEL, type StalenessReason } from './channels.js';
export type { DirectoryStoreOptions } from './options.js';

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
  const opts = parseStoreOptions(options);
  const now = opts.now ?? Date.now;
  return (async () => {
    const driver =
      opts.driver === 'pglite'
        ? await openPgliteDriver(opts.dataDir)
        : await openPostgresDriver(opts.connectionString, opts.schema, opts.poolSize, { keepAliveInitialDelayMs: opts.maxStalenessMs });
    const channel = opts.driver === 'postgres' ? `entragate_${opts.schema}`.slice(0, 63) : undefined;
    try {
      await migrate(driver, opts.driver === 'postgres' ? opts.schema : 'public');
      const heartbeat = opts.driver === 'postgres' ? { maxStalenessMs: opts.maxStalenessMs, heartbeatMs: opts.heartbeatMs } : undefined;
      return await createStore(driver, channel, now, opts.retention, opts.identities.cacheMax, heartbeat);
    } catch (err) {
      await driver.close().catch(() => undefined);
      throw err instanceof EntragateError ? err : new StoreError('ERR_STORE_UNAVAILABLE', 'directory store could not be opened', { cause: err });
    }
  })();
}

async function createStore(
  driver: SqlDriver,
  channel: string | undefined,
  now: () => number,
  retention: RetentionOptions,
  identityCacheMax: number,
  heartbeat: HeartbeatOptions | undefined,
): Promise<DirectoryStore> {
  let closed = false;
  const ctx: StoreContext = {
    driver,
    channel,
    instanceId: randomUUID(),
    now,
    index: createDirectoryIndex(),
    revocationSet: new RevocationSet(),
    isClosed: () => closed,
    assertOpen() {
      if (closed) throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store is closed');
    },
  };
  // The identity cache and the sync need each other (the cache asks for freshness, the sync
  // drops cached entries): the cache reads both through late-bound functions.
  let sync: Sync | undefined;
  const isFresh = (): boolean => sync!.isFresh();
  const { identities, control: identityCache } = createIdentities({
    sql: driver,
    now,
    cacheMax: identityCacheMax,
    assertOpen: ctx.assertOpen,
    remove: async (nonce) => {
      await removeIdentity(ctx, write, nonce);
    },
    replace: (nonce, json, expiresAt) => removeIdentity(ctx, write, nonce, { json, expiresAt }),
    isFresh,
  });
  sync = createSync(ctx, identityCache, heartbeat);
  const { write } = createEventLog(ctx, sync);
  const users = createUsers(ctx, write);
  const groups = createGroups(ctx, write);
  const revocations = createRevocations(ctx, write, sync.isFresh);
  await sync.start();
  const maxStalenessMs = heartbeat?.maxStalenessMs;

  return {
    driver: driver.kind,
    index: ctx.index,
    users,
    groups,
    revocations,
    identities,
    prune: () => prune(ctx, retention),
    isFresh: sync.isFresh,
    assertFresh() {
      if (!sync!.isFresh()) {
        throw new StoreError(
          'ERR_STORE_STALE',
          `the directory store is not in sync with postgresql: nothing heard from it within \`${maxStalenessMs}\` ms, or a reload is pending`,
          { headers: { 'Retry-After': '1' } },
        );
      }
    },
    onChange: sync.onChange,
    async close() {
      if (closed) return;
      closed = true;
      await sync!.close();
      await driver.close();
    },
  };
}
