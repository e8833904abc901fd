/**
 * What the Access compiler checks and what each selector's trace says, case by case: the mutation run
 * (issue 12) found these unproven (a check removed, a message or a trace detail emptied, a loop bound
 * moved, and no test failed).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, explain } from '../../src/policy/index.js';
import type { AccessPolicy, AccessRule, CheckTrace } from '../../src/policy/types.js';
import type { Identity } from '../../src/types.js';
import { makeIdentity, thrown } from './helpers.js';

const table = JSON.parse(readFileSync(new URL('../fixtures/policy/traces/access.json', import.meta.url), 'utf8')) as {
  lists: Record<string, string[]>;
  cases: { rule: AccessRule; case: 'yes' | 'no' | 'no identity, empty context'; check: CheckTrace }[];
};
const who: Record<string, Identity | null> = {
  yes: makeIdentity({ email: 'ada@example.com', idp: 'entra', amr: ['mfa'], groups: ['g1'], oidc_fields: { dept: 'fin' } }),
  no: makeIdentity({ email: 'bob@example.org', idp: 'okta', amr: ['pwd'], groups: [], oidc_fields: {} }),
  'no identity, empty context': null,
};
const where: Record<string, object> = {
  yes: { ip: '10.1.1.1', country: 'PT', certificate: { valid: true, commonName: 'svc' }, serviceToken: { tokenId: 't1' }, devicePosture: ['disk'] },
  no: { ip: '192.0.2.1', country: 'FR', certificate: { valid: true, commonName: 'other' }, serviceToken: { tokenId: 't2' }, devicePosture: ['fw'] },
  'no identity, empty context': {},
};

describe('access: every selector’s trace (te../fixtures/policy/traces/access.json)', () => {
  it.each(table.cases.map((c) => [Object.keys(c.rule)[0], c.case, c] as const))('%s, %s', (_selector, _case, c) => {
    const p = compileAccessPolicies([{ name: 'p', decision: 'non_identity', include: [c.rule] }], { lists: table.lists });
    const d = p.evaluate(who[c.case] as Identity | null, where[c.case] as object);
    expect(d.trace[0]?.checks[0]).toStrictEqual(c.check);
    expect(d.allowed).toBe(c.check.result === 'match');
  });
});

describe('access: selector edges', () => {
  const allow = (rule: AccessRule, options = {}) => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [rule] }], options);

  it('an empty or null identity_provider_id is no constraint; a non-string one is an error', () => {
    const entra = makeIdentity({ idp: 'entra', groups: ['g1'], oidc_fields: { d: 'x' } });
    for (const idp of ['', null]) {
      expect(allow({ azureAD: { id: 'g1', identity_provider_id: idp as unknown as string } }).evaluate(entra, {}).allowed).toBe(true);
      expect(allow({ oidc: { claim_name: 'd', claim_value: 'x', identity_provider_id: idp as unknown as string } }).evaluate(entra, {}).allowed).toBe(true);
    }
    const err = thrown(() => allow({ azureAD: { id: 'g1', identity_provider_id: 5 as unknown as string } }));
    expect(err.code).toBe('ERR_POLICY_INVALID');
    expect(err.message).toBe('`azureAD.identity_provider_id` must be a string: policies[0].include[0]');
  });

  it('a selector body that is not an object, and a missing string field, are named in the error', () => {
    expect(thrown(() => allow({ email: 'a@x' } as unknown as AccessRule)).message).toBe('`email` must be an object: policies[0].include[0]');
    expect(thrown(() => allow({ geo: {} } as unknown as AccessRule)).message).toBe('`geo.country_code` must be a non-empty string: policies[0].include[0]');
  });

  it('oidc: a boolean claim matches its text; an object claim or a non-object claim set never matches', () => {
    const rule = (name: string, value: string): AccessRule => ({ oidc: { claim_name: name, claim_value: value } });
    expect(allow(rule('admin', 'true')).evaluate(makeIdentity({ oidc_fields: { admin: true } }), {}).allowed).toBe(true);
    expect(allow(rule('admin', 'true')).evaluate(makeIdentity({ oidc_fields: { admin: 'false' } }), {}).allowed).toBe(false);
    expect(allow(rule('o', '[object Object]')).evaluate(makeIdentity({ oidc_fields: { o: {} } }), {}).allowed).toBe(false);
    expect(allow(rule('length', '3')).evaluate({ ...makeIdentity(), oidc_fields: 'abc' as unknown as Record<string, unknown> }, {}).allowed).toBe(false);
    expect(allow(rule('d', 'x')).evaluate({ ...makeIdentity(), oidc_fields: null as unknown as Record<string, unknown> }, {}).allowed).toBe(false);
  });

  it('oidc: the trace describes the claim it found', () => {
    const detail = (fields: unknown): string | undefined =>
      allow({ oidc: { claim_name: 'c', claim_value: 'v' } }).evaluate({ ...makeIdentity(), oidc_fields: fields as Record<string, unknown> }, {}).trace[0]
        ?.checks[0]?.detail;
    expect(detail({ c: 'other' })).toBe('claim `c` is `other`');
    expect(detail({ c: 7 })).toBe('claim `c` is `7`');
    expect(detail({ c: false })).toBe('claim `c` is `false`');
    expect(detail({ c: ['a', 'b', 'c'] })).toBe('claim `c` is a list of 3');
    expect(detail({ c: null })).toBe('claim `c` is a null');
    expect(detail({ c: { v: 1 } })).toBe('claim `c` is a object');
    expect(detail({ c: 'x'.repeat(100) })).toBe(`claim \`c\` is \`${'x'.repeat(64)}\``);
    expect(detail(null)).toBe('claim `c` is absent');
    expect(detail({})).toBe('claim `c` is absent');
  });

  it('oidc with identity_provider_id: the trace names the other IdP', () => {
    const d = allow({ oidc: { claim_name: 'c', claim_value: 'v', identity_provider_id: 'okta' } }).evaluate(
      makeIdentity({ idp: 'entra', oidc_fields: { c: 'v' } }),
      {},
    );
    expect(d.trace[0]?.checks[0]?.detail).toBe('identity provider `entra` is not `okta`');
  });

  it('email_domain: an email that is only `@domain` does not match; `@` alone is no domain', () => {
    expect(allow({ email_domain: { domain: 'example.com' } }).evaluate(makeIdentity({ email: '@example.com' }), {}).allowed).toBe(false);
    expect(thrown(() => allow({ email_domain: { domain: '@' } })).message).toBe('`email_domain.domain` `` is not a domain: policies[0].include[0]');
  });

  it('azureAD and oidc in a Service Auth policy without an identity: no match, never unknown, never a crash', () => {
    const p = compileAccessPolicies([
      { name: 'svc', decision: 'non_identity', include: [{ azureAD: { id: 'g1' } }, { oidc: { claim_name: 'c', claim_value: 'v' } }] },
    ]);
    const d = p.evaluate(null, {});
    expect(d).toMatchObject({ allowed: false, reason: 'default' });
    expect(d.trace[0]?.checks.map((c) => c.detail)).toEqual(['no identity', 'no identity']);
  });

  it('the identity selectors are refused in Bypass policies, the request ones accepted', () => {
    const identityBased: AccessRule[] = [
      { email: { email: 'a@x' } },
      { email_domain: { domain: 'x' } },
      { email_list: { id: 'l' } },
      { azureAD: { id: 'g' } },
      { login_method: { id: 'e' } },
      { auth_method: { auth_method: 'mfa' } },
      { oidc: { claim_name: 'c', claim_value: 'v' } },
    ];
    for (const rule of identityBased) {
      const err = thrown(() => compileAccessPolicies([{ name: 'b', decision: 'bypass', include: [{ everyone: {} }], exclude: [rule] }], { lists: { l: [] } }));
      expect(err.message).toContain('bypass policies cannot use identity-based selectors');
    }
    const requestBased: AccessRule[] = [
      { everyone: {} },
      { ip: { ip: '10.0.0.0/8' } },
      { ip_list: { id: 'ips' } },
      { geo: { country_code: 'US' } },
      { common_name: { common_name: 'c' } },
      { certificate: {} },
      { service_token: { token_id: 't' } },
      { any_valid_service_token: {} },
      { device_posture: { integration_uid: 'u' } },
    ];
    expect(() => compileAccessPolicies([{ name: 'b', decision: 'bypass', include: requestBased }], { lists: { ips: [] } })).not.toThrow();
    // A rule group is identity-based when any of its rules is.
    const groups = [{ id: 'mixed', name: 'm', include: [{ everyone: {} }, { email: { email: 'a@x' } }] }];
    expect(thrown(() => compileAccessPolicies([{ name: 'b', decision: 'bypass', include: [{ group: { id: 'mixed' } }] }], { groups })).code).toBe(
      'ERR_POLICY_INVALID',
    );
  });
});

describe('access: the compiler’s checks, by message', () => {
  const bad = (policies: unknown, options: object = {}): string => thrown(() => compileAccessPolicies(policies as AccessPolicy[], options)).message;
  it.each([
    [{ policies: 'x' }, '`policies` must be an array: policies'],
    [{ policies: ['x'] }, 'a policy must be an object: policies[0]'],
    [{ policies: [{ name: '', decision: 'allow', include: [{ everyone: {} }] }] }, '`name` must be a non-empty string: policies[0]'],
    [{ policies: [{ name: 5, decision: 'allow', include: [{ everyone: {} }] }] }, '`name` must be a non-empty string: policies[0]'],
    [
      { policies: [{ name: 'p', decision: 5, include: [{ everyone: {} }] }] },
      '`decision` must be allow, deny, bypass or non_identity, not `5`: policies[0] `p`',
    ],
    [{ policies: [{ name: 'p', decision: 'allow', id: 5, include: [{ everyone: {} }] }] }, '`id` must be a string: policies[0] `p`'],
    [{ policies: [{ name: 'p', decision: 'allow', precedence: '1', include: [{ everyone: {} }] }] }, '`precedence` must be a finite number: policies[0] `p`'],
    [
      { policies: [{ name: 'p', decision: 'allow', precedence: Infinity, include: [{ everyone: {} }] }] },
      '`precedence` must be a finite number: policies[0] `p`',
    ],
    [{ policies: [{ name: 'p', decision: 'allow', include: null }] }, 'at least one `include` rule is required: policies[0]'],
    [
      { policies: [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: '999ms' }] },
      '`session_duration` `999ms` is not a duration of at least `1s` such as `24h`: policies[0] `p`',
    ],
    [
      { policies: [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: 86400 }] },
      '`session_duration` `86400` is not a duration of at least `1s` such as `24h`: policies[0] `p`',
    ],
    [{ policies: [], groups: ['x'] }, 'a rule group must be an object: groups[0]'],
    [{ policies: [], groups: [{ id: '', name: 'g', include: [{ everyone: {} }] }] }, '`id` must be a non-empty string: groups[0]'],
    [{ policies: [], groups: [{ id: 5, name: 'g', include: [{ everyone: {} }] }] }, '`id` must be a non-empty string: groups[0]'],
    [{ policies: [], groups: [{ id: 'g', name: 5, include: [{ everyone: {} }] }] }, '`name` must be a string: groups[0]'],
  ])('%j', (input, message) => {
    const { policies, ...options } = input as { policies: unknown };
    expect(bad(policies, options)).toBe(message);
  });

  it('accepts a session of exactly one second, and null require and exclude', () => {
    expect(() => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ everyone: {} }], session_duration: '1s' }])).not.toThrow();
    expect(() =>
      compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ everyone: {} }], require: null, exclude: null } as unknown as AccessPolicy]),
    ).not.toThrow();
  });

  it('names the rule groups of a cycle from where it closes', () => {
    const groups = [
      { id: 'a', name: 'a', include: [{ group: { id: 'b' } }] },
      { id: 'b', name: 'b', include: [{ group: { id: 'c' } }] },
      { id: 'c', name: 'c', include: [{ group: { id: 'b' } }] },
    ];
    const err = thrown(() => compileAccessPolicies([], { groups }));
    expect(err.code).toBe('ERR_POLICY_GROUP_CYCLE');
    expect(err.message).toBe('rule groups reference each other in a cycle: `b` > `c` > `b`: groups[2].include[0]');
  });

  it('counts nesting depth per path: siblings at one level do not add up', () => {
    const groups = [
      { id: 'leaf', name: 'l', include: [{ everyone: {} }] },
      { id: 's1', name: 's1', include: [{ group: { id: 'leaf' } }] },
      { id: 's2', name: 's2', include: [{ group: { id: 'leaf' } }] },
      { id: 's3', name: 's3', include: [{ group: { id: 'leaf' } }] },
    ];
    expect(() => compileAccessPolicies([], { groups, maxGroupDepth: 2 })).not.toThrow();
    // Resolved from the outermost: three levels below `top2`.
    const deep = [{ id: 'top2', name: 't2', include: [{ group: { id: 'top' } }] }, { id: 'top', name: 't', include: [{ group: { id: 's1' } }] }, ...groups];
    expect(thrown(() => compileAccessPolicies([], { groups: deep, maxGroupDepth: 2 })).message).toContain('rule groups nest deeper than 2');
  });
});

describe('access: order, decision refs and the trace', () => {
  it('ties in precedence keep array order, in both phases', () => {
    const p = compileAccessPolicies([
      { name: 'allow 1', decision: 'allow', precedence: 5, include: [{ everyone: {} }] },
      { name: 'allow 2', decision: 'allow', precedence: 5, include: [{ everyone: {} }] },
      { name: 'svc 2', decision: 'non_identity', precedence: 9, include: [{ everyone: {} }] },
      { name: 'svc 1', decision: 'non_identity', precedence: 3, include: [{ everyone: {} }] },
      { name: 'bypass', decision: 'bypass', precedence: 3, include: [{ everyone: {} }] },
    ]);
    expect(p.order.map((o) => o.name)).toEqual(['svc 1', 'bypass', 'svc 2', 'allow 1', 'allow 2']);
  });

  it('a policy without an id has none on its decision', () => {
    const d = compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ everyone: {} }] }]).evaluate(makeIdentity(), {});
    expect(d.policy).toStrictEqual({ name: 'p', precedence: 1 });
    const withId = compileAccessPolicies([{ id: 'x', name: 'p', decision: 'allow', include: [{ everyone: {} }] }]).evaluate(makeIdentity(), {});
    expect(withId.policy).toStrictEqual({ id: 'x', name: 'p', precedence: 1 });
  });

  it('the trace stops at the deciding policy, says why an unknown one was passed over or denied, and skips allow/block without a login', () => {
    const overage = makeIdentity({ groups: [], membership: { state: 'overage', signal: 'hasgroups' } });
    const p = compileAccessPolicies([
      { name: 'bypass office', decision: 'bypass', include: [{ ip: { ip: '10.0.0.0/8' } }] },
      { name: 'maybe allow', decision: 'allow', include: [{ azureAD: { id: 'g1' } }] },
      { name: 'allow all', decision: 'allow', include: [{ everyone: {} }] },
      { name: 'never reached', decision: 'deny', include: [{ everyone: {} }] },
    ]);
    const d = p.evaluate(overage, {});
    expect(d.policy?.name).toBe('allow all');
    expect(d.trace.map((t) => [t.policy.name, t.result, t.note])).toEqual([
      ['bypass office', 'no-match', undefined],
      ['maybe allow', 'unknown', 'might match: not counted as a match'],
      ['allow all', 'match', undefined],
    ]);
    expect(d.trace.map((t) => 'note' in t)).toEqual([false, true, false]);
    const blocked = compileAccessPolicies([{ name: 'maybe block', decision: 'deny', include: [{ azureAD: { id: 'g1' } }] }]).evaluate(overage, {});
    expect(blocked.trace[0]).toMatchObject({ result: 'unknown', note: 'might match: fail closed, deny' });
    const anonymous = p.evaluate(null, { ip: '192.0.2.1' });
    expect(anonymous.trace.map((t) => [t.policy.name, t.result])).toEqual([
      ['bypass office', 'no-match'],
      ['maybe allow', 'skipped'],
      ['allow all', 'skipped'],
      ['never reached', 'skipped'],
    ]);
    expect(anonymous.trace[0]?.checks).toHaveLength(1);
    expect(explain(anonymous)).toContain('skipped (no identity: allow and block policies need a login)');
  });

  it('the trace combines include, require and exclude as the evaluation does', () => {
    const id = makeIdentity({ email: 'a@example.com', amr: ['pwd'] });
    const excluded = compileAccessPolicies([
      { name: 'p', decision: 'allow', include: [{ everyone: {} }], exclude: [{ email: { email: 'a@example.com' } }, { auth_method: { auth_method: 'mfa' } }] },
    ]).evaluate(id, {});
    expect(excluded.trace[0]?.result).toBe('no-match');
    const required = compileAccessPolicies([
      {
        name: 'p',
        decision: 'allow',
        include: [{ email: { email: 'x@example.com' } }, { everyone: {} }],
        require: [{ auth_method: { auth_method: 'pwd' } }, { everyone: {} }],
      },
    ]).evaluate(id, {});
    expect(required.trace[0]?.result).toBe('match');
    const unknownExclude = compileAccessPolicies([
      { name: 'p', decision: 'allow', include: [{ everyone: {} }], exclude: [{ azureAD: { id: 'g1' } }, { email: { email: 'x@example.com' } }] },
    ]).evaluate(makeIdentity({ membership: { state: 'absent' } }), {});
    expect(unknownExclude.trace[0]?.result).toBe('unknown');
  });
});

describe('access: more edges the mutation run found', () => {
  it('a null rule and a number where a string belongs are configuration errors, not crashes', () => {
    expect(thrown(() => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [null as unknown as AccessRule] }])).message).toBe(
      'a rule must be an object with one selector: policies[0].include[0]',
    );
    expect(thrown(() => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ email: { email: 5 as unknown as string } }] }])).message).toBe(
      '`email.email` must be a non-empty string: policies[0].include[0]',
    );
  });

  it('four policies of one precedence keep array order', () => {
    const names = ['d', 'b', 'a', 'c'];
    const p = compileAccessPolicies(names.map((name) => ({ name, decision: 'allow' as const, precedence: 7, include: [{ everyone: {} }] })));
    expect(p.order.map((o) => o.name)).toEqual(names);
  });

  it('the trace of a rule group, of amr and posture lists, and of an oidc claim from the right IdP', () => {
    const p = compileAccessPolicies(
      [
        { name: 'g', decision: 'allow', include: [{ group: { id: 'rg' } }] },
        { name: 'amr', decision: 'allow', include: [{ auth_method: { auth_method: 'hwk' } }] },
        { name: 'posture', decision: 'allow', include: [{ device_posture: { integration_uid: 'disk' } }] },
        { name: 'oidc', decision: 'allow', include: [{ oidc: { claim_name: 'c', claim_value: 'v', identity_provider_id: 'okta' } }] },
        { name: 'oidc string fields', decision: 'allow', include: [{ oidc: { claim_name: 'length', claim_value: '3' } }] },
      ],
      { groups: [{ id: 'rg', name: 'RG', include: [{ email: { email: 'x@example.com' } }] }] },
    );
    const d = p.evaluate({ ...makeIdentity({ idp: 'okta', amr: ['pwd', 'otp'], oidc_fields: { c: 'w' } }) }, { devicePosture: ['fw', 'av'] });
    const [group, amr, posture, oidc] = d.trace.map((t) => t.checks[0]);
    expect(group).toMatchObject({ selector: 'group', value: 'rg', attribute: 'rule group', result: 'no-match' });
    expect(amr?.detail).toBe('amr is [pwd, otp]');
    expect(posture?.detail).toBe('passed checks: [fw, av]');
    expect(oidc?.detail).toBe('claim `c` is `w`');
    const stringFields = p.evaluate({ ...makeIdentity(), oidc_fields: 'abc' as unknown as Record<string, unknown> }, {});
    expect(stringFields.trace[4]?.checks[0]?.detail).toBe('claim `length` is absent');
  });
});
