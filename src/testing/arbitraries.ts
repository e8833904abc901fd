/**
 * fast-check arbitraries for identities, request contexts, Access policies and
 * rule groups, and Gateway rules and expressions, drawn from one shared
 * {@link PolicyUniverse} so that generated identities and policies meet.
 * Use them to property-test your own policies in CI.
 *
 * fast-check must be installed (it is a peer of `entragate/testing`).
 */
import fc from 'fast-check';
import type { GroupField, GroupMembership, GroupRef, HttpRequestAttributes, Identity, RequestContext } from '../types.js';
import type { AccessAction, AccessPolicy, AccessRule, AccessRuleGroup, GatewayAction, GatewayRule } from '../policy/types.js';

/** The values identities, contexts and policies are drawn from. */
export interface PolicyUniverse {
  /** Entra-like groups (GUID ids, names, some with a mail): identities are members of a subset, `azureAD` rules and Gateway group comparisons name them. */
  readonly groups: readonly GroupRef[];
  /** Email addresses identities have and `email` rules name, including `+tag`, dotted and mixed-case variants of each other. */
  readonly emails: readonly string[];
  /** Domains `email_domain` rules name (the domains of `emails`, and some no email has). */
  readonly domains: readonly string[];
  /** IdP ids identities come from and `login_method` / `identity_provider_id` name. */
  readonly idpIds: readonly string[];
  /** `amr` values (`pwd`, `mfa`, …) identities carry a subset of and `auth_method` rules name. */
  readonly amr: readonly string[];
  /** ISO 3166-1 alpha-2 countries of request contexts and `geo` rules. */
  readonly countries: readonly string[];
  /** Client IPs (IPv4 and IPv6) of request contexts. */
  readonly ips: readonly string[];
  /** CIDRs `ip` rules and Gateway `net.src.ip in {…}` name; some contain `ips`, some do not. */
  readonly cidrs: readonly string[];
  /** IP ranges `a..b` (Gateway sets only); none when absent. */
  readonly ipRanges?: readonly string[];
  /** Service token ids a context presents and `service_token` rules name. */
  readonly serviceTokens: readonly string[];
  /** Device posture integration uids a context passed and `device_posture` rules name. */
  readonly postures: readonly string[];
  /** Hosts as rules name them (lower case, no port); requests send them in other cases, with ports and trailing dots. */
  readonly hosts: readonly string[];
  /** HTTP methods as rules name them (upper case); requests sometimes send them in lower case. */
  readonly methods: readonly string[];
  /** URL paths (percent-encoded, as received) and queries (without the `?`; `""` for none). */
  readonly paths: readonly string[];
  /** URL queries, without the `?` (`""` for none), percent-encoded as received. */
  readonly queries: readonly string[];
  /** Ids of rule groups that {@link arbRuleGroups} creates and rules may reference. */
  readonly ruleGroupIds: readonly string[];
  /** Lists for `email_list`, `ip_list` and `in $<id>` (emails, CIDRs, hosts, paths; pass them to the compile options). */
  readonly lists: Readonly<Record<string, readonly string[]>>;
}

/**
 * Builds a universe of `groupCount` Entra-like groups (GUID ids, names, some
 * mails) and small pools of the other values.
 *
 * @example
 * ```ts
 * import { createPolicyUniverse } from 'entragate/testing';
 * const universe = createPolicyUniverse({ groupCount: 12 });
 * ```
 */
