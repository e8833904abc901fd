/**
 * `entragate/scim`: the SCIM 2.0 service provider for Entra provisioning, as a
 * fetch-style handler on the directory store.
 *
 * @example
 * ```ts
 * import { createScimHandler, toNodeListener } from 'entragate/scim';
 * const handler = createScimHandler({ store, gate, secrets: [process.env.SCIM_SECRET!] });
 * ```
 * @packageDocumentation
 */
export { createScimHandler, type ScimGate, type ScimHandler, type ScimHandlerOptions } from './handler.js';
export { toNodeListener } from './node-listener.js';
export { parseFilter, parsePatchPath, matchesFilter, FILTER_LIMITS, type AttrPath, type CompareOp, type ScimFilter } from './filter.js';
export { parsePatchRequest, applyPatch, planGroupPatch, MAX_PATCH_OPERATIONS, type PatchOperation, type ReadOnlyState } from './patch.js';
export { USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA } from './schema.js';
