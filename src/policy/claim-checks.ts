/**
 * Checks on a verified token's claims, for APIs protected with Entra's own controls: delegated scopes
 * (`scp`), app roles (`roles`), any claim. Pure and synchronous: no I/O, no clock, no framework; the
 * adapters (`requiredScopes` from `entragate/express`, `/koa`, `/fastify`) turn a failure into a 403.
 *
 * INVARIANT: a claim of the wrong shape (`scp` not a string, `roles` not an array of strings, `acrs`
 * not an array of strings) fails the check with a code, never passes it and never throws.
 */
import { ConfigError } from '../errors/index.js';

/**
 * The claims of an Entra access token (v1 or v2) as `auth.claims` carries them: the ones checks read,
 * typed, and every other claim as `unknown` (a token is input: read a claim, then check its type).
 * (Microsoft identity platform, "Access token claims reference".)
 */
export interface AccessTokenClaims {
  /** The audience: the API's client id or its Application ID URI (`api://…`). */
  readonly aud?: unknown;
  /** The issuer (the tenant's v1 or v2 issuer). */
  readonly iss?: unknown;
  /** The tenant the token was issued in. */
  readonly tid?: unknown;
  /** The caller's object id (the user, or the service principal of an app-only token). */
  readonly oid?: unknown;
  /** The subject: pairwise per application for a user, the service principal's id for an app-only token. */
  readonly sub?: unknown;
  /** Delegated scopes, space-separated (`"orders.read orders.write"`); absent on app-only tokens. */
  readonly scp?: unknown;
  /** App roles assigned to the user or the calling application. */
  readonly roles?: unknown;
  /** Conditional Access authentication contexts the token satisfies (`["c1"]`). */
  readonly acrs?: unknown;
  /** The calling client (v2 `azp`, v1 `appid`). */
  readonly azp?: unknown;
  /** The calling client on a v1 token. */
  readonly appid?: unknown;
  /** `app` on an app-only token (an optional claim). */
  readonly idtyp?: unknown;
  /** The token version: `1.0` or `2.0` (`accessTokenAcceptedVersion` of the API's registration). */
  readonly ver?: unknown;
  /** Expiry, Unix seconds. */
  readonly exp?: unknown;
  /** Issued at, Unix seconds. */
  readonly iat?: unknown;
  /** Not before, Unix seconds. */
  readonly nbf?: unknown;
  readonly [claim: string]: unknown;
}

/** Why a check failed: the code a 403 carries. */
export type ClaimCheckCode = 'ERR_INSUFFICIENT_SCOPE' | 'ERR_INSUFFICIENT_ROLE' | 'ERR_CLAIM_CHECK_FAILED';

/** The result of a claim check: `undefined` when it holds, else why not. */
export interface ClaimCheckFailure {
  /** The error code of the 403. */
  readonly code: ClaimCheckCode;
  /** Lower case, no token value: safe to show the client. */
  readonly message: string;
  /** The scopes the RFC 6750 §3.1 `scope` challenge parameter names (for scope checks). */
  readonly scope?: string;
}

/** One check over the claims of a verified token. Build one with the functions of this module. */
export interface ClaimCheck {
  /** What the check requires (`scopes orders.read`), for messages. */
  readonly description: string;
  /** `undefined` when the claims pass; a failure otherwise (never throws). */
  test(claims: Readonly<AccessTokenClaims> | undefined): ClaimCheckFailure | undefined;
}

/**
 * Whether the space-separated `scp` holds `scope` as a whole word (RFC 6749 §3.3: scopes are
 * space-delimited; Entra writes one space, v1 and v2 alike). Allocation-free: it runs per request.
 */
function hasScope(scp: string, scope: string): boolean {
  const n = scope.length;
  let from = 0;
  for (;;) {
    const i = scp.indexOf(scope, from);
    if (i === -1) return false;
    if ((i === 0 || scp.charCodeAt(i - 1) === 32) && (i + n === scp.length || scp.charCodeAt(i + n) === 32)) return true;
    from = i + 1;
  }
}

