import { describe, expect, it } from 'vitest';
import { canonicalEmail, compileGatewayRules, explain } from '../../src/policy/index.js';
import { ConfigError, PolicyError } from '../../src/errors/index.js';
import type { GatewayAction, GatewayRule } from '../../src/policy/types.js';
import { makeIdentity, thrown } from './helpers.js';

const FIN = '61503835-b6fe-4630-af88-de551dd59a2a';
const ENG = '7a1f0c2e-1111-4222-8333-444455556666';
const user = makeIdentity({
  email: 'john.doe@example.com',
  name: 'John Doe',
  groups: [
    { id: FIN, name: 'finance', email: 'finance@example.com' },
    { id: ENG, name: 'Engineering' },
  ],
});

/** Whether a single allow rule with this identity expression matches `user`. */
function matches(expression: string, identity = user, options = {}): boolean {
  const d = compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: expression }], { defaultAction: 'block', ...options }).evaluate(
    identity,
    {},
  );
  return d.policy !== undefined;
}

describe('gateway: the operator table of reference §2.3', () => {
  it.each([
    // UI "is"
    ['identity.email == "john.doe@example.com"', true],
    ['any(identity.groups.id[*] == "61503835-b6fe-4630-af88-de551dd59a2a")', true],
    // UI "is not"
    ['identity.email != "john.doe@example.com"', false],
    ['not(identity.email == "x@example.com")', true],
    ['not(any(identity.groups.name[*] == "finance"))', false],
    // UI "in" / "not in"
    ['identity.email in {"a@example.com" "john.doe@example.com"}', true],
    ['any(identity.groups.name[*] in {"marketing" "finance"})', true],
    ['not(identity.email in {"a@example.com"})', true],
    ['not(any(identity.groups.id[*] in {"00000000-0000-0000-0000-000000000000"}))', true],
    // UI "in list" / "not in list"
    ['identity.email in $emails', true],
    ['any(identity.groups.email[*] in $group-mails)', true],
    ['not(identity.email in $emails)', false],
    // UI "matches regex" / "does not match regex"
    ['identity.email matches ".*@example.com"', true],
    ['identity.email matches "^.+@example\\.com$"', true],
    ['any(identity.groups.name[*] matches "^fin")', true],
    ['not(identity.email matches "@example\\.org$")', true],
    // other comparisons
    ['identity.name contains "Doe"', true],
    ['identity.name > "Jane"', true],
    ['identity.name <= "John Doe"', true],
    ['identity.name lt "John"', false],
    ['all(identity.groups.id[*] in {"61503835-b6fe-4630-af88-de551dd59a2a" "7a1f0c2e-1111-4222-8333-444455556666"})', true],
    ['all(identity.groups.name[*] == "finance")', false],
    ['any(identity.groups.email[*] == "finance@example.com")', true],
  ])('%s → %s', (expression, expected) => {
    expect(matches(expression, user, { lists: { emails: ['john.doe@example.com'], 'group-mails': ['finance@example.com'] } })).toBe(expected);
  });

  it('matches both group syntaxes and the lenient shorthand alike', () => {
    for (const e of [
      `any(identity.groups.id[*] in {"${FIN}"})`,
      `any(identity.groups[*].id in {"${FIN}"})`,
      `identity.groups.id == "${FIN}"`,
      `identity.groups.id in {"${FIN}" "x"}`,
    ]) {
      expect(matches(e)).toBe(true);
      expect(matches(e, makeIdentity({ groups: [ENG] }))).toBe(false);
    }
  });

  it('compares bytes exactly: == is case-sensitive', () => {
    expect(matches('identity.email == "John.Doe@example.com"')).toBe(false);
    expect(matches(`any(identity.groups.id[*] == "${FIN.toUpperCase()}")`)).toBe(false);
  });

  it('evaluates and, or, xor and not with wirefilter precedence', () => {
    expect(matches('identity.name == "x" or identity.name == "John Doe" and identity.email == "nope"')).toBe(false);
    expect(matches('(identity.name == "x" or identity.name == "John Doe") and identity.email == "nope"')).toBe(false);
    expect(matches('identity.name == "John Doe" xor identity.email == "john.doe@example.com"')).toBe(false);
    expect(matches('identity.name == "John Doe" xor identity.email == "nope"')).toBe(true);
    expect(matches('identity.name == "x" ^^ identity.name == "y" || identity.name == "John Doe"')).toBe(true);
    expect(matches('not identity.name == "x" && !(identity.email == "y")')).toBe(true);
  });

  it('decodes escapes in values', () => {
    const quoted = makeIdentity({ name: 'say "hi"\\' });
    expect(matches('identity.name == "say \\"hi\\"\\\\"', quoted)).toBe(true);
    expect(matches('identity.name == r#"say "hi"\\"#', quoted)).toBe(true);
    expect(matches('identity.name == "\\x4aohn Doe"')).toBe(true);
    expect(matches('identity.name == "\\112ohn Doe"')).toBe(true);
  });
});

