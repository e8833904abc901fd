/**
 * Gateway's `http.request.*` fields from a `RequestContext.request`: the host
 * normalised, the fragment dropped, and the path normalised as Cloudflare's edge
 * normalises it (and as the framework in front routes it). A compiled rule set
 * keeps one {@link HttpRequestState} and loads it once per evaluation, so a
 * request's URL is split once however many comparisons read it, and a request
 * that repeats (a trace re-run) splits nothing.
 */
import type { HttpRequestAttributes, PathRouting, RequestContext } from '../types.js';

/** The HTTP fields, each a Bytes field. */
export type HttpField =
  | 'http.request.host'
  | 'http.request.method'
  | 'http.request.uri.path'
  | 'http.request.uri.path_and_query'
  | 'http.request.uri.query';

export function isHttpField(field: string): field is HttpField {
  return field.startsWith('http.request.');
}

/**
 * A host as Gateway compares it: without a port, without trailing dots, lower-cased.
 * An IPv6 literal keeps its brackets (`[::1]:3000` → `[::1]`), as the frameworks'
 * `hostname` and WHATWG `URL.hostname` give it.
 *
 * @example
 * ```ts
 * normalizeHost('App.Example.com.:8443'); // 'app.example.com'
 * ```
 */
export function normalizeHost(raw: string): string {
  let end = raw.length;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const close = raw.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = raw.indexOf(':');
    if (colon !== -1) end = colon;
  }
  while (end > 0 && raw.charCodeAt(end - 1) === 46 /* . */) end--;
  return (end === raw.length ? raw : raw.slice(0, end)).toLowerCase();
}

