import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, explain } from '../../src/policy/index.js';
import { ConfigError, PolicyError } from '../../src/errors/index.js';
import type { AccessPolicy } from '../../src/policy/types.js';
import { makeIdentity, thrown } from './helpers.js';

const G1 = '86773093-5feb-48dd-814b-7ccd3676ff50';

function compileError(policies: unknown[], options = {}): { code?: string; message: string } {
  const err = thrown(() => compileAccessPolicies(policies as AccessPolicy[], options));
  expect(err).toBeInstanceOf(PolicyError);
  return err;
}

describe('access: compile errors name the location', () => {
  it.each([
    [
      [{ name: 'p', decision: 'allow', include: [{ okta: { name: 'x' } }] }],
      'ERR_POLICY_UNKNOWN_SELECTOR',
      'selector `okta` is not supported by entragate: policies[0].include[0]',
    ],
    [
      [
        { name: 'a', decision: 'allow', include: [{ everyone: {} }] },
        { name: 'b', decision: 'deny', include: [{ everyone: {} }], exclude: [{ frobnicate: {} }] },
      ],
      'ERR_POLICY_UNKNOWN_SELECTOR',
      'selector `frobnicate` is not known: policies[1].exclude[0]',
    ],
    [[{ name: 'p', decision: 'allow', include: [] }], 'ERR_POLICY_INVALID', 'at least one `include` rule is required: policies[0]'],
    [[{ name: 'p', decision: 'allow' }], 'ERR_POLICY_INVALID', 'at least one `include` rule is required: policies[0]'],
    [
      [{ name: 'p', decision: 'permit', include: [{ everyone: {} }] }],
      'ERR_POLICY_INVALID',
      '`decision` must be allow, deny, bypass or non_identity, not `permit`: policies[0] `p`',
    ],
    [[{ decision: 'allow', include: [{ everyone: {} }] }], 'ERR_POLICY_INVALID', '`name` must be a non-empty string: policies[0]'],
    [[{ name: 'p', decision: 'allow', include: [{ email: {} }] }], 'ERR_POLICY_INVALID', '`email.email` must be a non-empty string: policies[0].include[0]'],
    [
      [{ name: 'p', decision: 'allow', include: [{ email: { email: 'a@x' }, geo: { country_code: 'US' } }] }],
      'ERR_POLICY_INVALID',
      'a rule must have exactly one selector, found 2: policies[0].include[0]',
    ],
    [[{ name: 'p', decision: 'allow', include: ['everyone'] }], 'ERR_POLICY_INVALID', 'a rule must be an object with one selector: policies[0].include[0]'],
    [
      [{ name: 'p', decision: 'allow', include: [{ ip: { ip: '10.0.0.0/33' } }] }],
      'ERR_POLICY_INVALID',
      '`ip.ip` `10.0.0.0/33` is not an IPv4 or IPv6 address or CIDR: policies[0].include[0]',
    ],
    [
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], require: { email: { email: 'a' } } }],
      'ERR_POLICY_INVALID',
      '`require` must be an array: policies[0].require',
    ],
    [
      [{ name: 'p', decision: 'allow', include: [{ email_list: { id: 'l' } }] }],
      'ERR_POLICY_GROUP_MISSING',
      'list `l` is not configured: policies[0].include[0]',
    ],
    [[{ name: 'p', decision: 'allow', include: [{ ip_list: { id: 'l' } }] }], 'ERR_POLICY_GROUP_MISSING', 'list `l` is not configured: policies[0].include[0]'],
    [
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: 'a day' }],
      'ERR_POLICY_INVALID',
      '`session_duration` `a day` is not a duration of at least `1s` such as `24h`: policies[0] `p`',
    ],
    // Regression: these compiled, then threw when the session code used them on a request.
    [
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: '500ms' }],
      'ERR_POLICY_INVALID',
      '`session_duration` `500ms` is not a duration of at least `1s` such as `24h`: policies[0] `p`',
    ],
    [
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: '1h'.repeat(40) }],
      'ERR_POLICY_INVALID',
      `\`session_duration\` \`${'1h'.repeat(32)}\` is not a duration of at least \`1s\` such as \`24h\`: policies[0] \`p\``,
    ],
    [
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], precedence: 'first' }],
      'ERR_POLICY_INVALID',
      '`precedence` must be a finite number: policies[0] `p`',
    ],
    [
      [{ name: 'p', decision: 'bypass', include: [{ email: { email: 'a@x' } }] }],
      'ERR_POLICY_INVALID',
      'bypass policies cannot use identity-based selectors (Cloudflare refuses them): policies[0] `p`',
    ],
  ])('%j', (policies, code, message) => {
    const err = compileError(policies);
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
  });

  it('checks rule groups and lists with their own locations', () => {
    expect(compileError([], { groups: [{ id: 'g', name: 'G', include: [{ nope: {} }] }] }).message).toBe('selector `nope` is not known: groups[0].include[0]');
    expect(compileError([], { groups: [{ id: 'g', name: 'G', include: [] }] }).message).toBe('at least one `include` rule is required: groups[0]');
    expect(
      compileError([], {
        groups: [
          { id: 'g', name: 'G', include: [{ everyone: {} }] },
          { id: 'g', name: 'H', include: [{ everyone: {} }] },
        ],
      }).message,
    ).toBe('rule group id `g` is duplicated: groups[1]');
    expect(compileError([{ name: 'p', decision: 'allow', include: [{ ip_list: { id: 'l' } }] }], { lists: { l: ['10.0.0.0/8', 'not-an-ip'] } }).message).toBe(
      '`not-an-ip` is not an IPv4 or IPv6 address or CIDR: lists.l[1]',
    );
    const bypassViaGroup = compileError([{ name: 'b', decision: 'bypass', include: [{ group: { id: 'g' } }] }], {
      groups: [{ id: 'g', name: 'G', include: [{ azureAD: { id: G1 } }] }],
    });
    expect(bypassViaGroup.message).toContain('bypass policies cannot use identity-based selectors');
  });

  it('bounds rule group nesting', () => {
    const groups = Array.from({ length: 5 }, (_, i) => ({
      id: `g${i}`,
      name: `G${i}`,
      include: i === 4 ? [{ everyone: {} }] : [{ group: { id: `g${i + 1}` } }],
    }));
    expect(compileError([], { groups, maxGroupDepth: 3 }).message).toBe('rule groups nest deeper than 3: groups[2].include[0]');
    expect(() => compileAccessPolicies([], { groups, maxGroupDepth: 5 })).not.toThrow();
  });

  it('rejects bad options with ConfigError', () => {
    const err = thrown(() => compileAccessPolicies([], { lists: { l: 'a@x' } } as never));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toMatch(/^invalid access policy configuration:\n/);
    expect(thrown(() => compileAccessPolicies([], { extra: true } as never)).code).toBe('ERR_CONFIG_INVALID');
  });

  it('tolerates documented fields it does not evaluate', () => {
    const p = compileAccessPolicies([
      {
        name: 'p',
        decision: 'allow',
        include: [{ everyone: {} }],
        approval_required: false,
        mfa_config: { mfa_disabled: true },
        isolation_required: false,
        purpose_justification_required: false,
      },
    ]);
    expect(p.evaluate(makeIdentity(), {}).allowed).toBe(true);
  });
});