export function createPolicyUniverse(options: { groupCount?: number; ruleGroupCount?: number } = {}): PolicyUniverse {
  const groupCount = options.groupCount ?? 8;
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  const groups: GroupRef[] = Array.from({ length: groupCount }, (_, i) => {
    const id = `${hex(0x1000 + i, 8)}-5feb-48dd-814b-${hex(i * 7919, 12)}`;
    return i % 3 === 0 ? { id, name: `group-${i}`, email: `group-${i}@example.com` } : { id, name: `group-${i}` };
  });
  return {
    groups,
    // Extended-address variants of the others (`+tag`, dots, case), so variant matching meets exact matching.
    emails: [
      'alice@example.com',
      'bob@example.com',
      'carol@contractors.com',
      'dave@example.org',
      'al.ice+ci@example.com',
      'b.ob@example.com',
      'Bob+x@Example.com',
    ],
    domains: ['example.com', 'contractors.com', 'example.org'],
    idpIds: ['entra-main', 'entra-other'],
    amr: ['pwd', 'mfa', 'hwk', 'otp'],
    countries: ['US', 'PT', 'FR'],
    ips: ['10.1.2.3', '192.0.2.7', '2001:db8::1', '198.51.100.9'],
    cidrs: ['10.0.0.0/8', '192.0.2.0/24', '2001:db8::/32', '203.0.113.0/24'],
    ipRanges: ['10.1.0.0..10.1.255.255', '192.0.2.5..192.0.2.9', '2001:db8::..2001:db8::ff', '198.51.100.9..198.51.100.9'],
    serviceTokens: ['token-a', 'token-b'],
    postures: ['posture-disk', 'posture-firewall'],
    hosts: ['app.example.com', 'api.example.com', 'example.org', '[::1]'],
    methods: ['GET', 'POST', 'DELETE'],
    paths: ['/', '/admin', '/admin/users', '/orders', '/files/a%20b'],
    queries: ['', 'page=2', 'ab%242=%2A342'],
    ruleGroupIds: Array.from({ length: options.ruleGroupCount ?? 3 }, (_, i) => `rule-group-${i}`),
    lists: {
      'list-emails': ['alice@example.com', 'carol@contractors.com'],
      'list-ips': ['10.0.0.0/8', '2001:db8::/32'],
      'list-hosts': ['API.example.com', 'example.org'],
      'list-paths': ['/admin', '/orders'],
    },
  };
}

/** The universe the arbitraries use when none is given. */
export const DEFAULT_UNIVERSE: PolicyUniverse = createPolicyUniverse();

/**
 * A group membership state: mostly `complete`, with the group `fields` each
 * source states (Graph all three, the token claim ids only, the directory ids
 * and names, and none stated, which means ids only), sometimes absent, overage
 * or unknown (the states in which group selectors must fail closed).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbMembership } from 'entragate/testing';
 * fc.sample(arbMembership(), 3);
 * ```
 */
export function arbMembership(): fc.Arbitrary<GroupMembership> {
  const fields = (...f: GroupField[]): readonly GroupField[] => f;
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<GroupMembership>(
        { state: 'complete', source: 'graph', fields: fields('id', 'name', 'email') },
        { state: 'complete', source: 'graph' },
        { state: 'complete', source: 'token', fields: fields('id') },
        { state: 'complete', source: 'directory', fields: fields('id', 'name') },
        { state: 'complete', source: 'static', fields: fields() },
      ),
    },
    { weight: 1, arbitrary: fc.constant<GroupMembership>({ state: 'absent' }) },
    { weight: 1, arbitrary: fc.constantFrom<GroupMembership>({ state: 'overage', signal: 'hasgroups' }, { state: 'overage', signal: 'claim_names' }) },
    { weight: 1, arbitrary: fc.constant<GroupMembership>({ state: 'unknown', reason: 'graph unavailable', code: 'ERR_GROUPS_UNAVAILABLE' }) },
  );
}

/**
 * An identity with groups drawn from the universe's pool (some without their
 * name or mail, as a source that does not supply them returns them) and a
 * membership state (pass `membership` to pin it).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbIdentity } from 'entragate/testing';
 * fc.assert(fc.property(arbIdentity(), (identity) => typeof identity.email === 'string'));
 * ```
 */
export function arbIdentity(options: { universe?: PolicyUniverse; membership?: fc.Arbitrary<GroupMembership> } = {}): fc.Arbitrary<Identity> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  return fc
    .record({
      email: fc.constantFrom(...u.emails),
      name: fc.constantFrom('Alice', 'Bob', 'Carol'),
      idp: fc.constantFrom(...u.idpIds),
      amr: fc.subarray([...u.amr]),
      groups: fc.subarray([...u.groups]),
      // Which groups lose their name / mail (bit i: group i): a source that does not supply the field.
      stripped: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat() }),
      membership: options.membership ?? arbMembership(),
      oidcDepartment: fc.option(fc.constantFrom('engineering', 'finance'), { nil: undefined }),
    })
    .map(({ email, name, idp, amr, groups, stripped, membership, oidcDepartment }) => ({
      email,
      name,
      user_uuid: `user-${email}`,
      idp: { id: idp, type: 'azureAD' as const },
      amr,
      groups: groups.map((g, i): GroupRef => (((stripped >>> (i % 31)) & 1) === 1 ? { id: g.id } : { ...g })),
      membership,
      oidc_fields: oidcDepartment === undefined ? {} : { department: oidcDepartment },
      oid: `oid-${email}`,
      tid: 'tenant',
      sub: `sub-${email}`,
      iat: 1_700_000_000,
      exp: 1_700_003_600,
      ver: '2.0' as const,
    }));
}