/** Whether `value` is absent or an array of strings (the shape of `roles`). */
function isStringArray(value: unknown): value is readonly string[] {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

function names(values: readonly string[], what: string): readonly string[] {
  if (values.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what}: it needs at least one name`);
  for (const v of values) {
    // RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E (no space, quote or backslash), so that it can be named in a challenge.
    if (typeof v !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(v))
      throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what}: \`${String(v)}\` is not a scope or role name`);
  }
  return Object.freeze([...values]);
}

const NO_ROLES: readonly string[] = Object.freeze([]);

const NO_CLAIMS = (what: string): ClaimCheckFailure => ({ code: 'ERR_CLAIM_CHECK_FAILED', message: `${what}: the request has no verified token claims` });

/**
 * Requires every one of the delegated scopes in `scp` (space-separated, v1 and v2 tokens). An app-only
 * token has no `scp`: use {@link requiredRoles} for it.
 *
 * @example
 * ```ts
 * import { requiredScopes } from 'entragate';
 * requiredScopes('orders.read').test({ scp: 'orders.read profile' }); // undefined: passes
 * ```
 */
export function requiredScopes(...scopes: string[]): ClaimCheck {
  return scopeCheck(
    scopes,
    'requiredScopes',
    (scope) => `scopes ${scope}`,
    (scp, wanted, scope) => {
      for (const s of wanted) if (!hasScope(scp, s)) return { code: 'ERR_INSUFFICIENT_SCOPE', message: `the token lacks the scope \`${s}\``, scope };
      return undefined;
    },
  );
}

/**
 * Requires at least one of the delegated scopes in `scp`.
 *
 * @example
 * ```ts
 * import { scopeIncludesAny } from 'entragate';
 * scopeIncludesAny('orders.read', 'orders.write').test({ scp: 'orders.write' }); // undefined: passes
 * ```
 */
export function scopeIncludesAny(...scopes: string[]): ClaimCheck {
  return scopeCheck(
    scopes,
    'scopeIncludesAny',
    (scope) => `any scope of ${scope}`,
    (scp, wanted, scope) => {
      for (const s of wanted) if (hasScope(scp, s)) return undefined;
      return { code: 'ERR_INSUFFICIENT_SCOPE', message: `the token has none of the scopes ${wanted.map((s) => `\`${s}\``).join(', ')}`, scope };
    },
  );
}

/** A check over the `scp` claim: absent reads as no scopes, anything but a string is a deny (never a crash). */
function scopeCheck(
  scopes: string[],
  fn: string,
  describe: (scope: string) => string,
  decide: (scp: string, wanted: readonly string[], scope: string) => ClaimCheckFailure | undefined,
): ClaimCheck {
  const wanted = names(scopes, fn);
  const scope = wanted.join(' ');
  const description = describe(scope);
  return {
    description,
    test(claims) {
      if (claims === undefined) return NO_CLAIMS(description);
      const scp = claims.scp === undefined ? '' : claims.scp;
      if (typeof scp !== 'string') return { code: 'ERR_INSUFFICIENT_SCOPE', message: 'the token `scp` claim is not a string', scope };
      return decide(scp, wanted, scope);
    },
  };
}

/**
 * Requires every one of the app roles in `roles` (assigned to a user, or to the calling app for an
 * app-only token: the gate must then be created with `allowAppTokens: true`).
 *
 * @example
 * ```ts
 * import { requiredRoles } from 'entragate';
 * requiredRoles('Orders.Admin').test({ roles: ['Orders.Admin'] }); // undefined: passes
 * ```
 */
export function requiredRoles(...roles: string[]): ClaimCheck {
  const wanted = names(roles, 'requiredRoles');
  const description = `roles ${wanted.join(' ')}`;
  return {
    description,
    test(claims) {
      if (claims === undefined) return NO_CLAIMS(description);
      const roles = claims.roles === undefined ? NO_ROLES : claims.roles;
      if (!isStringArray(roles)) return { code: 'ERR_INSUFFICIENT_ROLE', message: 'the token `roles` claim is not an array of strings' };
      for (const r of wanted) if (!roles.includes(r)) return { code: 'ERR_INSUFFICIENT_ROLE', message: `the token lacks the app role \`${r}\`` };
      return undefined;
    },
  };
}

/** A claim value `claimEquals` and `claimIncludes` compare with: JSON scalars. */
export type ClaimValue = string | number | boolean;

