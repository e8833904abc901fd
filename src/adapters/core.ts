/**
 * The framework-free core every adapter maps onto: the types, the `protect` options, the decision flow
 * (`protector.ts`), reading credentials (`credentials.ts`) and answering (`outcome.ts`).
 */
export type * from './types.js';
export { protectOptionsSchema, type AuthenticateOptions, type ProtectOptions, type ProtectRoutingOptions, type ServiceTokenCredential } from './options.js';
export { createProtector } from './protector.js';
export { certificateOf, headerOf, parseBearer } from './credentials.js';
export { identityJson } from './outcome.js';
