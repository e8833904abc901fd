/**
 * How long after a revocation a credential still counts as revoked by default: the
 * gate's default `clockTolerance` (60 s).
 */
export const DEFAULT_TOLERANCE_SECONDS = 60;

/** A revocation question: is a credential of these subjects (and app), issued at `issuedAt` (Unix seconds), revoked? */
export interface RevocationQuery {
  /**
   * Every id the credential's user goes by (the Entra `oid`, else the `sub`, and the email), compared
   * case-insensitively: one revoked subject revokes the credential.
   */
  subjects: readonly string[];
  /** The AUD tag of the application the credential is for, so a `revokeApp` applies; absent: only user revocations are checked. */
  appId?: string;
  /** When the credential was issued (its `iat`, Unix seconds). */
  issuedAt: number;
  /**
   * A credential issued up to this many seconds after a revocation's `notBefore` counts as
   * revoked (the verifier's clock tolerance: the issuer's clock may run ahead of ours).
   * @defaultValue 60
   */
  toleranceSeconds?: number;
}

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
   * INVARIANT: fail closed. A session is revoked when it was issued at most
   * `toleranceSeconds` after a revocation's `notBefore` (`issuedAt <= notBefore + tolerance`):
   * an issuer clock ahead of this one within the verifier's clock tolerance stamps a
   * credential issued before the revocation with a later `iat`, and seconds cannot
   * order a login and a revocation in the same second anyway. A non-finite `issuedAt`,
   * or a tolerance that is not a number ≥ 0, counts as revoked.
   */
  isRevoked(session: RevocationQuery): boolean {
    if (!Number.isFinite(session.issuedAt)) return true;
    const tolerance = session.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (!(tolerance >= 0)) return true;
    // The common case on the hot path: nothing revoked in this process.
    if (this.#subjects.size === 0 && this.#apps.size === 0) return false;
    const since = session.issuedAt - tolerance;
    for (const subject of session.subjects) {
      if (typeof subject !== 'string') continue;
      const notBefore = this.#subjects.get(subject.toLowerCase());
      if (notBefore !== undefined && notBefore >= since) return true;
    }
    if (session.appId !== undefined) {
      const notBefore = this.#apps.get(session.appId.toLowerCase());
      if (notBefore !== undefined && notBefore >= since) return true;
    }
    return false;
  }
}
