/*
 * The store's diagnostics channels (published from here, the edge, never from the pure core).
 */
import diagnostics from 'node:diagnostics_channel';
import type { DirectoryChange } from './types.js';

/**
 * The diagnostics channel every committed directory change (local or remote) is
 * published on, as a {@link DirectoryChange}; never a secret or a request body.
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { SCIM_CHANGE_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(SCIM_CHANGE_CHANNEL, (change) => console.log(change));
 * ```
 */
export const SCIM_CHANGE_CHANNEL = 'entragate:scim:change';
export const changeChannel = diagnostics.channel(SCIM_CHANGE_CHANNEL);

/**
 * The diagnostics channel of a PostgreSQL store's freshness transitions:
 * `{ state: 'stale', reason }` when the instance may have missed writes — `reason` is
 * `'heartbeat'` (its own heartbeat not heard back within `maxStalenessMs`: the listener
 * is half-open or the server is unreachable), `'listener'` (the listener connection
 * failed) or `'event'` (a notified event could not be read) — and `{ state: 'fresh' }`
 * once it has reloaded. While stale, `store.isFresh()` is false.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { STALENESS_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(STALENESS_CHANNEL, (message) => console.log(message));
 * ```
 */
export const STALENESS_CHANNEL = 'entragate:store:staleness';
export const stalenessChannel = diagnostics.channel(STALENESS_CHANNEL);
/** Why a store went stale (see {@link STALENESS_CHANNEL}). */
export type StalenessReason = 'heartbeat' | 'listener' | 'event';
