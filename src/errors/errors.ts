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
export class EntragateError<C extends ErrorCode = ErrorCode> extends Error {
  /** The stable code; narrowed per class (`TokenError['code']` is {@link TokenErrorCode}). */
  readonly code: C;
  /**
   * The HTTP status an adapter answers with: the code's own (`ERR_TOKEN_EXPIRED` is 401, an outage 503, see
   * the README's error table) unless the thrower overrode it. Koa and Fastify read it as is.
   */
  readonly status: number;
  /**
   * Response headers the answer needs, such as the RFC 6750 `WWW-Authenticate` challenge of a 401 or the `Retry-After` of `ERR_STORE_STALE`; `{}` when
   * none. Frameworks that honour an error's `headers` (Koa, Fastify) send them with `status`; so do the adapters.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Koa and Fastify read `expose` to decide whether the message reaches the client. */
  readonly expose: boolean;

  constructor(code: C, message: string, options: EntragateErrorOptions = {}) {
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

/**
 * The code families: each code belongs to the one family whose prefix it starts with, and is thrown as
 * that family's class only (as jose's `JOSEErrorCode` ties each code to one class). A code with a new
 * prefix must be added here; `test/errors/families.test.ts` fails until it is.
 */
export const ERROR_FAMILIES = {
  ConfigError: ['ERR_CONFIG_'],
  TokenError: ['ERR_TOKEN_', 'ERR_SERVICE_TOKEN_', 'ERR_ACCESS_ASSERTION_', 'ERR_REQUEST_', 'ERR_INSUFFICIENT_', 'ERR_CLAIM_CHECK_', 'ERR_AUTH_CONTEXT_'],
  JwksError: ['ERR_JWKS_'],
  GroupsError: ['ERR_GROUPS_', 'ERR_GRAPH_', 'ERR_DIRECTORY_', 'ERR_ACCESS_IDENTITY_'],
  PolicyError: ['ERR_POLICY_', 'ERR_EXPRESSION_', 'ERR_ACCESS_DENIED'],
  ScimError: ['ERR_SCIM_'],
  StoreError: ['ERR_STORE_'],
  SessionError: ['ERR_LOGIN_', 'ERR_SESSION_'],
} as const satisfies Readonly<Record<string, readonly string[]>>;

/** The name of an error class that owns a code family. */
export type ErrorFamily = keyof typeof ERROR_FAMILIES;

/** The codes of one family. */
export type FamilyCode<F extends ErrorFamily> = Extract<ErrorCode, `${(typeof ERROR_FAMILIES)[F][number]}${string}`>;

/** The codes a {@link ConfigError} carries. */
export type ConfigErrorCode = FamilyCode<'ConfigError'>;
/** The codes a {@link TokenError} carries: bearer tokens, Access assertions, service tokens, ambiguous requests, and what a token's claims lack (scopes, roles, claim checks, an authentication context). */
export type TokenErrorCode = FamilyCode<'TokenError'>;
/** The codes a {@link JwksError} carries. */
export type JwksErrorCode = FamilyCode<'JwksError'>;
/** The codes a {@link GroupsError} carries: groups, Graph, the directory's standing, Cloudflare's get-identity. */
export type GroupsErrorCode = FamilyCode<'GroupsError'>;
/** The codes a {@link PolicyError} carries. */
export type PolicyErrorCode = FamilyCode<'PolicyError'>;
/** The codes a {@link ScimError} carries. */
export type ScimErrorCode = FamilyCode<'ScimError'>;
/** The codes a {@link StoreError} carries. */
export type StoreErrorCode = FamilyCode<'StoreError'>;
/** The codes a {@link SessionError} carries: the login callback and sessions. */
export type SessionErrorCode = FamilyCode<'SessionError'>;

/** The family of a code, or `undefined` for a string that is no entragate code. */
export function familyOf(code: string): ErrorFamily | undefined {
  if (!Object.hasOwn(ERROR_CODES, code)) return undefined;
  for (const [family, prefixes] of Object.entries(ERROR_FAMILIES) as [ErrorFamily, readonly string[]][]) {
    if (prefixes.some((prefix) => code.startsWith(prefix))) return family;
  }
  return undefined;
}

/** An option or configuration document is invalid. Thrown synchronously at construction. */
export class ConfigError extends EntragateError<ConfigErrorCode> {}

/**
 * A bearer token failed verification. Carries an RFC 6750 `WWW-Authenticate`
 * header (`error="invalid_token"`) unless the failure is an outage.
 */
export class TokenError extends EntragateError<TokenErrorCode> {
  constructor(code: TokenErrorCode, message: string, options: EntragateErrorOptions = {}) {
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
export class JwksError extends EntragateError<JwksErrorCode> {}

/** Group membership could not be resolved; decisions that need it fail closed. */
export class GroupsError extends EntragateError<GroupsErrorCode> {}

/** A policy, rule group, gateway rule or expression does not compile. */
export class PolicyError extends EntragateError<PolicyErrorCode> {}

/** A SCIM request is refused; rendered with the SCIM error schema. */
export class ScimError extends EntragateError<ScimErrorCode> {
  /** RFC 7644 §3.12 `scimType`, when one applies. */
  readonly scimType: string | undefined;
  constructor(code: ScimErrorCode, message: string, options: EntragateErrorOptions & { scimType?: string } = {}) {
    super(code, message, options);
    this.scimType = options.scimType;
  }
}

/** The directory store failed. */
export class StoreError extends EntragateError<StoreErrorCode> {}

/** A login callback or a session is refused. */
export class SessionError extends EntragateError<SessionErrorCode> {}

/**
 * The error of a code as its family's class: for a code that travels as data (a membership's or a
 * standing's `code`, an error re-issued with other headers), so it is never thrown as another class.
 */
export function errorOf(code: ErrorCode, message: string, options: EntragateErrorOptions = {}): EntragateError {
  const family = familyOf(code);
  // A code outside every family is a bug here, not an allow: it is still an error.
  if (family === undefined) return new EntragateError(code, message, options);
  return new FAMILY_CLASSES[family](code as never, message, options);
}

const FAMILY_CLASSES: Readonly<Record<ErrorFamily, new (code: never, message: string, options?: EntragateErrorOptions) => EntragateError>> = {
  ConfigError,
  TokenError,
  JwksError,
  GroupsError,
  PolicyError,
  ScimError,
  StoreError,
  SessionError,
};

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