describe('access: precedence', () => {
  it('sorts by precedence with array order breaking ties, and implicit precedence is the array position', () => {
    const p = compileAccessPolicies([
      { name: 'third', decision: 'allow', include: [{ everyone: {} }], precedence: 5 },
      { name: 'first', decision: 'deny', include: [{ everyone: {} }], precedence: 1 },
      { name: 'tie-a', decision: 'allow', include: [{ everyone: {} }], precedence: 3 },
      { name: 'tie-b', decision: 'allow', include: [{ everyone: {} }], precedence: 3 },
    ]);
    expect(p.order.map((x) => `${x.name}:${x.precedence}`)).toEqual(['first:1', 'tie-a:3', 'tie-b:3', 'third:5']);
    expect(p.evaluate(makeIdentity(), {})).toMatchObject({ allowed: false, policy: { name: 'first', precedence: 1 } });
    const implicit = compileAccessPolicies([
      { id: 'x', name: 'x', decision: 'allow', include: [{ everyone: {} }] },
      { name: 'y', decision: 'deny', include: [{ everyone: {} }] },
    ]);
    expect(implicit.order).toEqual([
      { id: 'x', name: 'x', precedence: 1, action: 'allow' },
      { name: 'y', precedence: 2, action: 'deny' },
    ]);
  });
});

