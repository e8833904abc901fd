import diagnostics from 'node:diagnostics_channel';
import { LRUCache } from 'lru-cache';
import { ConfigError, EntragateError, StoreError } from '../errors/index.js';
import type { SessionIdentity } from '../session/identity-store.js';
import type { SqlExecutor } from './driver.js';
import { MAX_NONCE, readSessionIdentity } from './identity-guard.js';
import type { SessionIdentities } from './types.js';

export { readSessionIdentity } from './identity-guard.js';
export { removeIdentity } from './identity-writes.js';

/**
 * The diagnostics channel of `store.identities`: `{ event: 'miss' }` when a session
 * check had to read the database (not in this instance's cache), and
 * `{ event: 'malformed', field }` when a stored row failed validation and was
 * treated as missing (`field` names the first bad field). Never a nonce or an identity.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { IDENTITY_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(IDENTITY_CHANNEL, (message) => console.log(message));
 * ```
 */
export const IDENTITY_CHANNEL = 'entragate:store:identity';
const identityChannel = diagnostics.channel(IDENTITY_CHANNEL);

const validNonce = (nonce: unknown): nonce is string => typeof nonce === 'string' && nonce.length > 0 && nonce.length <= MAX_NONCE;

/** What `createIdentities` needs from the store that owns it. */
export interface IdentitiesContext {
  sql: SqlExecutor;
  /** Clock in ms (the store's `now`). */
  now: () => number;
  /** Most identities cached in this process; 0 reads the database on every check. */
  cacheMax: number;
  /** Throws `ERR_STORE_UNAVAILABLE` when the store is closed. */
  assertOpen: () => void;
  /**
   * Deletes the row, appends a deletion event naming the nonce and notifies the
   * other instances, in one statement; applies the event here after the commit
   * (which calls {@link IdentityCacheControl.forget}).
   */
  remove: (nonce: string) => Promise<void>;
  /**
   * Replaces the row of a nonce that still has one (an `UPDATE`, never an insert), with the same event
   * as {@link remove} so the other instances drop their copy; `false` when there was no row.
   */
  replace: (nonce: string, json: string, expiresAt: number) => Promise<boolean>;
  /**
   * Whether the owning store is in sync with the other instances (see `DirectoryStore.isFresh`).
   * While it is not, a deletion may have been missed: the cache is neither read nor filled.
   */
  isFresh: () => boolean;
}

/** How the owning store keeps this instance's cache in step with the other instances. */
export interface IdentityCacheControl {
  /** A deletion event arrived (local or remote): drop the entry, and refuse a read of it in flight. */
  forget(nonce: string): void;
  /**
   * Events may have been missed (the notification connection was lost) or are
   * flowing again (`listening`): drop every entry, and keep reads in flight from
   * caching what they read. While not listening, nothing is cached.
   */
  reset(listening: boolean): void;
  /**
   * Deletion events may have been passed over (a reload counted them as applied, or
   * one could not be read): drop every entry, and keep reads in flight from caching
   * what they read. Listening is unchanged.
   */
  invalidate(): void;
}

interface Cached {
  value: SessionIdentity;
  /** `expires_at` in ms: never served at or after it. */
  expiresAt: number;
  /** When it was read or written (see `order` in {@link createIdentities}): an older read never overwrites it. */
  order: number;
}

interface Flight {
  promise: Promise<SessionIdentity | undefined>;
  /** A change of this nonce (a logout or a renewal's replacement) was heard while the row was being read. */
  changed: boolean;
}

/**
 * A read that heard a change of its nonce on every attempt gives up (ERR_STORE_UNAVAILABLE, 503) after
 * this many: each attempt needs another committed logout or renewal of that one session.
 */
const MAX_READS = 4;

/**
 * Builds `store.identities`. A hit in the bounded LRU answers synchronously
 * (no promise, no round trip); a miss reads one row, and concurrent misses of one
 * nonce share that read.
 */
