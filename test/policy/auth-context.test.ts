import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileAccessPolicies, createGate, PolicyError, type AccessDecision, type Identity } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

const identity = (acrs?: string[]): Identity => ({
  email: 'ada@contoso.com',
  user_uuid: 'u1',
  idp: { id: 'entra', type: 'azureAD' },
  amr: [],
  groups: [],
  membership: { state: 'complete', source: 'token', fields: ['id'] },
  oidc_fields: {},
  oid: 'u1',
  tid: 't1',
  sub: 's1',
  iat: 0,
  exp: 0,
  ver: '2.0',
  ...(acrs === undefined ? {} : { acrs }),
});

const stepUp = [
  {
    name: 'Payroll needs MFA context',
    decision: 'allow' as const,
    include: [{ everyone: {} }],
    require: [{ auth_context: { id: 'ctx-1', ac_id: 'c1', identity_provider_id: 'entra' } }],
  },
];

describe("auth_context (Conditional Access authentication context, Cloudflare's Access JSON)", () => {
  it('matches a token whose `acrs` holds the context, and names the missing context on a deny (step-up)', () => {
    const compiled = compileAccessPolicies(stepUp, { authContexts: true });
    const ok = compiled.evaluate(identity(['c1']), {});
    expect(ok).toMatchObject({ allowed: true, policy: { name: 'Payroll needs MFA context' } });
    expect(ok.missingAuthContext).toBeUndefined();
    const denied = compiled.evaluate(identity(), {});
    expect(denied.allowed).toBe(false);
    expect(denied.missingAuthContext).toEqual(['c1']);
    // Another context does not satisfy it.
    expect(compiled.evaluate(identity(['c2']), {}).missingAuthContext).toEqual(['c1']);
    expect(denied.trace[0]!.checks.some((c) => c.selector === 'auth_context' && /no authentication context/.test(c.detail ?? ''))).toBe(true);
  });

  it('names no context when satisfying it would not help (a Block decides, or nothing would allow)', () => {
    const compiled = compileAccessPolicies(
      [{ name: 'Block contractors', decision: 'deny', include: [{ email_domain: { domain: 'contoso.com' } }] }, ...stepUp],
      { authContexts: true },
    );
    const denied = compiled.evaluate(identity(), {});
    expect(denied).toMatchObject({ allowed: false, policy: { name: 'Block contractors' } });
    expect(denied.missingAuthContext).toBeUndefined();
  });

  it('checks identity_provider_id and the context id shape, and refuses the selector without conditional_access_enabled', () => {
    const other = compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ auth_context: { ac_id: 'c1', identity_provider_id: 'other' } }] }], {
      authContexts: true,
    });
    expect(other.evaluate(identity(['c1']), {}).allowed).toBe(false);
    expect(() => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [{ auth_context: { ac_id: 'mfa' } }] }], { authContexts: true })).toThrow(
      /is not an authentication context id/,
    );
    let error: unknown;
    try {
      compileAccessPolicies(stepUp);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).message).toMatch(/conditional_access_enabled: true/);
  });

  it('reads `acrs` from a verified Entra token through the gate, which honours conditional_access_enabled; a malformed `acrs` is a coded refusal', async () => {
    expect(() => createGate({ idp: entra.idpConfig(), authorityHost: entra.url, applications: { payroll: { policies: stepUp } } })).toThrow(
      /conditional_access_enabled/,
    );
    const gate = createGate({
      idp: entra.idpConfig({ id: 'entra', config: { conditional_access_enabled: true } }),
      authorityHost: entra.url,
      applications: { payroll: { policies: stepUp } },
    });
    expect((await gate.authorize(entra.mintToken({ claims: { acrs: ['c1'] } }))).allowed).toBe(true);
    const without = (await gate.authorize(entra.mintToken())) as AccessDecision;
    expect(without.missingAuthContext).toEqual(['c1']);
    await expect(gate.verify(entra.mintToken({ claims: { acrs: 'c1' } }))).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
  });
});
