/**
 * Public shapes of the policy engine: Cloudflare's API JSON for Access policies,
 * rule groups and Gateway rules as input, and the decisions the compiled
 * evaluators return.
 */

/** `{"email":{"email":"user@example.com"}}`: the identity email, compared case-insensitively. */
export interface EmailRule { email: { email: string } }
/** `{"email_domain":{"domain":"example.com"}}`: the part after the last `@`, exact domain, case-insensitive. */
export interface EmailDomainRule { email_domain: { domain: string } }
/** `{"email_list":{"id":"<list id>"}}`: the identity email is in a configured list. */
export interface EmailListRule { email_list: { id: string } }
/** `{"everyone":{}}`: matches any request. */
export interface EveryoneRule { everyone: Record<string, never> }
/** `{"group":{"id":"<rule group id>"}}`: a reusable rule group, evaluated with its own include/require/exclude. */
export interface GroupRule { group: { id: string } }
/** `{"azureAD":{"id":"<group object id>","identity_provider_id":"<idp id>"}}`: an Entra group (transitive). */
export interface AzureAdRule { azureAD: { id: string; identity_provider_id?: string } }
/** `{"login_method":{"id":"<idp id>"}}`: the identity came from that identity provider. */
export interface LoginMethodRule { login_method: { id: string } }
/** `{"auth_method":{"auth_method":"mfa"}}`: an RFC 8176 `amr` value of the identity. */
export interface AuthMethodRule { auth_method: { auth_method: string } }
/** `{"oidc":{"claim_name":"…","claim_value":"…"}}`: a claim copied into `identity.oidc_fields`. */
export interface OidcRule { oidc: { claim_name: string; claim_value: string; identity_provider_id?: string } }
/** `{"ip":{"ip":"192.0.2.0/24"}}`: the request IP is inside the IPv4 or IPv6 CIDR. */
export interface IpRule { ip: { ip: string } }
/** `{"ip_list":{"id":"<list id>"}}`: the request IP is inside one of a configured list's CIDRs. */
export interface IpListRule { ip_list: { id: string } }
/** `{"geo":{"country_code":"US"}}`: the request country. */
export interface GeoRule { geo: { country_code: string } }
/** `{"common_name":{"common_name":"cn"}}`: a valid client certificate with that common name. */
export interface CommonNameRule { common_name: { common_name: string } }
/** `{"certificate":{}}`: a valid client certificate was presented. */
export interface CertificateRule { certificate: Record<string, never> }
/** `{"service_token":{"token_id":"<uuid>"}}`: that service token was presented. */
export interface ServiceTokenRule { service_token: { token_id: string } }
/** `{"any_valid_service_token":{}}`: any validated service token was presented. */
export interface AnyValidServiceTokenRule { any_valid_service_token: Record<string, never> }
/** `{"device_posture":{"integration_uid":"<uuid>"}}`: that posture check passed (`context.devicePosture`). */
export interface DevicePostureRule { device_posture: { integration_uid: string } }
/**
 * `{"auth_context":{"id":"<uuid>","ac_id":"c1","identity_provider_id":"<uuid>"}}`: the user satisfied the Entra
 * Conditional Access authentication context `ac_id` (the token's `acrs` claim holds it). Needs the IdP's
 * `conditional_access_enabled`.
 */
export interface AuthContextRule { auth_context: { id?: string; ac_id: string; identity_provider_id?: string } }

/**
 * One Access rule object, as Cloudflare's API has it: exactly one selector key.
 *
 * @example
 * ```ts
 * import type { AccessRule } from 'entragate';
 * const rule: AccessRule = { azureAD: { id: '86773093-5feb-48dd-814b-7ccd3676ff50', identity_provider_id: 'ca298b82-93b5-41bf-bc2d-10493f09b761' } };
 * ```
 */
export type AccessRule =
  | EmailRule
  | EmailDomainRule
  | EmailListRule
  | EveryoneRule
  | GroupRule
  | AzureAdRule
  | LoginMethodRule
  | AuthMethodRule
  | OidcRule
  | IpRule
  | IpListRule
  | GeoRule
  | CommonNameRule
  | CertificateRule
  | ServiceTokenRule
  | AnyValidServiceTokenRule
  | DevicePostureRule
  | AuthContextRule;

