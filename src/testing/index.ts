/**
 * `entragate/testing`: a local mock Entra ID (discovery, JWKS, token, authorize),
 * a mock Microsoft Graph, and token minting. It loads with no optional peer
 * installed; the fast-check arbitraries are in `entragate/testing/arbitraries`.
 *
 * @packageDocumentation
 */
export * from './mock-entra.js';
export * from './mock-graph.js';
export * from './mock-entra-login.js';
export * from './mock-cloudflare.js';
export * from './certificates.js';
