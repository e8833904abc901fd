/**
 * `entragate/graph`: resolve a user's groups (nested ones included) with
 * Microsoft Graph, with paging, throttling, timeouts and a per-user cache.
 *
 * @packageDocumentation
 */
export { createGraphGroupSource, GRAPH_CHANNEL_NAMES, type GraphGroupSource } from './graph-source.js';
export type { GraphGroupSourceOptions, GraphGateConfig, GraphCacheOptions, GraphCloud } from './options.js';
export type { ClientCertificate, AccessTokenCredential } from '../credentials/client-credential.js';
