/**
 * `entragate/testing`: a local mock Entra ID (discovery, JWKS, token, authorize, Graph),
 * token minting, and fast-check arbitraries for identities and policies.
 *
 * @packageDocumentation
 */
export * from './mock-entra.js';
export * from './arbitraries.js';
export * from './mock-graph.js';
export * from './mock-entra-login.js';
export * from './mock-cloudflare.js';