describe('gateway: matches', () => {
  it('is unanchored and case-sensitive, honouring (?i)', () => {
    expect(matches('identity.email matches "doe"')).toBe(true);
    expect(matches('identity.email matches "DOE"')).toBe(false);
    expect(matches('identity.email matches "(?i)DOE"')).toBe(true);
    expect(matches('identity.email matches "^doe"')).toBe(false);
    expect(matches('identity.email matches "finance|doe"')).toBe(true);
  });

  it('runs a ReDoS pattern in linear time (completes)', () => {
    const victim = makeIdentity({ email: `${'a'.repeat(50_000)}!` });
    expect(matches('identity.email matches "(a+)+$"', victim)).toBe(false);
    expect(matches('identity.email matches "^(a|aa)+$"', victim)).toBe(false);
    expect(matches('identity.email matches "(a*)*b"', victim)).toBe(false);
  });

  it.each([
    ['identity.email matches "(a)\\1"', 'backreferences and octal escapes are not supported'],
    ['identity.email matches "(?=a)"', 'unsupported Perl syntax'],
    ['identity.email matches "(?<!a)b"', 'invalid named capture'],
    ['identity.email matches "a{1001}"', 'invalid repeat count'],
    ['identity.email matches "(a"', 'missing closing )'],
    ['identity.email matches "[a-y&&xyz]"', 'class set operation `&&`'],
    ['identity.email matches "[a[^b]]"', 'nested character classes'],
  ])('rejects %s at compile time', (expression, why) => {
    const err = thrown(() => compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: expression }]));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe('ERR_EXPRESSION_REGEX');
    expect(err.message).toContain(why);
    expect(err.message).toContain('at 24: rules[0] `r`.identity');
  });

  it('accepts POSIX classes and compiles each regex once', () => {
    expect(matches('identity.name matches "^[[:alpha:] ]+$"')).toBe(true);
  });
});

