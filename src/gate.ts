import { z } from 'zod';
import { idpConfigSchema, parseWith, type IdpConfig } from './config/idp.js';
import { cloudHosts, type CloudHosts } from './config/clouds.js';
import { KeyStore } from './token/key-store.js';
import { TokenVerifier, type VerifiedToken, type VerifyOptions } from './token/verifier.js';
import type { Identity } from './types.js';

const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a tenant GUID');
const httpUrl = z.string().regex(/^https?:\/\/[^/]+/, 'must be an http(s) URL');

/**
 * Options of `createGate`, validated once at construction.
 */
export const gateOptionsSchema = z.strictObject({
  /** Cloudflare's identity-provider JSON for Entra ID (`type: "azureAD"`). */
  idp: idpConfigSchema,
  /**
   * Tenants whose tokens are accepted. Default: only `config.directory_id` (single tenant).
   * An array adds tenants to it (multi-tenant allow-list); `"*"` accepts any Entra tenant,
   * checking the `{tenantid}` issuer template against `tid`.
   */
  tenants: z.union([z.array(guid).min(1), z.literal('*')]).optional(),
  /** Audiences accepted besides the client id and `api://<client id>`. */
  audiences: z.array(z.string().min(1)).default([]),
  /** Token versions accepted. @defaultValue `["1.0", "2.0"]` */
  tokenVersions: z.array(z.enum(['1.0', '2.0'])).min(1).default(['1.0', '2.0']),
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds. @defaultValue 60 */
  clockTolerance: z.number().int().min(0).max(600).default(60),
  /** Tokens longer than this are refused before any parsing. @defaultValue 16384 */
  maxTokenBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  /** Overrides the login authority of `azure_cloud` (tests, private clouds). */
  authorityHost: httpUrl.optional(),
  /** Overrides the Microsoft Graph host of `azure_cloud`. */
  graphHost: httpUrl.optional(),
  jwks: z
    .strictObject({
      /** Timeout of each discovery/JWKS fetch, ms. @defaultValue 5000 */
      timeout: z.number().int().min(100).max(60_000).default(5_000),
      /** Minimum time between refetches for an unknown `kid`, ms. Microsoft: 5 minutes. @defaultValue 300000 */
      cooldown: z.number().int().min(0).default(300_000),
      /** After a failed fetch, wait this long before trying again, ms. @defaultValue 5000 */
      failureBackoff: z.number().int().min(0).default(5_000),
      /** Refresh keys in the background when older than this, ms. Microsoft: hourly. @defaultValue 3600000 */
      refreshInterval: z.number().int().min(1_000).default(3_600_000),
    })
    .prefault({}),
  /** The verified-token cache; `false` turns it off. @defaultValue `{ max: 10000 }` */
  tokenCache: z.union([z.literal(false), z.strictObject({ max: z.number().int().min(1).default(10_000) })]).prefault({}),
  /** `fetch` used for discovery and JWKS (tests inject one). @defaultValue `globalThis.fetch` */
  fetch: z.custom<typeof fetch>((v) => typeof v === 'function', 'must be a fetch function').optional(),
  /** Clock in ms (tests inject one). @defaultValue `Date.now` */
  now: z.custom<() => number>((v) => typeof v === 'function', 'must be a function returning ms').optional(),
});

/** Options accepted by `createGate`. */
export type GateOptions = z.input<typeof gateOptionsSchema>;

/** The framework-free core: verifies tokens and (as the other modules land) resolves groups and decides. */
export interface Gate {
  /** The validated identity-provider configuration. */
  readonly idp: IdpConfig;
  /** The authority and Graph hosts in use. */
  readonly hosts: CloudHosts;
  /**
   * Verifies an Entra ID token (ID or access token, v1 or v2) and returns its identity,
   * with `membership` as the token states it (complete, absent or overage). Rejects with
   * a `TokenError` (401-class) or a `JwksError` (503 when keys cannot be fetched).
   * It does not look up groups beyond the token: see `identify`.
   */
  verify(token: string, options?: VerifyOptions): Promise<Identity>;
  /** Like `verify`, and also returns the verified claims (frozen). */
  verifyToken(token: string, options?: VerifyOptions): Promise<VerifiedToken>;
  /** Forgets every cached verification. */
  clearTokenCache(): void;
}

/**
 * Creates a gate from Cloudflare's Entra identity-provider JSON. Everything that
 * can be computed once is computed here; a bad option throws a `ConfigError`
 * (`ERR_CONFIG_INVALID`) synchronously.
 *
 * @example
 * ```ts
 * import { createGate } from 'entragate';
 * const gate = createGate({
 *   idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: process.env.CLIENT_ID!, directory_id: process.env.TENANT_ID! } },
 * });
 * const identity = await gate.verify(bearerToken);
 * console.log(identity.email, identity.membership.state);
 * ```
 */
export function createGate(options: GateOptions): Gate {
  const o = parseWith(gateOptionsSchema, options, 'gate');
  const idp = o.idp;
  const hosts = cloudHosts(idp.config.azure_cloud, {
    ...(o.authorityHost ? { authorityHost: o.authorityHost } : {}),
    ...(o.graphHost ? { graphHost: o.graphHost } : {}),
  });
  const now = o.now ?? Date.now;
  const keys = new KeyStore({
    authorityHost: hosts.authorityHost,
    fetch: o.fetch ?? globalThis.fetch,
    now,
    timeout: o.jwks.timeout,
    cooldown: o.jwks.cooldown,
    failureBackoff: o.jwks.failureBackoff,
    refreshInterval: o.jwks.refreshInterval,
  });
  const home = idp.config.directory_id.toLowerCase();
  const tenants = o.tenants === '*' ? ('*' as const) : new Set([home, ...(o.tenants ?? []).map((t) => t.toLowerCase())]);
  const clientId = idp.config.client_id;
  const verifier = new TokenVerifier({
    keys,
    tenants,
    audiences: new Set([clientId, `api://${clientId}`, ...o.audiences]),
    versions: new Set(o.tokenVersions),
    clockTolerance: o.clockTolerance,
    maxTokenBytes: o.maxTokenBytes,
    mapping: { idpId: idp.id ?? idp.uid ?? 'azureAD', emailClaim: idp.config.email_claim_name, claims: idp.config.claims },
    cacheMax: o.tokenCache === false ? 0 : o.tokenCache.max,
    now,
  });

  return {
    idp,
    hosts,
    verify: (token, verifyOptions) => verifier.verify(token, verifyOptions),
    verifyToken: (token, verifyOptions) => verifier.verifyToken(token, verifyOptions),
    clearTokenCache: () => verifier.clearCache(),
  };
}
