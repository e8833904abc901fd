import { z } from 'zod';
import { AZURE_CLOUDS } from './clouds.js';
import { parseWith } from './parse.js';
import type { Assert, Equal } from './type-equal.js';
import { GUID } from './validators.js';

export { parseWith };

/**
 * The `config` object of Cloudflare's `azureAD` identity provider, as Cloudflare's API returns it
 * (`GET /accounts/{account_id}/access/identity_providers/{identity_provider_id}`).
 */
export interface AzureAdConfigInput {
  /** The Application (client) ID from the app registration's Overview page. */
  client_id: string;
  /** A client secret's Value (Certificates & secrets). Only the login and the Graph source use it; token verification does not. @defaultValue none */
  client_secret?: string | undefined;
  /** The Directory (tenant) ID, a GUID. For multi-tenant apps also set `tenants` on the gate. */
  directory_id: string;
  /** Read groups: from the token's `groups` claim, and from Graph or the directory when the claim overflows. @defaultValue `false` */
  support_groups?: boolean | undefined;
  /** Use PKCE (S256) in the login's authorization-code flow. @defaultValue `false` */
  pkce_enabled?: boolean | undefined;
  /** The claim read as the user's email (for example `upn`). @defaultValue `email`, then `preferred_username`, then `upn` */
  email_claim_name?: string | undefined;
  /** Extra token claims copied into `identity.claims`. @defaultValue `[]` */
  claims?: string[] | undefined;
  /** The `prompt` sent with the login redirect. @defaultValue none sent */
  prompt?: 'login' | 'select_account' | 'none' | undefined;
  /** Conditional Access sync: `auth_context` rules in Access policies are honoured only when `true`, as in Cloudflare. @defaultValue `false` */
  conditional_access_enabled?: boolean | undefined;
  /**
   * The national cloud. Cloudflare documents only `"default"`; `public`, `usgov`, `usgov_dod` and
   * `china` are entragate's names for Microsoft's other clouds (unconfirmed as Cloudflare values).
   * @defaultValue `"default"`
   */
  azure_cloud?: AzureCloudName | undefined;
  /** Cloudflare's redirect URL; accepted so the JSON can be pasted as is, not used. @defaultValue none */
  redirect_url?: string | undefined;
}

/** A value of `azure_cloud`. */
export type AzureCloudName = keyof typeof AZURE_CLOUDS;

/** Cloudflare's `scim_config` of an identity provider: what SCIM provisioning does to sessions. */
export interface ScimConfigInput {
  /** SCIM provisioning on; `createScimHandler` refuses a gate without it. @defaultValue `false` */
  enabled?: boolean | undefined;
  /** A deactivated or deleted user's sessions are revoked. @defaultValue `false` */
  user_deprovision?: boolean | undefined;
  /** A deprovisioned user also loses their seat (needs `user_deprovision`). @defaultValue `false` */
  seat_deprovision?: boolean | undefined;
  /**
   * What an update to a user or their groups does: `automatic` refreshes the identity in place, `reauth`
   * revokes the user's sessions, `no_action` waits for the next login. @defaultValue `"no_action"`
   */
  identity_update_behavior?: 'automatic' | 'reauth' | 'no_action' | undefined;
  /** Deprecated by Cloudflare; `true` is read as `identity_update_behavior: "reauth"`. @defaultValue none */
  group_member_deprovision?: boolean | undefined;
  /** Cloudflare's SCIM secret; accepted so the JSON can be pasted, the handler takes its own `secrets`. @defaultValue none */
  secret?: string | undefined;
  /** Cloudflare's SCIM endpoint; accepted so the JSON can be pasted as is, not used. @defaultValue none */
  scim_base_url?: string | undefined;
}

/**
 * Cloudflare's identity-provider JSON for Entra ID (`type: "azureAD"`), as a user writes it (defaults
 * optional), or as Cloudflare's API returns it.
 */
export interface IdpConfigInput {
  /** Always `"azureAD"`. */
  type: 'azureAD';
  /** The login method's display name. */
  name: string;
  /** Cloudflare's id of the identity provider; stamped as `identity.idp.id`. @defaultValue `uid`, else `"azureAD"` */
  id?: string | undefined;
  /** Cloudflare's uid of the identity provider (older API answers). @defaultValue none */
  uid?: string | undefined;
  /** Accepted from Cloudflare's API answer, not used. @defaultValue none */
  version?: string | undefined;
  /** Accepted from Cloudflare's API answer, not used. @defaultValue none */
  read_only?: boolean | undefined;
  /** Accepted from Cloudflare's API answer, not used. @defaultValue none */
  scim_base_url?: string | undefined;
  /** The Entra ID settings. */
  config: AzureAdConfigInput;
  /** SCIM provisioning settings. @defaultValue absent: SCIM off */
  scim_config?: ScimConfigInput | undefined;
}