describe('gateway: extended email (reference §2.5)', () => {
  const variant = makeIdentity({ email: 'John.Doe+news@Example.com' });
  const rule = (action: GatewayAction, identity: string): GatewayRule => ({ name: action, action, precedence: 1, identity });
  const hit = (action: GatewayAction, identity: string, options = {}): boolean =>
    compileGatewayRules([rule(action, identity)], options).evaluate(variant, {}).policy !== undefined;

  it.each(['block', 'override', 'safesearch', 'ytrestricted', 'isolate', 'audit_ssh'] as const)('%s matches variants', (action) => {
    expect(hit(action, 'identity.email == "johndoe@example.com"')).toBe(true);
    expect(hit(action, 'identity.email in {"x@example.com" "john.doe@example.com"}')).toBe(true);
    expect(hit(action, 'identity.email in $l', { lists: { l: ['johndoe+other@example.com'] } })).toBe(true);
    // An exemption names the exact address: "everyone but johndoe@" still covers johndoe's variants (issue 12 #11).
    expect(hit(action, 'identity.email != "johndoe@example.com"')).toBe(true);
    expect(hit(action, 'identity.email != "John.Doe+news@Example.com"')).toBe(false);
  });

  it.each(['allow', 'off', 'noisolate', 'noscan', 'l4_override', 'egress', 'resolve'] as const)('%s matches the exact address only', (action) => {
    expect(hit(action, 'identity.email == "johndoe@example.com"')).toBe(false);
    expect(hit(action, 'identity.email == "John.Doe+news@Example.com"')).toBe(true);
    expect(hit(action, 'identity.email in {"johndoe@example.com"}')).toBe(false);
  });

  it('matchExtendedEmail forces variants for every action', () => {
    expect(hit('allow', 'identity.email == "johndoe@example.com"', { matchExtendedEmail: true })).toBe(true);
  });

  it('does not apply to matches or contains', () => {
    expect(hit('block', 'identity.email matches "^johndoe@"')).toBe(false);
    expect(hit('block', 'identity.email contains "johndoe"')).toBe(false);
  });
});

