import type { Identity } from '../types.js';
import type { AuthenticatedSession } from './session.js';

/**
 * Cloudflare's get-identity JSON for a session (`/cdn-cgi/access/get-identity`), with
 * entragate's `membership` so a caller knows whether `groups` is complete.
 */
export interface GetIdentityResponse {
  /** The session identity's email, resolved from the ID token as {@link Identity.email} says; `''` when none. */
  email: string;
  /** The user's display name (the ID token's `name` claim); absent when the token had none. */
  name?: string;
  /** The stable user id: the Entra `oid`, else the token's `sub` (as {@link Identity.user_uuid}). */
  user_uuid: string;
  /** The IdP the login verified the user against: its configured id (Cloudflare's IdP uuid) and `azureAD`. */
  idp: { id: string; type: 'azureAD' };
  /** The ID token's `amr` (`pwd`, `mfa`, …), copied; `[]` when it had none. */
  amr: string[];
  /**
   * The user's groups as the session's identity holds them (copies): the whole membership only when
   * `membership.state` is `complete`. A group's `name` and `email` appear only when its source knew them.
   */
  groups: Array<{ id: string; name?: string; email?: string }>;
  /** The ID token claims the IdP configuration's `claims` names, copied (a shallow copy: nested values are shared). */
  oidc_fields: Record<string, unknown>;
  /** When the session was issued (Unix seconds). */
  iat: number;
  /** The country the user logged in from (ISO 3166-1 alpha-2), when the login knew it; not this request's country. */
  geo?: { country: string };
  /** entragate's addition to Cloudflare's shape: whether `groups` is complete, and if not why (see {@link Identity.membership}). */
  membership: Identity['membership'];
}

/**
 * Builds Cloudflare's get-identity JSON from a verified session.
 *
 * @example
 * ```ts
 * import { getIdentityJson } from 'entragate/login';
 * const body = getIdentityJson(await login.authenticate(request));
 * console.log(body.groups.map((g) => g.id));
 * ```
 */
export function getIdentityJson(result: AuthenticatedSession): GetIdentityResponse {
  const i = result.identity;
  return {
    email: i.email,
    ...(i.name ? { name: i.name } : {}),
    user_uuid: i.user_uuid,
    idp: { id: i.idp.id, type: i.idp.type },
    amr: [...i.amr],
    groups: i.groups.map((g) => ({ ...g })),
    oidc_fields: { ...i.oidc_fields },
    iat: result.session.iat,
    ...(result.country ? { geo: { country: result.country } } : {}),
    membership: i.membership,
  };
}
