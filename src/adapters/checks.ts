/**
 * The claim checks of every adapter (`requiredScopes`, `requiredRoles`, … from `entragate/express`,
 * `/koa`, `/fastify`): the pure checks of `src/policy/claim-checks.ts` over `auth.claims`, and what a
 * failure answers. RFC 6750 §3.1: a token without the privileges the resource needs is a 403
 * `insufficient_scope`, with the `scope` it needs.
 */
import { bearerChallenge, ConfigError, TokenError } from '../errors/index.js';
import type { ClaimCheck } from '../policy/claim-checks.js';
import { admittingProtector, viaFrameworkFor } from './protector.js';
import type { Auth, NodeHeaders, ProtectOutcome } from './types.js';

/**
 * The raw requests `authenticate` with `authRequired: false` let through without a credential: a claim
 * check after it answers them 401 (log in), not the wiring error of a check with no `authenticate`.
 */
export const anonymousRequests = new WeakSet<object>();

/** A failed claim check: the outcome, and whether it goes to the framework's error handling. */
export interface CheckFailure {
  outcome: Extract<ProtectOutcome, { kind: 'respond' }>;
  viaFramework: boolean;
}

/**
 * Runs `checks` over the request's `auth`: `undefined` when they all pass. INVARIANT: a request no
 * `protect` / `authenticate` admitted fails closed (401 when `authenticate` let it through anonymously,
 * else `ERR_CONFIG_CLAIM_CHECK_UNPROTECTED`, a 500), never passes.
 */
export function runChecks(
  checks: readonly ClaimCheck[],
  auth: Auth | null | undefined,
  raw: object,
  headers: NodeHeaders,
  memo?: PassMemo,
): CheckFailure | undefined {
  const viaFramework = auth === null || auth === undefined ? undefined : admittingProtector(auth);
  if (auth === null || auth === undefined || viaFramework === undefined) {
    if (anonymousRequests.has(raw)) {
      const error = new TokenError('ERR_TOKEN_MISSING', 'no bearer token or session was presented');
      const outcome = {
        kind: 'respond',
        status: 401,
        headers: { ...error.headers },
        body: { error: 'unauthorized', code: error.code, message: error.message },
        error,
      } as const;
      return { outcome, viaFramework: viaFrameworkFor(false, outcome, headers) };
    }
    const error = new ConfigError(
      'ERR_CONFIG_CLAIM_CHECK_UNPROTECTED',
      `a claim check (${checks.map((c) => c.description).join(', ')}) ran on a request no \`protect\` or \`authenticate\` admitted: put one before it`,
    );
    // A wiring mistake, not the client's: the framework's error handling shows it (a 500).
    const outcome = {
      kind: 'respond',
      status: 500,
      headers: {},
      body: { error: 'error', code: error.code, message: 'the request could not be authorized: internal error' },
      error,
    } as const;
    return { outcome, viaFramework: true };
  }
  const claims = auth.claims;
  // The request was admitted (above, every time); only the tests of claims they already passed are skipped.
  if (memo !== undefined && claims !== undefined && claims === memo.passed) return undefined;
  for (const check of checks) {
    const failure = check.test(claims);
    if (failure === undefined) continue;
    const challenge = bearerChallenge('insufficient_scope', failure.message) + (failure.scope === undefined ? '' : `, scope="${failure.scope}"`);
    const responseHeaders = { 'WWW-Authenticate': challenge };
    const error = new TokenError(failure.code, failure.message, { headers: responseHeaders });
    const outcome = {
      kind: 'respond',
      status: 403,
      headers: responseHeaders,
      body: { error: 'insufficient_scope', code: error.code, message: error.message },
      error,
    } as const;
    return { outcome, viaFramework: viaFramework(outcome, headers) };
  }
  if (memo !== undefined && claims !== undefined && Object.isFrozen(claims)) memo.passed = claims;
  return undefined;
}

/**
 * The claims a list of PURE checks last passed (the built-in `requiredScopes`, `scopeIncludesAny`,
 * `requiredRoles`, `claimEquals`, `claimIncludes`: functions of the claims alone), so that a caller
 * whose cached token comes back (the verifier hands out the same claims object for it) is not tested
 * again: the checks cost a few hundred ns per request between two verifications (issue 13), an identity
 * comparison costs none. Sound because the verifier's claims are deeply frozen (`freezeUnique` in
 * `token/jwt.ts`; `test/adapters/api.test.ts` holds it) and only a frozen object is remembered. A
 * `claimCheck` of the app's, or any list given to `checkClaims`, may not be pure: it never gets a memo.
 */
export interface PassMemo {
  passed: object | undefined;
}

/** A fresh memo (one per check middleware). */
export function passMemo(): PassMemo {
  return { passed: undefined };
}