/**
 * The origin-form of a request target: `/orders?page=2` as is; an absolute-form
 * one (`http://host/orders?page=2`, which Node passes through as `req.url` and
 * the frameworks route by its path) without its scheme and authority, so a path
 * rule cannot be stepped around by sending one.
 */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
  if (m === null) return url;
  const rest = url.slice(m[0].length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

const ROUTINGS: readonly PathRouting[] = Array.from({ length: 16 }, (_, f) =>
  Object.freeze({ caseInsensitive: (f & 1) !== 0, matchesDecoded: (f & 2) !== 0, ignoreTrailingSlash: (f & 4) !== 0, semicolonDelimiter: (f & 8) !== 0 }),
);

/**
 * The one frozen {@link PathRouting} with these settings, so that adapters pass a shared object per
 * combination instead of allocating one per request.
 */
export function pathRouting(routing: PathRouting): PathRouting {
  return ROUTINGS[routingFlags(routing)] as PathRouting;
}

/** The request attributes with the routing the adapters add (see {@link PathRouting}). */
export type RoutedHttpRequest = HttpRequestAttributes;
export type { PathRouting };

/** Why a path has no normalised form: its `http.*` path fields are then unknown. */
export interface UnnormalizablePath {
  readonly problem: string;
}

const problem = (text: string): UnnormalizablePath => Object.freeze({ problem: text });
const ENCODED_SLASH = problem('it holds an encoded `/` (`%2F`), which some layers decode and others keep');
const ENCODED_BACKSLASH = problem('it holds an encoded `\\` (`%5C`), which some layers read as a separator');
const NUL = problem('it holds a NUL (`%00`)');
const BAD_ESCAPE = problem('it holds a `%` not followed by two hex digits');
const BAD_UTF8 = problem('its percent-escapes are not valid UTF-8');
const RAW_BYTE = problem('it holds a control character or a raw non-ASCII character');
const DOT_SEGMENT = problem('it holds a `.` or `..` segment, which the router keeps and a file server resolves');

const HEX = '0123456789ABCDEF';

/** 1 for a character kept as it is in a path (unreserved and reserved, RFC 3986 §2.2–2.3), else 0. */
const KEEP = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=") KEEP[c.charCodeAt(0)] = 1;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(byte: number): boolean {
  return (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte === 45 || byte === 46 || byte === 95 || byte === 126;
}

/**
 * A request path as Gateway's `http.request.uri.path` compares it, or why it has no such form.
 *
 * Cloudflare's default ("Cloudflare") URL normalisation
 * (https://developers.cloudflare.com/rules/normalization/how-it-works/): RFC 3986 §6.2.2 — unreserved
 * characters percent-decoded (`%61` → `a`, `%2E` → `.`), the remaining escapes in upper case (`%c3` →
 * `%C3`), other printable characters percent-encoded (`<` → `%3C`) — then backslashes made slashes and
 * successive slashes merged (`/a//b\\c` → `/a/b/c`). Then the framework's routing: lower-cased when it
 * matches case-insensitively, one trailing slash dropped when it ignores it.
 *
 * What has no single meaning is refused (an {@link UnnormalizablePath}), and the rules read the path
 * as unknown, so an Allow does not match and a Block that might match denies:
 * - an encoded `/` or `\\` (`%2F`, `%5C`): a file server decodes it into a separator, a router does not;
 * - a NUL, a control character or a raw non-ASCII character (Node refuses them on the wire; a string
 *   holding one does not say which bytes were sent), a `%` without two hex digits, escapes that are not
 *   valid UTF-8 (`%C0%AF`);
 * - a dot segment (`/.`, `/..`, `/%2e%2e`): Cloudflare removes dot segments (RFC 3986 §5.2.4), but in a
 *   Node app the router matches `/admin/../public/x` under `/admin` while a static server resolves it to
 *   `/public/x`, so no one path names what the request reaches. Clients (browsers, `fetch`, curl) remove
 *   dot segments before sending, so only a crafted request carries one.
 *
 * It does not decode reserved characters (`%3B` stays `%3B`) and does not touch the query. A path of
 * unreserved characters and single slashes, without dot segments, costs one scan and is returned as it
 * is (or lower-cased, or without its trailing slash).
 *
 * @example
 * ```ts
 * normalizePath('/%61dmin//Users\\x');                        // '/admin/Users/x'
 * normalizePath('/Admin/', { caseInsensitive: true, ignoreTrailingSlash: true }); // '/admin'
 * normalizePath('/public/%2e%2e/secret.txt');                 // { problem: 'it holds a `.` or `..` segment, …' }
 * ```
 */
export function normalizePath(path: string, routing?: PathRouting): string | UnnormalizablePath {
  const fold = routing?.caseInsensitive === true;
  let upper = false;
  const n = path.length;
  // Not starting with `/` (`*`, a relative target): the full pass, which sees a leading dot segment.
  let i = path.charCodeAt(0) === 47 ? 0 : n + 1;
  for (; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c >= 97 && c <= 122) continue;
    if (c >= 65 && c <= 90) {
      upper = true;
      continue;
    }
    if (c === 47 /* / */) {
      const next = path.charCodeAt(i + 1);
      // `//` merges; `/.` may start a dot segment: both need the full pass.
      if (next === 47 || next === 46) break;
      continue;
    }
    if (c < 128 && KEEP[c] === 1) continue;
    break;
  }
  let out: string;
  if (i === n) {
    out = fold && upper ? path.toLowerCase() : path;
  } else {
    const slow = normalizeSlow(path);
    if (typeof slow !== 'string') return slow;
    out = slow;
    if (fold) out = foldCase(out, routing?.matchesDecoded === true);
  }
  if (routing?.ignoreTrailingSlash === true && out.length > 1 && out.charCodeAt(out.length - 1) === 47) out = out.slice(0, -1);
  return out;
}

