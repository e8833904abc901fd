/**
 * `entragate/login`: Entra ID login (authorization code + PKCE) and Cloudflare
 * Access-style sessions with per-user and per-app revocation.
 *
 * @packageDocumentation
 */
export { createLogin, getIdentityJson } from './login.js';
export type { Login, Authenticated, AuthenticatedBearer, GetIdentityResponse, IssuedSession } from './login.js';
export type {
  LoginOptions,
  LoginKeysOptions,
  LoginSigningKey,
  LoginVerificationKey,
  LoginCookieOptions,
  LoginSessionCacheOptions,
  EntraLogoutOptions,
} from './options.js';
export type { LoginStartOptions, LoginPrompt, ClaimsRequest } from './parameters.js';
export type { AuthenticatedSession, SessionClaims } from './session.js';
export { createMemoryRevocationList, type MemoryRevocationList, type MemoryRevocationListOptions, type RevocationList } from '../session/revocation.js';
export { createMemoryIdentityStore, type IdentityStore, type SessionIdentity, type MemoryIdentityStoreOptions } from '../session/identity-store.js';
export { parseGoDuration, resolveSessionDuration, type SessionDurations } from '../config/duration.js';
export type { RequestLike, HeaderBag } from '../http/request.js';
export type { SessionAlgorithm, KeyMaterial } from './keys.js';
export { LOGIN_CHANNEL_NAMES } from './diagnostics.js';
export type { ClientCertificate } from '../credentials/client-credential.js';