/**
 * Requires the claim `name` to equal `value` (strictly: `"1"` is not `1`).
 *
 * @example
 * ```ts
 * import { claimEquals } from 'entragate';
 * claimEquals('tid', '72f988bf-86f1-41af-91ab-2d7cd011db47');
 * ```
 */
export function claimEquals(name: string, value: ClaimValue): ClaimCheck {
  const description = `claim ${name} equals ${JSON.stringify(value)}`;
  return {
    description,
    test(claims) {
      if (claims === undefined) return NO_CLAIMS(description);
      return Object.hasOwn(claims, name) && claims[name] === value
        ? undefined
        : { code: 'ERR_CLAIM_CHECK_FAILED', message: `the token claim \`${name}\` does not have the required value` };
    },
  };
}

/**
 * Requires the claim `name` to include every one of `values`: an array claim (`acrs`, `groups`, `wids`)
 * holding each, or a space-separated string claim holding each as a word. Any other shape fails.
 *
 * @example
 * ```ts
 * import { claimIncludes } from 'entragate';
 * claimIncludes('acrs', 'c1');
 * ```
 */
export function claimIncludes(name: string, ...values: ClaimValue[]): ClaimCheck {
  if (values.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid claimIncludes: it needs at least one value');
  const wanted = Object.freeze([...values]);
  const description = `claim ${name} includes ${wanted.map((v) => JSON.stringify(v)).join(' ')}`;
  return {
    description,
    test(claims) {
      if (claims === undefined) return NO_CLAIMS(description);
      const value = Object.hasOwn(claims, name) ? claims[name] : undefined;
      const list: readonly unknown[] | undefined = Array.isArray(value) ? value : typeof value === 'string' ? value.split(' ') : undefined;
      if (list === undefined || !wanted.every((w) => list.includes(w))) {
        return { code: 'ERR_CLAIM_CHECK_FAILED', message: `the token claim \`${name}\` does not include the required values` };
      }
      return undefined;
    },
  };
}

/**
 * A check of your own over the verified claims: `fn` returns `true` to pass. Anything else — `false`, a
 * non-boolean, a throw — fails the check (fail closed).
 *
 * @example
 * ```ts
 * import { claimCheck } from 'entragate';
 * claimCheck((claims) => claims.idtyp !== 'app', 'a user token');
 * ```
 */
export function claimCheck(fn: (claims: Readonly<AccessTokenClaims>) => boolean, description = 'a custom claim check'): ClaimCheck {
  if (typeof fn !== 'function') throw new ConfigError('ERR_CONFIG_INVALID', 'invalid claimCheck: it needs a function');
  return {
    description,
    test(claims) {
      if (claims === undefined) return NO_CLAIMS(description);
      let passed: unknown;
      try {
        passed = fn(claims);
      } catch {
        passed = false;
      }
      return passed === true
        ? undefined
        : { code: 'ERR_CLAIM_CHECK_FAILED', message: `the token claims fail the check: ${description.replace(/[^\x20-\x7e]/g, '?')}` };
    },
  };
}

/**
 * The claims requests of a Conditional Access authentication-context step-up: `accessToken` for the
 * API's claims challenge (the client asks Entra for a new access token with it), `idToken` for a browser
 * sent through the login again. One context is `value`, several are `values` (OpenID Connect Core §5.5.1:
 * `value` for one required value, `values` for a set of acceptable ones — Microsoft's claims-challenge
 * page shows `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`).
 *
 * @example
 * ```ts
 * import { stepUpClaims } from 'entragate';
 * stepUpClaims(['c1']).accessToken; // { access_token: { acrs: { essential: true, value: 'c1' } } }
 * ```
 */
export function stepUpClaims(contexts: readonly string[]): {
  accessToken: { access_token: { acrs: { essential: true; value: string } | { essential: true; values: string[] } } };
  idToken: { id_token: { acrs: { essential: true; values: string[] } } };
} {
  if (contexts.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid stepUpClaims: it needs at least one authentication context');
  const values = [...contexts];
  return {
    accessToken: { access_token: { acrs: values.length === 1 ? { essential: true, value: values[0] as string } : { essential: true, values } } },
    idToken: { id_token: { acrs: { essential: true, values: [...values] } } },
  };
}
