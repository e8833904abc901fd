export type { VerifiedToken, VerifyOptions } from './verifier.js';
export { resolveEmail } from './identity.js';
