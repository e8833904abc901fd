import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, compileGatewayRules } from '../../src/policy/index.js';
import type { AccessPolicy, AccessRule } from '../../src/policy/types.js';
import {
  DEFAULT_UNIVERSE,
  arbAccessPolicies,
  arbAccessPolicy,
  arbAccessRule,
  arbGatewayRules,
  arbHttpRequest,
  arbIdentity,
  arbRequestContext,
  arbRuleGroups,
  createPolicyUniverse,
} from '../../src/testing/arbitraries.js';
import type { Identity, RequestContext } from '../../src/types.js';
import { referenceGateway } from './gateway-reference.js';
import { referenceEvaluate } from './reference-interpreter.js';
import { runs } from './runs.js';

const lists = DEFAULT_UNIVERSE.lists;
const identityOrNull = fc.option(arbIdentity(), { freq: 8, nil: null });
const RUNS = runs(300);

// More groups than one 32-bit word of group probes, and group ids in either case: the compiled sets'
// group index must agree with plain comparisons there too.
const WIDE = createPolicyUniverse({ groupCount: 80 });
const wideIdentity = fc.tuple(arbIdentity({ universe: WIDE }), fc.nat()).map(
  ([identity, bits]): Identity => ({
    ...identity,
    groups: identity.groups.map((g, i) => (((bits >>> (i % 31)) & 1) === 1 ? { ...g, id: g.id.toUpperCase() } : g)),
  }),
);

