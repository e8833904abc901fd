/** The Graph source's fail-fast windows: per tenant, how long after an outage its cache misses fail fast. */

/** Outage windows remembered at most (one per tenant); beyond it the oldest is forgotten (it only fails fast less). */
const MAX_OUTAGE_TENANTS = 1_000;

/** The open windows of one Graph source. */
export interface OutageWindows {
  /** How long (ms) the tenant's misses still fail fast, or `undefined` when its window is closed (a lapsed one is forgotten). */
  remaining(tenant: string): number | undefined;
  /** Opens the tenant's window for `outageBackoffMs` (nothing when it is 0). */
  open(tenant: string): void;
  /** Closes every window. */
  clear(): void;
}

/**
 * Per tenant (lowercase): while `now()` is before the value, that tenant's cache misses fail fast
 * (see `outageBackoffMs`). Per tenant, since Graph throttles per app and tenant and each tenant has
 * its own token endpoint: in a multi-tenant gate one tenant's outage must not make another's users unknown.
 */
export function createOutageWindows(outageBackoffMs: number, now: () => number): OutageWindows {
  const outages = new Map<string, number>();
  return {
    remaining(tenant) {
      const until = outages.get(tenant);
      if (until === undefined) return undefined;
      const left = until - now();
      if (left > 0) return left;
      outages.delete(tenant);
      return undefined;
    },
    open(tenant) {
      if (outageBackoffMs === 0) return;
      // Re-inserted so the map's order is the order windows opened in: the oldest goes first when full.
      outages.delete(tenant);
      if (outages.size >= MAX_OUTAGE_TENANTS) {
        const t = now();
        for (const [other, until] of outages) if (until <= t) outages.delete(other);
        if (outages.size >= MAX_OUTAGE_TENANTS) outages.delete(outages.keys().next().value as string);
      }
      outages.set(tenant, now() + outageBackoffMs);
    },
    clear() {
      outages.clear();
    },
  };
}
