/**
 * Cloudflare Access in front of the app: the verifier of the application token Cloudflare sends
 * (`Cf-Access-Jwt-Assertion`), the helper that reads it from a request, and the get-identity group source.
 */
export { createAccessVerifier, type AccessVerifier, type AccessVerifierOptions } from './verifier.js';
export { accessAssertionOf, ACCESS_ASSERTION_HEADER, ACCESS_COOKIE, type AccessRequestHeaders } from './assertion.js';
export {
  createAccessIdentityGroupSource,
  ACCESS_IDENTITY_CHANNEL,
  type AccessGroupSourceContext,
  type AccessIdentityGroupSourceOptions,
} from './identity-source.js';
export { accessServiceTokenContext } from './service-token.js';
export { ACCESS_ASSERTION, type AccessAssertion, type AccessIdentity, type AccessServiceAssertion, type AccessUserAssertion } from './types.js';