describe('access policies: properties', () => {
  it('agree with the reference interpreter', () => {
    fc.assert(
      fc.property(arbAccessPolicies({ maxLength: 8 }), arbRuleGroups(), identityOrNull, arbRequestContext(), (policies, groups, identity, ctx) => {
        const compiled = compileAccessPolicies(policies, { groups, lists });
        const d = compiled.evaluate(identity, ctx);
        const r = referenceEvaluate(policies, groups, lists, identity, ctx);
        expect({ allowed: d.allowed, action: d.action, policyName: d.policy?.name, reason: d.reason }).toEqual(r);
      }),
      runs(1000),
    );
  });

  it('agree with the reference interpreter over 80 groups, ids in either case, fresh identity objects', () => {
    fc.assert(
      fc.property(
        arbAccessPolicies({ universe: WIDE, maxLength: 10 }),
        arbRuleGroups({ universe: WIDE }),
        fc.option(wideIdentity, { freq: 8, nil: null }),
        arbRequestContext({ universe: WIDE }),
        (policies, groups, identity, ctx) => {
          const compiled = compileAccessPolicies(policies, { groups, lists: WIDE.lists });
          const r = referenceEvaluate(policies, groups, WIDE.lists, identity, ctx);
          for (const who of [identity, identity === null ? null : structuredClone(identity)]) {
            const d = compiled.evaluate(who, ctx);
            expect({ allowed: d.allowed, action: d.action, policyName: d.policy?.name, reason: d.reason }).toEqual(r);
          }
        },
      ),
      runs(500),
    );
  });

  it('deny by default: no policy, no allow', () => {
    fc.assert(
      fc.property(identityOrNull, arbRequestContext(), (identity, ctx) => {
        const d = compileAccessPolicies([]).evaluate(identity, ctx);
        expect(d).toMatchObject({ allowed: false, action: 'deny', reason: 'default' });
        expect(d.policy).toBeUndefined();
      }),
      RUNS,
    );
  });

  it('only Block policies never allow', () => {
    fc.assert(
      fc.property(arbAccessPolicies({ decisions: ['deny'] }), arbRuleGroups(), identityOrNull, arbRequestContext(), (policies, groups, identity, ctx) => {
        expect(compileAccessPolicies(policies, { groups, lists }).evaluate(identity, ctx).allowed).toBe(false);
      }),
      RUNS,
    );
  });

  // An exclude narrows the policy it is added to. On an allow-type policy (Allow, Bypass,
  // Service Auth) that can only take allows away; on a Block it takes a block away and can let a
  // later Allow through, which is Cloudflare's documented way to carve exceptions, so Blocks are
  // not targets here (found by this property: a regression test below pins the Block case).
  it('adding an exclude to an allow-type policy never turns a deny into an allow', () => {
    fc.assert(
      fc.property(
        arbAccessPolicies({ minLength: 1 }),
        fc.nat(),
        arbAccessRule(),
        arbRuleGroups(),
        identityOrNull,
        arbRequestContext(),
        (policies, which, extra, groups, identity, ctx) => {
          const i = which % policies.length;
          const target = policies[i] as AccessPolicy;
          if (target.decision === 'deny') return;
          if (target.decision === 'bypass' && 'group' in extra) return;
          const safeExtra: AccessRule = target.decision === 'bypass' ? { geo: { country_code: 'US' } } : extra;
          const changed = policies.map((p, j) => (j === i ? { ...p, exclude: [...(p.exclude ?? []), safeExtra] } : p));
          const before = compileAccessPolicies(policies, { groups, lists }).evaluate(identity, ctx);
          const after = compileAccessPolicies(changed, { groups, lists }).evaluate(identity, ctx);
          if (!before.allowed) expect(after.allowed).toBe(false);
        },
      ),
      RUNS,
    );
  });

  it('an exclude on a Block carves an exception that a later Allow can take', () => {
    const identity = {
      ...fc.sample(arbIdentity(), { numRuns: 1, seed: 1 })[0]!,
      idp: { id: 'entra-main', type: 'azureAD' as const },
      amr: ['pwd'],
      oidc_fields: { department: 'finance' },
    };
    const block: AccessPolicy = { name: 'block entra', decision: 'deny', include: [{ login_method: { id: 'entra-main' } }], precedence: 1 };
    const allow: AccessPolicy = { name: 'allow pwd', decision: 'allow', include: [{ auth_method: { auth_method: 'pwd' } }], precedence: 2 };
    expect(compileAccessPolicies([block, allow]).evaluate(identity, {}).allowed).toBe(false);
    const carved = { ...block, exclude: [{ oidc: { claim_name: 'department', claim_value: 'finance' } }] };
    expect(compileAccessPolicies([carved, allow]).evaluate(identity, {})).toMatchObject({ allowed: true, policy: { name: 'allow pwd' } });
  });

  it('appending a policy never changes a decision an earlier policy made', () => {
    fc.assert(
      fc.property(arbAccessPolicies(), arbAccessPolicy(), arbRuleGroups(), identityOrNull, arbRequestContext(), (policies, extra, groups, identity, ctx) => {
        // Appended last with the highest precedence, it runs last in its phase.
        const appended = { ...extra, precedence: 1000 };
        const before = compileAccessPolicies(policies, { groups, lists }).evaluate(identity, ctx);
        const after = compileAccessPolicies([...policies, appended], { groups, lists }).evaluate(identity, ctx);
        // A decision made by a policy (definite match or fail-closed unknown block) stands, unless the new
        // policy runs in an earlier phase (a bypass/service auth added after an allow/block decision).
        const earlierPhase =
          (appended.decision === 'bypass' || appended.decision === 'non_identity') && (before.action === 'allow' || before.action === 'deny');
        if (before.policy !== undefined && !earlierPhase) {
          expect({ allowed: after.allowed, action: after.action, policy: after.policy, reason: after.reason }).toEqual({
            allowed: before.allowed,
            action: before.action,
            policy: before.policy,
            reason: before.reason,
          });
        }
      }),
      RUNS,
    );
  });

  it('is deterministic and does not depend on the identity cache', () => {
    fc.assert(
      fc.property(arbAccessPolicies(), arbRuleGroups(), identityOrNull, arbRequestContext(), (policies, groups, identity, ctx) => {
        const compiled = compileAccessPolicies(policies, { groups, lists });
        const a = compiled.evaluate(identity, ctx);
        const b = compiled.evaluate(identity, ctx);
        const c = compiled.evaluate(identity === null ? null : structuredClone(identity), structuredClone(ctx));
        expect(JSON.parse(JSON.stringify(b))).toEqual(JSON.parse(JSON.stringify(a)));
        expect(JSON.parse(JSON.stringify(c))).toEqual(JSON.parse(JSON.stringify(a)));
      }),
      RUNS,
    );
  });

  it('unknown membership never allows what complete membership with the groups removed or added would not', () => {
    fc.assert(
      fc.property(
        arbAccessPolicies(),
        arbRuleGroups(),
        arbIdentity(),
        arbRequestContext(),
        fc.subarray([...DEFAULT_UNIVERSE.groups]),
        (policies, groups, identity, ctx, extra) => {
          const compiled = compileAccessPolicies(policies, { groups, lists });
          const unknown = { ...identity, membership: { state: 'overage' as const, signal: 'hasgroups' as const } };
          const d = compiled.evaluate(unknown, ctx);
          if (!d.allowed) return;
          // Any completion of the known groups must allow too.
          const completed = { ...identity, groups: [...identity.groups, ...extra], membership: { state: 'complete' as const, source: 'graph' as const } };
          expect(compiled.evaluate(completed, ctx).allowed).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('the group index agrees with full evaluation: the decider is the first policy the trace shows matching', () => {
    fc.assert(
      fc.property(
        arbAccessPolicies({ maxLength: 10 }),
        arbRuleGroups(),
        arbIdentity({ membership: fc.constant({ state: 'complete', source: 'graph' }) }),
        arbRequestContext(),
        (policies, groups, identity, ctx) => {
          const d = compileAccessPolicies(policies, { groups, lists }).evaluate(identity, ctx);
          const firstMatch = d.trace.find((t) => t.result === 'match');
          expect(d.policy?.name).toBe(firstMatch?.policy.name);
        },
      ),
      RUNS,
    );
  });

  it('allowed is exactly: the action is not deny', () => {
    fc.assert(
      fc.property(arbAccessPolicies(), arbRuleGroups(), identityOrNull, arbRequestContext(), (policies, groups, identity, ctx) => {
        const d = compileAccessPolicies(policies, { groups, lists }).evaluate(identity, ctx);
        expect(d.allowed).toBe(d.action !== 'deny');
        expect(d.trace.length).toBeGreaterThanOrEqual(d.policy === undefined ? 0 : 1);
      }),
      RUNS,
    );
  });
});

/** A context that always carries the HTTP attributes (nothing unknown about the request). */
const withRequest = fc.tuple(arbRequestContext(), arbHttpRequest()).map(([ctx, request]): RequestContext => ({ ...ctx, request }));

describe('gateway rules: properties', () => {
  it('agree with the reference interpreter (any action, default and extended-email setting), fresh identity objects', () => {
    fc.assert(
      fc.property(
        arbGatewayRules({ universe: WIDE, maxLength: 8 }),
        fc.option(fc.oneof(wideIdentity, arbIdentity({ universe: WIDE })), { freq: 8, nil: null }),
        arbRequestContext({ universe: WIDE }),
        fc.record({ defaultAction: fc.constantFrom('allow' as const, 'block' as const), matchExtendedEmail: fc.boolean() }),
        (rules, identity, ctx, options) => {
          const compiled = compileGatewayRules(rules, { ...options, lists: WIDE.lists });
          const r = referenceGateway(rules, identity, ctx, { ...options, lists: WIDE.lists });
          for (const who of [identity, identity === null ? null : structuredClone(identity)]) {
            const d = compiled.evaluate(who, ctx);
            expect({ allowed: d.allowed, action: d.action, policyName: d.policy?.name, reason: d.reason }).toEqual(r);
          }
        },
      ),
      runs(500),
    );
  });

  it('compile, evaluate deterministically, and only block denies', () => {
    fc.assert(
      fc.property(arbGatewayRules(), fc.option(arbIdentity(), { nil: null }), arbRequestContext(), (rules, identity, ctx) => {
        const compiled = compileGatewayRules(rules, { lists });
        const a = compiled.evaluate(identity, ctx);
        const b = compiled.evaluate(identity, ctx);
        expect(b).toMatchObject({ allowed: a.allowed, action: a.action, reason: a.reason });
        expect(a.allowed).toBe(a.action !== 'block');
      }),
      RUNS,
    );
  });

  it('unknown membership never allows what some completion of the groups would block', () => {
    fc.assert(
      fc.property(
        arbGatewayRules({ actions: ['allow', 'block'] }),
        arbIdentity(),
        fc.subarray([...DEFAULT_UNIVERSE.groups]),
        arbRequestContext(),
        (rules, identity, extra, ctx) => {
          const compiled = compileGatewayRules(rules, { lists });
          const unknown = { ...identity, membership: { state: 'absent' as const } };
          if (!compiled.evaluate(unknown, ctx).allowed) return;
          const completed = { ...identity, groups: [...identity.groups, ...extra], membership: { state: 'complete' as const, source: 'graph' as const } };
          expect(compiled.evaluate(completed, ctx).allowed).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('a request without HTTP attributes never allows what some request would block', () => {
    fc.assert(
      fc.property(
        arbGatewayRules({ actions: ['allow', 'block', 'isolate', 'off'] }),
        fc.option(arbIdentity(), { freq: 8, nil: null }),
        withRequest,
        (rules, identity, ctx) => {
          const compiled = compileGatewayRules(rules, { lists, defaultAction: 'block' });
          const { request, ...without } = ctx;
          const blind = compiled.evaluate(identity, without);
          if (!blind.allowed) return;
          expect(compiled.evaluate(identity, { ...without, request }).allowed).toBe(true);
        },
      ),
      RUNS,
    );
  });

  // Any membership (every field known, ids only, none): the index may skip a rule only where its field is known.
  it('the rule index agrees with full evaluation: the decider is the first rule the trace shows matching or failing closed', () => {
    fc.assert(
      fc.property(arbGatewayRules({ maxLength: 10 }), fc.option(arbIdentity(), { freq: 8, nil: null }), withRequest, (rules, identity, ctx) => {
        const compiled = compileGatewayRules(rules, { lists });
        const d = compiled.evaluate(identity, ctx);
        const again = compiled.evaluate(identity, ctx);
        const decider = d.trace.find((t) => t.result === 'match' || (t.result === 'unknown' && t.note?.startsWith('might match: fail closed') === true));
        expect(d.policy).toEqual(
          decider === undefined ? undefined : { id: decider.policy.id, name: decider.policy.name, precedence: decider.policy.precedence },
        );
        expect(again.policy).toEqual(d.policy);
      }),
      RUNS,
    );
  });

  it('a disabled rule never decides', () => {
    fc.assert(
      fc.property(arbGatewayRules(), arbIdentity(), arbRequestContext(), (rules, identity, ctx) => {
        const d = compileGatewayRules(rules, { lists }).evaluate(identity, ctx);
        if (d.policy !== undefined) {
          const rule = rules.find((r) => r.name === d.policy?.name);
          expect(rule?.enabled).not.toBe(false);
        }
      }),
      RUNS,
    );
  });
});