/** The full pass of {@link normalizePath}: escapes, encoding, separators, dot segments; no case folding. */
function normalizeSlow(path: string): string | UnnormalizablePath {
  let out = '';
  const n = path.length;
  // Characters kept as they are are copied in runs, not one by one.
  let run = 0;
  // UTF-8 over the escaped bytes (RFC 3629 §4): continuation bytes still expected, and the range of the next.
  let need = 0;
  let low = 0x80;
  let high = 0xbf;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c < 128 && KEEP[c] === 1) {
      if (need !== 0) return BAD_UTF8;
      continue;
    }
    if (run < i) out += path.slice(run, i);
    if (c === 37 /* % */) {
      const h = hexValue(path.charCodeAt(i + 1));
      const l = hexValue(path.charCodeAt(i + 2));
      if (h < 0 || l < 0) return BAD_ESCAPE;
      const byte = h * 16 + l;
      i += 2;
      if (byte === 0) return NUL;
      if (byte === 47) return ENCODED_SLASH;
      if (byte === 92) return ENCODED_BACKSLASH;
      if (byte >= 128) {
        if (need !== 0) {
          if (byte < low || byte > high) return BAD_UTF8;
          need--;
          low = 0x80;
          high = 0xbf;
        } else if (byte >= 0xc2 && byte <= 0xdf) {
          need = 1;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          need = 2;
          // No overlong three-byte forms (E0 80–9F) and no surrogates (ED A0–BF).
          if (byte === 0xe0) low = 0xa0;
          if (byte === 0xed) high = 0x9f;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          need = 3;
          // No overlong four-byte forms (F0 80–8F) and nothing above U+10FFFF (F4 90–BF).
          if (byte === 0xf0) low = 0x90;
          if (byte === 0xf4) high = 0x8f;
        } else {
          return BAD_UTF8;
        }
        out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
      } else if (need !== 0) {
        return BAD_UTF8;
      } else if (isUnreserved(byte)) {
        out += String.fromCharCode(byte);
      } else {
        out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
      }
    } else if (need !== 0) {
      return BAD_UTF8;
    } else if (c === 92 /* \ */) {
      out += '/';
    } else if (c === 0) {
      return NUL;
    } else if (c < 32 || c >= 127) {
      return RAW_BYTE;
    } else {
      out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    }
    run = i + 1;
  }
  if (need !== 0) return BAD_UTF8;
  if (run < n) out += run === 0 ? path : path.slice(run);
  if (out.includes('//')) out = out.replace(/\/{2,}/g, '/');
  if (hasDotSegment(out)) return DOT_SEGMENT;
  return out;
}

function hasDotSegment(path: string): boolean {
  let at = path.indexOf('.');
  while (at !== -1) {
    const before = at === 0 ? 47 : path.charCodeAt(at - 1);
    if (before === 47) {
      const next = path.charCodeAt(at + 1);
      if (Number.isNaN(next) || next === 47) return true;
      if (next === 46) {
        const after = path.charCodeAt(at + 2);
        if (Number.isNaN(after) || after === 47) return true;
      }
    }
    at = path.indexOf('.', at + 1);
  }
  return false;
}

/**
 * Lower-cases the letters of a normalised path, never the hex digits of its escapes. With `decoded`
 * (a router that matches the decoded path), runs of non-ASCII escapes are decoded, lower-cased as
 * JavaScript does (`toLowerCase`, what find-my-way runs) and encoded again.
 */
function foldCase(path: string, decoded: boolean): string {
  // The path is ASCII here, so lower-casing keeps every position: the escapes are copied back from `path`.
  const lower = path.toLowerCase();
  let at = path.indexOf('%');
  let out = at === -1 ? lower : '';
  if (at !== -1) {
    let run = 0;
    while (at !== -1) {
      out += lower.slice(run, at) + path.slice(at, at + 3);
      run = at + 3;
      at = path.indexOf('%', run);
    }
    out += lower.slice(run);
  }
  if (decoded && out.includes('%')) {
    out = out.replace(/(?:%[89A-F][0-9A-F])+/g, (run) => encodeURIComponent(decodeURIComponent(run).toLowerCase()));
  }
  return out;
}

/**
 * The HTTP fields of the request a compiled rule set is deciding. The set
 * calls {@link HttpRequestState.load} once per evaluation (and before a trace
 * re-runs it); comparisons then read a field. Splitting the URL and normalising
 * the host are remembered for the last URL and host seen, so a request that
 * repeats (the trace re-run) costs two string comparisons.
 *
 * A field is `undefined` when it is unknown: the context has no `request`, or
 * not the string the field reads. Never `""` for "unknown".
 */
export class HttpRequestState {
  host: string | undefined;
  method: string | undefined;
  path: string | undefined;
  query: string | undefined;
  pathAndQuery: string | undefined;
  /** Why `path` and `pathAndQuery` are unknown for a URL that is a string, else `undefined`. */
  pathProblem: string | undefined;
  #url: string | undefined;
  #routing = -1;
  #pathAndQuery: string | undefined = '';
  #path: string | undefined = '';
  #query = '';
  #pathProblem: string | undefined;
  #rawHost: string | undefined;
  #host = '';

