/**
 * Step-up (`auth_context` rules, the token's `acrs`), end to end in Express, Koa and Fastify: who may
 * state that an authentication context was satisfied. Each attack sits beside a positive control.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks } from './harness.js';

const HOME_TENANT = '1a2b3c4d-0000-4000-8000-0000000000a1';
const OTHER_TENANT = '0e7e0000-0000-4000-8000-0000000000a2';

const vault = {
  policies: [{ name: 'Stepped up', decision: 'allow' as const, include: [{ everyone: {} }], require: [{ auth_context: { ac_id: 'c1' } }] }],
};

const stacks = useStacks({
  tenants: [HOME_TENANT, OTHER_TENANT],
  idp: { config: { conditional_access_enabled: true } },
  // A multi-tenant gate: the partner tenant's users are admitted (its tokens verify).
  gate: { tenants: [OTHER_TENANT], applications: { vault } },
  routes: [{ at: 'GET /vault', target: { application: 'vault' } }],
});

describe.each(frameworks)('%s: step-up', (framework) => {
  it("another tenant's `acrs` do not satisfy this tenant's authentication context (c1 is each tenant's own Conditional Access)", async () => {
    const stack = stacks(framework);
    const mint = (tenant: string, acrs?: string[]) =>
      stack.backend.entra.mintToken({ tenant, claims: { oid: randomUUID(), email: 'ada@contoso.com', ...(acrs === undefined ? {} : { acrs }) } });
    // Positive control: the home tenant's Conditional Access satisfied c1, so the vault opens; without it, no.
    expect((await stack.request('GET', '/vault', { token: mint(HOME_TENANT, ['c1']), as: 'api' })).status).toBe(200);
    // Without it, the API client is asked to step up (Microsoft's claims challenge), never let in.
    const without = await stack.request('GET', '/vault', { token: mint(HOME_TENANT), as: 'api' });
    expect(without.status).toBe(401);
    expect(without.json().code).toBe('ERR_AUTH_CONTEXT_REQUIRED');
    // The partner tenant's token verifies (it is allowed), but its `c1` is whatever that tenant's admin made
    // of it (nothing at all, for a tenant an attacker runs): it must not pass for the home tenant's step-up.
    const partner = await stack.request('GET', '/vault', { token: mint(OTHER_TENANT, ['c1']), as: 'api' });
    expect(partner.status).toBe(401);
    expect(partner.json().code).toBe('ERR_AUTH_CONTEXT_REQUIRED');
    expect(partner.headers['www-authenticate']).toContain('error="insufficient_claims"');
  });
});
