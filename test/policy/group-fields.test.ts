/**
 * Issue 12 #4: a membership says which group fields it knows (`fields`; absent = ids only, as the token
 * claim supplies). A comparison on a field it does not know is unknown where no group shows the value
 * sought, so a Block on group names fails closed when groups come from the token.
 */
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, compileGatewayRules, explain } from '../../src/policy/index.js';
import type { GatewayRule } from '../../src/policy/types.js';
import type { GroupMembership } from '../../src/types.js';
import { makeIdentity } from './helpers.js';

const CONTRACTORS = '0b4c1f7e-1111-4222-8333-000000000001';
const FINANCE = '0b4c1f7e-1111-4222-8333-000000000002';
const token: GroupMembership = { state: 'complete', source: 'token', fields: ['id'] };
const graph: GroupMembership = { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] };
const directory: GroupMembership = { state: 'complete', source: 'directory', fields: ['id', 'name'] };

const blockContractors: GatewayRule = {
  name: 'Block contractors',
  action: 'block',
  precedence: 1,
  identity: 'any(identity.groups.name[*] in {"Contractors"})',
};

describe('gateway: a group field the membership does not list is unknown', () => {
  it('a Block on group names denies a token identity (ids only): the issue 12 #4 reproduction', () => {
    const rules = compileGatewayRules([blockContractors]);
    const contractor = makeIdentity({ groups: [CONTRACTORS], membership: token });
    const d = rules.evaluate(contractor, {});
    expect(d).toMatchObject({ allowed: false, action: 'block', policy: { name: 'Block contractors' }, reason: 'unknown-membership' });
    expect(explain(d)).toContain('unknown (group names are not known: membership complete (token) supplies ids)');
  });

  it('positive controls: with names known, a non-contractor passes and a contractor is blocked as a match', () => {
    const rules = compileGatewayRules([blockContractors]);
    const staff = makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: graph });
    const contractor = makeIdentity({ groups: [{ id: CONTRACTORS, name: 'Contractors' }], membership: directory });
    expect(rules.evaluate(staff, {})).toMatchObject({ allowed: true, action: 'allow', reason: 'default' });
    expect(rules.evaluate(contractor, {})).toMatchObject({ allowed: false, policy: { name: 'Block contractors' }, reason: 'matched' });
  });

  it('a value a group carries is a known fact even when the field is not listed', () => {
    const rules = compileGatewayRules([blockContractors]);
    const named = makeIdentity({ groups: [{ id: CONTRACTORS, name: 'Contractors' }], membership: token });
    expect(rules.evaluate(named, {})).toMatchObject({ allowed: false, reason: 'matched' });
  });

  it('absent fields mean ids only', () => {
    const rules = compileGatewayRules([blockContractors]);
    const legacy = makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: { state: 'complete', source: 'graph' } });
    expect(rules.evaluate(legacy, {})).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    // Ids are still known: a Block on another group id does not fire.
    const byId = compileGatewayRules([{ name: 'b', action: 'block', precedence: 1, identity: `any(identity.groups.id[*] in {"${CONTRACTORS}"})` }]);
    expect(byId.evaluate(legacy, {})).toMatchObject({ allowed: true, reason: 'default' });
  });

  it('an Allow on a name does not allow a token identity; the decision says why', () => {
    const rules = compileGatewayRules([{ name: 'finance', action: 'allow', precedence: 1, identity: 'any(identity.groups.name[*] == "Finance")' }], {
      defaultAction: 'block',
    });
    expect(rules.evaluate(makeIdentity({ groups: [FINANCE], membership: token }), {})).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(rules.evaluate(makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: token }), {})).toMatchObject({
      allowed: true,
      reason: 'matched',
    });
  });

  it('not(any(…)) on an unlisted field is unknown, never true', () => {
    const rules = compileGatewayRules(
      [{ name: 'non-contractors', action: 'allow', precedence: 1, identity: 'not(any(identity.groups.name[*] in {"Contractors"}))' }],
      {
        defaultAction: 'block',
      },
    );
    expect(rules.evaluate(makeIdentity({ groups: [CONTRACTORS], membership: token }), {}).allowed).toBe(false);
    expect(rules.evaluate(makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: graph }), {}).allowed).toBe(true);
  });

  it('all(…) is dual: false on a known failing value, unknown when every value passes but the field is not listed', () => {
    const block = (expression: string): GatewayRule[] => [{ name: 'all', action: 'block', precedence: 1, identity: expression }];
    const mixed = makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }, { id: CONTRACTORS }], membership: token });
    expect(compileGatewayRules(block('all(identity.groups.name[*] == "Contractors")')).evaluate(mixed, {})).toMatchObject({ allowed: true, reason: 'default' });
    expect(compileGatewayRules(block('all(identity.groups.name[*] == "Finance")')).evaluate(mixed, {})).toMatchObject({
      allowed: false,
      reason: 'unknown-membership',
    });
    const known = makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: directory });
    expect(compileGatewayRules(block('all(identity.groups.name[*] == "Finance")')).evaluate(known, {})).toMatchObject({ allowed: false, reason: 'matched' });
  });

  it('the directory supplies names but not mails: a Block on a group mail fails closed', () => {
    const rules = compileGatewayRules([
      { name: 'mail', action: 'block', precedence: 1, identity: 'any(identity.groups.email[*] == "contractors@example.com")' },
    ]);
    expect(rules.evaluate(makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: directory }), {})).toMatchObject({
      allowed: false,
      reason: 'unknown-membership',
    });
    expect(rules.evaluate(makeIdentity({ groups: [{ id: FINANCE, name: 'Finance', email: 'finance@example.com' }], membership: graph }), {}).allowed).toBe(
      true,
    );
  });

  it('a malformed fields (not an array) knows nothing, not even ids', () => {
    const malformed = { state: 'complete', source: 'graph', fields: 'id' } as unknown as GroupMembership;
    const byId = compileGatewayRules([{ name: 'b', action: 'block', precedence: 1, identity: `any(identity.groups.id[*] in {"${CONTRACTORS}"})` }]);
    expect(byId.evaluate(makeIdentity({ groups: [FINANCE], membership: malformed }), {})).toMatchObject({ allowed: false, reason: 'unknown-membership' });
  });

  it('the rule index skips a name rule only when names are known (fast path stays correct)', () => {
    // Forty indexable rules on names; the token identity holds none of them but cannot say so.
    const rules: GatewayRule[] = Array.from({ length: 40 }, (_, i) => ({
      name: `block ${i}`,
      action: 'block',
      precedence: i + 1,
      identity: `any(identity.groups.name[*] in {"g-${i}"})`,
    }));
    rules.push({ name: 'allow finance id', action: 'allow', precedence: 100, identity: `any(identity.groups.id[*] in {"${FINANCE}"})` });
    const compiled = compileGatewayRules(rules, { defaultAction: 'block' });
    const viaToken = makeIdentity({ groups: [FINANCE], membership: token });
    expect(compiled.evaluate(viaToken, {})).toMatchObject({ allowed: false, policy: { name: 'block 0' }, reason: 'unknown-membership' });
    const viaGraph = makeIdentity({ groups: [{ id: FINANCE, name: 'Finance' }], membership: graph });
    expect(compiled.evaluate(viaGraph, {})).toMatchObject({ allowed: true, policy: { name: 'allow finance id' }, reason: 'matched' });
    const named = makeIdentity({ groups: [{ id: FINANCE, name: 'g-7' }], membership: graph });
    expect(compiled.evaluate(named, {})).toMatchObject({ allowed: false, policy: { name: 'block 7' }, reason: 'matched' });
  });
});