export function createIdentities(ctx: IdentitiesContext): { identities: SessionIdentities; control: IdentityCacheControl } {
  const { sql, now } = ctx;
  const cache = ctx.cacheMax > 0 ? new LRUCache<string, Cached>({ max: ctx.cacheMax }) : undefined;
  /** The read a `get` of a nonce joins. */
  const shared = new Map<string, Flight>();
  /** Every read in progress (a fresh read is not joined), so that a change heard marks each of them. */
  const reading = new Map<string, Set<Flight>>();
  // Bumped whenever cached entries may be stale in bulk; a read that started under an older epoch is not cached.
  let epoch = 0;
  // Bumped at each read attempt and each write: what was read or written later wins the cache entry.
  let order = 0;
  let listening = true;

  const control: IdentityCacheControl = {
    forget(nonce) {
      cache?.delete(nonce);
      const flights = reading.get(nonce);
      if (flights) for (const flight of flights) flight.changed = true;
    },
    reset(isListening) {
      listening = isListening;
      control.invalidate();
    },
    invalidate() {
      epoch++;
      cache?.clear();
    },
  };

  function remember(nonce: string, value: SessionIdentity, expiresAt: number, since: number, at: number): void {
    // INVARIANT: only what was read while deletions were being heard is cached.
    if (cache === undefined || !listening || since !== epoch || !ctx.isFresh() || !(now() < expiresAt)) return;
    // A read that started before another one (or before a write) and ended after it holds the older row.
    const current = cache.peek(nonce);
    if (current !== undefined && current.order > at) return;
    cache.set(nonce, { value, expiresAt, order: at });
  }

  async function load(nonce: string, flight: Flight): Promise<SessionIdentity | undefined> {
    let flights = reading.get(nonce);
    if (flights === undefined) reading.set(nonce, (flights = new Set()));
    flights.add(flight);
    try {
      for (let attempt = 1; ; attempt++) {
        const since = epoch;
        const at = ++order;
        flight.changed = false;
        if (identityChannel.hasSubscribers) identityChannel.publish({ event: 'miss' });
        let rows: { identity: unknown; expires_at: string | number }[];
        try {
          rows = await sql.query('SELECT identity, expires_at FROM session_identities WHERE nonce = $1', [nonce]);
        } catch (cause) {
          throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be read', { cause });
        }
        // INVARIANT: a change of this session heard while its row was read (it committed before it was
        // heard) is read again, so the answer is the row as that change left it: a logout answers nothing,
        // a renewal its new record, and a record that is still there never answers "none" (a spurious 401).
        if (flight.changed) {
          if (attempt < MAX_READS) continue;
          throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity changed while it was being read: try again');
        }
        return accept(nonce, rows[0], since, at);
      }
    } finally {
      flights.delete(flight);
      if (flights.size === 0) reading.delete(nonce);
      if (shared.get(nonce) === flight) shared.delete(nonce);
    }
  }

  function accept(nonce: string, row: { identity: unknown; expires_at: string | number } | undefined, since: number, at: number): SessionIdentity | undefined {
    if (row === undefined) return undefined;
    const expiresAt = Number(row.expires_at) * 1000;
    // INVARIANT: an identity is never served at or after its session's exp.
    if (!(now() < expiresAt)) return undefined;
    const value = readSessionIdentity(row.identity);
    if (typeof value === 'string') {
      if (identityChannel.hasSubscribers) identityChannel.publish({ event: 'malformed', field: value });
      return undefined;
    }
    remember(nonce, value, expiresAt, since, at);
    return value;
  }

  const identities: SessionIdentities = {
    get(nonce, options) {
      ctx.assertOpen();
      if (!validNonce(nonce)) return undefined;
      const fresh = options?.fresh === true;
      // INVARIANT: a store that may have missed a logout elsewhere serves nothing from its cache.
      const hit = cache !== undefined && !fresh && ctx.isFresh() ? cache.get(nonce) : undefined;
      if (hit !== undefined) {
        if (now() < hit.expiresAt) return hit.value;
        cache!.delete(nonce);
        return undefined;
      }
      // A fresh read joins no read that started before it (that one may hold a row since replaced).
      const inFlight = fresh ? undefined : shared.get(nonce);
      if (inFlight !== undefined) return inFlight.promise;
      const flight: Flight = { promise: undefined as unknown as Flight['promise'], changed: false };
      shared.set(nonce, flight);
      flight.promise = load(nonce, flight);
      return flight.promise;
    },

    async set(nonce, value, expiresAt) {
      const { json, canonical } = toStore(nonce, value, expiresAt);
      const since = epoch;
      try {
        await sql.query('INSERT INTO session_identities (nonce, identity, expires_at) VALUES ($1, $2::json, $3)', [nonce, json, expiresAt]);
      } catch (cause) {
        // Never overwrite: a session already pointing at this nonce would start serving another identity.
        // No cause: the database's detail names the key (`Key (nonce)=(…) already exists`), and this says it all.
        if ((cause as { code?: unknown } | null)?.code === '23505')
          throw new StoreError('ERR_STORE_CONFLICT', 'an identity is already stored under this nonce');
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be stored', { cause });
      }
      remember(nonce, canonical, expiresAt * 1000, since, ++order);
    },

    async delete(nonce) {
      ctx.assertOpen();
      if (!validNonce(nonce)) return;
      try {
        await ctx.remove(nonce);
      } catch (cause) {
        if (cause instanceof EntragateError) throw cause;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be deleted', { cause });
      }
      // Also when there was no row to delete (and so no event): a deletion elsewhere may still be in flight to here.
      control.forget(nonce);
    },

    async replace(nonce, value, expiresAt) {
      const { json, canonical } = toStore(nonce, value, expiresAt);
      const since = epoch;
      let replaced: boolean;
      try {
        replaced = await ctx.replace(nonce, json, expiresAt);
      } catch (cause) {
        if (cause instanceof EntragateError) throw cause;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be replaced', { cause });
      }
      control.forget(nonce);
      if (replaced) remember(nonce, canonical, expiresAt * 1000, since, ++order);
      return replaced;
    },
  };

  /** The JSON of an identity to store and what reading it back gives (what every instance will see). */
  function toStore(nonce: string, value: SessionIdentity, expiresAt: number): { json: string; canonical: SessionIdentity } {
    ctx.assertOpen();
    if (!validNonce(nonce)) throw new ConfigError('ERR_CONFIG_INVALID', `an identity nonce must be a string of 1 to ${MAX_NONCE} characters`);
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw new ConfigError('ERR_CONFIG_INVALID', `an identity's \`expiresAt\` must be Unix seconds, got \`${String(expiresAt)}\``);
    }
    let json: string;
    let canonical: SessionIdentity | string;
    try {
      json = JSON.stringify(value);
      // What this instance caches is what every other instance will read back.
      canonical = readSessionIdentity(JSON.parse(json));
    } catch (cause) {
      throw new ConfigError('ERR_CONFIG_INVALID', 'the session identity to store is not JSON-serialisable', { cause });
    }
    if (typeof canonical === 'string') throw new ConfigError('ERR_CONFIG_INVALID', `the session identity to store is invalid at \`${canonical}\``);
    return { json, canonical };
  }
  return { identities, control };
}
