import diagnostics from 'node:diagnostics_channel';
import { TokenError, type TokenErrorCode } from '../errors/index.js';

/**
 * The `node:diagnostics_channel` channel on which every refused token is reported: `{ code,
 * message, detail? }`. `message` is the error's own (what the caller reads in the 401's
 * `error_description`); `detail`, when present, is what this gate expected — the issuer it
 * wanted, the token versions or size it accepts, the key set it looked in — which is the
 * operator's to read and never the caller's: an unauthenticated caller must not learn the home
 * tenant or the configuration from a refusal. Neither carries the token.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * diagnostics.subscribe('entragate:token:rejected', (m) => console.warn('token refused', m));
 * ```
 */
export const TOKEN_REJECTED_CHANNEL = 'entragate:token:rejected';

const channel = diagnostics.channel(TOKEN_REJECTED_CHANNEL);

/**
 * A `TokenError` whose message is fit for the caller; `detail` goes to the channel only.
 * Publishes only when someone listens, so a refusal costs one property read more.
 */
export function rejected(code: TokenErrorCode, message: string, detail?: Readonly<Record<string, unknown>>): TokenError {
  if (channel.hasSubscribers) channel.publish(detail === undefined ? { code, message } : { code, message, detail });
  return new TokenError(code, message);
}