describe('gateway: rule order and actions', () => {
  const rules: GatewayRule[] = [
    { id: 'r3', name: 'catch-all block', action: 'block', precedence: 3000 },
    { id: 'r1', name: 'finance allow', action: 'allow', precedence: 1000, identity: `any(identity.groups.id[*] in {"${FIN}"})` },
    { id: 'r0', name: 'disabled block', action: 'block', precedence: 1, enabled: false },
    { id: 'r2', name: 'isolate eng', action: 'isolate', precedence: 2000, identity: `any(identity.groups.id[*] in {"${ENG}"})` },
  ];

  it('evaluates lowest precedence first, skips disabled rules, first match wins', () => {
    const compiled = compileGatewayRules(rules);
    expect(compiled.order.map((r) => r.id)).toEqual(['r1', 'r2', 'r3']);
    expect(compiled.evaluate(user, {})).toMatchObject({
      allowed: true,
      action: 'allow',
      policy: { id: 'r1', name: 'finance allow', precedence: 1000 },
      reason: 'matched',
    });
    expect(compiled.evaluate(makeIdentity({ groups: [ENG] }), {})).toMatchObject({ allowed: true, action: 'isolate', policy: { id: 'r2' } });
    expect(compiled.evaluate(makeIdentity(), {})).toMatchObject({ allowed: false, action: 'block', policy: { id: 'r3' } });
  });

  it('no match gives the default action, allow unless configured', () => {
    expect(compileGatewayRules([]).evaluate(user, {})).toMatchObject({ allowed: true, action: 'allow', reason: 'default' });
    expect(compileGatewayRules([], { defaultAction: 'block' }).evaluate(user, {})).toMatchObject({ allowed: false, action: 'block', reason: 'default' });
  });

  it('a rule matches only when every present expression is true', () => {
    const r: GatewayRule = {
      name: 'both',
      action: 'block',
      precedence: 1,
      identity: 'identity.email == "john.doe@example.com"',
      device_posture: 'any(device_posture.checks.passed[*] in {"disk"})',
      traffic: '',
    };
    expect(compileGatewayRules([r]).evaluate(user, { devicePosture: ['disk'] }).action).toBe('block');
    expect(compileGatewayRules([r]).evaluate(user, { devicePosture: ['fw'] }).action).toBe('allow');
    expect(compileGatewayRules([r]).evaluate(user, {}).action).toBe('allow');
  });

  it('filter keeps one builder, and http runs Do Not Inspect, then Isolate, then the rest', () => {
    const http: GatewayRule[] = [
      { name: 'allow', action: 'allow', precedence: 1, filters: ['http'] },
      { name: 'isolate', action: 'isolate', precedence: 5, filters: ['http'] },
      { name: 'off', action: 'off', precedence: 9, filters: ['http'] },
      { name: 'dns block', action: 'block', precedence: 0, filters: ['dns'] },
    ];
    expect(compileGatewayRules(http, { filter: 'http' }).order.map((r) => r.name)).toEqual(['off', 'isolate', 'allow']);
    expect(compileGatewayRules(http, { filter: 'dns' }).order.map((r) => r.name)).toEqual(['dns block']);
    expect(compileGatewayRules(http).order.map((r) => r.name)).toEqual(['dns block', 'allow', 'isolate', 'off']);
  });

  it('explains a negation by nesting what it negates (regression: a negated match was listed as a match)', () => {
    const d = compileGatewayRules([
      { name: 'non-finance', action: 'block', precedence: 1, identity: `not(any(identity.groups.id[*] in {"${FIN}"})) and identity.email contains "@"` },
    ]).evaluate(user, {});
    expect(d).toMatchObject({ allowed: true, reason: 'default' });
    expect(d.trace[0]?.checks).toEqual([
      {
        path: 'identity',
        selector: `not(any(identity.groups.id[*] in {"${FIN}"}))`,
        value: '',
        attribute: 'identity.groups.id[*]',
        result: 'no-match',
        children: [
          {
            path: 'identity',
            selector: `(any(identity.groups.id[*] in {"${FIN}"}))`,
            value: '',
            attribute: 'identity.groups.id[*]',
            result: 'match',
            detail: '2 values',
          },
        ],
      },
      {
        path: 'identity',
        selector: 'identity.email contains "@"',
        value: '',
        attribute: 'identity.email',
        result: 'match',
        detail: 'identity.email is `john.doe@example.com`',
      },
    ]);
    expect(explain(d).split('\n').slice(2)).toEqual([
      '1. block "non-finance" (precedence 1): no-match',
      `   identity not(any(identity.groups.id[*] in {"${FIN}"})) : no-match`,
      `     identity (any(identity.groups.id[*] in {"${FIN}"})) : match (2 values)`,
      '   identity identity.email contains "@" : match (identity.email is `john.doe@example.com`)',
    ]);
  });

  it('a missing identity makes identity fields unknown, not "" and [] (an empty email of an identity is still "")', () => {
    const compiled = compileGatewayRules([{ name: 'not finance', action: 'block', precedence: 1, identity: `not(any(identity.groups.id[*] in {"${FIN}"}))` }]);
    expect(compiled.evaluate(null, {})).toMatchObject({ allowed: false, action: 'block', reason: 'unknown-identity' });
    expect(compiled.evaluate(user, {})).toMatchObject({ allowed: true, reason: 'default' });
    expect(matches('identity.email == ""', makeIdentity({ email: '' }))).toBe(true);
    const empty = compileGatewayRules([{ name: 'e', action: 'allow', precedence: 1, identity: 'identity.email == ""' }], { defaultAction: 'block' });
    expect(empty.evaluate(null, {})).toMatchObject({ allowed: false, action: 'block', reason: 'unknown-identity' });
  });
});

