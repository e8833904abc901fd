export { challengeOf } from '../errors/index.js';

/** Request headers as WHATWG `Headers` or a Node-style record (`req.headers` of `node:http`, Express, Koa, Fastify). */
export type HeaderBag = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The request shape the login accepts: a WHATWG `Request`, or a small plain object
 * an adapter builds. `url` may be relative (`/auth/callback?code=…`); only its path
 * and query are read.
 */
export interface RequestLike {
  /**
   * The request target, absolute (`https://app.example.com/auth/callback?code=…`) or relative; only the path
   * and query are read, never the host (the login takes its origin from `redirectUri`). Absent: `/`.
   */
  url?: string;
  /**
   * The HTTP method, upper case as Node and `Request` give it. The login's sign-out reads it (only a `POST`
   * or a same-origin `GET` signs out); absent counts as neither.
   */
  method?: string;
  /** The request headers (`cookie`, `origin`, `sec-fetch-site`, `authorization`, …), read case-insensitively through `Headers` or by lower-case name from a record. */
  headers: HeaderBag;
}

/** Reads one header; a repeated header is joined as `node:http` would (`; ` for cookies, `, ` otherwise). */
export function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | readonly string[] | undefined>)[name];
  if (value === undefined || typeof value === 'string') return value;
  return value.join(name === 'cookie' ? '; ' : ', ');
}

/** The query of a request URL, absolute or relative. */
export function queryOf(request: RequestLike): URLSearchParams {
  const url = request.url ?? '/';
  const q = url.indexOf('?');
  if (q === -1) return new URLSearchParams();
  const hash = url.indexOf('#', q);
  return new URLSearchParams(url.slice(q + 1, hash === -1 ? undefined : hash));
}

/** The bearer token of an `Authorization` header, or undefined when there is none or the scheme differs. */
export function bearerToken(headers: HeaderBag): string | undefined {
  const value = header(headers, 'authorization');
  if (value === undefined || value.length < 8) return undefined;
  if (value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trim();
  return token.length > 0 ? token : undefined;
}

/**
 * Keeps a return-to target only when it is a same-origin relative path: one leading
 * `/`, no `//` or `/\` (protocol-relative) before or after dot segments are
 * resolved, no scheme, no backslash or control character. Anything else becomes `fallback`.
 */
export function safeReturnTo(value: string | null | undefined, fallback: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return fallback;
  // INVARIANT: no open redirect: only paths on this origin survive.
  if (value[0] !== '/' || value[1] === '/' || value[1] === '\\') return fallback;
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return fallback;
  const base = 'http://entragate.invalid';
  let parsed: URL;
  try {
    parsed = new URL(value, base);
  } catch {
    return fallback;
  }
  if (parsed.origin !== base) return fallback;
  const path = `${parsed.pathname}${parsed.search}${parsed.hash}`;
  // Dot segments collapse while parsing: `/.//evil.com`, `/%2e//evil.com` and `/a/..//evil.com`
  // all come out as `//evil.com`, a protocol-relative URL. Check the result, not only the input.
  if (path[1] === '/' || path[1] === '\\') return fallback;
  return path;
}

/**
 * The origin a browser says the request comes from: the `Origin` header (`null` when opaque, which matches
 * no app), else the origin of the `Referer`; `undefined` when it sends neither.
 */
export function requestOrigin(request: RequestLike): string | undefined {
  const origin = header(request.headers, 'origin');
  if (origin !== undefined) return origin.trim().toLowerCase();
  const referer = header(request.headers, 'referer');
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return 'null';
  }
}
