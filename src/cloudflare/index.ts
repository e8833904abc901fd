/**
 * Cloudflare Access in front of the app: the verifier of the application token Cloudflare sends
 * (`Cf-Access-Jwt-Assertion`), the helper that reads it from a request, and the get-identity group source.
 */
export { createAccessVerifier, type AccessVerifier, type AccessVerifierOptions } from './verifier.js';
export { ACCESS_ASSERTION, type AccessAssertion, type AccessIdentity, type AccessServiceAssertion, type AccessUserAssertion } from './types.js';
