/**
 * Gateway's `http.request.*` fields from a `RequestContext.request`: the host
 * normalised, and the path and query split from the URL. A compiled rule set
 * keeps one {@link HttpRequestMemo}, so a request's URL is split once however
 * many comparisons read it, and a request that repeats (a trace re-run) splits nothing.
 */
import type { HttpRequestAttributes } from '../types.js';

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

/**
 * One-entry memo of the last URL and host a rule set read: comparing the string
 * with the last one is all a repeated read costs.
 */
export class HttpRequestMemo {
  #url: string | undefined;
  #pathAndQuery = '';
  #path = '';
  #query = '';
  #rawHost: string | undefined;
  #host = '';

  #split(url: string): void {
    const target = originForm(url);
    const q = target.indexOf('?');
    this.#url = url;
    this.#pathAndQuery = target;
    this.#path = q === -1 ? target : target.slice(0, q);
    this.#query = q === -1 ? '' : target.slice(q + 1);
  }

  pathAndQuery(url: string): string {
    if (url !== this.#url) this.#split(url);
    return this.#pathAndQuery;
  }

  path(url: string): string {
    if (url !== this.#url) this.#split(url);
    return this.#path;
  }

  query(url: string): string {
    if (url !== this.#url) this.#split(url);
    return this.#query;
  }

  host(raw: string): string {
    if (raw !== this.#rawHost) {
      this.#rawHost = raw;
      this.#host = normalizeHost(raw);
    }
    return this.#host;
  }
}

/**
 * The reader of one HTTP field: its value, or `undefined` when the request does
 * not carry it as a string (unknown, never `""`).
 */
export function httpFieldReader(field: HttpField, memo: HttpRequestMemo): (request: HttpRequestAttributes) => string | undefined {
  switch (field) {
    case 'http.request.host':
      return (r) => (typeof r.host === 'string' ? memo.host(r.host) : undefined);
    case 'http.request.method':
      return (r) => (typeof r.method === 'string' ? r.method : undefined);
    case 'http.request.uri.path':
      return (r) => (typeof r.url === 'string' ? memo.path(r.url) : undefined);
    case 'http.request.uri.query':
      return (r) => (typeof r.url === 'string' ? memo.query(r.url) : undefined);
    case 'http.request.uri.path_and_query':
      return (r) => (typeof r.url === 'string' ? memo.pathAndQuery(r.url) : undefined);
  }
}

/** The key of `RequestContext.request` a field reads (for trace details). */
export function httpSourceKey(field: HttpField): 'host' | 'method' | 'url' {
  return field === 'http.request.host' ? 'host' : field === 'http.request.method' ? 'method' : 'url';
}
