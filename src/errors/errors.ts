import { ERROR_CODES, type ErrorCode } from './codes.js';

/** Options every entragate error accepts. */
export interface EntragateErrorOptions {
  /** The error that caused this one; always kept when wrapping. */
  cause?: unknown;
  /** Overrides the HTTP status mapped from the code. */
  status?: number;
  /** Response headers a framework should send (for example `WWW-Authenticate`). */
  headers?: Record<string, string>;
}

/**
 * The one base class of every error entragate throws. `code` is stable and
 * documented; `status` and `headers` let Koa, Fastify and Express render a
 * request-facing error as it is.
 *
 * Messages never contain a token, a secret, or a whole claim set.
 *
 * @example
 * ```ts
 * import { EntragateError } from 'entragate';
 * try { await gate.verify(token); }
 * catch (err) { if (err instanceof EntragateError && err.code === 'ERR_TOKEN_EXPIRED') { ... } }
 * ```
 */
export class EntragateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Koa and Fastify read `expose` to decide whether the message reaches the client. */
  readonly expose: boolean;

  constructor(code: ErrorCode, message: string, options: EntragateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.headers = options.headers ?? {};
    this.expose = this.status < 500;
  }

  /** The same as `status`, under the name Fastify and `http-errors` users read (`reply.code(err.statusCode)`). */
  get statusCode(): number {
    return this.status;
  }

  /** Whether this error means an upstream is down (a 503-class outage), not a bad credential. */
  get isOutage(): boolean {
    return this.status === 503;
  }
}

/** An option or configuration document is invalid. Thrown synchronously at construction. */
export class ConfigError extends EntragateError {}

/**
 * A bearer token failed verification. Carries an RFC 6750 `WWW-Authenticate`
 * header (`error="invalid_token"`) unless the failure is an outage.
 */
export class TokenError extends EntragateError {
  constructor(code: ErrorCode, message: string, options: EntragateErrorOptions = {}) {
    const status = options.status ?? ERROR_CODES[code].status;
    const headers =
      options.headers ??
      (status !== 401
        ? {}
        : // RFC 6750 §3.1: a request with no credentials gets a bare challenge, without error details.
          { 'WWW-Authenticate': code === 'ERR_TOKEN_MISSING' ? bearerChallenge() : bearerChallenge('invalid_token', message) });
    super(code, message, { ...options, status, headers });
  }
}

/** The JWKS or discovery document of the identity provider is unreachable. */
export class JwksError extends EntragateError {}

/** Group membership could not be resolved; decisions that need it fail closed. */
export class GroupsError extends EntragateError {}

/** A policy, rule group, gateway rule or expression does not compile. */
export class PolicyError extends EntragateError {}

/** A SCIM request is refused; rendered with the SCIM error schema. */
export class ScimError extends EntragateError {
  /** RFC 7644 §3.12 `scimType`, when one applies. */
  readonly scimType: string | undefined;
  constructor(code: ErrorCode, message: string, options: EntragateErrorOptions & { scimType?: string } = {}) {
    super(code, message, options);
    this.scimType = options.scimType;
  }
}

/** The directory store failed. */
export class StoreError extends EntragateError {}

/** A login callback or a session is refused. */
export class SessionError extends EntragateError {}

/**
 * Builds an RFC 6750 §3 `WWW-Authenticate: Bearer` challenge. The description is kept
 * to RFC 6750's NQSCHAR (printable ASCII without `"` and `\\`): quotes and backslashes are
 * dropped and any other character becomes `?`, since messages may echo attacker-chosen
 * header values and Node's `setHeader` throws on anything else.
 */
export function bearerChallenge(error?: string, description?: string, realm = 'entragate'): string {
  const parts = [`realm="${realm}"`];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '?')}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * The RFC 6750 `WWW-Authenticate` challenge of a 401: bare when no credential was
 * presented, `invalid_token` with the message otherwise. INVARIANT: printable ASCII
 * only. Messages echo a token's `alg` or `kid`, which an attacker chooses; RFC 6750 §3
 * allows nothing else in `error_description`, and Node's `setHeader` throws on it.
 */
export function challengeOf(error: Pick<EntragateError, 'code' | 'message'>): string {
  return error.code === 'ERR_TOKEN_MISSING' ? bearerChallenge() : bearerChallenge('invalid_token', error.message.replace(/[^\x20-\x7e]/g, '?'));
}