/**
 * The HTTP attributes of a request drawn from the universe, as a client may
 * send them: the host in any case, sometimes with a port or a trailing dot, the
 * method sometimes in lower case, the URL sometimes in absolute form
 * (`http://proxy.example/orders?page=2`).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbHttpRequest } from 'entragate/testing';
 * fc.sample(arbHttpRequest(), 2); // e.g. { method: 'GET', host: 'API.example.com:8443', url: '/orders?page=2' }
 * ```
 */
export function arbHttpRequest(options: { universe?: PolicyUniverse } = {}): fc.Arbitrary<HttpRequestAttributes> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  return fc
    .record({
      method: fc.constantFrom(...u.methods).chain((m) => fc.constantFrom(m, m, m, m.toLowerCase())),
      host: fc.constantFrom(...u.hosts),
      upper: fc.boolean(),
      port: fc.constantFrom('', '', ':8443', ':80'),
      dot: fc.boolean(),
      path: fc.constantFrom(...u.paths),
      query: fc.constantFrom(...u.queries),
      bareQuestionMark: fc.boolean(),
      absolute: fc.constantFrom(false, false, false, true),
    })
    .map(({ method, host, upper, port, dot, path, query, bareQuestionMark, absolute }): HttpRequestAttributes => {
      const ipLiteral = host.startsWith('[');
      const name = upper ? host.toUpperCase() : host;
      const target = query !== '' ? `${path}?${query}` : bareQuestionMark ? `${path}?` : path;
      return {
        method,
        host: `${name}${dot && !ipLiteral ? '.' : ''}${port}`,
        url: absolute ? `http://proxy.example${target}` : target,
      };
    });
}

/**
 * A request context: IP, country, certificate, service token, posture checks
 * and the HTTP attributes ({@link arbHttpRequest}), each present or not.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbRequestContext } from 'entragate/testing';
 * fc.sample(arbRequestContext(), 2);
 * ```
 */
export function arbRequestContext(options: { universe?: PolicyUniverse } = {}): fc.Arbitrary<RequestContext> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  return fc
    .record({
      ip: fc.option(fc.constantFrom(...u.ips), { nil: undefined }),
      country: fc.option(fc.constantFrom(...u.countries), { nil: undefined }),
      certificate: fc.option(fc.record({ valid: fc.boolean(), commonName: fc.constantFrom('svc-a', 'svc-b') }), { nil: undefined }),
      // An empty token id is no service token (any_valid_service_token must not match it).
      serviceToken: fc.option(
        fc.constantFrom(...u.serviceTokens, '').map((tokenId) => ({ tokenId })),
        { nil: undefined },
      ),
      devicePosture: fc.option(fc.subarray([...u.postures]), { nil: undefined }),
      request: fc.option(arbHttpRequest({ universe: u }), { freq: 4, nil: undefined }),
    })
    .map((c) => {
      const out: RequestContext = {};
      if (c.ip !== undefined) out.ip = c.ip;
      if (c.country !== undefined) out.country = c.country;
      if (c.certificate !== undefined) out.certificate = c.certificate;
      if (c.serviceToken !== undefined) out.serviceToken = c.serviceToken;
      if (c.devicePosture !== undefined) out.devicePosture = c.devicePosture;
      if (c.request !== undefined) out.request = c.request;
      return out;
    });
}

/**
 * One Access rule object. `identityBased: false` draws only the selectors a
 * Bypass policy accepts; `ruleGroups: false` never references a rule group.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbAccessRule } from 'entragate/testing';
 * fc.sample(arbAccessRule({ ruleGroups: false }), 3);
 * ```
 */
