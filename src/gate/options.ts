/**
 * The options of `createGate`: the zod schema (internal, validated once at construction) and the input type.
 */
import { z } from 'zod';
import { idpConfigSchema } from '../config/idp.js';
import { GUID, sessionDuration } from '../config/validators.js';
import { isSecureHost } from '../token/secure-host.js';
import type { GroupSource } from '../groups/types.js';
import type { RevocationList } from '../session/revocation.js';
import type { AccessPolicy, AccessRuleGroup, GatewayRule } from '../policy/types.js';
import { GATEWAY_ACTIONS, GATEWAY_FILTERS } from '../policy/options.js';
import type { DecisionDifference } from '../policy/shadow.js';
import type { Gate } from './types.js';
import type { Assert, Equal } from '../config/type-equal.js';
import type { GateOptions } from './gate-options.js';

/** Whether a value is a {@link GroupSource} (`{ name, resolve }`). */
export function isGroupSource(v: unknown): v is GroupSource {
  return typeof v === 'object' && v !== null && typeof (v as GroupSource).resolve === 'function' && typeof (v as GroupSource).name === 'string';
}

const groupSource = z.custom<GroupSource>(isGroupSource, 'must be a GroupSource ({ name, resolve(identity, context) })');
const goDuration = sessionDuration();

const policyList = z.array(z.custom<AccessPolicy>((v) => typeof v === 'object' && v !== null, 'must be an Access policy object'));
const applicationSchema = z.strictObject({
  /** The app's Access policies, Cloudflare's API JSON. */
  policies: policyList,
  /** The app's session duration (a Go duration), used when the deciding policy has none. @defaultValue `24h` */
  session_duration: goDuration.default('24h'),
  /** The app's AUD tag (the `aud` of its session tokens). @defaultValue the application name */
  aud: z.string().min(1).optional(),
});
export const gatewaySchema = z.strictObject({
  rules: z.array(z.custom<GatewayRule>((v) => typeof v === 'object' && v !== null, 'must be a Gateway rule object')),
  defaultAction: z.enum(GATEWAY_ACTIONS).optional(),
  matchExtendedEmail: z.boolean().optional(),
  filter: z.enum(GATEWAY_FILTERS).optional(),
});

