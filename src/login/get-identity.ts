import type { Identity } from '../types.js';
import type { AuthenticatedSession } from './session.js';

/**
 * Cloudflare's get-identity JSON for a session (`/cdn-cgi/access/get-identity`), with
 * entragate's `membership` so a caller knows whether `groups` is complete.
 */
export interface GetIdentityResponse {
  email: string;
  name?: string;
  user_uuid: string;
  idp: { id: string; type: 'azureAD' };
  amr: string[];
  groups: Array<{ id: string; name?: string; email?: string }>;
  oidc_fields: Record<string, unknown>;
  /** When the session was issued (Unix seconds). */
  iat: number;
  geo?: { country: string };
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
