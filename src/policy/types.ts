/**
 * Public shapes of the policy engine: Cloudflare's API JSON for Access policies,
 * rule groups and Gateway rules as input, and the decisions the compiled
 * evaluators return.
 */

/** `{"email":{"email":"user@example.com"}}`: the identity email, compared case-insensitively. */
export interface EmailRule {
  /** `email`: the whole address to match (case-insensitive); `+tag` addresses are not folded into it. */
  email: { email: string };
}
/** `{"email_domain":{"domain":"example.com"}}`: the part after the last `@`, exact domain, case-insensitive. */
export interface EmailDomainRule {
  /** `domain`: the domain after the `@` (a leading `@` is dropped); subdomains do not match it. */
  email_domain: { domain: string };
}
/** `{"email_list":{"id":"<list id>"}}`: the identity email is in a configured list. */
export interface EmailListRule {
  /** `id`: the key of a list in the gate's `lists` option; a list that is not configured is a compile error. */
  email_list: { id: string };
}
/** `{"everyone":{}}`: matches any request. */
export interface EveryoneRule {
  /** Always `{}`. Matches a request without a login too; it is the policy's `decision` that needs one (Allow, Block). */
  everyone: Record<string, never>;
}
/** `{"group":{"id":"<rule group id>"}}`: a reusable rule group, evaluated with its own include/require/exclude. */
export interface GroupRule {
  /** `id`: the `id` of an {@link AccessRuleGroup} in the gate's `ruleGroups`; a missing one or a cycle is a compile error. */
  group: { id: string };
}
/** `{"azureAD":{"id":"<group object id>","identity_provider_id":"<idp id>"}}`: an Entra group (transitive). */
export interface AzureAdRule {
  /**
   * `id`: the Entra group's Object Id (as in the token's `groups` claim, not its name); `identity_provider_id`:
   * when given, only identities of that IdP match. Unknown (never "not a member") unless the membership is
   * complete and knows group ids.
   */
  azureAD: { id: string; identity_provider_id?: string };
}
/** `{"login_method":{"id":"<idp id>"}}`: the identity came from that identity provider. */
export interface LoginMethodRule {
  /** `id`: the IdP id the identity must come from (`identity.idp.id`: the IdP configuration's `id`). */
  login_method: { id: string };
}
/** `{"auth_method":{"auth_method":"mfa"}}`: an RFC 8176 `amr` value of the identity. */
export interface AuthMethodRule {
  /** `auth_method`: one value the identity's `amr` must hold (`mfa`, `pwd`, …), compared exactly. */
  auth_method: { auth_method: string };
}
/** `{"oidc":{"claim_name":"…","claim_value":"…"}}`: a claim copied into `identity.oidc_fields`. */
export interface OidcRule {
  /**
   * `claim_name`: a claim the IdP configuration's `claims` copies into `oidc_fields` (others are never seen);
   * `claim_value`: the value it must equal, as text (`true`, `42`), or hold when the claim is a list (nested
   * lists are not searched); `identity_provider_id`: when given, only identities of that IdP match.
   */
  oidc: { claim_name: string; claim_value: string; identity_provider_id?: string };
}
/** `{"ip":{"ip":"192.0.2.0/24"}}`: the request IP is inside the IPv4 or IPv6 CIDR. */
export interface IpRule {
  /** `ip`: an IPv4 or IPv6 address or CIDR. A request without a parsable `context.ip` does not match. */
  ip: { ip: string };
}
/** `{"ip_list":{"id":"<list id>"}}`: the request IP is inside one of a configured list's CIDRs. */
export interface IpListRule {
  /** `id`: the key of a list in the gate's `lists` whose entries are addresses or CIDRs (checked at compile time). */
  ip_list: { id: string };
}
/** `{"geo":{"country_code":"US"}}`: the request country. */
export interface GeoRule {
  /** `country_code`: an ISO 3166-1 alpha-2 code, compared case-insensitively with `context.country` (absent: no match). */
  geo: { country_code: string };
}
/** `{"common_name":{"common_name":"cn"}}`: a valid client certificate with that common name. */
export interface CommonNameRule {
  /** `common_name`: the certificate's subject CN, compared exactly; only a certificate marked `valid` counts. */
  common_name: { common_name: string };
}
/** `{"certificate":{}}`: a valid client certificate was presented. */
export interface CertificateRule {
  /** Always `{}`: matches when `context.certificate.valid` is true, whatever the certificate's name. */
  certificate: Record<string, never>;
}
/** `{"service_token":{"token_id":"<uuid>"}}`: that service token was presented. */
export interface ServiceTokenRule {
  /** `token_id`: the service token's id, compared exactly with `context.serviceToken.tokenId`. */
  service_token: { token_id: string };
}
/** `{"any_valid_service_token":{}}`: any validated service token was presented. */
export interface AnyValidServiceTokenRule {
  /** Always `{}`: matches when the caller validated a service token (`context.serviceToken` with a non-empty id). */
  any_valid_service_token: Record<string, never>;
}
/** `{"device_posture":{"integration_uid":"<uuid>"}}`: that posture check passed (`context.devicePosture`). */
export interface DevicePostureRule {
  /** `integration_uid`: the posture check's uid; matches when `context.devicePosture` lists it (entragate runs no check itself). */
  device_posture: { integration_uid: string };
}
/**
 * `{"auth_context":{"id":"<uuid>","ac_id":"c1","identity_provider_id":"<uuid>"}}`: the user satisfied the Entra
 * Conditional Access authentication context `ac_id` (the token's `acrs` claim holds it). Needs the IdP's
 * `conditional_access_enabled`.
 */
