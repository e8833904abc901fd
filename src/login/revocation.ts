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
   * Synchronous, in-memory check: true when a subject or the app has a revocation
   * with `notBefore >= issuedAt`. A session issued in the same second as a
   * revocation is revoked, as seconds cannot order the two.
   */
  isRevoked(session: { subjects: readonly string[]; appId?: string; issuedAt: number }): boolean;
}

/**
 * Creates an in-memory revocation list for one process. Revocations only ever move
 * forward in time (a later `notBefore` replaces an earlier one, never the reverse).
 * It is not shared between instances and does not survive a restart: use the
 * directory store's `revocations` for that.
 *
 * @example
 * ```ts
 * import { createMemoryRevocationList } from 'entragate/login';
 * const revocations = createMemoryRevocationList();
 * revocations.revokeUser(['ada@contoso.com'], Math.floor(Date.now() / 1000));
 * revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 0 }); // true
 * ```
 */
export function createMemoryRevocationList(): RevocationList {
  const users = new Map<string, number>();
  const apps = new Map<string, number>();
  const raise = (map: Map<string, number>, key: string, notBefore: number): void => {
    if (!Number.isFinite(notBefore)) throw new TypeError('`notBefore` must be a finite number of Unix seconds');
    const previous = map.get(key);
    if (previous === undefined || previous < notBefore) map.set(key, notBefore);
  };
  return {
    revokeUser(subjects, notBefore) {
      for (const subject of subjects) if (subject.length > 0) raise(users, subject.toLowerCase(), notBefore);
    },
    revokeApp(appId, notBefore) {
      raise(apps, appId, notBefore);
    },
    isRevoked({ subjects, appId, issuedAt }) {
      // INVARIANT: an empty list answers in two map lookups at most per subject; no I/O on the request path.
      if (appId !== undefined && apps.size > 0) {
        const app = apps.get(appId);
        if (app !== undefined && app >= issuedAt) return true;
      }
      if (users.size === 0) return false;
      for (const subject of subjects) {
        const at = users.get(subject);
        if (at !== undefined && at >= issuedAt) return true;
      }
      return false;
    },
  };
}