export function arbAccessRule(
  options: { universe?: PolicyUniverse; identityBased?: boolean; ruleGroups?: boolean | readonly string[] } = {},
): fc.Arbitrary<AccessRule> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  const request: fc.Arbitrary<AccessRule>[] = [
    fc.constant<AccessRule>({ everyone: {} }),
    fc.constantFrom(...u.cidrs).map((ip): AccessRule => ({ ip: { ip } })),
    fc.constant<AccessRule>({ ip_list: { id: 'list-ips' } }),
    fc.constantFrom(...u.countries).map((country_code): AccessRule => ({ geo: { country_code } })),
    fc.constant<AccessRule>({ certificate: {} }),
    fc.constantFrom('svc-a', 'svc-b').map((common_name): AccessRule => ({ common_name: { common_name } })),
    fc.constantFrom(...u.serviceTokens).map((token_id): AccessRule => ({ service_token: { token_id } })),
    fc.constant<AccessRule>({ any_valid_service_token: {} }),
    fc.constantFrom(...u.postures).map((integration_uid): AccessRule => ({ device_posture: { integration_uid } })),
  ];
  const identity: fc.Arbitrary<AccessRule>[] = [
    fc.constantFrom(...u.emails).map((email): AccessRule => ({ email: { email } })),
    fc.constantFrom(...u.domains).map((domain): AccessRule => ({ email_domain: { domain } })),
    fc.constant<AccessRule>({ email_list: { id: 'list-emails' } }),
    fc.constantFrom(...u.idpIds).map((id): AccessRule => ({ login_method: { id } })),
    fc.constantFrom(...u.amr).map((auth_method): AccessRule => ({ auth_method: { auth_method } })),
    fc.record({ claim_value: fc.constantFrom('engineering', 'finance'), idp: fc.option(fc.constantFrom(...u.idpIds), { freq: 2, nil: undefined }) }).map(
      ({ claim_value, idp }): AccessRule => ({
        oidc: idp === undefined ? { claim_name: 'department', claim_value } : { claim_name: 'department', claim_value, identity_provider_id: idp },
      }),
    ),
  ];
  const azure = fc
    .record({ group: fc.constantFrom(...u.groups), idp: fc.option(fc.constantFrom(...u.idpIds), { freq: 3, nil: undefined }) })
    .map(({ group, idp }): AccessRule => ({ azureAD: idp === undefined ? { id: group.id } : { id: group.id, identity_provider_id: idp } }));
  const refs = options.ruleGroups === false ? [] : Array.isArray(options.ruleGroups) ? options.ruleGroups : u.ruleGroupIds;
  const all: { weight: number; arbitrary: fc.Arbitrary<AccessRule> }[] = request.map((arbitrary) => ({ weight: 1, arbitrary }));
  if (options.identityBased !== false) {
    all.push(...identity.map((arbitrary) => ({ weight: 1, arbitrary })), { weight: 8, arbitrary: azure });
    if (refs.length > 0) all.push({ weight: 2, arbitrary: fc.constantFrom(...refs).map((id): AccessRule => ({ group: { id } })) });
  }
  return fc.oneof(...all);
}

function arbRuleArrays(rule: fc.Arbitrary<AccessRule>): fc.Arbitrary<{ include: AccessRule[]; require: AccessRule[]; exclude: AccessRule[] }> {
  return fc.record({
    include: fc.array(rule, { minLength: 1, maxLength: 3 }),
    require: fc.array(rule, { maxLength: 2 }),
    exclude: fc.array(rule, { maxLength: 2 }),
  });
}

/**
 * Rule groups with the universe's `ruleGroupIds`; group *i* references only
 * groups before it, so there is never a cycle (pass them as `groups`).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbRuleGroups, DEFAULT_UNIVERSE } from 'entragate/testing';
 * const [groups] = fc.sample(arbRuleGroups(), 1);
 * // compileAccessPolicies(policies, { groups, lists: DEFAULT_UNIVERSE.lists })
 * ```
 */
export function arbRuleGroups(options: { universe?: PolicyUniverse } = {}): fc.Arbitrary<AccessRuleGroup[]> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  const each = u.ruleGroupIds.map((id, i) =>
    arbRuleArrays(arbAccessRule({ universe: u, ruleGroups: u.ruleGroupIds.slice(0, i) })).map(
      (rules): AccessRuleGroup => ({ id, name: `Rule group ${i}`, ...rules }),
    ),
  );
  return fc.tuple(...each);
}

/**
 * One Access policy in API shape; Bypass policies get only non-identity
 * selectors, as Cloudflare requires.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbAccessPolicy } from 'entragate/testing';
 * fc.sample(arbAccessPolicy(), 1);
 * ```
 */
