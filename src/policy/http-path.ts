/**
 * A request path normalised as Cloudflare's edge normalises it and as the
 * framework in front routes it (case, trailing slash, `;`), or why it has no
 * single normalised form; and the shared frozen routing objects. Split from
 * `http-request.ts`, which re-exports it.
 */
import type { PathRouting } from '../types.js';

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

export const SEMICOLON = 8;

/** The routing as a number, so the state re-splits when it changes (a caller may reuse one object). */
export function routingFlags(routing: PathRouting | undefined): number {
  if (typeof routing !== 'object' || routing === null) return 0;
  return (
    (routing.caseInsensitive === true ? 1 : 0) |
    (routing.matchesDecoded === true ? 2 : 0) |
    (routing.ignoreTrailingSlash === true ? 4 : 0) |
    (routing.semicolonDelimiter === true ? SEMICOLON : 0)
  );
}
