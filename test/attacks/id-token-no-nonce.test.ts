/**
 * A bearer token must be an access token, end to end in Express, Koa and Fastify. An ID token without a
 * `nonce` (Entra issues them from flows that send none: a refresh grant, the hybrid and implicit flows
 * without one) names the app's client id as its `aud`, is signed by the same keys, and used to open the
 * app as an `Authorization: Bearer` token: nothing said it was not an access token. Microsoft's access
 * token reference gives every delegated token `scp`; its ID token reference has no `scp` at all, but has
 * `roles` (the user's app roles), so `roles` cannot tell them apart. Each attack beside a control.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks } from './harness.js';

const portal = { session_duration: '24h', policies: [{ name: 'Staff', decision: 'allow' as const, include: [{ everyone: {} }] }] };

const stacks = useStacks({
  gate: { applications: { portal } },
  routes: [{ at: 'GET /portal', target: { application: 'portal' } }],
});

/** Claims of an ID token as Entra's ID token reference lists them: no `scp`, no `azp`, no `nonce` in these flows. */
const idTokenClaims = (oid: string): Record<string, unknown> => ({
  oid,
  email: `i${oid.slice(0, 6)}@contoso.com`,
  scp: undefined,
  aio: 'AXQAi/8UAAAA',
  rh: '0.AAAA.',
  uti: 'fGYCO1mK3U-wMd6tgK4tAA',
});

describe.each(frameworks)('%s: an ID token without a nonce as a bearer token', (framework) => {
  it('a delegated access token (with `scp`) opens the app: the positive control', async () => {
    const stack = stacks(framework);
    const oid = randomUUID();
    const reply = await stack.request('GET', '/portal', { token: stack.mint({ ...idTokenClaims(oid), scp: 'access_as_user', azp: randomUUID() }), as: 'api' });
    expect(reply.status).toBe(200);
    // v1 too: `scp` is the delegated token's mark in both versions.
    const v1 = stack.backend.entra.mintToken({ version: '1.0', claims: { ...idTokenClaims(oid), scp: 'user_impersonation', appid: randomUUID() } });
    expect((await stack.request('GET', '/portal', { token: v1, as: 'api' })).status).toBe(200);
  });

  it('refuses a v2 ID token without a nonce: 401 invalid_token, ERR_TOKEN_NOT_ACCESS_TOKEN', async () => {
    const stack = stacks(framework);
    const idToken = stack.mint(idTokenClaims(randomUUID()));
    const reply = await stack.request('GET', '/portal', { token: idToken, as: 'api' });
    expect(reply.status).toBe(401);
    expect(reply.json().code).toBe('ERR_TOKEN_NOT_ACCESS_TOKEN');
    expect(String(reply.headers['www-authenticate'])).toContain('error="invalid_token"');
    expect(reply.text).not.toContain(idToken);
  });

  it("refuses an ID token carrying the user's app roles (`roles` is in ID tokens too), and a v1 ID token", async () => {
    const stack = stacks(framework);
    const withRoles = stack.mint({ ...idTokenClaims(randomUUID()), roles: ['Orders.Admin'] });
    const roles = await stack.request('GET', '/portal', { token: withRoles, as: 'api' });
    expect(roles.status).toBe(401);
    expect(roles.json().code).toBe('ERR_TOKEN_NOT_ACCESS_TOKEN');
    const v1 = stack.backend.entra.mintToken({ version: '1.0', claims: idTokenClaims(randomUUID()) });
    const old = await stack.request('GET', '/portal', { token: v1, as: 'api' });
    expect(old.status).toBe(401);
    expect(old.json().code).toBe('ERR_TOKEN_NOT_ACCESS_TOKEN');
  });

  it('refuses a user token whose `scp` is empty or blank, and one whose `scp` is not a string', async () => {
    const stack = stacks(framework);
    for (const scp of ['', '   ']) {
      const reply = await stack.request('GET', '/portal', { token: stack.mint({ ...idTokenClaims(randomUUID()), scp }), as: 'api' });
      expect(reply.status).toBe(401);
      expect(reply.json().code).toBe('ERR_TOKEN_NOT_ACCESS_TOKEN');
    }
    const array = await stack.request('GET', '/portal', { token: stack.mint({ ...idTokenClaims(randomUUID()), scp: ['access_as_user'] }), as: 'api' });
    expect(array.status).toBe(401);
    expect(array.json().code).toBe('ERR_TOKEN_CLAIM_INVALID');
  });
});
