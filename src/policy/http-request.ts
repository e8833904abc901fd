/**
 * Gateway's `http.request.*` fields from a `RequestContext.request`: the host
 * normalised, the fragment dropped, and the path normalised as Cloudflare's edge
 * normalises it (and as the framework in front routes it). A compiled rule set
 * keeps one {@link HttpRequestState} and loads it once per evaluation, so a
 * request's URL is split once however many comparisons read it, and a request
 * that repeats (a trace re-run) splits nothing.
 */
import type { HttpRequestAttributes, PathRouting, RequestContext } from '../types.js';
import { normalizePath, routingFlags, SEMICOLON } from './http-path.js';

export { normalizePath, pathRouting, type UnnormalizablePath } from './http-path.js';

/** The HTTP fields, each a Bytes field. */
export type HttpField = 'http.request.host' | 'http.request.method' | 'http.request.uri.path' | 'http.request.uri.path_and_query' | 'http.request.uri.query';

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

/** The request attributes with the routing the adapters add (see {@link PathRouting}). */
export type RoutedHttpRequest = HttpRequestAttributes;
export type { PathRouting };

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