describe('gateway: unknown membership fails closed', () => {
  const overage = makeIdentity({ email: 'x@example.com', groups: [ENG], membership: { state: 'overage', signal: 'hasgroups' } });

  it('an allow on an unknown group does not match; the default applies', () => {
    const d = compileGatewayRules([{ name: 'fin', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${FIN}"})` }], {
      defaultAction: 'block',
    }).evaluate(overage, {});
    expect(d).toMatchObject({ allowed: false, action: 'block', reason: 'unknown-membership' });
    expect(d.policy).toBeUndefined();
    expect(explain(d)).toContain(`identity any(identity.groups.id[*] in {"${FIN}"}) : unknown (membership overage (hasgroups))`);
  });

  it('a block that might match denies', () => {
    const d = compileGatewayRules([{ name: 'block fin', action: 'block', precedence: 1, identity: `any(identity.groups.id[*] in {"${FIN}"})` }]).evaluate(
      overage,
      {},
    );
    expect(d).toMatchObject({ allowed: false, action: 'block', policy: { name: 'block fin' }, reason: 'unknown-membership' });
    expect(explain(d)).toContain('might match: fail closed, block');
  });

  it('a restricting action that might match fails closed as a block', () => {
    const d = compileGatewayRules([{ name: 'iso', action: 'isolate', precedence: 1, identity: `identity.groups.id == "${FIN}"` }]).evaluate(overage, {});
    expect(d).toMatchObject({ allowed: false, action: 'block', policy: { name: 'iso' }, reason: 'unknown-membership' });
  });

  it('not(any(…)) on unknown membership is unknown, never true', () => {
    const d = compileGatewayRules([{ name: 'allow non-fin', action: 'allow', precedence: 1, identity: `not(any(identity.groups.id[*] in {"${FIN}"}))` }], {
      defaultAction: 'block',
    }).evaluate(overage, {});
    expect(d.allowed).toBe(false);
  });

  it('a known group still matches under overage, and all(…) with a known failure is false', () => {
    expect(
      compileGatewayRules([{ name: 'eng', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${ENG}"})` }], {
        defaultAction: 'block',
      }).evaluate(overage, {}).allowed,
    ).toBe(true);
    const d = compileGatewayRules([{ name: 'all', action: 'block', precedence: 1, identity: `all(identity.groups.id[*] == "${FIN}")` }]).evaluate(overage, {});
    expect(d).toMatchObject({ allowed: true, reason: 'default' });
  });

  it('scalar fields are never unknown', () => {
    expect(
      compileGatewayRules([{ name: 'b', action: 'block', precedence: 1, identity: 'identity.email == "y@example.com"' }]).evaluate(overage, {}),
    ).toMatchObject({ allowed: true, reason: 'default' });
  });
});

describe('gateway: request fields in traffic expressions', () => {
  const rules: GatewayRule[] = [
    {
      name: 'office',
      action: 'allow',
      precedence: 1,
      traffic: 'net.src.ip in {10.0.0.0/8 "192.0.2.7" 2001:db8::/32}',
      identity: 'identity.email == "john.doe@example.com"',
    },
    { name: 'embargo', action: 'block', precedence: 2, traffic: 'net.src.geo.country in {"RU" "KP"}' },
    { name: 'not corp', action: 'isolate', precedence: 3, traffic: 'not(net.src.ip in $corp)' },
    { name: 'one host', action: 'noscan', precedence: 4, traffic: 'net.src.ip == 198.51.100.9 and not(net.src.ip in {198.51.100.0/31})' },
  ];
  const compiled = compileGatewayRules(rules, { lists: { corp: ['198.51.100.0/24'] }, defaultAction: 'block' });
  const decide = (context: object): string | undefined => compiled.evaluate(user, context).policy?.name;

  it('matches net.src.ip against addresses and CIDRs (IPv4, IPv4-mapped, IPv6) and lists, and the country', () => {
    expect(decide({ ip: '10.2.3.4' })).toBe('office');
    expect(decide({ ip: '::ffff:10.2.3.4' })).toBe('office');
    expect(decide({ ip: '192.0.2.7' })).toBe('office');
    expect(decide({ ip: '2001:db8::5', country: 'RU' })).toBe('office');
    expect(decide({ ip: '203.0.113.1', country: 'KP' })).toBe('embargo');
    expect(decide({ ip: '203.0.113.1', country: 'ru' })).toBe('not corp');
    expect(decide({ ip: '198.51.100.9' })).toBe('one host');
    expect(decide({ ip: '198.51.100.1' })).toBeUndefined();
  });

  it('reads a request field the context lacks as empty: no IP is in no range', () => {
    expect(decide({})).toBe('not corp');
    expect(decide({ ip: 'not an ip' })).toBe('not corp');
    expect(explain(compiled.evaluate(user, {}))).toContain('traffic net.src.ip in {10.0.0.0/8 "192.0.2.7" 2001:db8::/32} : no-match (net.src.ip is absent)');
  });

  it.each([
    ['net.src.ip == 10.0.0.300', 'ERR_EXPRESSION_SYNTAX', '`10.0.0.300` is not an IP address or CIDR at 15: rules[0] `x`.traffic'],
    ['net.src.ip contains "1"', 'ERR_EXPRESSION_TYPE', '`net.src.ip` is an IP address: use `==`, `!=` or `in` at 12: rules[0] `x`.traffic'],
    ['net.src.ip in {10.0.0.0/8', 'ERR_EXPRESSION_SYNTAX', 'expected an IP address, a CIDR, a range or `}` at 26: found end of input: rules[0] `x`.traffic'],
    ['any(net.src.ip[*] in {1.2.3.4})', 'ERR_EXPRESSION_TYPE', '`[*]` applies to array fields; `net.src.ip` is not one at 5: rules[0] `x`.traffic'],
    ['net.src.ip in $bad', 'ERR_EXPRESSION_TYPE', 'list `bad` holds `nope`, which is not an IP address or CIDR at 1: rules[0] `x`.traffic'],
    ['any(http.request.domains[*] == "example.com")', 'ERR_EXPRESSION_TYPE', 'unknown field `http.request.domains` at 5: rules[0] `x`.traffic'],
    ['http.request.uri.path matches "(?=a)"', 'ERR_EXPRESSION_REGEX', 'regular expression `(?=a)` cannot run in linear time or is invalid'],
    ['http.request.host in $nowhere', 'ERR_POLICY_GROUP_MISSING', 'list `nowhere` is not configured: rules[0] `x`.traffic'],
  ])('%s → %s', (traffic, code, message) => {
    const err = thrown(() => compileGatewayRules([{ name: 'x', action: 'allow', precedence: 1, traffic }], { lists: { bad: ['nope'] } }));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
    expect(err.message).toMatch(/: rules\[0\] `x`\.traffic$/);
  });
});

describe('gateway: compile errors', () => {
  it.each([
    [[{ name: 'r', action: 'permit', precedence: 1 }], 'ERR_POLICY_INVALID', '`action` `permit` is not a gateway action: rules[0] `r`'],
    [[{ name: 'r', action: 'allow' }], 'ERR_POLICY_INVALID', '`precedence` must be a finite number: rules[0] `r`'],
    [[{ action: 'allow', precedence: 1 }], 'ERR_POLICY_INVALID', '`name` must be a non-empty string: rules[0]'],
    [[{ name: 'r', action: 'allow', precedence: 1, enabled: 'yes' }], 'ERR_POLICY_INVALID', '`enabled` must be a boolean'],
    [[{ name: 'r', action: 'allow', precedence: 1, filters: ['smtp'] }], 'ERR_POLICY_INVALID', '`filters` must be an array'],
    [[{ name: 'r', action: 'allow', precedence: 1, identity: 42 }], 'ERR_POLICY_INVALID', '`identity` must be a string: rules[0] `r`.identity'],
    [
      [{ name: 'r', action: 'allow', precedence: 1, traffic: 'any(dns.content_category[*] in {149})' }],
      'ERR_EXPRESSION_TYPE',
      'unknown field `dns.content_category` at 5: rules[0] `r`.traffic',
    ],
    [
      [{ name: 'r', action: 'allow', precedence: 1, identity: 'identity.email in $nowhere' }],
      'ERR_POLICY_GROUP_MISSING',
      'list `nowhere` is not configured: rules[0] `r`.identity',
    ],
    [[{ name: 'r', action: 'allow', precedence: 1, enabled: false, identity: 'identity.email ==' }], 'ERR_EXPRESSION_SYNTAX', 'expected a string at 18'],
  ])('%j → %s', (rules, code, message) => {
    const err = thrown(() => compileGatewayRules(rules as unknown as GatewayRule[]));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  it('rejects bad options with ConfigError', () => {
    const err = thrown(() => compileGatewayRules([], { defaultAction: 'deny' as never }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toMatch(/^invalid gateway rule configuration:\n/);
    expect(thrown(() => compileGatewayRules([], { bogus: 1 } as never)).code).toBe('ERR_CONFIG_INVALID');
  });
});

describe('gateway: canonicalEmail (exported)', () => {
  it('drops a +tag and the dots of the local part, lower-cased; an address without `@` is only lower-cased', () => {
    expect(canonicalEmail('Con.Tact+123@Example.com')).toBe('contact@example.com');
    expect(canonicalEmail('first.last')).toBe('first.last');
    expect(canonicalEmail('A.B+C')).toBe('a.b+c');
  });
});

// The mutation run (issue 12) found these unproven.
describe('gateway: checks by message, ties, actions that pass over', () => {
  const bad = (rules: unknown): string => thrown(() => compileGatewayRules(rules as GatewayRule[])).message;
  it.each([
    ['x', '`rules` must be an array: rules'],
    [['x'], 'a rule must be an object: rules[0]'],
    [[{ name: '', action: 'allow', precedence: 1 }], '`name` must be a non-empty string: rules[0]'],
    [[{ name: 5, action: 'allow', precedence: 1 }], '`name` must be a non-empty string: rules[0]'],
    [[{ name: 'r', action: 5, precedence: 1 }], '`action` `5` is not a gateway action: rules[0] `r`'],
    [[{ name: 'r', action: 'allow', precedence: '1' }], '`precedence` must be a finite number: rules[0] `r`'],
    [[{ name: 'r', action: 'allow', precedence: NaN }], '`precedence` must be a finite number: rules[0] `r`'],
    [[{ name: 'r', action: 'allow', precedence: 1, id: 5 }], '`id` must be a string: rules[0] `r`'],
    [[{ name: 'r', action: 'allow', precedence: 1, filters: ['http', 5] }], '`filters` must be an array of http, dns, l4, egress, dns_resolver: rules[0] `r`'],
    [
      [{ name: 'r', action: 'allow', precedence: 1, filters: ['smtp', 'http'] }],
      '`filters` must be an array of http, dns, l4, egress, dns_resolver: rules[0] `r`',
    ],
  ])('%j', (rules, message) => {
    expect(bad(rules)).toBe(message);
  });

  it('a null expression is an absent one; a decision of a rule without an id has none', () => {
    const d = compileGatewayRules([{ name: 'r', action: 'block', precedence: 1, identity: null as unknown as string }]).evaluate(user, {});
    expect(d.policy).toStrictEqual({ name: 'r', precedence: 1 });
  });

  it('four rules of one precedence keep array order', () => {
    const names = ['d', 'b', 'a', 'c'];
    const rules = compileGatewayRules(names.map((name) => ({ name, action: 'allow' as const, precedence: 7 })));
    expect(rules.order.map((o) => o.name)).toEqual(names);
  });

  it.each(['allow', 'off', 'noisolate', 'noscan', 'resolve', 'egress', 'l4_override'] as const)('an unknown %s rule is passed over, not a block', (action) => {
    const overage = makeIdentity({ groups: [], membership: { state: 'overage', signal: 'hasgroups' } });
    const d = compileGatewayRules([{ name: 'maybe', action, precedence: 1, identity: `any(identity.groups.id[*] in {"${FIN}"})` }]).evaluate(overage, {});
    expect(d).toMatchObject({ allowed: true, action: 'allow', reason: 'default' });
    expect(d.trace[0]?.note).toBe('might match: not counted as a match');
  });

  it('the warning wording for no field and for mails', () => {
    const rule: GatewayRule = { name: 'm', action: 'block', precedence: 1, identity: 'any(identity.groups.name[*] == "x")' };
    expect(compileGatewayRules([rule], { groupFields: [] }).warnings[0]).toContain('(they supply no group field)');
    expect(compileGatewayRules([rule], { groupFields: ['id', 'email'] }).warnings[0]).toContain('(they supply ids and emails only)');
  });
});
