import { ConfigError } from '../errors/index.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const SEGMENT = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go duration string (`"24h"`, `"30m"`, `"1h30m"`, `"1.5h"`, `"90s"`), the
 * format of Cloudflare's `session_duration`, into milliseconds. A sign, an empty string,
 * a bare number other than `0` and unknown units are refused with a `ConfigError`.
 * It does not clamp the value: callers decide what range they accept.
 *
 * @example
 * ```ts
 * import { parseGoDuration } from 'entragate/login';
 * parseGoDuration('1h30m'); // 5_400_000
 * ```
 */
export function parseGoDuration(value: string): number {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw new ConfigError('ERR_CONFIG_INVALID', `the duration \`${String(value).slice(0, 64)}\` is not a Go duration such as \`24h\` or \`1h30m\``);
  }
  if (value === '0') return 0;
  let total = 0;
  let at = 0;
  while (at < value.length) {
    SEGMENT.lastIndex = at;
    const match = SEGMENT.exec(value);
    if (match === null) {
      throw new ConfigError('ERR_CONFIG_INVALID', `the duration \`${value}\` is not a Go duration such as \`24h\` or \`1h30m\``);
    }
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    at = SEGMENT.lastIndex;
  }
  if (!Number.isFinite(total)) throw new ConfigError('ERR_CONFIG_INVALID', `the duration \`${value}\` is too large`);
  return total;
}

/** The three session durations Cloudflare consults, most specific first. */
export interface SessionDurations {
  /** The matching policy's `session_duration`, when it sets one. */
  policy?: string | undefined;
  /** The application's `session_duration`. */
  app?: string | undefined;
  /** The organisation's global session duration. @defaultValue `"24h"` */
  global?: string | undefined;
}

/**
 * Picks a session length with Cloudflare's precedence (policy, then application,
 * then global, then 24h) and returns it in whole seconds. The chosen value must be
 * at least one second: a zero or sub-second duration is refused, as a session that
 * is born expired would only loop the browser through the login.
 *
 * @example
 * ```ts
 * import { resolveSessionDuration } from 'entragate/login';
 * resolveSessionDuration({ policy: undefined, app: '8h', global: '24h' }); // 28800
 * ```
 */
export function resolveSessionDuration(durations: SessionDurations): number {
  const chosen = durations.policy ?? durations.app ?? durations.global ?? '24h';
  const seconds = Math.floor(parseGoDuration(chosen) / 1000);
  if (seconds < 1) throw new ConfigError('ERR_CONFIG_INVALID', `the session duration \`${chosen}\` must be at least \`1s\``);
  return seconds;
}