/** Cloudflare's `config` object of an `azureAD` identity provider. */
const azureAdConfigSchema = z.strictObject({
  client_id: z.string().min(1, 'the application (client) id is required'),
  client_secret: z.string().min(1).optional(),
  directory_id: z.string().regex(GUID, 'the directory (tenant) id must be a GUID; for multi-tenant apps set `tenants` on the gate'),
  support_groups: z.boolean().default(false),
  pkce_enabled: z.boolean().default(false),
  email_claim_name: z.string().min(1).optional(),
  claims: z.array(z.string().min(1)).default([]),
  prompt: z.enum(['login', 'select_account', 'none']).optional(),
  conditional_access_enabled: z.boolean().default(false),
  /**
   * The national cloud. Cloudflare documents only `"default"`; `public`, `usgov`, `usgov_dod` and
   * `china` are entragate's names for Microsoft's other clouds (unconfirmed as Cloudflare values).
   */
  azure_cloud: z.enum(Object.keys(AZURE_CLOUDS) as [keyof typeof AZURE_CLOUDS]).default('default'),
  redirect_url: z.string().optional(),
});

/** Cloudflare's `scim_config` of an identity provider. */
const scimConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  user_deprovision: z.boolean().default(false),
  seat_deprovision: z.boolean().default(false),
  identity_update_behavior: z.enum(['automatic', 'reauth', 'no_action']).default('no_action'),
  /** Deprecated by Cloudflare; `true` is read as `identity_update_behavior: "reauth"`. @defaultValue none */
  group_member_deprovision: z.boolean().optional(),
  secret: z.string().min(1).optional(),
  scim_base_url: z.string().optional(),
});

/**
 * Cloudflare's identity-provider JSON for Entra ID (`type: "azureAD"`), accepted as the
 * API returns it (`GET /accounts/{id}/access/identity_providers/{idp}`).
 */
/** @internal */
export const idpConfigSchema = z
  .strictObject({
    type: z.literal('azureAD'),
    name: z.string().min(1),
    id: z.string().min(1).optional(),
    uid: z.string().min(1).optional(),
    version: z.string().optional(),
    read_only: z.boolean().optional(),
    scim_base_url: z.string().optional(),
    config: azureAdConfigSchema,
    scim_config: scimConfigSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.scim_config?.seat_deprovision && !value.scim_config.user_deprovision) {
      ctx.addIssue({
        code: 'custom',
        path: ['scim_config', 'seat_deprovision'],
        message: '`seat_deprovision` cannot be enabled unless `user_deprovision` is also enabled',
      });
    }
  });

type _IdpInputMatches = Assert<Equal<z.input<typeof idpConfigSchema>, IdpConfigInput>>;
/** The Entra ID settings after validation, with defaults filled in. */
export interface AzureAdConfig extends Omit<AzureAdConfigInput, 'support_groups' | 'pkce_enabled' | 'claims' | 'conditional_access_enabled' | 'azure_cloud'> {
  /** Read groups from the token, and from a group source on overage. */
  support_groups: boolean;
  /** PKCE (S256) in the login. */
  pkce_enabled: boolean;
  /** Extra token claims copied into `identity.claims`. */
  claims: string[];
  /** Conditional Access sync: whether `auth_context` rules count. */
  conditional_access_enabled: boolean;
  /** The national cloud. */
  azure_cloud: AzureCloudName;
}

/** The `scim_config` after validation, with defaults filled in. */
export interface ScimConfig extends Omit<ScimConfigInput, 'enabled' | 'user_deprovision' | 'seat_deprovision' | 'identity_update_behavior'> {
  /** SCIM provisioning on. */
  enabled: boolean;
  /** A deactivated or deleted user's sessions are revoked. */
  user_deprovision: boolean;
  /** A deprovisioned user also loses their seat. */
  seat_deprovision: boolean;
  /** What an update to a user or their groups does to sessions. */
  identity_update_behavior: 'automatic' | 'reauth' | 'no_action';
}

/** The identity-provider configuration after validation, with defaults filled in (`gate.idp`). */
export interface IdpConfig extends Omit<IdpConfigInput, 'config' | 'scim_config'> {
  /** The Entra ID settings. */
  config: AzureAdConfig;
  /** SCIM provisioning settings, when given. @defaultValue absent: SCIM off */
  scim_config?: ScimConfig | undefined;
}

type _IdpOutputMatches = Assert<Equal<z.output<typeof idpConfigSchema>, IdpConfig>>;

/**
 * Validates Cloudflare's identity-provider JSON for Entra ID once, and fills defaults.
 * Throws a `ConfigError` (`ERR_CONFIG_INVALID`) that names every bad field.
 * The message never includes `client_secret` or the SCIM secret.
 *
 * @example
 * ```ts
 * import { parseIdpConfig } from 'entragate';
 * const idp = parseIdpConfig({
 *   type: 'azureAD', name: 'Entra ID',
 *   config: { client_id: '…', directory_id: '8d6c…', support_groups: true },
 * });
 * ```
 */
export function parseIdpConfig(input: unknown): IdpConfig {
  return parseWith(idpConfigSchema, input, 'identity provider');
}

/** Whether a string is a GUID (Entra tenant, object and client ids). */
export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && GUID.test(value);
}