describe('access: decisions and traces', () => {
  const policies: AccessPolicy[] = [
    {
      id: 'p1',
      name: 'Finance',
      decision: 'allow',
      include: [{ azureAD: { id: G1, identity_provider_id: 'entra' } }],
      exclude: [{ email: { email: 'x@example.com' } }],
      session_duration: '8h',
    },
  ];

  it('reports the deciding policy, the session duration and a readable trace', () => {
    const d = compileAccessPolicies(policies).evaluate(makeIdentity({ email: 'a@example.com', groups: [G1] }), {});
    expect(d).toMatchObject({
      kind: 'access',
      allowed: true,
      action: 'allow',
      policy: { id: 'p1', name: 'Finance', precedence: 1 },
      reason: 'matched',
      sessionDuration: '8h',
    });
    expect(d.trace).toEqual([
      {
        policy: { id: 'p1', name: 'Finance', precedence: 1, action: 'allow' },
        result: 'match',
        checks: [
          { path: 'include[0]', selector: 'azureAD', value: G1, attribute: 'identity.groups', result: 'match' },
          {
            path: 'exclude[0]',
            selector: 'email',
            value: 'x@example.com',
            attribute: 'identity.email',
            result: 'no-match',
            detail: 'email is `a@example.com`',
          },
        ],
      },
    ]);
    expect(explain(d)).toBe(
      [
        'access: allowed, action allow (matched)',
        'decided by "Finance" (id p1, precedence 1)',
        '1. allow "Finance" (id p1, precedence 1): match',
        `   include[0] azureAD ${G1} : match`,
        '   exclude[0] email x@example.com : no-match (email is `a@example.com`)',
      ].join('\n'),
    );
  });

  it('renders a policy name with parentheses as it is (regression: `( ` in a name was rewritten)', () => {
    const named = compileAccessPolicies([{ name: 'Team ( A)', decision: 'allow', include: [{ everyone: {} }] }]);
    expect(explain(named.evaluate(makeIdentity(), {})).split('\n').slice(1)).toEqual([
      'decided by "Team ( A)" (precedence 1)',
      '1. allow "Team ( A)" (precedence 1): match',
      '   include[0] everyone : match',
    ]);
  });

  it('says which attribute failed', () => {
    const p = compileAccessPolicies(policies);
    expect(explain(p.evaluate(makeIdentity({ idp: 'other', groups: [G1] }), {}))).toContain(
      'include[0] azureAD 86773093-5feb-48dd-814b-7ccd3676ff50 : no-match (identity provider `other` is not `entra`)',
    );
    expect(explain(p.evaluate(makeIdentity({ groups: ['g2'] }), {}))).toContain('no-match (not among 1 group (membership complete (graph)))');
    expect(explain(p.evaluate(makeIdentity({ groups: ['g2', 'g3'] }), {}))).toContain('no-match (not among 2 groups (membership complete (graph)))');
    const none = p.evaluate(null, {});
    expect(none.trace).toEqual([
      {
        policy: { id: 'p1', name: 'Finance', precedence: 1, action: 'allow' },
        result: 'skipped',
        note: 'no identity: allow and block policies need a login',
        checks: [],
      },
    ]);
    expect(explain(none)).toContain('no policy matched: deny by default');
  });

  it('says why the oidc, certificate, service token and posture selectors did not match', () => {
    const p = compileAccessPolicies([
      { name: 'claims', decision: 'allow', include: [{ oidc: { claim_name: 'department', claim_value: 'finance' } }] },
      { name: 'other idp', decision: 'allow', include: [{ oidc: { claim_name: 'department', claim_value: 'finance', identity_provider_id: 'okta' } }] },
      {
        name: 'svc',
        decision: 'non_identity',
        include: [{ certificate: {} }, { any_valid_service_token: {} }, { device_posture: { integration_uid: 'disk' } }],
      },
    ]);
    const text = explain(p.evaluate(makeIdentity({ oidc_fields: { department: ['sales', 'legal'] } }), { devicePosture: ['firewall'] }));
    expect(text).toContain('include[0] certificate : no-match (no valid certificate)');
    expect(text).toContain('include[1] any_valid_service_token : no-match (no service token)');
    expect(text).toContain('include[2] device_posture disk : no-match (passed checks: [firewall])');
    expect(text).toContain('include[0] oidc department=finance : no-match (claim `department` is a list of 2)');
    expect(text).toContain('include[0] oidc department=finance : no-match (identity provider `entra` is not `okta`)');
    expect(explain(p.evaluate(makeIdentity(), {}))).toContain('oidc department=finance : no-match (claim `department` is absent)');
  });

  it('matches an oidc claim that is the value or a flat list holding it, never a nested list (no recursion on token input)', () => {
    const p = compileAccessPolicies([{ name: 'claims', decision: 'allow', include: [{ oidc: { claim_name: 'level', claim_value: '3' } }] }]);
    expect(p.evaluate(makeIdentity({ oidc_fields: { level: 3 } }), {}).allowed).toBe(true);
    expect(p.evaluate(makeIdentity({ oidc_fields: { level: ['1', '3'] } }), {}).allowed).toBe(true);
    expect(p.evaluate(makeIdentity({ oidc_fields: { level: [['3']] } }), {}).allowed).toBe(false);
    let deep: unknown = '3';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(p.evaluate(makeIdentity({ oidc_fields: { level: deep } }), {}).allowed).toBe(false);
  });

  it('shows nested rule group checks', () => {
    const p = compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ group: { id: 'rg' } }] }], {
      groups: [{ id: 'rg', name: 'RG', include: [{ geo: { country_code: 'US' } }] }],
    });
    expect(explain(p.evaluate(makeIdentity(), { country: 'FR' }))).toContain(
      '   include[0] group rg : no-match\n     include[0] geo US : no-match (country is `FR`)',
    );
  });

  it('serialises with its trace', () => {
    const d = compileAccessPolicies(policies).evaluate(makeIdentity({ groups: [G1] }), {});
    const json = JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
    expect(json).toMatchObject({ kind: 'access', allowed: true, action: 'allow', reason: 'matched', sessionDuration: '8h' });
    expect(Array.isArray(json['trace'])).toBe(true);
  });

  it('keeps the index shortcut equivalent: the same identity across policy sets and membership changes', () => {
    const many: AccessPolicy[] = Array.from({ length: 50 }, (_, i) => ({
      name: `g${i}`,
      decision: i % 7 === 0 ? 'deny' : 'allow',
      include: [{ azureAD: { id: `group-${i}` } }],
    }));
    const a = compileAccessPolicies(many);
    const b = compileAccessPolicies([...many].reverse());
    const id = makeIdentity({ groups: ['GROUP-13', 'group-14'] });
    expect(a.evaluate(id, {}).policy?.name).toBe('g13');
    expect(b.evaluate(id, {}).policy?.name).toBe('g14');
    expect(a.evaluate(id, {}).policy?.name).toBe('g13');
    const unknown = makeIdentity({ groups: ['group-13'], membership: { state: 'absent' } });
    expect(a.evaluate(unknown, {})).toMatchObject({ allowed: false, policy: { name: 'g0' }, reason: 'unknown-membership' });
    expect(a.evaluate(makeIdentity({ groups: ['nothing'] }), {})).toMatchObject({ allowed: false, reason: 'default' });
  });

  it('treats a malformed membership as unknown (fail closed)', () => {
    const p = compileAccessPolicies([
      { name: 'block', decision: 'deny', include: [{ azureAD: { id: 'g-bad' } }] },
      { name: 'all', decision: 'allow', include: [{ everyone: {} }] },
    ]);
    const broken = { ...makeIdentity(), membership: undefined } as unknown as ReturnType<typeof makeIdentity>;
    expect(p.evaluate(broken, {})).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(explain(p.evaluate(broken, {}))).toContain('membership state missing');
  });
});

