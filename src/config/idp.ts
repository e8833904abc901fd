import { z } from 'zod';
import { AZURE_CLOUDS } from './clouds.js';
import { parseWith } from './parse.js';
import { GUID } from './validators.js';

export { parseWith };


/** Cloudflare's `config` object of an `azureAD` identity provider. */
const azureAdConfigSchema = z.strictObject({
  client_id: z.string().min(1, 'the application (client) id is required'),
  client_secret: z.string().min(1).optional(),
  directory_id: z
    .string()
    .regex(GUID, 'the directory (tenant) id must be a GUID; for multi-tenant apps set `tenants` on the gate'),
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
  /** Deprecated by Cloudflare; `true` is read as `identity_update_behavior: "reauth"`. */
  group_member_deprovision: z.boolean().optional(),
  secret: z.string().min(1).optional(),
  scim_base_url: z.string().optional(),
});

/**
 * Cloudflare's identity-provider JSON for Entra ID (`type: "azureAD"`), accepted as the
 * API returns it (`GET /accounts/{id}/access/identity_providers/{idp}`).
 */
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

/** The identity-provider JSON as a user writes it (defaults optional). */
export type IdpConfigInput = z.input<typeof idpConfigSchema>;
/** The identity-provider configuration after validation, with defaults filled in. */
export type IdpConfig = z.output<typeof idpConfigSchema>;
/** The `scim_config` after validation. */
export type ScimConfig = z.output<typeof scimConfigSchema>;

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
