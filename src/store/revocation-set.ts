/**
 * The in-memory revocation list every instance keeps: subject or app → the
 * latest `notBefore` (Unix seconds). Updated only from committed writes.
 */
export class RevocationSet {
  #subjects = new Map<string, number>();
  #apps = new Map<string, number>();

  add(kind: 'subject' | 'app', key: string, notBefore: number): void {
    const map = kind === 'subject' ? this.#subjects : this.#apps;
    const previous = map.get(key);
    // Revocations only move forward, so replaying an old event never shortens one.
    if (previous === undefined || previous < notBefore) map.set(key, notBefore);
  }

  /** Forgets revocations with `notBefore` before `cutoff` (retention; see `DirectoryStore.prune`). */
  prune(cutoff: number): void {
    for (const map of [this.#subjects, this.#apps]) for (const [key, notBefore] of map) if (notBefore < cutoff) map.delete(key);
  }

  /** How many subjects and apps have a revocation. */
  get size(): number {
    return this.#subjects.size + this.#apps.size;
  }

  clear(): void {
    this.#subjects.clear();
    this.#apps.clear();
  }

  /**
   * INVARIANT: fail closed. A session is revoked when a revocation's `notBefore`
   * is at or after its `issuedAt` (seconds cannot order a login and a revocation
   * in the same second), and a non-finite `issuedAt` counts as revoked.
   */
  isRevoked(session: { subjects: readonly string[]; appId?: string; issuedAt: number }): boolean {
    if (!Number.isFinite(session.issuedAt)) return true;
    // The common case on the hot path: nothing revoked in this process.
    if (this.#subjects.size === 0 && this.#apps.size === 0) return false;
    for (const subject of session.subjects) {
      if (typeof subject !== 'string') continue;
      const notBefore = this.#subjects.get(subject.toLowerCase());
      if (notBefore !== undefined && notBefore >= session.issuedAt) return true;
    }
    if (session.appId !== undefined) {
      const notBefore = this.#apps.get(session.appId.toLowerCase());
      if (notBefore !== undefined && notBefore >= session.issuedAt) return true;
    }
    return false;
  }
}
