import { z } from 'zod';
import { idpConfigSchema, parseWith, type IdpConfig } from './config/idp.js';
import { cloudHosts, type CloudHosts } from './config/clouds.js';
import { resolveSessionDuration } from './config/duration.js';
import { GUID, sessionDuration } from './config/validators.js';
import { KeyStore } from './token/key-store.js';
import { isSecureHost } from './token/secure-host.js';
import { TokenVerifier, type VerifiedToken, type VerifyOptions } from './token/verifier.js';
import type { Identity, RequestContext } from './types.js';
import { ConfigError, GroupsError, SessionError, StoreError, TokenError } from './errors/index.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from './groups/types.js';
import { createGroupSourceChain } from './groups/chain.js';
import { resolveMembership } from './groups/resolve-groups.js';
import { createMemoryRevocationList, type RevocationList } from './login/revocation.js';
import type { GroupField, GroupMembership } from './types.js';
import { createAccessVerifier, type AccessVerifier } from './cloudflare/verifier.js';
import type { AccessAssertion } from './cloudflare/types.js';
import { compileAccessPolicies, type CompiledAccessPolicies } from './policy/access-compile.js';
import { compileGatewayRules, type CompiledGatewayRules } from './policy/gateway-compile.js';
import { createShadowEvaluator, type DecisionDifference } from './policy/shadow.js';
import type { AccessDecision, AccessPolicy, AccessRuleGroup, Decision, GatewayDecision, GatewayRule } from './policy/types.js';
import { GATEWAY_ACTIONS, GATEWAY_FILTERS } from './policy/options.js';
import { channels, publish } from './diagnostics.js';

