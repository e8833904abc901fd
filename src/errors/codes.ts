/**
 * Every stable error code entragate throws, with the HTTP status a request-facing
 * error maps to and one line of documentation. A test checks that each code is
 * thrown somewhere in `src/` and documented in the README.
 *
 * Add a code in the section of its area; never rename or reuse one.
 */
export const ERROR_CODES = {
  // configuration (thrown at construction, never at request time)
  ERR_CONFIG_INVALID: { status: 500, doc: 'an option or a configuration document failed validation' },

  // tokens
  ERR_TOKEN_MISSING: { status: 401, doc: 'no bearer token or session was presented' },
  ERR_TOKEN_MALFORMED: { status: 401, doc: 'the token is not a compact JWS with JSON header and payload' },
  ERR_TOKEN_TOO_LARGE: { status: 401, doc: 'the token is over the configured size cap' },
  ERR_TOKEN_ALG_NOT_ALLOWED: { status: 401, doc: 'the token is not signed with RS256' },
  ERR_TOKEN_HEADER_UNSUPPORTED: { status: 401, doc: 'the token header carries `crit`, `jku`, `x5u` or an embedded `jwk`' },
  ERR_TOKEN_GRAPH_TOKEN: { status: 401, doc: 'a Microsoft Graph access token was presented; it cannot be verified by an app' },
  ERR_TOKEN_KEY_NOT_FOUND: { status: 401, doc: 'no signing key with the token `kid` exists for the tenant, even after a refresh' },
  ERR_TOKEN_SIGNATURE_INVALID: { status: 401, doc: 'the signature does not verify with the signing key' },
  ERR_TOKEN_ISSUER_INVALID: { status: 401, doc: 'the `iss` claim, or the signing key issuer, does not match the tenant' },
  ERR_TOKEN_TENANT_NOT_ALLOWED: { status: 401, doc: 'the token tenant (`tid`) is not the configured directory or on the allow-list' },
  ERR_TOKEN_AUDIENCE_INVALID: { status: 401, doc: 'the `aud` claim is not the client id or an accepted audience' },
  ERR_TOKEN_EXPIRED: { status: 401, doc: 'the token `exp` is in the past (beyond the clock tolerance)' },
  ERR_TOKEN_NOT_YET_VALID: { status: 401, doc: 'the token `nbf` or `iat` is in the future (beyond the clock tolerance)' },
  ERR_TOKEN_VERSION_NOT_ALLOWED: { status: 401, doc: 'the token version (`ver` 1.0 or 2.0) is not accepted by this gate' },
  ERR_TOKEN_NONCE_MISMATCH: { status: 401, doc: 'the ID token `nonce` does not match the login request' },
  ERR_TOKEN_CLAIM_INVALID: { status: 401, doc: 'a required claim is missing or has the wrong type' },
  ERR_TOKEN_NOT_ACCESS_TOKEN: {
    status: 401,
    doc: 'a bearer token for a user carries no `scp`: it is an ID token (or another token that is not an access token for this API)',
  },
  ERR_SERVICE_TOKEN_INVALID: {
    status: 401,
    doc: 'the `CF-Access-Client-Id`/`CF-Access-Client-Secret` pair (or the `serviceTokenHeader` JSON) matches no configured service token, or is malformed',
  },
  ERR_JWKS_UNAVAILABLE: { status: 503, doc: 'the discovery document or JWKS could not be fetched and no cached key can serve' },

  // Cloudflare Access (the application token Cloudflare sends, and its get-identity endpoint). Token checks
  // Cloudflare shares with Entra reuse the `ERR_TOKEN_*` codes above (malformed, too large, alg, kid, signature,
  // issuer, audience, expired, not yet valid); the certs endpoint down is `ERR_JWKS_UNAVAILABLE`.
  ERR_ACCESS_ASSERTION_INVALID: {
    status: 401,
    doc: 'the Cloudflare Access assertion is not an application token for a user or a service token: `type` is not `app` (a global `org` token), or it names both or neither of `sub` and `common_name`',
  },
  ERR_ACCESS_ASSERTION_AMBIGUOUS: {
    status: 400,
    doc: 'the request carries two different Cloudflare Access assertions (the `Cf-Access-Jwt-Assertion` header and the `CF_Authorization` cookie, or either of them twice)',
  },
  ERR_ACCESS_IDENTITY_UNAVAILABLE: {
    status: 503,
    doc: "Cloudflare's get-identity could not be read (down, slow, not JSON, the wrong shape, or another user's identity): group membership is unknown",
  },
  ERR_ACCESS_IDENTITY_IDP_MISMATCH: {
    status: 403,
    doc: 'get-identity says the user signed in through another identity provider than the configured Entra login method: their groups are not known',
  },

  // groups
  ERR_DIRECTORY_USER_UNKNOWN: {
    status: 403,
    doc: 'the user is not in the directory (or matches it only across tenants): membership is unknown (not an outage)',
  },
  ERR_DIRECTORY_USER_INACTIVE: { status: 403, doc: 'the directory holds the user as deprovisioned (inactive, or deleted): no session and no bearer access' },
  ERR_GROUPS_UNAVAILABLE: { status: 503, doc: 'group membership could not be resolved (overage and Graph down, or no source)' },
  ERR_GRAPH_REQUEST_FAILED: { status: 503, doc: 'a Microsoft Graph request failed after retries' },
  ERR_GRAPH_FORBIDDEN: { status: 503, doc: 'Microsoft Graph refused the request (missing permission or consent)' },

  // policies
  ERR_POLICY_INVALID: { status: 500, doc: 'a policy, rule group or gateway rule is not valid' },
  ERR_POLICY_UNKNOWN_SELECTOR: { status: 500, doc: 'an Access rule uses a selector entragate does not know' },
  ERR_POLICY_GROUP_CYCLE: { status: 500, doc: 'rule groups reference each other in a cycle' },
  ERR_POLICY_GROUP_MISSING: { status: 500, doc: 'a rule references a rule group or list that is not configured' },
  ERR_EXPRESSION_SYNTAX: { status: 500, doc: 'a gateway expression does not parse' },
  ERR_EXPRESSION_TYPE: { status: 500, doc: 'a gateway expression uses a field or operator of the wrong type' },
  ERR_EXPRESSION_REGEX: { status: 500, doc: 'a `matches` pattern is invalid or cannot run in linear time' },
  ERR_ACCESS_DENIED: { status: 403, doc: 'the policies denied the request (adapters only; the core returns a decision)' },

  // adapters (request reading)
  ERR_INSUFFICIENT_SCOPE: {
    status: 403,
    doc: 'a `requiredScopes` / `scopeIncludesAny` check failed: the token `scp` lacks a required delegated scope, or is not a string (RFC 6750 §3.1 `insufficient_scope`)',
  },
  ERR_INSUFFICIENT_ROLE: { status: 403, doc: 'a `requiredRoles` check failed: the token `roles` lacks a required app role, or is not an array of strings' },
  ERR_CLAIM_CHECK_FAILED: {
    status: 403,
    doc: 'a `claimEquals` / `claimIncludes` / `claimCheck` check failed, or the request has no verified token claims to check (a session or a Cloudflare assertion)',
  },
  ERR_CONFIG_CLAIM_CHECK_UNPROTECTED: {
    status: 500,
    doc: 'a claim check ran on a request no `protect` or `authenticate` ran on before it (a wiring mistake: the check fails closed)',
  },
  ERR_AUTH_CONTEXT_REQUIRED: {
    status: 401,
    doc: 'the policies deny the request only for want of a Conditional Access authentication context: a claims challenge (`insufficient_claims`) for an API client, the login with the claims request for a browser',
  },
  ERR_REQUEST_INVALID: {
    status: 400,
    doc: 'the request is ambiguous: a credential header (`Authorization`, the service-token pair, `assertionHeader`, `serviceTokenHeader`), the `countryHeader` or the session cookie given twice (RFC 6750 §3.1 `invalid_request`)',
  },

  // SCIM
  ERR_SCIM_UNAUTHORIZED: { status: 401, doc: 'the SCIM bearer secret is missing or wrong' },
  ERR_SCIM_INVALID_SYNTAX: { status: 400, doc: 'the SCIM request body is not valid JSON or not the expected shape' },
  ERR_SCIM_INVALID_FILTER: { status: 400, doc: 'the SCIM `filter` does not parse or uses an unsupported attribute' },
  ERR_SCIM_INVALID_PATH: { status: 400, doc: 'a PATCH `path` does not parse or names an unknown attribute' },
  ERR_SCIM_INVALID_VALUE: { status: 400, doc: 'a SCIM attribute has a value of the wrong type' },
  ERR_SCIM_UNIQUENESS: { status: 409, doc: 'a user with that `userName` or a group with that `displayName` exists' },
  ERR_SCIM_NOT_FOUND: { status: 404, doc: 'the SCIM resource does not exist' },
  ERR_SCIM_TOO_LARGE: { status: 413, doc: 'the SCIM request body is over the size limit' },
  ERR_SCIM_METHOD_NOT_ALLOWED: { status: 405, doc: 'the HTTP method is not supported on that SCIM path' },
  ERR_SCIM_MUTABILITY: { status: 400, doc: "a SCIM PATCH or PUT tries to change a read-only attribute (`id`, `meta`, a user's `groups`)" },

  // store
  ERR_STORE_UNAVAILABLE: { status: 503, doc: 'the directory store cannot be reached or opened' },
  ERR_STORE_CONFLICT: { status: 503, doc: 'a store transaction failed after retries on serialization conflicts' },
  ERR_STORE_STALE: {
    status: 503,
    doc: 'the store has not heard from PostgreSQL within `maxStalenessMs` (or is reloading): revocations and memberships are unknown',
  },

  // login and sessions
  ERR_LOGIN_STATE_MISMATCH: { status: 400, doc: 'the login callback `state` is missing, forged, expired or reused' },
  ERR_LOGIN_IDP_ERROR: { status: 400, doc: 'Entra returned an `error` to the login callback' },
  ERR_LOGIN_EXCHANGE_FAILED: { status: 400, doc: 'the authorization code could not be exchanged (reused code, wrong verifier)' },
  ERR_SESSION_INVALID: { status: 401, doc: 'the session cookie is malformed or its signature does not verify' },
  ERR_SESSION_EXPIRED: { status: 401, doc: 'the session has expired' },
  ERR_SESSION_REVOKED: { status: 401, doc: 'the session was revoked (per user, per app, or by a SCIM event)' },
  ERR_LOGIN_ORIGIN_MISMATCH: { status: 403, doc: 'a sign-out was posted from another origin than the app (logout CSRF)' },
  ERR_LOGIN_PARAMETER_INVALID: {
    status: 400,
    doc: 'a login start parameter (`login_hint`, `domain_hint`, `prompt`) is malformed, not an OpenID Connect value, or given twice',
  },
  ERR_SESSION_RENEWAL_FAILED: {
    status: 401,
    doc: 'the session was past `renewAfterSeconds` and Entra refused to renew it (the user is disabled, blocked or signed out; the refresh token expired or was revoked): the session is ended',
  },
  ERR_SESSION_RENEWAL_UNAVAILABLE: {
    status: 503,
    doc: 'the session is due for renewal and Entra could not be reached (or failed): the session is not honoured until a renewal succeeds',
  },
  ERR_LOGIN_CLAIMS_INVALID: {
    status: 400,
    doc: 'the login `claims` request parameter is not a JSON object of `id_token`/`userinfo`/`access_token` requests, or is over 2048 bytes',
  },
} as const satisfies Record<string, { status: number; doc: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