/** A selector key of {@link AccessRule}. */
export type AccessSelector = AccessRule extends infer R ? (R extends unknown ? keyof R : never) : never;

/** The API `decision`: Allow, Block, Bypass, Service Auth. */
export type AccessAction = 'allow' | 'deny' | 'bypass' | 'non_identity';

/**
 * An Access policy in Cloudflare's API shape. Other documented fields
 * (`approval_required`, `mfa_config`, `purpose_justification_required`, …) are
 * accepted and ignored.
 *
 * @example
 * ```ts
 * import type { AccessPolicy } from 'entragate';
 * const policy: AccessPolicy = {
 *   name: 'allow cloudflare employees', decision: 'allow',
 *   include: [{ email_domain: { domain: 'cloudflare.com' } }],
 *   exclude: [{ email: { email: 'notthisperson@cloudflare.com' } }],
 *   require: [],
 * };
 * ```
 */
export interface AccessPolicy {
  id?: string;
  name: string;
  decision: AccessAction;
  include: readonly AccessRule[];
  require?: readonly AccessRule[];
  exclude?: readonly AccessRule[];
  /** Order of execution (ascending). When absent: the 1-based position in the array. */
  precedence?: number;
  /** Go duration such as `24h`; reported on the decision, never enforced here. */
  session_duration?: string;
  [documentedButIgnored: string]: unknown;
}

/**
 * A reusable rule group (UI: "Rule group", API: Access group), referenced as `{"group":{"id":…}}`.
 *
 * @example
 * ```ts
 * import type { AccessRuleGroup } from 'entragate';
 * const countries: AccessRuleGroup = { id: 'rg-1', name: 'US or Portugal',
 *   include: [{ geo: { country_code: 'US' } }, { geo: { country_code: 'PT' } }] };
 * // used as { require: [{ group: { id: 'rg-1' } }] }
 * ```
 */
export interface AccessRuleGroup {
  id: string;
  name: string;
  include: readonly AccessRule[];
  require?: readonly AccessRule[];
  exclude?: readonly AccessRule[];
  [documentedButIgnored: string]: unknown;
}

/** Gateway rule actions (HTTP, DNS, network, egress, resolver builders). */
export type GatewayAction =
  | 'on'
  | 'off'
  | 'allow'
  | 'block'
  | 'scan'
  | 'noscan'
  | 'safesearch'
  | 'ytrestricted'
  | 'isolate'
  | 'noisolate'
  | 'override'
  | 'l4_override'
  | 'egress'
  | 'resolve'
  | 'quarantine'
  | 'redirect'
  | 'audit_ssh';

/** Gateway policy builders (`filters`). */
export type GatewayFilter = 'http' | 'dns' | 'l4' | 'egress' | 'dns_resolver';

/**
 * A Gateway rule in Cloudflare's API shape (other fields such as `rule_settings` are ignored).
 *
 * @example
 * ```ts
 * import type { GatewayRule } from 'entragate';
 * const rule: GatewayRule = { name: 'Allow finance', action: 'allow', precedence: 1000, filters: ['http'],
 *   identity: 'any(identity.groups.id[*] in {"61503835-b6fe-4630-af88-de551dd59a2a"})' };
 * ```
 */
export interface GatewayRule {
  id?: string;
  name: string;
  action: GatewayAction;
  precedence: number;
  /** Disabled rules are skipped. Default `true`. */
  enabled?: boolean;
  filters?: readonly GatewayFilter[];
  identity?: string;
  traffic?: string;
  device_posture?: string;
  [documentedButIgnored: string]: unknown;
}

/**
 * Why a decision came out as it did: a policy or rule `matched`, none did
 * (`default`), or one that might match failed closed because group membership
 * is not complete or does not know the group field a rule reads
 * (`unknown-membership`), for Gateway `http.*` fields because the request
 * carried no HTTP attributes (`unknown-request`), or for Gateway `identity.*`
 * fields because the request carried no identity (`unknown-identity`: no login;
 * a login could change the decision).
 */
