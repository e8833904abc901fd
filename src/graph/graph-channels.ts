/** The `node:diagnostics_channel` channels the Graph source publishes on: their public names and the channels. */
import diagnostics from 'node:diagnostics_channel';

/**
 * The `node:diagnostics_channel` channels the Graph source publishes on. Messages never hold a token or a secret.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { GRAPH_CHANNEL_NAMES } from 'entragate/graph';
 *
 * diagnostics.subscribe(GRAPH_CHANNEL_NAMES.throttled, (m) => console.warn('graph throttled', m));
 * ```
 */
export const GRAPH_CHANNEL_NAMES = {
  /** Every HTTP attempt: `{ target: 'graph' | 'token', method, host, path, status, attempt, durationMs }` (`status` 0 = no response). */
  request: 'entragate:graph:request',
  /** A 429/503 that will be retried: `{ target, status, retryAfterMs, attempt }`. */
  throttled: 'entragate:graph:throttled',
  /** A per-user cache miss: `{ oid }`. */
  cacheMiss: 'entragate:graph:cache-miss',
} as const;

/** The channels themselves (one object per name, shared with any subscriber). */
export const channels = {
  request: diagnostics.channel(GRAPH_CHANNEL_NAMES.request),
  throttled: diagnostics.channel(GRAPH_CHANNEL_NAMES.throttled),
  cacheMiss: diagnostics.channel(GRAPH_CHANNEL_NAMES.cacheMiss),
};
