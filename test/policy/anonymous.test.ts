/**
 * Issue 12 #3, the evaluation side: a request without a login (`identity: null`) on Gateway rules.
 * Every `identity.*` field is unknown (an Allow that reads one does not match, a Block denies), with
 * `reason: 'unknown-identity'`; a rule that reads no identity field still decides.
 */
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, compileGatewayRules, explain } from '../../src/policy/index.js';
import type { GatewayRule } from '../../src/policy/types.js';
import { makeIdentity } from './helpers.js';

const C = '0b4c1f7e-1111-4222-8333-0000000000c0';
const request = { method: 'GET', host: 'app.example.com', url: '/public/a.txt' };

describe('gateway: a request without an identity', () => {
  it('Allow not(any(groups in {C})) behind a block default does not admit it (the issue 12 #3 reproduction)', () => {
    const rules = compileGatewayRules([{ name: 'non-contractors', action: 'allow', precedence: 1, identity: `not(any(identity.groups.id[*] in {"${C}"}))` }], {
      defaultAction: 'block',
    });
    expect(rules.evaluate(null, { request })).toMatchObject({ allowed: false, action: 'block', reason: 'unknown-identity' });
    // Positive control: a logged-in non-contractor is admitted; a contractor is not.
    expect(rules.evaluate(makeIdentity({ groups: [] }), { request })).toMatchObject({ allowed: true, reason: 'matched' });
    expect(rules.evaluate(makeIdentity({ groups: [C] }), { request })).toMatchObject({ allowed: false, reason: 'default' });
  });

  it('a Block on a group denies it instead of letting it through', () => {
    const rules = compileGatewayRules([{ name: 'contractors', action: 'block', precedence: 1, identity: `any(identity.groups.id[*] in {"${C}"})` }]);
    const d = rules.evaluate(null, { request });
    expect(d).toMatchObject({ allowed: false, action: 'block', policy: { name: 'contractors' }, reason: 'unknown-identity' });
    expect(explain(d)).toContain('might match: fail closed, block (no identity: the request carries no login)');
    expect(explain(d)).toContain('unknown (no identity)');
    expect(rules.evaluate(makeIdentity({ groups: [] }), { request })).toMatchObject({ allowed: true, reason: 'default' });
  });

  it.each([
    'identity.email != "x@example.com"',
    'not(identity.email in {"x@example.com"})',
    'identity.name == ""',
    'identity.email matches ".*"',
    'all(identity.groups.name[*] == "x")',
    'not(any(identity.groups.email[*] == "x@example.com"))',
  ])('%s is unknown: an Allow does not match, a Block denies', (expression) => {
    expect(
      compileGatewayRules([{ name: 'a', action: 'allow', precedence: 1, identity: expression }], { defaultAction: 'block' }).evaluate(null, {}),
    ).toMatchObject({
      allowed: false,
      reason: 'unknown-identity',
    });
    expect(compileGatewayRules([{ name: 'b', action: 'block', precedence: 1, identity: expression }]).evaluate(null, {})).toMatchObject({
      allowed: false,
      policy: { name: 'b' },
      reason: 'unknown-identity',
    });
  });

  it('rules that read no identity field still decide an anonymous request', () => {
    const rules: GatewayRule[] = [
      { name: 'embargo', action: 'block', precedence: 1, traffic: 'net.src.geo.country == "KP"' },
      { name: 'public', action: 'allow', precedence: 2, traffic: 'http.request.uri.path matches "^/public/"' },
      {
        name: 'office',
        action: 'allow',
        precedence: 3,
        traffic: 'net.src.ip in {203.0.113.0/24}',
        device_posture: 'any(device_posture.checks.passed[*] == "disk")',
      },
    ];
    const compiled = compileGatewayRules(rules, { defaultAction: 'block' });
    expect(compiled.evaluate(null, { request })).toMatchObject({ allowed: true, policy: { name: 'public' }, reason: 'matched' });
    expect(compiled.evaluate(null, { request, country: 'KP' })).toMatchObject({ allowed: false, policy: { name: 'embargo' }, reason: 'matched' });
    expect(compiled.evaluate(null, { request: { ...request, url: '/x' }, ip: '203.0.113.9', devicePosture: ['disk'] })).toMatchObject({
      allowed: true,
      policy: { name: 'office' },
    });
    expect(compiled.evaluate(null, { request: { ...request, url: '/x' } })).toMatchObject({ allowed: false, reason: 'default' });
  });

  it('a rule mixing identity and request fields is unknown for the identity; a false request part still rules it out', () => {
    const compiled = compileGatewayRules([
      {
        name: 'admins on /admin',
        action: 'block',
        precedence: 1,
        traffic: 'http.request.uri.path == "/admin"',
        identity: 'not(identity.email in {"root@example.com"})',
      },
    ]);
    expect(compiled.evaluate(null, { request: { ...request, url: '/admin' } })).toMatchObject({ allowed: false, reason: 'unknown-identity' });
    expect(compiled.evaluate(null, { request })).toMatchObject({ allowed: true, reason: 'default' });
  });

  it('names a missing login over the other unknowns when several Allow-type rules might have matched', () => {
    const compiled = compileGatewayRules(
      [
        { name: 'by path', action: 'allow', precedence: 1, traffic: 'http.request.uri.path == "/a"' },
        { name: 'by group', action: 'allow', precedence: 2, identity: `any(identity.groups.id[*] in {"${C}"})` },
      ],
      { defaultAction: 'block' },
    );
    // No request and no identity: both rules are unknown; the login is what could change the outcome.
    expect(compiled.evaluate(null, {})).toMatchObject({ allowed: false, reason: 'unknown-identity' });
    const overage = makeIdentity({ groups: [], membership: { state: 'overage', signal: 'hasgroups' } });
    expect(compiled.evaluate(overage, {})).toMatchObject({ allowed: false, reason: 'unknown-membership' });
  });

  it('does not change Access: without a login only Bypass and Service Auth apply', () => {
    const policies = compileAccessPolicies([
      { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] },
      { name: 'service', decision: 'non_identity', include: [{ any_valid_service_token: {} }] },
    ]);
    expect(policies.evaluate(null, {})).toMatchObject({ allowed: false, reason: 'default' });
    expect(policies.evaluate(null, { serviceToken: { tokenId: 't' } })).toMatchObject({ allowed: true, policy: { name: 'service' } });
  });
});
