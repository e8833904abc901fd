import type { RequestContext } from '../types.js';
import type { AccessServiceAssertion } from './types.js';

/**
 * The `serviceToken` request context of a verified service-token assertion, for `service_token` and
 * `any_valid_service_token` rules. Cloudflare's assertion names the token by its Client ID
 * (`common_name`); `service_token` rules name it by its token id (`token_id`). `known` maps one to the
 * other (the adapters' `serviceTokens`: `{ tokenId, clientId }`): a listed client id gives its token id;
 * an unlisted one gives its client id as the id, so it passes `any_valid_service_token` (Cloudflare
 * accepted it at the edge: that is what the assertion says) and matches no `service_token` rule (a token
 * id is a UUID, never a `….access` client id).
 *
 * @example
 * ```ts
 * import { accessServiceTokenContext, type AccessServiceAssertion } from 'entragate';
 * declare const service: AccessServiceAssertion;
 * const context = { serviceToken: accessServiceTokenContext(service, [{ tokenId: '3b1d…', clientId: 'e367….access' }]) };
 * ```
 */
export function accessServiceTokenContext(
  service: AccessServiceAssertion,
  known: ReadonlyArray<{ tokenId: string; clientId: string }> = [],
): NonNullable<RequestContext['serviceToken']> {
  for (const t of known) if (t.clientId === service.commonName) return { tokenId: t.tokenId };
  return { tokenId: service.commonName };
}
