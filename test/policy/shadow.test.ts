import { describe, expect, it } from 'vitest';
import { compareDecisions, compileAccessPolicies, compileGatewayRules, createShadowEvaluator, type DecisionDifference } from '../../src/policy/index.js';
import type { AccessDecision, AccessPolicy } from '../../src/policy/types.js';
import { makeIdentity } from './helpers.js';

const enforcedPolicies: AccessPolicy[] = [{ id: 'p1', name: 'Staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] }];
const candidatePolicies: AccessPolicy[] = [
  { id: 'p0', name: 'Block contractors', decision: 'deny', include: [{ azureAD: { id: 'contractors' } }] },
  ...enforcedPolicies,
];

describe('report-only mode', () => {
  it('compareDecisions reports the fields that differ and nothing when they agree', () => {
    const a = compileAccessPolicies(enforcedPolicies);
    const b = compileAccessPolicies(candidatePolicies);
    const staff = makeIdentity({ email: 'a@example.com' });
    const contractor = makeIdentity({ email: 'c@example.com', groups: ['contractors'] });
    expect(compareDecisions(a.evaluate(staff, {}), b.evaluate(staff, {}))).toBeUndefined();
    expect(compareDecisions(a.evaluate(contractor, {}), b.evaluate(contractor, {}))).toEqual({
      fields: ['allowed', 'action', 'policy'],
      enforced: { allowed: true, action: 'allow', policy: { id: 'p1', name: 'Staff', precedence: 1 }, reason: 'matched' },
      candidate: { allowed: false, action: 'deny', policy: { id: 'p0', name: 'Block contractors', precedence: 1 }, reason: 'matched' },
    });
    const unknown = makeIdentity({ email: 'u@example.com', membership: { state: 'absent' } });
    expect(compareDecisions(a.evaluate(unknown, {}), b.evaluate(unknown, {}))?.fields).toEqual(['allowed', 'action', 'policy', 'reason']);
  });

  it('compares gateway decisions too', () => {
    const a = compileGatewayRules([]);
    const b = compileGatewayRules([], { defaultAction: 'block' });
    expect(compareDecisions(a.evaluate(null, {}), b.evaluate(null, {}))?.fields).toEqual(['allowed', 'action']);
  });

  it('the shadow evaluator always returns the enforced decision and reports differences', () => {
    const seen: DecisionDifference[] = [];
    const shadow = createShadowEvaluator(compileAccessPolicies(enforcedPolicies), compileAccessPolicies(candidatePolicies), {
      onDifference: (diff, detail) => {
        seen.push(diff);
        expect(detail.enforced.allowed).toBe(true);
        expect(detail.candidate.allowed).toBe(false);
      },
    });
    const contractor = makeIdentity({ email: 'c@example.com', groups: ['contractors'] });
    const d = shadow.evaluate(contractor, {});
    expect(d).toMatchObject({ allowed: true, policy: { name: 'Staff' } });
    shadow.evaluate(makeIdentity({ email: 'a@example.com' }), {});
    expect(seen).toHaveLength(1);
    expect(shadow.stats()).toEqual({ evaluated: 2, differed: 1, failed: 0 });
  });

  it('a failing candidate or callback never changes the enforced decision', () => {
    const exploding = {
      evaluate(): AccessDecision {
        throw new Error('boom');
      },
    };
    const shadow = createShadowEvaluator(compileAccessPolicies(enforcedPolicies), exploding);
    expect(shadow.evaluate(makeIdentity({ email: 'a@example.com' }), {}).allowed).toBe(true);
    const throwingCallback = createShadowEvaluator(compileAccessPolicies(enforcedPolicies), compileAccessPolicies([]), {
      onDifference: () => {
        throw new Error('callback');
      },
    });
    expect(throwingCallback.evaluate(makeIdentity({ email: 'a@example.com' }), {}).allowed).toBe(true);
    expect(shadow.stats().failed + throwingCallback.stats().failed).toBe(2);
  });
});
