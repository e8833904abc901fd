/**
 * What `protect` answers when it does not let a request through: the status, the headers (RFC 6750
 * challenges, `Retry-After`) and the JSON body of every failure, and the error handed to the framework.
 * Nothing here reads the request beyond what it is given; 5xx messages never reach a client.
 */
import { bearerChallenge, challengeOf, EntragateError, ERROR_CODES, TokenError, type ErrorCode } from '../errors/index.js';
import { errorOf } from '../errors/errors.js';
import type { Decision } from '../policy/types.js';
import type { Identity } from '../types.js';
import type { Auth, DenyBody, ErrorBody, ProtectOutcome, RequestView } from './types.js';

/** What the outcomes of one `protect` need to know. */
export interface OutcomeSettings {
  /** `Retry-After` seconds on a 503. */
  retryAfter: string;
  /** The configured assertion header (lower case): a duplicate of it gets a bearer challenge too. */
  assertionHeader: string | undefined;
  /** Put the decision trace in 403 bodies. */
  exposeTrace: boolean;
  /** Whether this request is a browser the login should take (then an expired or revoked session redirects). */
  wantsLogin(view: RequestView): boolean;
  /** The login redirect of a request. */
  redirect(view: RequestView): ProtectOutcome;
}

/** The outcomes of one `protect`, built once. */
export interface Outcomes {
  /** A credential given twice: 400 `invalid_request`. */
  ambiguous(repeated: string): ProtectOutcome;
  /** An outage: 503 with `Retry-After`, the public text only. */
  outage(error: EntragateError): ProtectOutcome;
  /** A missing or bad credential: 401 with a printable `WWW-Authenticate` challenge. */
  unauthorized(error: EntragateError): ProtectOutcome;
  /** Any error on the way to a decision, mapped to its outcome (an expired session in a browser: the login). */
  fromError(error: unknown, view: RequestView, fromCookie: boolean): ProtectOutcome;
  /** A deny: 503 when an outage left membership unknown, else 403 naming the deciding policy. */
  denied(decision: Decision, identity: Identity | null): ProtectOutcome;
}