const guid = z.string().regex(GUID, 'must be a tenant GUID');
/** Keys fetched in clear text could be swapped on the way: https, except on this machine (tests, the mock). */
const hostUrl = z.string().refine(isSecureHost, 'must be an https URL (http only for localhost, 127.0.0.1 or [::1])');

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
  tokenVersions: z
    .array(z.enum(['1.0', '2.0']))
    .min(1)
    .default(['1.0', '2.0']),
  /**
   * Accept app-only tokens (client credentials: a service principal, no user; no `scp`, or
   * `idtyp: "app"`). Off by default: any app that can get a token for your API would otherwise
   * pass as a "user". @defaultValue false
   */
  allowAppTokens: z.boolean().default(false),
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds. @defaultValue 60 */
  clockToleranceSeconds: z.number().int().min(0).max(600).default(60),
  /** Tokens longer than this are refused before any parsing. @defaultValue 16384 */
  maxTokenBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  /** Overrides the login authority of `azure_cloud` (tests, private clouds). */
  authorityHost: hostUrl.optional(),
  /** Overrides the Microsoft Graph host of `azure_cloud`. */
  graphHost: hostUrl.optional(),
  jwks: z
    .strictObject({
      /** Timeout of each discovery/JWKS fetch, ms. @defaultValue 5000 */
      timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
      /** Minimum time between refetches for an unknown `kid`, ms. Microsoft: 5 minutes. @defaultValue 300000 */
      cooldownMs: z.number().int().min(0).default(300_000),
      /** After a failed fetch, wait this long before trying again, ms. @defaultValue 5000 */
      failureBackoffMs: z.number().int().min(0).default(5_000),
      /** Refresh keys in the background when older than this, ms. Microsoft: hourly. @defaultValue 3600000 */
      refreshIntervalMs: z.number().int().min(1_000).default(3_600_000),
    })
    .prefault({}),
  /** The verified-token cache; `false` turns it off. @defaultValue `{ max: 10000 }` */
  tokenCache: z.union([z.literal(false), z.strictObject({ max: z.number().int().min(1).default(10_000) })]).prefault({}),
  /**
   * Where groups come from when the token does not list them all (claim absent or in
   * overage): one source or a chain tried in order (`entragate/graph`, the directory).
   * A token with a complete `groups` claim is used as is unless `tokenGroups` is `ignore`.
   */
  groups: z
    .union([
      groupSource,
      z.array(groupSource).min(1),
      z.custom<(gate: Pick<Gate, 'idp' | 'hosts'>) => GroupSource | readonly GroupSource[]>(
        (v) => typeof v === 'function',
        'must be a GroupSource, an array of them, or a function of the gate returning one',
      ),
    ])
    .optional(),
  /** `prefer`: a complete `groups` claim is the answer. `ignore`: always ask the sources. @defaultValue `prefer` */
  tokenGroups: z.enum(['prefer', 'ignore']).default('prefer'),
  /**
   * The revocations every credential is checked against: bearer tokens here, sessions in the login
   * (`entragate/login` reads them from the gate). Pass the directory store's `store.revocations` so SCIM
   * deprovisioning, `reauth` and every instance's revocations count. @defaultValue an in-memory list
   */
  revocations: z
    .custom<RevocationList>(
      (v) =>
        typeof v === 'object' && v !== null && ['revokeUser', 'revokeApp', 'isRevoked'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      "must have `revokeUser`, `revokeApp` and `isRevoked` (a revocation list, or the store's `revocations`)",
    )
    .optional(),
  /** Access applications by name, each with its policies (Cloudflare's API JSON). */
  applications: z.record(z.string().min(1), applicationSchema).default({}),
  /** Reusable rule groups (Access groups) referenced by `{"group":{"id":…}}`. */
  ruleGroups: z.array(z.custom<AccessRuleGroup>((v) => typeof v === 'object' && v !== null, 'must be a rule group object')).default([]),
  /** Lists for `email_list`, `ip_list` and Gateway `in $<id>`: list id → values. */
  lists: z.record(z.string().min(1), z.array(z.string())).default({}),
  /** Gateway rules, evaluated by `authorize(…, { gateway: true })`. */
  gateway: gatewaySchema.optional(),
  /**
   * Report-only candidates: evaluated beside the enforced policies on every decision, never
   * enforced; differences are published on `entragate:decision:difference` and to `onDifference`.
   */
  reportOnly: z
    .strictObject({
      applications: z.record(z.string().min(1), z.strictObject({ policies: policyList })).default({}),
      gateway: gatewaySchema.optional(),
      onDifference: z.custom<(difference: DecisionDifference, where: string) => void>((v) => typeof v === 'function').optional(),
    })
    .optional(),
  /** The global session duration (Cloudflare's org setting). @defaultValue `24h` */
  session_duration: goDuration.default('24h'),
  /**
   * Cloudflare Access in front of the app: the adapters then take the identity from the application token
   * Cloudflare sends (`Cf-Access-Jwt-Assertion`, the `CF_Authorization` cookie as a fallback), verified
   * against the team's keys, and resolve it through the same pipeline (revocations, the directory's
   * standing, groups). `aud` is the Access application's AUD tag (or several); an application of the gate
   * whose `aud` is set also requires its own tag. Durations in ms.
   */
  cloudflareAccess: z
    .strictObject({
      /** `https://<team>.cloudflareaccess.com`, the host, or the bare team name. */
      teamDomain: z.string().min(1),
      /** The AUD tag(s) of the Access application(s) in front. */
      aud: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
      /** The Cloudflare IdP id of the Entra login method, stamped as `identity.idp.id`. @defaultValue the IdP's `id`, else `azureAD` */
      idpId: z.string().min(1).optional(),
      /** The custom OIDC claim carrying the Entra object id (so the SCIM directory can match it). */
      oidClaim: z.string().min(1).optional(),
      /** The Entra tenant the Access application admits alone (so the directory may match its users by email). */
      tenantId: z.string().regex(GUID, 'must be a tenant GUID').optional(),
      timeoutMs: z.number().int().min(100).max(60_000).optional(),
      cooldownMs: z.number().int().min(0).optional(),
      failureBackoffMs: z.number().int().min(0).optional(),
      refreshIntervalMs: z.number().int().min(1_000).optional(),
      cacheMax: z.number().int().min(0).optional(),
    })
    .optional(),
  /** `fetch` used for discovery and JWKS (tests inject one). @defaultValue `globalThis.fetch` */
  fetch: z.custom<typeof fetch>((v) => typeof v === 'function', 'must be a fetch function').optional(),
  /** Clock in ms (tests inject one). @defaultValue `Date.now` */
  now: z.custom<() => number>((v) => typeof v === 'function', 'must be a function returning ms').optional(),
});

// The hand-written interface (gate-options.ts) and the schema accept exactly the same input.
type _GateOptionsMatch = Assert<Equal<z.input<typeof gateOptionsSchema>, GateOptions>>;

/** The gateway rules of the options, validated. */
export type ParsedGatewayOptions = z.output<typeof gatewaySchema>;
/** The options, validated, with their defaults. */
export type ParsedGateOptions = z.output<typeof gateOptionsSchema>;