  load(context: RequestContext): void {
    const request = requestOf(context);
    const method = request?.method;
    const host = request?.host;
    const url = request?.url;
    this.method = typeof method === 'string' ? method : undefined;
    if (typeof host === 'string') {
      if (host !== this.#rawHost) {
        this.#rawHost = host;
        this.#host = normalizeHost(host);
      }
      this.host = this.#host;
    } else {
      this.host = undefined;
    }
    if (typeof url === 'string') {
      const routing = (request as RoutedHttpRequest).routing;
      const flags = routingFlags(routing);
      if (url !== this.#url || flags !== this.#routing) this.#split(url, routing, flags);
      this.path = this.#path;
      this.query = this.#query;
      this.pathAndQuery = this.#pathAndQuery;
      this.pathProblem = this.#pathProblem;
    } else {
      this.path = this.query = this.pathAndQuery = this.pathProblem = undefined;
    }
  }

  /**
   * Why a field is unknown when the URL is a string but its path has no normalised form (for the
   * trace: "http.request.uri.path is unknown: <this>"), else `undefined`.
   */
  unknownReason(field: HttpField): string | undefined {
    if (this.pathProblem === undefined || (field !== 'http.request.uri.path' && field !== 'http.request.uri.path_and_query')) return undefined;
    return `the path cannot be normalised: ${this.pathProblem}`;
  }

  #split(url: string, routing: PathRouting | undefined, flags: number): void {
    let target = originForm(url);
    // The fragment never reaches Cloudflare (clients do not send it); Node accepts one in the target.
    const hash = target.indexOf('#');
    if (hash !== -1) target = target.slice(0, hash);
    let q = target.indexOf('?');
    if (flags & SEMICOLON) {
      const semi = target.indexOf(';');
      if (semi !== -1 && (q === -1 || semi < q)) q = semi;
    }
    this.#url = url;
    this.#routing = flags;
    this.#query = q === -1 ? '' : target.slice(q + 1);
    const normalized = normalizePath(q === -1 ? target : target.slice(0, q), routing);
    if (typeof normalized === 'string') {
      this.#path = normalized;
      this.#pathAndQuery = q === -1 ? normalized : normalized + target.slice(q);
      this.#pathProblem = undefined;
    } else {
      this.#path = this.#pathAndQuery = undefined;
      this.#pathProblem = normalized.problem;
    }
  }
}

const SEMICOLON = 8;

/** The routing as a number, so the state re-splits when it changes (a caller may reuse one object). */
function routingFlags(routing: PathRouting | undefined): number {
  if (typeof routing !== 'object' || routing === null) return 0;
  return (routing.caseInsensitive === true ? 1 : 0) | (routing.matchesDecoded === true ? 2 : 0) | (routing.ignoreTrailingSlash === true ? 4 : 0) | (routing.semicolonDelimiter === true ? SEMICOLON : 0);
}

/** The reader of one HTTP field from the loaded state (`undefined`: unknown). */
export function httpFieldReader(field: HttpField): (state: HttpRequestState) => string | undefined {
  switch (field) {
    case 'http.request.host':
      return (state) => state.host;
    case 'http.request.method':
      return (state) => state.method;
    case 'http.request.uri.path':
      return (state) => state.path;
    case 'http.request.uri.query':
      return (state) => state.query;
    case 'http.request.uri.path_and_query':
      return (state) => state.pathAndQuery;
  }
}

/** The context's HTTP attributes, when it carries an object there. */
export function requestOf(context: RequestContext): HttpRequestAttributes | undefined {
  const request = context.request;
  return typeof request === 'object' && request !== null ? request : undefined;
}

/** The key of `RequestContext.request` a field reads (for trace details). */
export function httpSourceKey(field: HttpField): 'host' | 'method' | 'url' {
  return field === 'http.request.host' ? 'host' : field === 'http.request.method' ? 'method' : 'url';
}
