import diagnostics from 'node:diagnostics_channel';

/**
 * The `node:diagnostics_channel` channels of `entragate/login`. Messages carry
 * event names, user ids and error codes; never a token, an authorization code,
 * a PKCE verifier, a state, a nonce or a secret.
 *
 * - `entragate:login`: `{ event: 'start' | 'success' | 'failure' | 'logout', code?, message?, user_uuid? }`
 *   (`message` on failures: the full reason, also for a 5xx whose page does not show it)
 * - `entragate:session:revoked`: `{ event: 'revoke-user' | 'revoke-app' | 'refused', subjects?, appId?, notBefore?, user_uuid?, code? }`
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { LOGIN_CHANNEL_NAMES } from 'entragate/login';
 * diagnostics.subscribe(LOGIN_CHANNEL_NAMES.login, (message) => console.log(message));
 * ```
 */
export const LOGIN_CHANNEL_NAMES = {
  login: 'entragate:login',
  revoked: 'entragate:session:revoked',
} as const;

export const loginChannels = {
  login: diagnostics.channel(LOGIN_CHANNEL_NAMES.login),
  revoked: diagnostics.channel(LOGIN_CHANNEL_NAMES.revoked),
};
