/*
 * How this instance's memory (index, revocations, identity cache) follows the directory: events
 * applied once each, in commit order, only after their commit; notifications heard through
 * LISTEN and read in order; a reload when an event may have been missed; and freshness, the
 * bound past which an instance that has not heard from PostgreSQL answers "unknown".
 *
 * The cross-instance consistency rules of the store live here, each marked `INVARIANT:` where it
 * is kept:
 * - an event changes an instance's memory only after its commit (the event log calls `apply`
 *   after the commit returns; other instances read committed events only);
 * - an event is applied at most once per instance, whoever heard of it first (`markApplied`);
 * - notifications are applied one at a time, in the order the server delivers them: commit order;
 * - a reload never loses a write applied while its snapshot was read;
 * - an event this instance was told of and could not read makes it stale, drops its identity
 *   cache, and is recovered by a reload retried until it succeeds;
 * - an instance is fresh only while it has heard its own heartbeat within `maxStalenessMs`, and
 *   only after a reload that started after its last loss (`lose`).
 * One write is one event, and the index never changes before the commit: see `event-log.ts`.
 */
import { changeChannel, stalenessChannel, type StalenessReason } from './channels.js';
import type { IndexOp, PendingChange, StoreContext } from './context.js';
import type { ListenerHandle } from './driver.js';
import type { IdentityCacheControl } from './identities.js';
import { APPLIED_MEMORY, applyIndexOps, loadSnapshot, readSnapshot } from './sync-snapshot.js';
import type { DirectoryChange } from './types.js';

/** After a failed reload (an event could not be read), the next attempt waits this long. */
const RESYNC_RETRY_MS = 1000;

/** The staleness bound and heartbeat of a PostgreSQL instance. */
export interface HeartbeatOptions {
  maxStalenessMs: number;
  heartbeatMs: number;
}

/** How a store instance keeps its memory in step with the directory. */
export interface Sync {
  /**
   * Applies a committed event here, once (a second call with the same id does nothing), and
   * publishes its change. Returns the change either way.
   */
  apply(id: string, stored: PendingChange & { at: string; instance?: string }, ops: readonly IndexOp[]): DirectoryChange;
  /** Runs a local write while remembering it is in flight (its own notification waits for it). */
  track<T>(write: Promise<T>): Promise<T>;
  /** See `DirectoryStore.isFresh`. */
  isFresh(): boolean;
  /** See `DirectoryStore.onChange`. */
  onChange(listener: (change: DirectoryChange) => void): () => void;
  /** Listens (PostgreSQL), loads the snapshot, then starts the heartbeat. */
  start(): Promise<void>;
  /** Stops the timers and waits for the notification queue; the instance is stale from then on. */
  close(): Promise<void>;
}

/** Builds the sync of one store instance. */
export function createSync(ctx: StoreContext, identityCache: IdentityCacheControl, heartbeat: HeartbeatOptions | undefined): Sync {
  const { driver, channel, instanceId, now, isClosed } = ctx;
  const listeners = new Set<(change: DirectoryChange) => void>();
  // Event ids already applied here (local writes and notifications); bounded, oldest dropped first.
  const applied = new Set<string>();

  // ---------------------------------------------------------------- freshness (PostgreSQL)

  const maxStalenessMs = heartbeat?.maxStalenessMs ?? Number.POSITIVE_INFINITY;
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
  // (The `'stale'` event is published by the heartbeat tick, within `heartbeatMs` of the bound passing:
  // deciding it here too would re-lose a reload whose own heartbeats are still queued behind it.)
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

  // ---------------------------------------------------------------- applying events

  // INVARIANT: an event is applied at most once here, whether its own write, a notification or a reload saw it first.
  const markApplied = (id: string): boolean => {
    if (applied.has(id)) return false;
    applied.add(id);
    if (applied.size > APPLIED_MEMORY) {
      const oldest = applied.values().next().value;
      if (oldest !== undefined) applied.delete(oldest);
    }
    return true;
  };

  const applyOps = (ops: readonly IndexOp[]): void => applyIndexOps(ctx, identityCache, ops);

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
    if (channel && epoch === lossEpoch && listening && !isClosed()) {
      synced = true;
      if (startedAt > freshAsOf) freshAsOf = startedAt;
      publishStaleness('fresh');
    }
  }

  async function reload(during: readonly { id: string; ops: readonly IndexOp[] }[]): Promise<void> {
    const snapshot = await readSnapshot(driver);
    // The snapshot's events are marked applied below without their ops: right for the index and
    // revocations (the snapshot holds their effect), not for identity deletions, whose effect is on
    // caches. A deletion it counts may have committed after an identity was cached here (after a
    // resync, while this reload waited): drop the cache, and keep reads in flight from filling it.
    identityCache.invalidate();
    loadSnapshot(ctx, snapshot);
    // INVARIANT: a write applied here while the snapshot was read, and committed after it, is
    // applied again on top of the snapshot: replacing the index never loses a write or a revocation.
    const inSnapshot = new Set(snapshot.recent.map((r) => r.id));
    for (const ev of during) if (!inSnapshot.has(ev.id)) applyOps(ev.ops);
    for (const r of snapshot.recent.reverse()) markApplied(r.id);
  }

  // INVARIANT: notifications are handled one at a time, in the order the server delivers them (commit order).
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
    if (isClosed() || resyncPending) return;
    resyncPending = true;
    enqueue(async () => {
      try {
        await loadAll();
        resyncPending = false;
      } catch {
        resyncPending = false;
        if (!isClosed()) resyncTimer = setTimeout(resync, RESYNC_RETRY_MS).unref();
      }
    });
  }

  async function fetchEvent(id: string): Promise<void> {
    if (isClosed() || applied.has(id)) return;
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
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;

  async function start(): Promise<void> {
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
    if (channel && heartbeat && listener) {
      const handle = listener;
      let restartedAt = Number.NEGATIVE_INFINITY;
      let sending: { at: number } | undefined;
      const tick = (): void => {
        if (isClosed()) return;
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
      heartbeatTimer = setInterval(tick, heartbeat.heartbeatMs);
      heartbeatTimer.unref();
    }
  }

  return {
    apply: applyEvent,
    async track<T>(write: Promise<T>): Promise<T> {
      inflight.add(write);
      try {
        return await write;
      } finally {
        inflight.delete(write);
      }
    },
    isFresh,
    onChange(l) {
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },
    start,
    async close() {
      synced = false;
      clearTimeout(resyncTimer);
      clearInterval(heartbeatTimer);
      await queue.catch(() => undefined);
    },
  };
}