export function arbAccessPolicy(options: { universe?: PolicyUniverse; decisions?: readonly AccessAction[] } = {}): fc.Arbitrary<AccessPolicy> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  const decisions = options.decisions ?? (['allow', 'allow', 'deny', 'bypass', 'non_identity'] as const);
  return fc
    .record({ decision: fc.constantFrom(...decisions), n: fc.nat(9999), precedence: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }) })
    .chain(({ decision, n, precedence }) =>
      arbRuleArrays(arbAccessRule({ universe: u, identityBased: decision !== 'bypass', ruleGroups: decision !== 'bypass' })).map(
        (rules): AccessPolicy => ({
          id: `policy-${n}`,
          name: `${decision} ${n}`,
          decision,
          ...rules,
          ...(precedence === undefined ? {} : { precedence }),
          ...(n % 4 === 0 ? { session_duration: '12h' } : {}),
        }),
      ),
    );
}

/**
 * A list of Access policies (array order is the tie-break of equal precedence).
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { compileAccessPolicies } from 'entragate';
 * import { arbAccessPolicies, arbIdentity, arbRequestContext, arbRuleGroups, DEFAULT_UNIVERSE } from 'entragate/testing';
 * fc.assert(fc.property(arbAccessPolicies(), arbRuleGroups(), arbIdentity(), arbRequestContext(), (policies, groups, id, ctx) => {
 *   const d = compileAccessPolicies(policies, { groups, lists: DEFAULT_UNIVERSE.lists }).evaluate(id, ctx);
 *   return d.allowed === (d.action !== 'deny');
 * }));
 * ```
 */
export function arbAccessPolicies(
  options: { universe?: PolicyUniverse; minLength?: number; maxLength?: number; decisions?: readonly AccessAction[] } = {},
): fc.Arbitrary<AccessPolicy[]> {
  return fc.array(arbAccessPolicy(options), { minLength: options.minLength ?? 0, maxLength: options.maxLength ?? 6 });
}

const quote = (value: string): string => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/**
 * A Gateway identity expression in wirefilter syntax over the universe's
 * emails and groups: comparisons, `any`/`all` (both `[*]` spellings), sets,
 * `matches`, combined with `and`/`or`/`xor`/`not` up to `depth`.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbGatewayExpression } from 'entragate/testing';
 * fc.sample(arbGatewayExpression(), 3); // e.g. 'not(any(identity.groups.id[*] in {"…"})) and identity.email == "bob@example.com"'
 * ```
 */
export function arbGatewayExpression(options: { universe?: PolicyUniverse; depth?: number } = {}): fc.Arbitrary<string> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  const groupField = fc.constantFrom('id', 'name', 'email');
  const groupValues = (field: string): string[] =>
    u.groups.map((g) => (field === 'id' ? g.id : field === 'name' ? g.name : g.email)).filter((v): v is string => v !== undefined);
  const set = (values: readonly string[]): fc.Arbitrary<string> =>
    fc.subarray([...values], { minLength: 1, maxLength: 3 }).map((vs) => `{${vs.map(quote).join(' ')}}`);
  const leaf = fc.oneof(
    fc.constantFrom(...u.emails).map((e) => `identity.email == ${quote(e)}`),
    fc.constantFrom(...u.emails).map((e) => `identity.email != ${quote(e)}`),
    set(u.emails).map((s) => `identity.email in ${s}`),
    // Regex literals keep backslashes verbatim (only `\"` is unescaped), so the pattern is written as is.
    fc.constantFrom(...u.domains).map((d) => `identity.email matches "@${d.replaceAll('.', '\\.')}$"`),
    fc.constantFrom('ali', 'bob').map((s) => `identity.email contains ${quote(s)}`),
    fc.constantFrom('*@example.com', 'B*', 'al*ce*').map((w) => `identity.email wildcard ${quote(w)}`),
    fc.constantFrom('*@example.com', 'b*', 'Bob*').map((w) => `identity.email strict wildcard ${quote(w)}`),
    fc.constantFrom('Alice', 'Bob').map((n) => `identity.name == ${quote(n)}`),
    fc
      .record({ q: fc.constantFrom('any', 'all'), f: groupField, style: fc.boolean() })
      .chain(({ q, f, style }) => set(groupValues(f)).map((s) => `${q}(${style ? `identity.groups.${f}[*]` : `identity.groups[*].${f}`} in ${s})`)),
    groupField.chain((f) => fc.constantFrom(...groupValues(f)).map((v) => `any(identity.groups.${f}[*] == ${quote(v)})`)),
    fc.constantFrom('GROUP-1*', 'group-1*').map((w) => `any(identity.groups.name[*] wildcard ${quote(w)})`),
    fc.constantFrom(...u.groups).map((g) => `identity.groups.id == ${quote(g.id)}`),
  );
  const depth = options.depth ?? 3;
  const build = (d: number): fc.Arbitrary<string> =>
    d <= 0
      ? leaf
      : fc.oneof(
          { weight: 2, arbitrary: leaf },
          { weight: 1, arbitrary: build(d - 1).map((e) => `not(${e})`) },
          {
            weight: 2,
            arbitrary: fc.tuple(build(d - 1), fc.constantFrom('and', 'or', 'xor', '&&', '||', '^^'), build(d - 1)).map(([a, op, b]) => `(${a}) ${op} (${b})`),
          },
        );
  return build(depth);
}

