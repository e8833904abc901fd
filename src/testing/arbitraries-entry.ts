/**
 * `entragate/testing/arbitraries`: fast-check arbitraries for identities, request
 * contexts, Access policies, rule groups and Gateway rules, drawn from one shared
 * {@link PolicyUniverse}. fast-check is an optional peer: install it
 * (`npm install -D fast-check`) to use this subpath; `entragate/testing` does not
 * need it.
 *
 * @packageDocumentation
 */
export * from './arbitraries.js';
