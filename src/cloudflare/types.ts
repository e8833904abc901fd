import type { Identity } from '../types.js';

/**
 * A user behind Cloudflare Access, as the application token describes them: an {@link Identity}
 * (so it goes through `gate.resolveIdentity`, `gate.authorize` and the adapters as any other), plus
 * the two claims only Cloudflare's token has.
 *
 * How the fields are filled from the token (Cloudflare's "Application token" reference):
 * - `email` is the token's `email` (verified by the IdP at login); `''` when the token has none.
 * - `user_uuid` and `sub` are the token's `sub`: Cloudflare's user id, "unique to an email address per
 *   account"; it changes when the user is removed and re-added. It is NOT the Entra object id.
 * - `idp` is the one configured (`idpId`): the token does not say which login method was used.
 * - `oid` is `''` unless `oidClaim` names a custom OIDC claim carrying the Entra object id; `tid` is `''`
 *   unless `tenantId` is configured. `ver` reads `'2.0'` (the token is not an Entra token: nothing reads
 *   it as a version here).
 * - `amr` is the token's `amr` when it has one (it usually has not: get-identity carries it), else `[]`;
 *   `oidc_fields` is the token's `custom` object (the custom SAML attributes or OIDC claims configured on
 *   the login method), else `{}`; `name` is absent (get-identity carries it).
 * - `groups` is `[]` and `membership` `{ state: 'absent' }`: the token holds no groups ("due to cookie
 *   size limits"). A group source (get-identity, the SCIM directory) completes it.
 */
export interface AccessIdentity extends Identity {
  /** Cloudflare's "cache key used to get the user's identity" (get-identity); `''` when the token has none. */
  identity_nonce: string;
  /** The ISO country the user authenticated from, at login (not the country of this request). */
  country?: string;
}

/** A verified assertion of a user (an identity-based login). */
export interface AccessUserAssertion {
  /** Tells a user's assertion from a service token's (`service`). */
  kind: 'user';
  /** The user as the token describes them, groups not yet resolved (`membership` is `absent`). */
  identity: AccessIdentity;
  /**
   * The verified claims, frozen. They also carry the assertion itself under {@link ACCESS_ASSERTION}
   * (a non-enumerable symbol: JSON, spreads and `Object.keys` never see it), for the get-identity source.
   */
  claims: Readonly<Record<string, unknown>>;
}

/**
 * A verified assertion of a service token (Cloudflare's Service Auth: `common_name` set, `sub` empty).
 * INVARIANT: never a user: there is no identity, and nothing here reads as one.
 */
export interface AccessServiceAssertion {
  /** Tells a service token's assertion from a user's (`user`). */
  kind: 'service';
  /** The service token's Client ID (`CF-Access-Client-Id`), as Cloudflare writes it in `common_name`. */
  commonName: string;
  /** When Cloudflare issued the assertion (its `iat`, Unix seconds). */
  iat: number;
  /** When the assertion expires (its `exp`, Unix seconds): past it, plus the clock tolerance, it is refused. */
  exp: number;
  /** The verified claims, frozen (with the assertion under {@link ACCESS_ASSERTION}, as for users). */
  claims: Readonly<Record<string, unknown>>;
}

/** What a verified Cloudflare Access assertion says: a user, or a service token. */
export type AccessAssertion = AccessUserAssertion | AccessServiceAssertion;

/**
 * The key under which a verified assertion's claims carry the assertion itself: a non-enumerable,
 * registered symbol (`Symbol.for('entragate.cloudflare-access.assertion')`), so it reaches a group
 * source through `GroupSourceContext.claims` without showing in a JSON body, a log, a spread copy or a
 * stored session. Only the verifier sets it, on claims it verified.
 */
export const ACCESS_ASSERTION: unique symbol = Symbol.for('entragate.cloudflare-access.assertion');