const groupSource = z.custom<GroupSource>(
  (v) => typeof v === 'object' && v !== null && typeof (v as GroupSource).resolve === 'function' && typeof (v as GroupSource).name === 'string',
  'must be a GroupSource ({ name, resolve(identity, context) })',
);
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
const gatewaySchema = z.strictObject({
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
  tokenVersions: z.array(z.enum(['1.0', '2.0'])).min(1).default(['1.0', '2.0']),
  /**
   * Accept app-only tokens (client credentials: a service principal, no user; no `scp`, or
   * `idtyp: "app"`). Off by default: any app that can get a token for your API would otherwise
   * pass as a "user". @defaultValue false
   */
  allowAppTokens: z.boolean().default(false),
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds. @defaultValue 60 */
  clockTolerance: z.number().int().min(0).max(600).default(60),
  /** Tokens longer than this are refused before any parsing. @defaultValue 16384 */
  maxTokenBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  /** Overrides the login authority of `azure_cloud` (tests, private clouds). */
  authorityHost: hostUrl.optional(),
  /** Overrides the Microsoft Graph host of `azure_cloud`. */
  graphHost: hostUrl.optional(),
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
  /**
   * Where groups come from when the token does not list them all (claim absent or in
   * overage): one source or a chain tried in order (`entragate/graph`, the directory).
   * A token with a complete `groups` claim is used as is unless `tokenGroups` is `ignore`.
   */
  groups: z
    .union([
      groupSource,
      z.array(groupSource).min(1),
      z.custom<(gate: Pick<Gate, 'idp' | 'hosts'>) => GroupSource | readonly GroupSource[]>((v) => typeof v === 'function', 'must be a GroupSource, an array of them, or a function of the gate returning one'),
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
      (v) => typeof v === 'object' && v !== null && ['revokeUser', 'revokeApp', 'isRevoked'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      'must have `revokeUser`, `revokeApp` and `isRevoked` (a revocation list, or the store\'s `revocations`)',
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

/** Options accepted by `createGate`. */
export type GateOptions = z.input<typeof gateOptionsSchema>;

/** Per-request inputs of `authorize`: the request attributes, and which policies decide. */
export interface AuthorizeContext extends RequestContext {
  /** The Access application whose policies decide. Default: the only one configured. */
  application?: string;
  /** Decide with the Gateway rules instead of an application's Access policies. */
  gateway?: boolean;
  /** The user's delegated Graph token (from the login flow), for the Graph group source. */
  graphToken?: string;
  /**
   * The session the identity comes from, when it came from one: an allowing decision is refused with
   * `ERR_SESSION_EXPIRED` when the session is older than the session duration of the deciding policy
   * (Cloudflare's precedence: policy, application, global), so a policy's shorter duration holds on
   * every request, not only in the cookie. `application` is the one the session was issued for.
   */
  session?: { issuedAt: number; application?: string | undefined };
}

/** Options of {@link Gate.identify}. */
export interface IdentifyOptions {
  /** The user's delegated Graph token (from the login flow), for the Graph group source. */
  graphToken?: string;
  /** The Access application the token is presented to: its `revokeApp` revocations apply. */
  application?: string;
}

/** What the identity pipeline needs besides the identity. */
export interface ResolveContext {
  /** The verified claims the identity came from (a session keeps the few the sources read). */
  claims: Readonly<Record<string, unknown>>;
  /** The user's delegated Graph token, when the app has one. */
  graphToken?: string;
}

/** A credential to check against the revocations: who it names and when it was issued. */
export interface CredentialRef {
  /** Lower-cased subjects (`oid`, `sub`, email, UPN). See {@link Gate.subjectsOf}. */
  subjects: readonly string[];
  /** Issued-at, Unix seconds. */
  issuedAt: number;
  /** The app AUD tag whose `revokeApp` applies, if any. */
  appId?: string;
  /** The user's id, for the `entragate:session:revoked` diagnostics message (never an email). */
  userId?: string;
}

/** An Access application as the gate compiled it. */
export interface GateApplication {
  name: string;
  aud: string;
  session_duration: string;
}

/** The framework-free core: verifies tokens, resolves groups, and decides. */
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
  /**
   * The identity pipeline for a bearer token: verifies it, refuses it when it was issued before a
   * revocation of its user or application (`ERR_SESSION_REVOKED`; 503 when the revocations cannot be
   * read), then {@link resolveIdentity}. Never throws for a group failure: the identity then
   * carries `membership: { state: 'unknown', reason, code }` and decisions fail closed.
   */
  identify(token: string, options?: IdentifyOptions): Promise<Identity>;
  /** Like `identify`, and also returns the verified claims (frozen). */
  identifyToken(token: string, options?: IdentifyOptions): Promise<VerifiedToken>;
  /** The Cloudflare Access verifier (option `cloudflareAccess`), when Cloudflare is in front. */
  readonly cloudflareAccess: AccessVerifier | undefined;
  /**
   * The identity pipeline for a Cloudflare Access assertion: verifies it, requires the AUD tag of the
   * `application` it is presented to (when that application sets `aud`), and for a user applies the
   * revocations and {@link resolveIdentity}; a service-token assertion is returned as is (never a user).
   * Rejects with `ERR_CONFIG_INVALID` when `cloudflareAccess` is not configured.
   */
  identifyAccess(assertion: string, options?: IdentifyOptions): Promise<AccessAssertion>;
  /**
   * The one answer to "who is this user and what are their groups", shared by bearer tokens, the login
   * callback and every session request (`entragate/login` calls it):
   *
   * 1. every source that keeps a directory judges the user: one the directory holds as inactive or
   *    deleted is refused (`ERR_DIRECTORY_USER_INACTIVE`, 403), a directory that cannot say fails
   *    closed (503); a user it does not hold is not refused here;
   * 2. with `tokenGroups: 'prefer'`, a complete `groups` claim is the membership; otherwise the sources
   *    answer (nested groups included), `unknown` when they cannot.
   *
   * `identity.membership` must be the token's own (as `verify` returned it). The result is the same
   * object for the same input while the sources give the same answer, so decisions stay cached.
   */
  resolveIdentity(identity: Identity, context: ResolveContext): Promise<Identity>;
  /** The revocations every credential is checked against (option `revocations`). */
  readonly revocations: RevocationList;
  /**
   * Refuses a credential issued before (or within the clock tolerance after) a revocation of its
   * subjects or its app: throws `ERR_SESSION_REVOKED` (401), or `ERR_STORE_UNAVAILABLE` (503) when the
   * revocations cannot be read. Returns nothing when the credential stands.
   */
  assertNotRevoked(credential: CredentialRef): void;
  /** The lower-cased subjects a revocation may name for an identity: `oid`, `sub`, the email and the UPN claims. */
  subjectsOf(identity: Identity, claims?: Readonly<Record<string, unknown>>): readonly string[];
  /** Clock tolerance in seconds (option `clockTolerance`), applied to token lifetimes and to revocations. */
  readonly clockTolerance: number;
  /** The group source (or chain) the pipeline asks, as configured in `groups`. */
  readonly groups: GroupSource | undefined;
  /** The clock the gate reads, in ms (option `now`); the login reads it too unless given its own. */
  readonly now: () => number;
  /**
   * Cloudflare's `scim_config.identity_update_behavior` of the IdP (`group_member_deprovision: true`
   * reads as `reauth`): what a SCIM change does to live sessions. @defaultValue `no_action`
   */
  readonly identityUpdateBehavior: 'automatic' | 'reauth' | 'no_action';
  /**
   * Problems found at construction that do not stop the gate but deserve a look, e.g. a Gateway rule
   * that reads a group field no configured source supplies (it can only be unknown). Also published
   * on the `entragate:gate:warning` diagnostics channel.
   */
  readonly warnings: readonly string[];
  /**
   * Decides a request with Cloudflare's semantics: an application's Access policies
   * (default) or the Gateway rules (`{ gateway: true }`). `input` is a token (verified and
   * identified first), an identity, or `null` for a request without a login (service
   * token, mTLS). A deny is a returned decision, not an error; a token that fails
   * verification rejects with its `TokenError`.
   */
  authorize(input: string | Identity | null, context?: AuthorizeContext): Promise<Decision>;
  /** The configured application, or `undefined`. */
  application(name?: string): GateApplication | undefined;
  /**
   * Session length in seconds with Cloudflare's precedence: the deciding policy's `session_duration`,
   * else the application's, else the global one (24 h by default). Without a decision: the application's,
   * else the global one.
   */
  sessionDuration(decision: Decision | undefined, application?: string): number;
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
    mapping: { idp: Object.freeze({ id: idp.id ?? idp.uid ?? 'azureAD', type: 'azureAD' }), emailClaim: idp.config.email_claim_name, claims: idp.config.claims, homeTenant: home },
    authorityHost: hosts.authorityHost,
    allowAppTokens: o.allowAppTokens,
    cacheMax: o.tokenCache === false ? 0 : o.tokenCache.max,
    now,
  });

  // A function of the gate builds its sources from the gate's own configuration (`createGraphGroupSource({ gate })`).
  const given = typeof o.groups === 'function' ? o.groups({ idp, hosts }) : o.groups;
  if (typeof o.groups === 'function' && !(Array.isArray(given) ? given.length > 0 && given.every(isGroupSource) : isGroupSource(given))) {
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid gate configuration: the `groups` function must return a GroupSource ({ name, resolve }) or a non-empty array of them');
  }
  const source = given === undefined ? undefined : Array.isArray(given) ? (given.length === 1 ? given[0]! : createGroupSourceChain(given)) : (given as GroupSource);
  // `auth_context` rules need Conditional Access sync on the IdP, as in Cloudflare.
  const compileOptions = { groups: o.ruleGroups, lists: o.lists, authContexts: idp.config.conditional_access_enabled };
  const applications = new Map<string, { app: GateApplication; evaluator: { evaluate: CompiledAccessPolicies['evaluate'] } }>();
  for (const [name, app] of Object.entries(o.applications)) {
    const compiled = withLocation(`applications.${name}`, () => compileAccessPolicies(app.policies, compileOptions));
    const candidate = o.reportOnly?.applications[name];
    const evaluator = candidate
      ? createShadowEvaluator<AccessDecision>(compiled, withLocation(`reportOnly.applications.${name}`, () => compileAccessPolicies(candidate.policies, compileOptions)), {
          onDifference: (difference) => reportDifference(difference, `applications.${name}`),
        })
      : compiled;
    applications.set(name, { app: { name, aud: app.aud ?? name, session_duration: app.session_duration }, evaluator });
  }
  for (const name of Object.keys(o.reportOnly?.applications ?? {})) {
    if (!applications.has(name)) throw new ConfigError('ERR_CONFIG_INVALID', `invalid gate configuration: \`reportOnly.applications.${name}\` has no enforced application of that name`);
  }
  // The group fields every possible answer supplies: a complete token claim (ids only) may answer under
  // `tokenGroups: 'prefer'` or without sources; otherwise the sources' declared fields (all when undeclared).
  const suppliedFields: readonly GroupField[] = source !== undefined && o.tokenGroups === 'ignore' ? (source.fields ?? ['id', 'name', 'email']) : ['id'];
  const warnings: string[] = [];
  const gatewayOptions = (g: z.output<typeof gatewaySchema>) => ({
    lists: o.lists,
    groupFields: suppliedFields,
    ...(g.defaultAction ? { defaultAction: g.defaultAction } : {}),
    ...(g.matchExtendedEmail !== undefined ? { matchExtendedEmail: g.matchExtendedEmail } : {}),
    ...(g.filter ? { filter: g.filter } : {}),
  });
  let gateway: { evaluate: CompiledGatewayRules['evaluate'] } | undefined;
  if (o.gateway) {
    const compiled = withLocation('gateway', () => compileGatewayRules(o.gateway!.rules, gatewayOptions(o.gateway!)));
    for (const warning of compiled.warnings) {
      const text =
        o.tokenGroups === 'prefer' && source !== undefined
          ? `gateway: ${warning} (with \`tokenGroups: 'prefer'\`, a token's complete \`groups\` claim answers, and it carries ids only)`
          : `gateway: ${warning}`;
      warnings.push(text);
      publish(channels.gateWarning, { where: 'gateway', warning: text });
    }
    const candidate = o.reportOnly?.gateway;
    gateway = candidate
      ? createShadowEvaluator<GatewayDecision>(compiled, withLocation('reportOnly.gateway', () => compileGatewayRules(candidate.rules, gatewayOptions(candidate))), {
          onDifference: (difference) => reportDifference(difference, 'gateway'),
        })
      : compiled;
  }
  const onDifference = o.reportOnly?.onDifference;
  function reportDifference(difference: DecisionDifference, where: string): void {
    publish(channels.decisionDifference, { where, ...difference });
    onDifference?.(difference, where);
  }
  const defaultApplication = applications.size === 1 ? [...applications.keys()][0] : undefined;

  const revocations: RevocationList = o.revocations ?? createMemoryRevocationList({ now });
  const tolerance = o.clockTolerance;
  const scim = idp.scim_config;
  const identityUpdateBehavior =
    scim === undefined ? 'no_action' : scim.identity_update_behavior === 'no_action' && scim.group_member_deprovision === true ? 'reauth' : scim.identity_update_behavior;
  const preferToken = o.tokenGroups === 'prefer';

  // Answers reused per input identity: while a source hands back the same groups array (the directory
  // does, unchanged), the resolved identity is the same object, so the compiled policies' per-identity
  // caches keep working (a fresh object per request costs a decision about ten times more).
  const resolved = new WeakMap<Identity, { groups: GroupResolution['groups']; membership: GroupMembership; identity: Identity }>();
  const subjectCache = new WeakMap<Identity, readonly string[]>();

  function sourceContext(claims: Readonly<Record<string, unknown>>, graphToken: string | undefined): GroupSourceContext {
    return graphToken === undefined ? { claims, homeTenant: home } : { claims, graphToken, homeTenant: home };
  }

  async function resolveIdentity(identity: Identity, context: ResolveContext): Promise<Identity> {
    if (source === undefined) return identity;
    const sctx = sourceContext(context.claims, context.graphToken);
    const standing = source.standing?.(identity, sctx);
    // INVARIANT: a user the directory deprovisioned gets nothing on any path (bearer, login, session),
    // whatever the token's groups say; a directory that cannot say fails closed with a 503.
    if (standing !== undefined && standing.state === 'refused') throw new GroupsError(standing.code, standing.reason);
    if (standing !== undefined && standing.state === 'unknown') throw new StoreError(standing.code, standing.reason, { status: 503 });
    if (preferToken && identity.membership.state === 'complete') return identity;
    const answer = await resolveMembership(identity, source, sctx);
    const last = resolved.get(identity);
    if (last !== undefined && last.groups === answer.groups && sameMembership(last.membership, answer.membership)) return last.identity;
    const next: Identity = { ...identity, groups: answer.groups, membership: answer.membership };
    resolved.set(identity, { groups: answer.groups, membership: answer.membership, identity: next });
    return next;
  }

  function subjectsOf(identity: Identity, claims?: Readonly<Record<string, unknown>>): readonly string[] {
    const cached = claims === undefined ? undefined : subjectCache.get(identity);
    if (cached !== undefined) return cached;
    const out = new Set<string>();
    const add = (v: unknown): void => {
      if (typeof v === 'string' && v.length > 0) out.add(v.toLowerCase());
    };
    add(identity.oid);
    add(identity.user_uuid);
    add(identity.sub);
    add(identity.email);
    if (claims !== undefined) for (const c of UPN_CLAIMS) add(claims[c]);
    const list = Object.freeze([...out]);
    if (claims !== undefined) subjectCache.set(identity, list);
    return list;
  }

  function assertNotRevoked(credential: CredentialRef): void {
    // A credential issued up to the clock tolerance after a revocation counts as revoked: the issuer's
    // clock (Entra's, or another instance's for a session) may run that far ahead of the revoker's. Applied
    // here, on the one path every credential takes, so any `RevocationList` gets it (`toleranceSeconds: 0`
    // keeps a list that applies its own from adding it twice).
    const issuedAt = credential.issuedAt - tolerance;
    const query = credential.appId === undefined
      ? { subjects: credential.subjects, issuedAt, toleranceSeconds: 0 }
      : { subjects: credential.subjects, appId: credential.appId, issuedAt, toleranceSeconds: 0 };
    const answer: unknown = revocations.isRevoked(query);
    // INVARIANT: a list that cannot say is an outage (503), never an allow.
    if (answer === 'unknown') throw new StoreError('ERR_STORE_STALE', 'the revocations cannot be read right now (the store has not heard from its database)', { status: 503 });
    if (answer !== false) {
      publish(channels.revoked, { event: 'refused', code: 'ERR_SESSION_REVOKED', ...(credential.userId === undefined ? {} : { user_uuid: credential.userId }) });
      throw new SessionError('ERR_SESSION_REVOKED', 'the credential was issued before a revocation of this user or app: sign in again');
    }
  }

  async function identifyToken(token: string, options: IdentifyOptions = {}): Promise<VerifiedToken> {
    const { identity, claims } = await verifier.verifyToken(token);
    // INVARIANT: an ID token is never a bearer credential (OpenID Connect Core §2: it is for the client, not an
    // API). A login's ID token carries the `nonce` it was asked with (§3.1.2.1), an access token never does;
    // and the login hands one to the browser in the sign-out's `id_token_hint` (RP-Initiated Logout §2).
    if (claims.nonce !== undefined) throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'this is an ID token (it carries a `nonce`), not an access token: send an access token for the API');
    const app = options.application === undefined ? undefined : applications.get(options.application)?.app;
    // INVARIANT: a user revocation refuses that user's bearer tokens issued before it (within the clock
    // tolerance after it too: the issuer's clock may run ahead of ours); `revokeApp` of the app, its tokens.
    const subjects = subjectsOf(identity, claims);
    assertNotRevoked(app === undefined ? { subjects, issuedAt: identity.iat, userId: identity.user_uuid } : { subjects, issuedAt: identity.iat, appId: app.aud, userId: identity.user_uuid });
    const resolvedIdentity = await resolveIdentity(identity, options.graphToken === undefined ? { claims } : { claims, graphToken: options.graphToken });
    return { identity: resolvedIdentity, claims };
  }

  const access = o.cloudflareAccess;
  const accessVerifier: AccessVerifier | undefined =
    access === undefined
      ? undefined
      : createAccessVerifier({
          teamDomain: access.teamDomain,
          aud: access.aud,
          clockTolerance: o.clockTolerance,
          idpId: access.idpId ?? idp.id ?? idp.uid ?? 'azureAD',
          ...(access.oidClaim === undefined ? {} : { oidClaim: access.oidClaim }),
          ...(access.tenantId === undefined ? {} : { tenantId: access.tenantId }),
          ...(access.timeoutMs === undefined ? {} : { timeoutMs: access.timeoutMs }),
          ...(access.cooldownMs === undefined ? {} : { cooldownMs: access.cooldownMs }),
          ...(access.failureBackoffMs === undefined ? {} : { failureBackoffMs: access.failureBackoffMs }),
          ...(access.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: access.refreshIntervalMs }),
          ...(access.cacheMax === undefined ? {} : { cacheMax: access.cacheMax }),
          ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
          now,
        });
  // The applications whose own `aud` was given: an assertion presented to one must carry that tag.
  const explicitAud = new Map<string, string>();
  for (const [name, app] of Object.entries(o.applications)) if (app.aud !== undefined) explicitAud.set(name, app.aud);

  async function identifyAccess(assertion: string, options: IdentifyOptions = {}): Promise<AccessAssertion> {
    if (accessVerifier === undefined) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid gate configuration: `identifyAccess` needs the `cloudflareAccess` option');
    const result = await accessVerifier.verify(assertion);
    const required = options.application === undefined ? undefined : explicitAud.get(options.application);
    const aud = result.claims.aud;
    // INVARIANT: an assertion for one Access application never opens another application's routes.
    if (required !== undefined && !(aud === required || (Array.isArray(aud) && aud.includes(required)))) {
      throw new TokenError('ERR_TOKEN_AUDIENCE_INVALID', 'the Cloudflare Access assertion is for another application');
    }
    if (result.kind === 'service') return result;
    const identity = result.identity;
    const appAud = options.application === undefined ? undefined : applications.get(options.application)?.app.aud;
    const subjects = subjectsOf(identity, result.claims);
    assertNotRevoked(appAud === undefined ? { subjects, issuedAt: identity.iat, userId: identity.user_uuid } : { subjects, issuedAt: identity.iat, appId: appAud, userId: identity.user_uuid });
    const resolvedIdentity = await resolveIdentity(identity, { claims: result.claims });
    // `resolveIdentity` spreads the identity it is given: the Cloudflare fields (`identity_nonce`, `country`) stay.
    return resolvedIdentity === identity ? result : { ...result, identity: resolvedIdentity as typeof identity };
  }

  async function identify(token: string, options: IdentifyOptions = {}): Promise<Identity> {
    return (await identifyToken(token, options)).identity;
  }

  const durationCache = new Map<string, number>();
  function durationOf(decision: Decision | undefined, name: string | undefined): number {
    const app = name ?? defaultApplication;
    const policy = decision?.kind === 'access' ? decision.sessionDuration : undefined;
    const appDuration = app === undefined ? undefined : applications.get(app)?.app.session_duration;
    const key = `${policy ?? ''}\n${appDuration ?? ''}`;
    let seconds = durationCache.get(key);
    if (seconds === undefined) {
      seconds = resolveSessionDuration({ policy, app: appDuration, global: o.session_duration });
      if (durationCache.size < 1_000) durationCache.set(key, seconds);
    }
    return seconds;
  }

  return {
    idp,
    hosts,
    revocations,
    clockTolerance: tolerance,
    groups: source,
    now,
    identityUpdateBehavior,
    warnings,
    verify: (token, verifyOptions) => verifier.verify(token, verifyOptions),
    verifyToken: (token, verifyOptions) => verifier.verifyToken(token, verifyOptions),
    identify,
    identifyToken,
    cloudflareAccess: accessVerifier,
    identifyAccess,
    resolveIdentity,
    assertNotRevoked,
    subjectsOf,
    async authorize(input, context = {}) {
      const identity =
        typeof input === 'string'
          ? await identify(input, {
              ...(context.graphToken === undefined ? {} : { graphToken: context.graphToken }),
              ...(context.gateway || (context.application ?? defaultApplication) === undefined ? {} : { application: (context.application ?? defaultApplication)! }),
            })
          : input;
      let decision: Decision;
      let where: string;
      if (context.gateway) {
        if (gateway === undefined) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid gate configuration: `authorize` was asked for a Gateway decision but no `gateway` rules are configured');
        decision = gateway.evaluate(identity, context);
        where = 'gateway';
      } else {
        const name = context.application ?? defaultApplication;
        const app = name === undefined ? undefined : applications.get(name);
        if (app === undefined) {
          throw new ConfigError(
            'ERR_CONFIG_INVALID',
            name === undefined
              ? `invalid gate configuration: \`authorize\` needs \`application\` (configured: ${[...applications.keys()].map((n) => `\`${n}\``).join(', ') || 'none'})`
              : `invalid gate configuration: no application \`${name}\``,
          );
        }
        decision = app.evaluator.evaluate(identity, context);
        where = `applications.${app.app.name}`;
      }
      publish(channels.decision, {
        where,
        allowed: decision.allowed,
        action: decision.action,
        reason: decision.reason,
        policy: decision.policy,
        user: identity?.user_uuid,
        membership: identity?.membership.state,
      });
      const session = context.session;
      if (decision.allowed && session !== undefined) {
        // INVARIANT: a session older than the deciding policy's session duration (else the app's, else the
        // global one) is not honoured, whatever its cookie says: the user signs in again.
        const maxAge = durationOf(decision, session.application ?? (context.gateway ? undefined : context.application));
        if (Math.floor(now() / 1000) - session.issuedAt > maxAge) {
          throw new SessionError('ERR_SESSION_EXPIRED', `the session is older than the ${maxAge} s its policy allows: sign in again`);
        }
      }
      return decision;
    },
    application(name) {
      const key = name ?? defaultApplication;
      return key === undefined ? undefined : applications.get(key)?.app;
    },
    sessionDuration: (decision, name) => durationOf(decision, name),
    clearTokenCache: () => verifier.clearCache(),
  };
}

const UPN_CLAIMS = ['preferred_username', 'upn', 'unique_name'] as const;

/** Whether two memberships say the same (a source may build a new object for an unchanged answer). */
function sameMembership(a: GroupMembership, b: GroupMembership): boolean {
  if (a === b) return true;
  if (a.state !== b.state) return false;
  switch (a.state) {
    case 'complete': {
      const c = b as typeof a;
      const x = a.fields ?? ['id'];
      const y = c.fields ?? ['id'];
      return a.source === c.source && x.length === y.length && x.every((f) => y.includes(f));
    }
    case 'absent':
      return true;
    case 'overage':
      return a.signal === (b as typeof a).signal;
    case 'unknown':
      return a.code === (b as typeof a).code && a.reason === (b as typeof a).reason;
  }
}

function isGroupSource(v: unknown): v is GroupSource {
  return typeof v === 'object' && v !== null && typeof (v as GroupSource).resolve === 'function' && typeof (v as GroupSource).name === 'string';
}

/** Prefixes a compile error with where in the gate options it happened. */
function withLocation<T>(where: string, compile: () => T): T {
  try {
    return compile();
  } catch (error) {
    if (error instanceof Error && 'code' in error) error.message = `${where}: ${error.message}`;
    throw error;
  }
}