/**
 * A Gateway traffic expression over the request fields a `RequestContext`
 * carries: `net.src.ip` (addresses, CIDRs, the `list-ips` list),
 * `net.src.geo.country`, and the HTTP fields `http.request.host` (values in
 * any case), `http.request.method`, `http.request.uri.path`,
 * `http.request.uri.query` and `http.request.uri.path_and_query` with each
 * operator, combined with `and`/`or`/`not` up to `depth`.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { arbTrafficExpression } from 'entragate/testing';
 * fc.sample(arbTrafficExpression(), 3); // e.g. 'net.src.ip in {10.0.0.0/8 "192.0.2.7"}'
 * ```
 */
export function arbTrafficExpression(options: { universe?: PolicyUniverse; depth?: number; http?: boolean } = {}): fc.Arbitrary<string> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  // A set takes addresses, CIDRs and ranges; `==` and `!=` one address (wirefilter: CIDRs only inside sets).
  const member = fc.constantFrom(...u.ips, ...u.cidrs, ...(u.ipRanges ?? [])).chain((v) => fc.constantFrom(v, quote(v)));
  const address = fc.constantFrom(...u.ips).chain((v) => fc.constantFrom(v, quote(v)));
  const leaf = fc.oneof(
    fc.array(member, { minLength: 1, maxLength: 3 }).map((vs) => `net.src.ip in {${vs.join(' ')}}`),
    address.map((v) => `net.src.ip == ${v}`),
    address.map((v) => `net.src.ip != ${v}`),
    fc.constant('net.src.ip in $list-ips'),
    fc.constantFrom(...u.countries).map((c) => `net.src.geo.country == ${quote(c)}`),
    fc.subarray([...u.countries], { minLength: 1 }).map((cs) => `net.src.geo.country in {${cs.map(quote).join(' ')}}`),
  );
  const bytesOp = fc.constantFrom('==', '!=', 'contains', '<', '>=');
  const host = fc.constantFrom(...u.hosts).chain((h) => fc.constantFrom(h, h.toUpperCase()));
  const hostLabel = fc.constantFrom(...u.hosts.filter((h) => !h.startsWith('['))).map((h) => h.split('.')[0] as string);
  const target = fc.tuple(fc.constantFrom(...u.paths), fc.constantFrom(...u.queries)).map(([p, q]) => (q === '' ? p : `${p}?${q}`));
  // Regexes are written so that they mean the same in RE2 and JavaScript; literal backslashes are kept verbatim.
  const regexEscape = (v: string): string => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const http = fc.oneof(
    fc.tuple(bytesOp, host).map(([op, h]) => `http.request.host ${op} ${quote(h)}`),
    fc.subarray([...u.hosts], { minLength: 1, maxLength: 2 }).map((hs) => `http.request.host in {${hs.map(quote).join(' ')}}`),
    fc.constant('http.request.host in $list-hosts'),
    hostLabel.map((l) => `http.request.host matches "^${regexEscape(l)}\\."`),
    fc.tuple(fc.constantFrom('==', '!='), fc.constantFrom(...u.methods)).map(([op, m]) => `http.request.method ${op} ${quote(m)}`),
    fc.subarray([...u.methods], { minLength: 1 }).map((ms) => `http.request.method in {${ms.map(quote).join(' ')}}`),
    fc.tuple(bytesOp, fc.constantFrom(...u.paths)).map(([op, p]) => `http.request.uri.path ${op} ${quote(p)}`),
    fc.constantFrom(...u.paths).map((p) => `http.request.uri.path matches "^${regexEscape(p)}"`),
    fc.constant('http.request.uri.path in $list-paths'),
    fc.tuple(bytesOp, fc.constantFrom(...u.queries)).map(([op, q]) => `http.request.uri.query ${op} ${quote(q)}`),
    fc.tuple(fc.constantFrom('==', '!=', 'contains'), target).map(([op, t]) => `http.request.uri.path_and_query ${op} ${quote(t)}`),
    fc.constant('http.request.uri.path_and_query matches "\\?page="'),
    fc.constantFrom('/admin*', '/ADMIN*', '*/users', '/files/*').map((w) => `http.request.uri.path wildcard ${quote(w)}`),
    fc.constantFrom('/admin*', '/ADMIN*', '*').map((w) => `http.request.uri.path strict wildcard ${quote(w)}`),
    fc.constantFrom('*.example.com', 'API.*').map((w) => `http.request.host wildcard ${quote(w)}`),
  );
  const leaves = options.http === false ? leaf : fc.oneof(leaf, http);
  const build = (d: number): fc.Arbitrary<string> =>
    d <= 0
      ? leaves
      : fc.oneof(
          { weight: 3, arbitrary: leaves },
          { weight: 1, arbitrary: build(d - 1).map((e) => `not(${e})`) },
          { weight: 1, arbitrary: fc.tuple(build(d - 1), fc.constantFrom('and', 'or'), build(d - 1)).map(([a, op, b]) => `(${a}) ${op} (${b})`) },
        );
  return build(options.depth ?? 2);
}

