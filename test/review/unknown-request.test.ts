/**
 * `RequestContext.unknownRequestAttributes` and `onUndecided`: the evaluator's own three-valued logic, used
 * by access reviews. Without the flag nothing changes (the control); with it a request rule is unknown,
 * never an allow, and a service token is still a credential, not a request attribute.
 */
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies } from '../../src/policy/access-compile.js';
import type { Identity } from '../../src/types.js';

const identity: Identity = {
  email: 'ada@contoso.com',
  user_uuid: 'u1',
  idp: { id: 'azureAD', type: 'azureAD' },
  amr: [],
  groups: [{ id: 'g1' }],
  membership: { state: 'complete', source: 'directory', fields: ['id', 'name'] },
  oidc_fields: {},
  oid: 'u1',
  tid: 't',
  sub: 'u1',
  iat: 0,
  exp: 0,
  ver: '2.0',
};

const policies = compileAccessPolicies([
  { name: 'svc', decision: 'non_identity', include: [{ any_valid_service_token: {} }] },
  { name: 'office', decision: 'allow', include: [{ azureAD: { id: 'g1' } }], require: [{ ip: { ip: '10.0.0.0/8' } }] },
  { name: 'everyone-ch', decision: 'allow', include: [{ everyone: {} }], require: [{ geo: { country_code: 'CH' } }] },
]);

describe('unknownRequestAttributes', () => {
  it('without it, an absent ip is no match (control), and a present one decides', () => {
    expect(policies.evaluate(identity, {})).toMatchObject({ allowed: false, reason: 'default' });
    expect(policies.evaluate(identity, { ip: '10.1.2.3' })).toMatchObject({ allowed: true, policy: { name: 'office' } });
  });

  it('with it, ip and geo rules are unknown: denied (fail closed), and every undecided policy is reported in order', () => {
    const seen: string[] = [];
    const d = policies.evaluate(identity, { unknownRequestAttributes: true, onUndecided: (p) => seen.push(p.name) });
    expect(d).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(seen).toEqual(['office', 'everyone-ch']);
    const office = d.trace.find((t) => t.policy.name === 'office')!;
    expect(office.result).toBe('unknown');
    expect(office.checks.find((c) => c.attribute === 'context.ip')).toMatchObject({ result: 'unknown', detail: 'request attribute unknown (access review)' });
  });

  it('a service token is not made unknown: the Service Auth policy stays undecided-free', () => {
    const seen: string[] = [];
    policies.evaluate(identity, { unknownRequestAttributes: true, onUndecided: (p) => seen.push(p.name) });
    expect(seen).not.toContain('svc');
    expect(policies.evaluate(null, { unknownRequestAttributes: true, serviceToken: { tokenId: 'x' } })).toMatchObject({
      allowed: true,
      policy: { name: 'svc' },
    });
  });
});