// Checks a mutation run (issue 12) left unproven: each test fails when the check is removed.
describe('access: checks the mutation run found untested', () => {
  it('oidc: a rule with identity_provider_id matches only an identity from that IdP', () => {
    const p = compileAccessPolicies([
      { name: 'okta finance', decision: 'allow', include: [{ oidc: { claim_name: 'department', claim_value: 'finance', identity_provider_id: 'okta' } }] },
    ]);
    const fromEntra = makeIdentity({ idp: 'entra', oidc_fields: { department: 'finance' } });
    const fromOkta = makeIdentity({ idp: 'okta', oidc_fields: { department: 'finance' } });
    expect(p.evaluate(fromEntra, {})).toMatchObject({ allowed: false, reason: 'default' });
    expect(p.evaluate(fromOkta, {})).toMatchObject({ allowed: true, policy: { name: 'okta finance' } });
  });

  it('any_valid_service_token: an empty token id is no service token', () => {
    const p = compileAccessPolicies([{ name: 'svc', decision: 'non_identity', include: [{ any_valid_service_token: {} }] }]);
    expect(p.evaluate(null, { serviceToken: { tokenId: '' } })).toMatchObject({ allowed: false, reason: 'default' });
    expect(p.evaluate(null, { serviceToken: { tokenId: 'a1b2' } })).toMatchObject({ allowed: true, policy: { name: 'svc' } });
  });

  it('email_domain: a domain with an `@` inside is refused; one leading `@` is dropped', () => {
    for (const domain of ['a@example.com', '@@example.com', 'example.com@']) {
      const err = thrown(() => compileAccessPolicies([{ name: 'd', decision: 'allow', include: [{ email_domain: { domain } }] }]));
      expect(err.code).toBe('ERR_POLICY_INVALID');
      expect(err.message).toContain('is not a domain');
    }
    const p = compileAccessPolicies([{ name: 'd', decision: 'allow', include: [{ email_domain: { domain: '@Example.com' } }] }]);
    expect(p.evaluate(makeIdentity({ email: 'ada@example.com' }), {}).allowed).toBe(true);
    expect(p.evaluate(makeIdentity({ email: 'ada@example.org' }), {}).allowed).toBe(false);
  });
});
