/*
 * The options of `createGate`, written out by hand so an editor shows each one's documentation and
 * default. The zod schema that validates them (in `gate.ts`) is internal and checked against this
 * interface at compile time, so the two cannot drift.
 *
 * Units: durations in milliseconds are named `…Ms`, in seconds `…Seconds`; `session_duration` is a Go
 * duration string because Cloudflare's JSON uses one there.
 */
import type { CloudHosts } from '../config/clouds.js';
import type { IdpConfig, IdpConfigInput } from '../config/idp.js';
import type { GroupSource } from '../groups/types.js';
import type { RevocationList } from '../session/revocation.js';
import type { DecisionDifference } from '../policy/shadow.js';
import type { AccessPolicy, AccessRuleGroup, GatewayRule } from '../policy/types.js';
import type { GATEWAY_ACTIONS, GATEWAY_FILTERS } from '../policy/options.js';

/** An Access application of the gate: its policies and session length, as in Cloudflare's API JSON. */
export interface GateApplicationOptions {
  /** The application's Access policies, Cloudflare's API JSON, evaluated in order. */
  policies: AccessPolicy[];
  /** The application's session duration (a Go duration), used when the deciding policy sets none. @defaultValue `"24h"` */
  session_duration?: string | undefined;
  /** The application's AUD tag (the `aud` of its Cloudflare Access tokens). @defaultValue the application's name */
  aud?: string | undefined;
}

/** Gateway rules and how they are evaluated. */
export interface GatewayOptions {
  /** Cloudflare Gateway HTTP rules, Cloudflare's API JSON, evaluated by precedence. */
  rules: GatewayRule[];
  /** The action when no rule matches. @defaultValue `"allow"`, as Cloudflare */
  defaultAction?: (typeof GATEWAY_ACTIONS)[number] | undefined;
  /** Match `any(identity.email[*] …)` against the extended (`+tag`) address too. @defaultValue `false` */
  matchExtendedEmail?: boolean | undefined;
  /** Keep only rules whose `filters` include this phase; with `http`, action classes run in Cloudflare's order. @defaultValue all rules */
  filter?: (typeof GATEWAY_FILTERS)[number] | undefined;
}

/** How the gate fetches Microsoft's signing keys (OpenID discovery and JWKS). */
export interface JwksOptions {
  /** Timeout of each discovery or JWKS fetch, in milliseconds. @defaultValue `5000` */
  timeoutMs?: number | undefined;
  /** Least time between two refetches caused by an unknown `kid`, in milliseconds (Microsoft advises 5 minutes). @defaultValue `300000` */
  cooldownMs?: number | undefined;
  /** After a failed fetch, wait this long before trying again, in milliseconds. @defaultValue `5000` */
  failureBackoffMs?: number | undefined;
  /** Refresh keys in the background when they are older than this, in milliseconds (Microsoft: hourly). @defaultValue `3600000` */
  refreshIntervalMs?: number | undefined;
}

/** The verified-token cache. */
export interface TokenCacheOptions {
  /** Most verified tokens kept (least recently used dropped first). @defaultValue `10000` */
  max?: number | undefined;
}

/** What a `groups` function receives: the gate's validated identity provider and hosts. */
export interface GroupSourceGate {
  /** The validated identity-provider configuration. */
  readonly idp: IdpConfig;
  /** The authority and Graph hosts in use. */
  readonly hosts: CloudHosts;
}

/** Report-only candidates, evaluated beside the enforced policies and never enforced. */
export interface ReportOnlyOptions {
  /** Candidate policies per application (the name of an enforced application). @defaultValue `{}` */
  applications?: Record<string, { policies: AccessPolicy[] }> | undefined;
  /** Candidate Gateway rules. @defaultValue none */
  gateway?: GatewayOptions | undefined;
  /** Called with each difference between the enforced and the candidate decision, and where it arose. @defaultValue none (the diagnostics channel only) */
  onDifference?: ((difference: DecisionDifference, where: string) => void) | undefined;
}

/**
 * Cloudflare Access in front of the app: the adapters take the identity from the application token
 * Cloudflare sends (`Cf-Access-Jwt-Assertion`, the `CF_Authorization` cookie as a fallback).
 */
export interface CloudflareAccessOptions {
  /** `https://<team>.cloudflareaccess.com`, the host, or the bare team name. */
  teamDomain: string;
  /** The AUD tag (or tags) of the Access application(s) in front. */
  aud: string | string[];
  /** The Cloudflare IdP id of the Entra login method, stamped as `identity.idp.id`. @defaultValue the IdP's `id`, else `"azureAD"` */
  idpId?: string | undefined;
  /** The custom OIDC claim carrying the Entra object id (so the SCIM directory can match it). @defaultValue none: matched by email */
  oidClaim?: string | undefined;
  /** The Entra tenant the Access application admits alone (so the directory may match its users by email). @defaultValue none */
  tenantId?: string | undefined;
  /** Timeout of each fetch of the team's keys, in milliseconds. @defaultValue `5000` */
  timeoutMs?: number | undefined;
  /** Least time between refetches caused by an unknown `kid`, in milliseconds. @defaultValue `30000` */
  cooldownMs?: number | undefined;
  /** After a failed fetch, wait this long before trying again, in milliseconds. @defaultValue `5000` */
  failureBackoffMs?: number | undefined;
  /** Refresh the team's keys when older than this, in milliseconds. @defaultValue `3600000` */
  refreshIntervalMs?: number | undefined;
  /** Most verified Access tokens cached; `0` caches none. @defaultValue `10000` */
  cacheMax?: number | undefined;
}