describe('gateway: groupFields warns about rules no configured source can answer', () => {
  const rules: GatewayRule[] = [
    { name: 'Allow finance', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${FINANCE}"})` },
    blockContractors,
    {
      name: 'Mail',
      action: 'isolate',
      precedence: 3,
      identity: 'not(any(identity.groups.email[*] == "x@example.com")) and any(identity.groups.name[*] == "y")',
    },
    { name: 'Off', action: 'block', precedence: 4, enabled: false, identity: 'any(identity.groups.name[*] == "z")' },
  ];

  it('names each enabled rule and position that reads a field the sources do not supply', () => {
    expect(compileGatewayRules(rules, { groupFields: ['id'] }).warnings).toEqual([
      'rule `Block contractors` (rules[1]) reads `identity.groups.name`, which no configured group source supplies (they supply ids only): the comparison is unknown for every identity, so a Block that reads it denies and an Allow never matches',
      'rule `Mail` (rules[2]) reads `identity.groups.email`, which no configured group source supplies (they supply ids only): the comparison is unknown for every identity, so a Block that reads it denies and an Allow never matches',
      'rule `Mail` (rules[2]) reads `identity.groups.name`, which no configured group source supplies (they supply ids only): the comparison is unknown for every identity, so a Block that reads it denies and an Allow never matches',
    ]);
    expect(compileGatewayRules(rules, { groupFields: ['id', 'name'] }).warnings).toEqual([
      'rule `Mail` (rules[2]) reads `identity.groups.email`, which no configured group source supplies (they supply ids and names only): the comparison is unknown for every identity, so a Block that reads it denies and an Allow never matches',
    ]);
  });

  it('says nothing by default (all three fields) or when every field read is supplied', () => {
    expect(compileGatewayRules(rules).warnings).toEqual([]);
    expect(compileGatewayRules([rules[0] as GatewayRule], { groupFields: ['id'] }).warnings).toEqual([]);
  });

  it('is validated as an option', () => {
    expect(() => compileGatewayRules([], { groupFields: ['mail'] as never })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });
});

describe('access: azureAD reads group ids only', () => {
  it('a token identity still decides on ids; a membership that lists no ids makes them unknown', () => {
    const policies = compileAccessPolicies([{ name: 'finance', decision: 'allow', include: [{ azureAD: { id: FINANCE } }] }]);
    expect(policies.evaluate(makeIdentity({ groups: [FINANCE], membership: token }), {})).toMatchObject({ allowed: true, reason: 'matched' });
    expect(policies.evaluate(makeIdentity({ groups: [CONTRACTORS], membership: token }), {})).toMatchObject({ allowed: false, reason: 'default' });
    const namesOnly: GroupMembership = { state: 'complete', source: 'static', fields: ['name'] };
    const d = policies.evaluate(makeIdentity({ groups: [CONTRACTORS], membership: namesOnly }), {});
    expect(d).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(explain(d)).toContain('group ids are not known: membership complete (static) supplies names');
  });
});