export type DecisionReason = 'matched' | 'default' | 'unknown-membership' | 'unknown-request' | 'unknown-identity';

/** A three-valued result, as the trace shows it. */
export type TraceResult = 'match' | 'no-match' | 'unknown';

/**
 * One selector (Access) or comparison (Gateway) and what it found.
 *
 * @example
 * ```ts
 * import type { CheckTrace } from 'entragate';
 * const check: CheckTrace = { path: 'exclude[0]', selector: 'azureAD', value: '86773093-…', attribute: 'identity.groups',
 *   result: 'unknown', detail: 'membership overage (hasgroups)' };
 * ```
 */
export interface CheckTrace {
  /** Where in the policy: `include[0]`, `require[1]`, `identity`, `traffic`. */
  readonly path: string;
  /** The selector (`azureAD`, `email`) or the comparison text (`any(identity.groups.id[*] in {"…"})`). */
  readonly selector: string;
  /** The value the rule asks for (group id, email, CIDR); empty for gateway comparisons. */
  readonly value: string;
  /** The identity or request attribute read (`identity.groups`, `context.ip`). */
  readonly attribute: string;
  readonly result: TraceResult;
  /** Why, when it is not obvious: the membership state for `unknown`, the IdP mismatch, … */
  readonly detail?: string;
  /** A rule group's own checks. */
  readonly children?: readonly CheckTrace[];
}

/**
 * One policy (Access) or rule (Gateway) that was considered, in evaluation order.
 *
 * @example
 * ```ts
 * import type { PolicyTrace } from 'entragate';
 * const unknownFor = (trace: readonly PolicyTrace[]) => trace.filter((t) => t.result === 'unknown').map((t) => t.policy.name);
 * ```
 */
export interface PolicyTrace {
  readonly policy: DecisionPolicyRef & { readonly action: string };
  /** `skipped`: not evaluated (disabled, or an Allow/Block policy when there is no identity). */
  readonly result: TraceResult | 'skipped';
  readonly note?: string;
  readonly checks: readonly CheckTrace[];
}

/** The policy or rule that decided. */
export interface DecisionPolicyRef {
  readonly id?: string;
  readonly name: string;
  readonly precedence: number;
}

/**
 * The outcome of {@link CompiledAccessPolicies.evaluate}.
 *
 * @example
 * ```ts
 * import { explain, type AccessDecision } from 'entragate';
 * function log(decision: AccessDecision): void {
 *   if (!decision.allowed) console.warn(decision.reason, decision.policy?.name, explain(decision));
 * }
 * ```
 */
export interface AccessDecision {
  readonly kind: 'access';
  readonly allowed: boolean;
  /** The deciding policy's decision; `deny` when no policy matched. */
  readonly action: AccessAction;
  readonly policy?: DecisionPolicyRef;
  readonly reason: DecisionReason;
  /** The deciding policy's `session_duration`, when it has one. */
  readonly sessionDuration?: string;
  /**
   * On a deny only: the Conditional Access authentication contexts (`c1`…) whose absence alone denied the
   * request — a policy would allow it once the user satisfies them. The adapters answer an API client with
   * Microsoft's claims challenge and send a browser through the login again (step-up).
   */
  readonly missingAuthContext?: readonly string[];
  /** Every policy considered, in order, with each check. Built on first read. */
  readonly trace: readonly PolicyTrace[];
}

/**
 * The outcome of {@link CompiledGatewayRules.evaluate}.
 *
 * @example
 * ```ts
 * import type { GatewayDecision } from 'entragate';
 * const isolated = (d: GatewayDecision) => d.allowed && d.action === 'isolate';
 * ```
 */
export interface GatewayDecision {
  readonly kind: 'gateway';
  /** `false` for `block` (and for a fail-closed unknown); other actions let the traffic through, possibly transformed. */
  readonly allowed: boolean;
  readonly action: GatewayAction;
  readonly policy?: DecisionPolicyRef;
  readonly reason: DecisionReason;
  /** Every rule considered, in order, with each comparison. Built on first read. */
  readonly trace: readonly PolicyTrace[];
}

/** Either kind of decision. */
export type Decision = AccessDecision | GatewayDecision;
