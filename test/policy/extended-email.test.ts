/**
 * Issue 12 #11: extended-email matching (reference §2.5) under negation. Block-like actions match an
 * address and its `+tag` and dot variants; no variant may escape a Block through `!=` or
 * `not(… in …)` ("block everyone except alice"), and no variant may get an Allow an exclusion denies it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../src/errors/errors.js';
import { compileGatewayRules, type GatewayCompileOptions } from '../../src/policy/index.js';
import type { GatewayAction, GatewayDecision, GatewayRule } from '../../src/policy/types.js';
import type { Identity } from '../../src/types.js';
import { canonical, referenceGateway } from './gateway-reference.js';
import { makeIdentity } from './helpers.js';
import { runs } from './runs.js';

const BASES = ['alice@example.com', 'bob@example.com', 'carol@contractors.com'] as const;

/** A `+tag` and dot variant of an address, in any case: what a user could register beside it. */
const arbVariant = fc
  .record({
    base: fc.constantFrom(...BASES),
    dots: fc.array(fc.nat(), { maxLength: 3 }),
    tag: fc.option(fc.constantFrom('x', 'news', 'a.b', ''), { nil: undefined }),
    upper: fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
  })
  .map(({ base, dots, tag, upper }) => {
    const [local, domain] = base.split('@') as [string, string];
    let out = local;
    for (const d of dots) {
      const at = d % (out.length + 1);
      out = `${out.slice(0, at)}.${out.slice(at)}`;
    }
    if (tag !== undefined) out += `+${tag}`;
    const cased = [...`${out}@${domain}`].map((c, i) => (upper[i % 32] === true ? c.toUpperCase() : c)).join('');
    return cased;
  });
/** An address: a base or one of its variants. */
const arbAddress = fc.oneof(fc.constantFrom(...BASES), arbVariant);
const quote = (s: string): string => JSON.stringify(s);

/** An exemption ("everyone except …") over exact addresses, and the addresses it names. */
const arbExemption = fc
  .tuple(fc.array(arbAddress, { minLength: 1, maxLength: 3 }), fc.nat(4))
  .map(([names, form]): { expression: string; names: string[]; lists: Record<string, string[]> } => {
    const [first] = names as [string];
    const lists = { exempt: names };
    switch (form) {
      case 0:
        return { expression: `identity.email != ${quote(first)}`, names: [first], lists };
      case 1:
        return { expression: `not(identity.email == ${quote(first)})`, names: [first], lists };
      case 2:
        return { expression: `not(identity.email in {${names.map(quote).join(' ')}})`, names, lists };
      case 3:
        return { expression: 'not(identity.email in $exempt)', names, lists };
      default:
        return { expression: names.map((n) => `identity.email ne ${quote(n)}`).join(' and '), names, lists };
    }
  });

const RESTRICTING: readonly GatewayAction[] = ['block', 'isolate', 'override', 'safesearch', 'ytrestricted', 'audit_ssh'];
const person = (email: string): Identity => makeIdentity({ email });

describe('extended email: an exemption in a Block names exact addresses', () => {
  it('block everyone except alice: alice passes; her variants, bob and his variants are blocked', () => {
    const rules = compileGatewayRules([{ name: 'all but alice', action: 'block', precedence: 1, identity: 'identity.email != "alice@example.com"' }]);
    expect(rules.evaluate(person('alice@example.com'), {})).toMatchObject({ allowed: true, reason: 'default' });
    for (const other of ['a.lice@example.com', 'alice+x@example.com', 'Alice@example.com', 'bob@example.com', 'b.ob+y@example.com']) {
      expect(rules.evaluate(person(other), {})).toMatchObject({ allowed: false, policy: { name: 'all but alice' }, reason: 'matched' });
    }
  });

  it('a positive comparison in a Block still matches the variants', () => {
    const rules = compileGatewayRules([{ name: 'bob', action: 'block', precedence: 1, identity: 'identity.email == "bob@example.com"' }]);
    for (const v of ['bob@example.com', 'b.ob@example.com', 'Bob+news@Example.com']) expect(rules.evaluate(person(v), {}).allowed).toBe(false);
    expect(rules.evaluate(person('alice@example.com'), {}).allowed).toBe(true);
  });

  it('property: a restricting action blocks exactly the addresses its exemption does not name byte for byte', () => {
    fc.assert(
      fc.property(arbExemption, arbAddress, fc.constantFrom(...RESTRICTING), fc.boolean(), ({ expression, names, lists }, email, action, setting) => {
        const rules = compileGatewayRules([{ name: 'r', action, precedence: 1, identity: expression }], { lists, matchExtendedEmail: setting });
        const d = rules.evaluate(person(email), {});
        const exempt = names.includes(email);
        expect(d.policy === undefined).toBe(exempt);
        if (!exempt) expect(d.reason).toBe('matched');
      }),
      runs(1500),
    );
  });

  it('property: an Allow with matchExtendedEmail never admits a variant of an excluded address', () => {
    fc.assert(
      fc.property(arbExemption, arbAddress, ({ expression, names, lists }, email) => {
        const rules = compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: expression }], {
          lists,
          matchExtendedEmail: true,
          defaultAction: 'block',
        });
        const excluded = names.some((n) => canonical(n) === canonical(email));
        expect(rules.evaluate(person(email), {}).allowed).toBe(!excluded);
      }),
      runs(1000),
    );
  });

  it('property: without the setting an Allow compares exact addresses, as Cloudflare documents', () => {
    fc.assert(
      fc.property(arbExemption, arbAddress, ({ expression, names, lists }, email) => {
        const rules = compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: expression }], { lists, defaultAction: 'block' });
        expect(rules.evaluate(person(email), {}).allowed).toBe(!names.includes(email));
      }),
      runs(1000),
    );
  });
});