export interface AuthContextRule {
  /**
   * `ac_id`: the authentication context id, `c1`…`c99`; `id`: Cloudflare's own id of the context (kept, not
   * read); `identity_provider_id`: when given, only identities of that IdP match. Only the IdP's home
   * tenant's `acrs` count.
   */
  auth_context: { id?: string; ac_id: string; identity_provider_id?: string };
}

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
  /** Cloudflare's policy id (a reusable policy's uuid), when the JSON has one: decisions and traces carry it, and report-only diffs compare policies by it. */
  id?: string;
  /** The policy's name, as shown in decisions, traces and deny bodies; not required to be unique. */
  name: string;
  /** What a match does: `allow`, `deny` (Block), `bypass` or `non_identity` (Service Auth). */
  decision: AccessAction;
  /** The rules of which at least one must match (OR). At least one rule is required: an empty list is a compile error. */
  include: readonly AccessRule[];
  /** The rules that must all match (AND) besides an include. @defaultValue `[]` */
  require?: readonly AccessRule[];
  /** The rules none of which may match (NOT); one that might match (unknown) keeps the policy from allowing. @defaultValue `[]` */
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
  /** The group's id, which `{"group":{"id":…}}` rules name; unique within `ruleGroups`, non-empty. */
  id: string;
  /** The group's name, for traces; not read by evaluation. */
  name: string;
  /** At least one must match (OR), as a policy's `include`. */
  include: readonly AccessRule[];
  /** All must match (AND). @defaultValue `[]` */
  require?: readonly AccessRule[];
  /** None may match (NOT). @defaultValue `[]` */
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
  /** Cloudflare's rule id, when the JSON has one: carried on decisions and traces. */
  id?: string;
  /** The rule's name, as shown in decisions and traces. */
  name: string;
  /** What a match does. Only `block` (and a fail-closed unknown) denies; every other action lets the request through, and entragate applies none of their effects (no scan, no isolation). */
  action: GatewayAction;
  /** Order of evaluation, ascending (ties keep array order); a finite number. Under `filter: 'http'`, Do Not Inspect and Isolate rules still run first. */
  precedence: number;
  /** Disabled rules are skipped (but still compiled: a broken one is a configuration error). @defaultValue `true` */
  enabled?: boolean;
  /** The policy builders the rule belongs to; read only by the gateway's `filter` option, which keeps rules listing that phase. @defaultValue all phases */
  filters?: readonly GatewayFilter[];
  /** A wirefilter expression over `identity.*` fields (`any(identity.groups.id[*] in {…})`); absent or `""`: no identity condition. */
  identity?: string;
  /** A wirefilter expression over the request (`http.request.*`, `net.src.*`); absent or `""`: no traffic condition. */
  traffic?: string;
  /** A wirefilter expression over `device_posture.checks.passed`; absent or `""`: no posture condition. A rule with no condition at all matches every request. */
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
  /** What the check found: `match`, `no-match`, or `unknown` (it could not be decided: see `detail`). */
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
  /** The policy or rule considered, with its action (an Access `decision` or a Gateway `action`). */
  readonly policy: DecisionPolicyRef & { readonly action: string };
  /** `skipped`: not evaluated (disabled, or an Allow/Block policy when there is no identity). */
  readonly result: TraceResult | 'skipped';
  /** Why the result is what it is, when the checks alone do not say (`no identity: …`, `might match: fail closed, block`). */
  readonly note?: string;
  /** Each rule (Access) or expression part (Gateway) of the policy, in order; `[]` for a skipped one. */
  readonly checks: readonly CheckTrace[];
}

/** The policy or rule that decided. */
export interface DecisionPolicyRef {
  /** The policy's or rule's `id`, when its JSON had one. */
  readonly id?: string;
  /** The policy's or rule's `name`. */
  readonly name: string;
  /** Its precedence: the configured one, or for an Access policy without one its 1-based position in the array. */
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
  /** Tells an Access decision from a Gateway one (`gateway`). */
  readonly kind: 'access';
  /** Whether the request may proceed: true only for a matched `allow`, `bypass` or `non_identity` policy. An unknown never allows. */
  readonly allowed: boolean;
  /** The deciding policy's decision; `deny` when no policy matched. */
  readonly action: AccessAction;
  /** The policy that decided (a Block that might match decides too); absent when none did: `default`, or `unknown-membership` when only Allow-type policies might have matched. */
  readonly policy?: DecisionPolicyRef;
  /** Why: `matched`, `default` (no policy matched), or the unknown that failed closed (see {@link DecisionReason}). */
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
  /** Tells a Gateway decision from an Access one (`access`). */
  readonly kind: 'gateway';
  /** `false` for `block` (and for a fail-closed unknown); other actions let the traffic through, possibly transformed. */
  readonly allowed: boolean;
  /** The deciding rule's action; the gateway's `defaultAction` (`allow` by default) when none matched; `block` when an unknown failed closed. */
  readonly action: GatewayAction;
  /** The rule that decided (failing closed: the restricting rule that might have matched); absent when none matched and `defaultAction` applied. */
  readonly policy?: DecisionPolicyRef;
  /** Why: `matched`, `default` (no rule matched), or the unknown that failed closed (see {@link DecisionReason}). */
  readonly reason: DecisionReason;
  /** Every rule considered, in order, with each comparison. Built on first read. */
  readonly trace: readonly PolicyTrace[];
}

/** Either kind of decision. */
export type Decision = AccessDecision | GatewayDecision;
