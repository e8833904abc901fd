/**
 * entragate: Microsoft Entra ID in a Node.js app, with Cloudflare Access and
 * Gateway semantics.
 *
 * @packageDocumentation
 */
export * from './errors/index.js';
export type * from './types.js';
export * from './config/index.js';
export * from './token/index.js';
export * from './gate.js';
export { CHANNEL_NAMES } from './diagnostics.js';
export * from './groups/index.js';
export * from './directory/index.js';
export * from './policy/index.js';
export * from './cloudflare/index.js';