/** Compiles the outcomes of one `protect`. */
export function createOutcomes(settings: OutcomeSettings): Outcomes {
  const { retryAfter, assertionHeader, wantsLogin, redirect } = settings;
  function ambiguous(repeated: string): ProtectOutcome {
    const cookie = repeated.startsWith('cookie ');
    const message = cookie
      ? `the request carries the \`${repeated.slice(7)}\` session cookie more than once`
      : `the request carries the \`${repeated}\` header more than once`;
    // RFC 6750 §3.1: a malformed token request is a 400 `invalid_request`, with the challenge when it is about a token.
    const headers: Record<string, string> =
      repeated === 'authorization' || repeated === assertionHeader ? { 'WWW-Authenticate': bearerChallenge('invalid_request', message) } : {};
    const error = new TokenError('ERR_REQUEST_INVALID', message, { headers });
    return { kind: 'respond', status: 400, headers, body: errorBody('invalid_request', error), error };
  }
  function outage(error: EntragateError): ProtectOutcome {
    const headers = { ...error.headers, 'Retry-After': retryAfter };
    const wrapped = publicError(error, 503, headers);
    return { kind: 'respond', status: 503, headers, body: errorBody('temporarily_unavailable', wrapped), error: wrapped };
  }

  function unauthorized(error: EntragateError): ProtectOutcome {
    // A 401 always says how to authenticate (session errors carry no challenge of their own). The
    // challenge is rebuilt in printable ASCII: the error's own may echo attacker-chosen characters
    // that make `setHeader` throw inside the framework's error handler (a crash, not a 401).
    const challenge = challengeOf(error);
    const headers = { ...error.headers, 'WWW-Authenticate': challenge };
    const withHeaders = error.headers['WWW-Authenticate'] === challenge ? error : errorOf(error.code, error.message, { cause: error, headers });
    return {
      kind: 'respond',
      status: 401,
      headers,
      body: errorBody(error.code === 'ERR_TOKEN_MISSING' ? 'unauthorized' : 'invalid_token', withHeaders),
      error: withHeaders,
    };
  }

  function fromError(error: unknown, view: RequestView, fromCookie: boolean): ProtectOutcome {
    if (!(error instanceof EntragateError)) throw error;
    if (error.isOutage) return outage(error);
    if (error.status === 401) {
      // An expired or revoked session in a browser goes back through the login.
      if (fromCookie && wantsLogin(view)) return redirect(view);
      return unauthorized(error);
    }
    const shown = error.status >= 500 ? publicError(error, error.status, { ...error.headers }) : error;
    return {
      kind: 'respond',
      status: error.status,
      headers: { ...error.headers },
      body: errorBody(error.status === 403 ? 'access_denied' : error.status === 400 ? 'invalid_request' : 'error', shown),
      error: shown,
    };
  }

  function denied(decision: Decision, identity: Identity | null): ProtectOutcome {
    // INVARIANT: fail closed with 503 when an outage, not the policies, left membership unknown.
    if (identity !== null && decision.reason === 'unknown-membership' && identity.membership.state === 'unknown' && isOutageCode(identity.membership.code)) {
      return outage(errorOf(identity.membership.code, `group membership is unavailable: ${identity.membership.code}`));
    }
    const body: DenyBody = {
      error: 'access_denied',
      code: 'ERR_ACCESS_DENIED',
      message: denyMessage(decision),
      decision: { kind: decision.kind, action: decision.action, reason: decision.reason, ...(decision.policy ? { policy: { ...decision.policy } } : {}) },
    };
    if (identity !== null && decision.reason === 'unknown-membership') body.membership = identity.membership.state;
    if (settings.exposeTrace) body.trace = decision.trace;
    return { kind: 'respond', status: 403, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
  }

  return { ambiguous, outage, unauthorized, fromError, denied };
}

function denyMessage(decision: Decision): string {
  if (decision.reason === 'unknown-membership') return 'denied: group membership is unknown, so the policies fail closed';
  if (decision.reason === 'unknown-request') return "denied: the request's HTTP attributes are unknown, so the rules fail closed";
  if (decision.policy !== undefined) return `denied by ${decision.kind === 'access' ? 'policy' : 'rule'} \`${decision.policy.name}\``;
  return decision.kind === 'access' ? 'denied: no policy allowed the request' : 'denied by the default action';
}

/** What a client is told of a 5xx: never the internal message (a host, a tenant, a driver's error). */
function publicMessage(status: number): string {
  return status === 503 ? 'the identity provider or the directory is unavailable' : 'the request could not be authorized: internal error';
}

/**
 * The error an adapter hands to the framework for a 5xx: the same class and code, the public message
 * only, the original kept as `cause`. Framework error handlers differ on `expose` (Fastify's default
 * handler sends `message` whatever `expose` says; Express's shows the stack outside production), so the
 * message itself is what must be safe to show.
 */
function publicError(error: EntragateError, status: number, headers: Record<string, string>): EntragateError {
  return errorOf(error.code, publicMessage(status), { cause: error, status, headers });
}

function errorBody(error: string, e: EntragateError): ErrorBody {
  // 5xx messages stay on the server: they may describe the infrastructure.
  return { error, code: e.code, message: e.expose ? e.message : publicMessage(e.status) };
}

function isOutageCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) && ERROR_CODES[code as ErrorCode].status === 503;
}

/**
 * Cloudflare's get-identity JSON for an authenticated request (with entragate's
 * `membership`), or `undefined` for a request admitted without a login.
 *
 * @example
 * ```ts
 * import { identityJson } from 'entragate/express';
 * // app.get('/whoami', protect(gate, {}), (req, res) => res.json(identityJson(req.auth!)));
 * ```
 */
export function identityJson(auth: Auth): Record<string, unknown> | undefined {
  const i = auth.identity;
  if (i === null) return undefined;
  return {
    email: i.email,
    ...(i.name === undefined ? {} : { name: i.name }),
    user_uuid: i.user_uuid,
    idp: i.idp,
    amr: i.amr,
    groups: i.groups,
    oidc_fields: i.oidc_fields,
    iat: i.iat,
    membership: i.membership,
  };
}
