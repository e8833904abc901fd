/**
 * The option rules several factories share, written once: a header name, a relative path, a GUID, a
 * session duration.
 */
import { z } from 'zod';
import { parseGoDuration } from './duration.js';

/** An HTTP header name (RFC 9110 `token`). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A GUID (Entra tenant, object and client ids), any case. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A same-origin relative path: one leading `/` (not `//` or `/\`, which browsers read as another host), no
 * backslash, whitespace, `?` or `#`.
 */
export function relativePath(): z.ZodString {
  return z.string().regex(/^\/(?![/\\])[^\\\s?#]*$/, 'must be a relative path starting with a single `/` (no `?`, `#`, `\\` or spaces)');
}

/** A Go duration of at least one second (`24h`, `30m`, `1h30m`), as Cloudflare's `session_duration`. */
export function sessionDuration(): z.ZodType<string, string> {
  return z.string().refine((v) => {
    try {
      return parseGoDuration(v) >= 1000;
    } catch {
      return false;
    }
  }, 'must be a Go duration of at least `1s`, such as `24h`, `30m` or `1h30m`');
}