/** Options of `createGate`. Only `idp` is required. */
export interface GateOptions {
  /** Cloudflare's identity-provider JSON for Entra ID (`type: "azureAD"`), pasted as Cloudflare's API returns it. */
  idp: IdpConfigInput;
  /**
   * Tenants whose tokens are accepted besides `idp.config.directory_id`: an array of tenant GUIDs (a
   * multi-tenant allow-list), or `"*"` for any Entra tenant (the `{tenantid}` issuer template checked
   * against `tid`). @defaultValue only `directory_id` (single tenant)
   */
  tenants?: string[] | '*' | undefined;
  /** Audiences accepted besides the client id and `api://<client id>`. @defaultValue `[]` */
  audiences?: string[] | undefined;
  /** Access-token versions accepted (`ver`). @defaultValue `["1.0", "2.0"]` */
  tokenVersions?: ('1.0' | '2.0')[] | undefined;
  /**
   * Accept app-only tokens (client credentials: a service principal, no user; no `scp`, or
   * `idtyp: "app"`). Off by default: any app that can get a token for your API would otherwise pass
   * as a user. @defaultValue `false`
   */
  allowAppTokens?: boolean | undefined;
  /** Clock tolerance for `exp`, `nbf` and `iat` (and for revocations), in seconds, 0–600. @defaultValue `60` */
  clockToleranceSeconds?: number | undefined;
  /** Tokens longer than this many bytes are refused before any parsing. @defaultValue `16384` */
  maxTokenBytes?: number | undefined;
  /** Overrides the login authority of `azure_cloud` (tests, private clouds); https, or http on localhost. @defaultValue the cloud's authority */
  authorityHost?: string | undefined;
  /** Overrides the Microsoft Graph host of `azure_cloud`; https, or http on localhost. @defaultValue the cloud's Graph host */
  graphHost?: string | undefined;
  /** How Microsoft's signing keys are fetched and refreshed. @defaultValue see each field */
  jwks?: JwksOptions | undefined;
  /** The verified-token cache; `false` turns it off. @defaultValue `{ max: 10000 }` */
  tokenCache?: false | TokenCacheOptions | undefined;
  /**
   * Where groups come from when the token does not list them all (claim absent or in overage): one
   * source, a chain tried in order (`entragate/graph`, the directory), or a function of the gate that
   * returns them (so `createGraphGroupSource({ gate })` reads the gate's configuration). A token with a
   * complete `groups` claim is used as is unless `tokenGroups` is `"ignore"`. @defaultValue none: the token's claim only
   */
  groups?: GroupSource | GroupSource[] | ((gate: GroupSourceGate) => GroupSource | readonly GroupSource[]) | undefined;
  /** `prefer`: a complete `groups` claim is the answer. `ignore`: always ask the sources. @defaultValue `"prefer"` */
  tokenGroups?: 'prefer' | 'ignore' | undefined;
  /**
   * The revocations every credential is checked against: bearer tokens here, sessions in the login.
   * Pass the directory store's `store.revocations` so SCIM deprovisioning, `reauth` and every instance's
   * revocations count. @defaultValue an in-memory list
   */
  revocations?: RevocationList | undefined;
  /** Access applications by name, each with its policies (Cloudflare's API JSON). @defaultValue `{}` */
  applications?: Record<string, GateApplicationOptions> | undefined;
  /** Reusable rule groups (Access groups) referenced by `{"group":{"id":…}}`. @defaultValue `[]` */
  ruleGroups?: AccessRuleGroup[] | undefined;
  /** Lists for `email_list`, `ip_list` and Gateway `in $<id>`: list id → values. @defaultValue `{}` */
  lists?: Record<string, string[]> | undefined;
  /** Gateway rules, evaluated by `authorize(…, { gateway: true })`. @defaultValue none */
  gateway?: GatewayOptions | undefined;
  /**
   * Report-only candidates: evaluated beside the enforced policies on every decision, never enforced;
   * differences are published on `entragate:decision:difference` and to `onDifference`. @defaultValue none
   */
  reportOnly?: ReportOnlyOptions | undefined;
  /** The global session duration (Cloudflare's organisation setting), a Go duration of at least `1s`. @defaultValue `"24h"` */
  session_duration?: string | undefined;
  /** Cloudflare Access in front of the app (see {@link CloudflareAccessOptions}). @defaultValue none */
  cloudflareAccess?: CloudflareAccessOptions | undefined;
  /** `fetch` used for discovery and JWKS (tests inject one). @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined;
  /** The clock, in milliseconds since the epoch (tests inject one). @defaultValue `Date.now` */
  now?: (() => number) | undefined;
}
