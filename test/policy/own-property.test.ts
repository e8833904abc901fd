/**
 * Issue 12 #5: a configuration key named like an `Object.prototype` member (`constructor`,
 * `__proto__`, `toString`) is looked up as an own key only: not configured, it is a coded compile
 * error (never a raw `TypeError`, never the prototype's member); configured, it works.
 */
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, compileGatewayRules } from '../../src/policy/index.js';
import { PolicyError } from '../../src/errors/index.js';
import type { AccessRule } from '../../src/policy/types.js';
import { makeIdentity, thrown } from './helpers.js';

const alice = makeIdentity({ email: 'alice@example.com', name: 'John Doe' });
const allowIf = (rule: AccessRule) => [{ name: 'p', decision: 'allow' as const, include: [rule] }];

describe('access: lists and rule groups by own key', () => {
  it.each([
    [{ email_list: { id: 'constructor' } }, 'list `constructor` is not configured'],
    [{ email_list: { id: 'toString' } }, 'list `toString` is not configured'],
    [{ ip_list: { id: '__proto__' } }, 'list `__proto__` is not configured'],
    [{ ip_list: { id: 'hasOwnProperty' } }, 'list `hasOwnProperty` is not configured'],
    [{ group: { id: 'constructor' } }, 'rule group `constructor` is not configured'],
    [{ group: { id: '__proto__' } }, 'rule group `__proto__` is not configured'],
  ] as [AccessRule, string][])('%j unconfigured is ERR_POLICY_GROUP_MISSING', (rule, message) => {
    const err = thrown(() => compileAccessPolicies(allowIf(rule)));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe('ERR_POLICY_GROUP_MISSING');
    expect(err.message).toContain(message);
  });

  it('configured under such a name, a list works', () => {
    const byEmail = compileAccessPolicies(allowIf({ email_list: { id: 'constructor' } }), { lists: { constructor: ['alice@example.com'] } });
    expect(byEmail.evaluate(alice, {})).toMatchObject({ allowed: true, reason: 'matched' });
    expect(byEmail.evaluate(makeIdentity({ email: 'bob@example.com' }), {})).toMatchObject({ allowed: false, reason: 'default' });
    // A `__proto__` key as JSON.parse makes it (an own property), which zod's record drops.
    const lists = JSON.parse('{ "__proto__": ["10.0.0.0/8"] }') as Record<string, string[]>;
    const byIp = compileAccessPolicies(allowIf({ ip_list: { id: '__proto__' } }), { lists });
    expect(byIp.evaluate(alice, { ip: '10.1.2.3' })).toMatchObject({ allowed: true, reason: 'matched' });
    expect(byIp.evaluate(alice, { ip: '192.0.2.1' })).toMatchObject({ allowed: false });
  });

  it('a `__proto__` list that is not an array of strings is a ConfigError', () => {
    const lists = JSON.parse('{ "__proto__": [1] }') as Record<string, string[]>;
    expect(thrown(() => compileAccessPolicies([], { lists })).code).toBe('ERR_CONFIG_INVALID');
  });

  it('configured under such a name, a rule group works', () => {
    const policies = compileAccessPolicies(allowIf({ group: { id: 'constructor' } }), {
      groups: [{ id: 'constructor', name: 'c', include: [{ email: { email: 'alice@example.com' } }] }],
    });
    expect(policies.evaluate(alice, {})).toMatchObject({ allowed: true, reason: 'matched' });
  });

  it('a selector value inherited from a prototype is not configuration', () => {
    const body = Object.create({ email: 'alice@example.com' }) as { email: string };
    const err = thrown(() => compileAccessPolicies(allowIf({ email: body })));
    expect(err.code).toBe('ERR_POLICY_INVALID');
    expect(err.message).toContain('`email.email` must be a non-empty string');
  });

  it('a claim named `constructor` is read from the identity’s own claims only', () => {
    const policies = compileAccessPolicies(allowIf({ oidc: { claim_name: 'constructor', claim_value: 'function Object() { [native code] }' } }));
    expect(policies.evaluate(alice, {}).allowed).toBe(false);
    expect(policies.evaluate(makeIdentity({ oidc_fields: { constructor: 'function Object() { [native code] }' } }), {}).allowed).toBe(true);
  });
});

describe('gateway: lists, fields and operators by own key', () => {
  it.each(['$toString', '$constructor', '$__proto__', '$valueOf'])('`in %s` unconfigured is ERR_POLICY_GROUP_MISSING', (list) => {
    const err = thrown(() => compileGatewayRules([{ name: 'r', action: 'block', precedence: 1, identity: `identity.email in ${list}` }]));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe('ERR_POLICY_GROUP_MISSING');
    expect(err.message).toContain(`list \`${list.slice(1)}\` is not configured`);
  });

  it('configured under such a name, a list works', () => {
    const lists = JSON.parse('{ "toString": ["alice@example.com"], "__proto__": ["10.0.0.0/8"] }') as Record<string, string[]>;
    const rules = compileGatewayRules(
      [
        { name: 'email', action: 'allow', precedence: 1, identity: 'identity.email in $toString' },
        { name: 'ip', action: 'allow', precedence: 2, traffic: 'net.src.ip in $__proto__' },
      ],
      { lists, defaultAction: 'block' },
    );
    expect(rules.evaluate(alice, {})).toMatchObject({ allowed: true, policy: { name: 'email' } });
    expect(rules.evaluate(makeIdentity({ email: 'bob@example.com' }), { ip: '10.9.9.9' })).toMatchObject({ allowed: true, policy: { name: 'ip' } });
    expect(rules.evaluate(makeIdentity({ email: 'bob@example.com' }), { ip: '192.0.2.1' })).toMatchObject({ allowed: false });
  });

  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])('a field named `%s` is an unknown field, not a read of identity.name', (field) => {
    const err = thrown(() => compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: `${field} == "John Doe"` }]));
    expect(err.code).toBe('ERR_EXPRESSION_TYPE');
    expect(err.message).toContain(`unknown field \`${field}\``);
  });

  it('an operator word named like a prototype member is not an operator', () => {
    const err = thrown(() => compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, identity: 'identity.email constructor "x"' }]));
    expect(err.code).toBe('ERR_EXPRESSION_SYNTAX');
    expect(err.message).toContain('expected a comparison operator');
  });
});
