import { ConfigError } from '../errors/index.js';
import { RevocationSet, type RevocationQuery } from './revocation-set.js';

export type { RevocationQuery } from './revocation-set.js';

/**
 * Session revocations as the hot path reads them: per user (every session of a
 * subject issued at or before a time) and per app. The directory store's
 * `store.revocations` satisfies this interface (durable, shared across instances);
 * `createMemoryRevocationList` is the single-process default.
 */
export interface RevocationList {
  /** Revokes every session of these subjects (lower-cased `oid` and emails) issued at or before `notBefore` (Unix seconds). */
  revokeUser(subjects: readonly string[], notBefore: number): void | Promise<void>;
  /** Revokes every session of an app (its AUD tag) issued at or before `notBefore` (Unix seconds). */
  revokeApp(appId: string, notBefore: number): void | Promise<void>;
  /**
   * Synchronous, in-memory check: `true` when a subject or the app has a revocation
   * with `issuedAt <= notBefore + toleranceSeconds` (default 60 s, the gate's clock
   * tolerance: an issuer clock running ahead stamps a credential issued before the
   * revocation with a later `iat`; and a session issued in the same second as a
   * revocation is revoked, as seconds cannot order the two).
   *
   * `'unknown'` when the list cannot say: the directory store's list answers it while
   * it has not heard from PostgreSQL within its staleness bound. Callers answer 503
   * (never an allow); note that `'unknown'` is truthy, so `if (list.isRevoked(q))`
   * already fails closed.
   */
  isRevoked(session: RevocationQuery): boolean | 'unknown';
}

/** The in-memory list: a {@link RevocationList} that can also forget old revocations. */
export interface MemoryRevocationList extends RevocationList {
  revokeUser(subjects: readonly string[], notBefore: number): void;
  revokeApp(appId: string, notBefore: number): void;
  /** Always knows: one process, nothing to go stale. */
  isRevoked(session: RevocationQuery): boolean;
  /** Forgets revocations older than `maxAgeSeconds` now, and returns how many are left. */
  prune(): number;
}

/** Options of {@link createMemoryRevocationList}. */
export interface MemoryRevocationListOptions {
  /**
   * Revocations whose `notBefore` is older than this many seconds are forgotten (checked as
   * revocations are added, and by `prune()`). Set it above the longest lifetime of any session or
   * token checked against the list: a session issued before a forgotten revocation is no longer
   * revoked. Absent (the default): revocations are kept for the life of the process.
   */
  maxAgeSeconds?: number;
  /** Clock in ms. @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * Creates an in-memory revocation list for one process, with the same rules as the
 * directory store's (one implementation): revocations only ever move forward in time
 * (a later `notBefore` replaces an earlier one, never the reverse), subjects and apps
 * compare case-insensitively, a credential issued up to `toleranceSeconds` (default 60)
 * after a revocation counts as revoked, and a session with no valid `issuedAt` counts as revoked.
 * It is not shared between instances and does not survive a restart: use the
 * directory store's `revocations` for that.
 *
 * @example
 * ```ts
 * import { createMemoryRevocationList } from 'entragate/login';
 * const revocations = createMemoryRevocationList({ maxAgeSeconds: 7 * 86_400 });
 * revocations.revokeUser(['ada@contoso.com'], Math.floor(Date.now() / 1000));
 * revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 0 }); // true
 * // An `iat` up to 60 s after the revocation (an issuer clock ahead of ours) is revoked too:
 * revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: Math.floor(Date.now() / 1000) + 40 }); // true
 * ```
 */
export function createMemoryRevocationList(options: MemoryRevocationListOptions = {}): MemoryRevocationList {
  const { maxAgeSeconds } = options;
  if (maxAgeSeconds !== undefined && !(Number.isFinite(maxAgeSeconds) && maxAgeSeconds > 0)) {
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid revocation list configuration: `maxAgeSeconds` must be a positive number of seconds');
  }
  const now = options.now ?? Date.now;
  const set = new RevocationSet();
  let lastPrune = now();
  const prune = (): number => {
    lastPrune = now();
    if (maxAgeSeconds !== undefined) set.prune(lastPrune / 1000 - maxAgeSeconds);
    return set.size;
  };
  const add = (kind: 'subject' | 'app', key: string, notBefore: number): void => {
    // The same error as the store's revocations give.
    if (!Number.isFinite(notBefore)) throw new ConfigError('ERR_CONFIG_INVALID', `revocation \`notBefore\` must be Unix seconds, got \`${String(notBefore)}\``);
    if (key.length > 0) set.add(kind, key.toLowerCase(), notBefore);
    // Pruning walks the list: at most once per tenth of the retention, never on the read path.
    if (maxAgeSeconds !== undefined && now() - lastPrune >= maxAgeSeconds * 100) prune();
  };
  return {
    revokeUser(subjects, notBefore) {
      for (const subject of subjects) add('subject', subject, notBefore);
    },
    revokeApp(appId, notBefore) {
      add('app', appId, notBefore);
    },
    isRevoked: (session) => set.isRevoked(session),
    prune,
  };
}