const GATEWAY_RULE_ACTIONS: readonly GatewayAction[] = ['allow', 'block', 'isolate', 'off', 'noscan', 'override', 'safesearch'];

/**
 * Gateway rules with generated identity expressions (and, for about half of
 * them, traffic and device posture ones), distinct precedences, some disabled.
 * Traffic expressions name the universe's lists: pass them to the compile options.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { compileGatewayRules } from 'entragate';
 * import { arbGatewayRules, arbIdentity, arbRequestContext, DEFAULT_UNIVERSE } from 'entragate/testing';
 * fc.assert(fc.property(arbGatewayRules(), arbIdentity(), arbRequestContext(), (rules, identity, context) => {
 *   compileGatewayRules(rules, { lists: DEFAULT_UNIVERSE.lists }).evaluate(identity, context);
 * }));
 * ```
 */
export function arbGatewayRules(
  options: { universe?: PolicyUniverse; maxLength?: number; actions?: readonly GatewayAction[] } = {},
): fc.Arbitrary<GatewayRule[]> {
  const u = options.universe ?? DEFAULT_UNIVERSE;
  const rule = fc.record({
    action: fc.constantFrom(...(options.actions ?? GATEWAY_RULE_ACTIONS)),
    identity: fc.option(arbGatewayExpression({ universe: u, depth: 2 }), { freq: 6, nil: undefined }),
    traffic: fc.option(arbTrafficExpression({ universe: u, depth: 1 }), { freq: 2, nil: undefined }),
    devicePosture: fc.option(
      fc.subarray([...u.postures], { minLength: 1 }).map((ps) => `any(device_posture.checks.passed[*] in {${ps.map(quote).join(' ')}})`),
      { freq: 2, nil: undefined },
    ),
    enabled: fc.option(fc.boolean(), { freq: 3, nil: undefined }),
  });
  return fc
    .uniqueArray(fc.integer({ min: 1, max: 10_000 }), { maxLength: options.maxLength ?? 6 })
    .chain((precedences) => fc.tuple(...precedences.map(() => rule)).map((rules) => rules.map((r, i) => ({ r, p: precedences[i] as number }))))
    .map((items) =>
      items.map(({ r, p }, i): GatewayRule => {
        const out: GatewayRule = { id: `rule-${i}`, name: `${r.action} ${i}`, action: r.action, precedence: p };
        if (r.identity !== undefined) out.identity = r.identity;
        if (r.traffic !== undefined) out.traffic = r.traffic;
        if (r.devicePosture !== undefined) out.device_posture = r.devicePosture;
        if (r.enabled !== undefined) out.enabled = r.enabled;
        return out;
      }),
    );
}