/** A random identity expression over addresses and variants, with every logical operator and negation. */
const arbEmailExpression: fc.Arbitrary<string> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    arbAddress.map((a) => `identity.email == ${quote(a)}`),
    arbAddress.map((a) => `identity.email != ${quote(a)}`),
    fc.array(arbAddress, { minLength: 1, maxLength: 3 }).map((as) => `identity.email in {${as.map(quote).join(' ')}}`),
    fc.constant('identity.email in $people'),
    fc.constantFrom('ali', 'bob').map((s) => `identity.email contains ${quote(s)}`),
    fc.constant('any(identity.groups.id[*] == "g")'),
  ),
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    tie('expr').map((e) => `not(${e})`),
    fc.tuple(tie('expr'), fc.constantFrom('and', 'or', 'xor'), tie('expr')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
  ),
})).expr as fc.Arbitrary<string>;

/** A decision of a one-rule set as F / U / T: T it matched, U it might have (failed closed or passed over), F not. */
function tri(d: GatewayDecision, name: string): number {
  if (d.policy?.name === name && d.reason === 'matched') return 2;
  if (d.reason.startsWith('unknown-')) return 1;
  return 0;
}

/**
 * Compiles a rule set, or answers `undefined` when the compiler refuses it for the documented bound on
 * `identity.email` comparisons under `xor` in a restricting rule (each is read both ways: 2^n readings).
 * The refusal must be that one, for an expression that really has more comparisons than the bound; any
 * other error fails the test. A refused configuration never allows anything, so the properties hold.
 */
function compileOrRefused(rules: GatewayRule[], options: GatewayCompileOptions): ReturnType<typeof compileGatewayRules> | undefined {
  try {
    return compileGatewayRules(rules, options);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    expect((e as PolicyError).code).toBe('ERR_EXPRESSION_TYPE');
    expect((e as PolicyError).message).toMatch(/more than 8 `identity\.email` comparisons under `xor`/);
    const refused = rules.some((r) => r.action !== 'allow' && r.identity?.includes('xor') === true && (r.identity.match(/identity\.email /g)?.length ?? 0) > 8);
    expect(refused).toBe(true);
    return undefined;
  }
}

describe('extended email: no reading of a comparison lets a variant escape a restricting rule', () => {
  const lists = { people: ['alice@example.com', 'b.ob@example.com'] };
  const arbIdentity = fc
    .tuple(
      arbAddress,
      fc.boolean(),
      fc.constantFrom<Identity['membership']>(
        { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] },
        { state: 'overage', signal: 'hasgroups' },
      ),
    )
    .map(([email, inGroup, membership]) => makeIdentity({ email, groups: inGroup ? ['g'] : [], membership }));

  it('property: a restricting rule matches at least where the exact reading or the all-variants reading does', () => {
    fc.assert(
      fc.property(arbEmailExpression, arbIdentity, fc.constantFrom(...RESTRICTING), (expression, identity, action) => {
        const rule = (a: GatewayAction): GatewayRule[] => [{ name: 'r', action: a, precedence: 1, identity: expression }];
        const compiled = compileOrRefused(rule(action), { lists });
        if (compiled === undefined) return;
        const restricted = tri(compiled.evaluate(identity, {}), 'r');
        // Oracles: the same expression as an Allow, read exactly (no setting) and on canonical addresses (the setting).
        const exact = tri(compileGatewayRules(rule('allow'), { lists, defaultAction: 'block' }).evaluate(identity, {}), 'r');
        const variants = tri(compileGatewayRules(rule('allow'), { lists, defaultAction: 'block', matchExtendedEmail: true }).evaluate(identity, {}), 'r');
        expect(restricted).toBeGreaterThanOrEqual(Math.max(exact, variants));
      }),
      runs(1500),
    );
  });

  it('property: the compiled evaluator agrees with the brute-force reference for every action and setting', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbEmailExpression, fc.constantFrom<GatewayAction>('allow', 'block', 'isolate', 'noscan', 'override')), {
          minLength: 1,
          maxLength: 4,
        }),
        arbIdentity,
        fc.boolean(),
        fc.constantFrom<GatewayAction>('allow', 'block'),
        (specs, identity, matchExtendedEmail, defaultAction) => {
          const rules: GatewayRule[] = specs.map(([identityExpression, action], i) => ({
            name: `${action} ${i}`,
            action,
            precedence: i + 1,
            identity: identityExpression,
          }));
          const options = { lists, matchExtendedEmail, defaultAction };
          const compiled = compileOrRefused(rules, options);
          if (compiled === undefined) return;
          const d = compiled.evaluate(identity, {});
          const r = referenceGateway(rules, identity, {}, options);
          expect({ allowed: d.allowed, action: d.action, policyName: d.policy?.name, reason: d.reason }).toEqual(r);
        },
      ),
      runs(1500),
    );
  });

  it('xor: a comparison read both ways makes the rule match if either reading does', () => {
    // `a.lice+1@…` is alice's variant: the canonical reading of the first comparison is true, the exact one false.
    const expression = '(identity.email == "alice@example.com") xor (identity.email contains "+1")';
    const rules = compileGatewayRules([{ name: 'x', action: 'block', precedence: 1, identity: expression }]);
    // Exact: false xor true = true. Canonical: true xor true = false. The Block takes the reading that matches.
    expect(rules.evaluate(person('a.lice+1@example.com'), {})).toMatchObject({ allowed: false, reason: 'matched' });
    expect(rules.evaluate(person('carol@contractors.com'), {}).allowed).toBe(true);
  });
});
