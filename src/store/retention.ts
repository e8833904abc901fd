/*
 * Retention: what `store.prune()` deletes. Nothing is pruned behind the app's back.
 */
import { StoreError } from '../errors/index.js';
import type { StoreContext } from './context.js';
import type { RetentionOptions } from './options.js';
import type { PruneResult } from './types.js';

/**
 * Deletes event-log rows older than `eventsMaxAgeSeconds`, expired session identities and, only
 * when `revocationsMaxAgeSeconds` is set, revocations older than that (also in this instance's memory).
 */
export async function prune(ctx: StoreContext, retention: RetentionOptions): Promise<PruneResult> {
  const { driver, now, revocationSet, assertOpen } = ctx;
  assertOpen();
  const nowMs = now();
  const before = new Date(nowMs - retention.eventsMaxAgeSeconds * 1000).toISOString();
  try {
    // ISO 8601 UTC strings of one format order as text; "C" keeps the locale out of it.
    const [events] = await driver.query<{ n: string | number }>(
      'WITH d AS (DELETE FROM scim_events WHERE at COLLATE "C" < $1 RETURNING 1) SELECT count(*) AS n FROM d',
      [before],
    );
    // Expired when `now >= expires_at` in seconds, as `get` judges it (`expires_at` is an integer).
    const [expired] = await driver.query<{ n: string | number }>(
      'WITH d AS (DELETE FROM session_identities WHERE expires_at <= $1 RETURNING 1) SELECT count(*) AS n FROM d',
      [Math.floor(nowMs / 1000)],
    );
    let revocations = 0;
    if (retention.revocationsMaxAgeSeconds !== undefined) {
      const cutoff = Math.floor(nowMs / 1000) - retention.revocationsMaxAgeSeconds;
      // A revocation raised concurrently has a recent `notBefore`, so the re-checked WHERE keeps it.
      const [deleted] = await driver.query<{ n: string | number }>(
        'WITH d AS (DELETE FROM scim_revocations WHERE not_before < $1 RETURNING 1) SELECT count(*) AS n FROM d',
        [cutoff],
      );
      revocations = Number(deleted?.n ?? 0);
      revocationSet.prune(cutoff);
    }
    return { events: Number(events?.n ?? 0), revocations, identities: Number(expired?.n ?? 0) };
  } catch (err) {
    throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store prune failed', { cause: err });
  }
}
