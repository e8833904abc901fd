import { bearerChallenge, TokenError } from '../errors/index.js';

/** The header Cloudflare Access sends the application token in, to the origin. */
export const ACCESS_ASSERTION_HEADER = 'cf-access-jwt-assertion';
/** The cookie a browser carries the same application token in (on the protected hostname). */
export const ACCESS_COOKIE = 'CF_Authorization';

/**
 * Request headers: a Node header record (lower-case names, a repeated header as an array), or a
 * fetch `Headers`.
 */
export type AccessRequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>> | Pick<Headers, 'get'>;

/**
 * The Cloudflare Access assertion a request carries, read as Cloudflare advises: the
 * `Cf-Access-Jwt-Assertion` header first, "since the cookie is not guaranteed to be passed", the
 * `CF_Authorization` cookie as a fallback (Cloudflare's "Validate JWTs"). `undefined` when it carries
 * neither (an empty value counts as none).
 *
 * INVARIANT: two different assertions at once are refused, never one picked: the header and the cookie,
 * the header given twice (or one value holding two, joined with commas), or the cookie named twice
 * (in one `Cookie` header or several). A layer in front that read the other copy would decide about
 * another user. The error is `ERR_ACCESS_ASSERTION_AMBIGUOUS` (400, an RFC 6750 `invalid_request`
 * challenge). The same value repeated is one assertion.
 *
 * It does not verify anything: pass the value to `verifier.verify`.
 *
 * @example
 * ```ts
 * import { accessAssertionOf } from 'entragate';
 * const assertion = accessAssertionOf({ 'cf-access-jwt-assertion': 'eyJ…', cookie: 'CF_Authorization=eyJ…' });
 * ```
 */
export function accessAssertionOf(headers: AccessRequestHeaders): string | undefined {
  const fromHeader = single(valuesOf(headers, ACCESS_ASSERTION_HEADER).flatMap(splitList), `the \`Cf-Access-Jwt-Assertion\` header`);
  const fromCookie = single(valuesOf(headers, 'cookie').flatMap(cookieValues), `the \`${ACCESS_COOKIE}\` cookie`);
  if (fromHeader !== undefined && fromCookie !== undefined && fromHeader !== fromCookie) {
    throw ambiguous('the `Cf-Access-Jwt-Assertion` header and the `CF_Authorization` cookie carry different assertions');
  }
  return fromHeader ?? fromCookie;
}

function valuesOf(headers: AccessRequestHeaders, name: string): string[] {
  if (typeof (headers as Pick<Headers, 'get'>).get === 'function') {
    const value = (headers as Pick<Headers, 'get'>).get(name);
    return value === null ? [] : [value];
  }
  const value = (headers as Readonly<Record<string, string | readonly string[] | undefined>>)[name];
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

/** A header value as a list: a JWS has no comma or space, so `a, b` is two values (how repeated headers are joined). */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** Every `CF_Authorization` value of one `Cookie` header (RFC 6265 §4.2.1: `name=value` pairs joined by `; `). */
function cookieValues(header: string): string[] {
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== ACCESS_COOKIE) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.length > 0) out.push(value);
  }
  return out;
}

function single(values: string[], what: string): string | undefined {
  if (values.length === 0) return undefined;
  const first = values[0]!;
  for (let i = 1; i < values.length; i++) if (values[i] !== first) throw ambiguous(`${what} is given more than once, with different assertions`);
  return first;
}

function ambiguous(message: string): TokenError {
  // RFC 6750 §3.1: a malformed request is a 400 `invalid_request`.
  return new TokenError('ERR_ACCESS_ASSERTION_AMBIGUOUS', message, {
    status: 400,
    headers: { 'WWW-Authenticate': bearerChallenge('invalid_request', message) },
  });
}
