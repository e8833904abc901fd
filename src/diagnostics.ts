import diagnostics from 'node:diagnostics_channel';

/**
 * The `node:diagnostics_channel` channels entragate publishes on. Subscribe to
 * observe decisions, JWKS refreshes, Graph calls and SCIM writes without a
 * logger dependency. Messages never carry a token or a secret.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * diagnostics.subscribe('entragate:decision', (message) => console.log(message));
 * ```
 */
export const CHANNEL_NAMES = {
  decision: 'entragate:decision',
  decisionDifference: 'entragate:decision:difference',
  jwks: 'entragate:jwks:fetch',
  tokenCacheMiss: 'entragate:token:cache-miss',
  gateWarning: 'entragate:gate:warning',
  revoked: 'entragate:session:revoked',
} as const;

export const channels = {
  decision: diagnostics.channel(CHANNEL_NAMES.decision),
  decisionDifference: diagnostics.channel(CHANNEL_NAMES.decisionDifference),
  jwks: diagnostics.channel(CHANNEL_NAMES.jwks),
  tokenCacheMiss: diagnostics.channel(CHANNEL_NAMES.tokenCacheMiss),
  gateWarning: diagnostics.channel(CHANNEL_NAMES.gateWarning),
  revoked: diagnostics.channel(CHANNEL_NAMES.revoked),
};

/** Publishes only when someone listens, so the hot path pays one property read. */
export function publish(channel: diagnostics.Channel, message: object): void {
  if (channel.hasSubscribers) channel.publish(message);
}
