/**
 * Issue 16 part 1, end to end in Express, Koa and Fastify: Cloudflare Access in front, entragate behind.
 * The gate verifies Cloudflare's application token against a mock team domain and decides with the same
 * policy language; every hostile assertion is coded and refused, beside a positive control.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createAccessIdentityGroupSource } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';
import { frameworks, useStacks } from './harness.js';

const STAFF = 'c1f00000-0000-4000-8000-00000000005f';
const CI_TOKEN = '3b1d0000-0000-4000-8000-0000000000c1';
const CI_CLIENT = `${'c'.repeat(32)}.access`;

let cloudflare: MockCloudflare;
let otherTeam: MockCloudflare;
beforeAll(async () => {
  cloudflare = await createMockCloudflare();
  otherTeam = await createMockCloudflare({ aud: undefined });
});
afterAll(async () => {
  await cloudflare?.close();
  await otherTeam?.close();
});

const stacks = useStacks({
  gate: () => ({
    cloudflareAccess: { teamDomain: cloudflare.teamDomain, aud: cloudflare.aud, idpId: cloudflare.idpId, failureBackoffMs: 0, cooldownMs: 0 },
    groups: createAccessIdentityGroupSource({ teamDomain: cloudflare.teamDomain, idpId: cloudflare.idpId, failureBackoffMs: 0 }),
    applications: {
      portal: {
        aud: cloudflare.aud,
        policies: [
          { name: 'Staff', decision: 'allow', include: [{ azureAD: { id: STAFF } }] },
          { name: 'CI', decision: 'non_identity', include: [{ service_token: { token_id: CI_TOKEN } }] },
        ],
      },
    },
  }),
  routes: [
    {
      at: 'GET /portal',
      target: { application: 'portal' },
      options: { serviceTokens: [{ tokenId: CI_TOKEN, clientId: CI_CLIENT, clientSecret: 'ci-secret-0123456789abcdef' }] },
    },
  ],
});

const assertion = (token: string) => ({ headers: { 'cf-access-jwt-assertion': token }, as: 'api' as const });

describe.each(frameworks)('%s: behind Cloudflare Access', (framework) => {
  it("admits a staff member on Cloudflare's assertion, groups from get-identity; refuses a non-member (positive control and baseline)", async () => {
    const stack = stacks(framework);
    const staff = cloudflare.mintAppToken({ email: `s-${randomUUID().slice(0, 6)}@contoso.com`, groups: [{ id: STAFF, name: 'Staff' }] });
    const ok = await stack.request('GET', '/portal', assertion(staff));
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ via: 'assertion', policy: 'Staff' });
    // The cookie works as Cloudflare's fallback.
    expect((await stack.request('GET', '/portal', { cookie: `CF_Authorization=${staff}`, as: 'api' })).status).toBe(200);
    const outsider = cloudflare.mintAppToken({ email: 'o@contoso.com', groups: [] });
    expect((await stack.request('GET', '/portal', assertion(outsider))).status).toBe(403);
  });

  it('refuses hostile assertions, each with its code, none an allow', async () => {
    const stack = stacks(framework);
    const groups = [{ id: STAFF, name: 'Staff' }];
    const cases: Array<[string, string, string]> = [
      ['another team', otherTeam.mintAppToken({ groups, aud: cloudflare.aud }), 'ERR_TOKEN_KEY_NOT_FOUND'],
      [
        'the right kid, another key',
        cloudflare.mintAppToken({ groups, key: { ...otherTeam.currentKey, kid: cloudflare.currentKey.kid } }),
        'ERR_TOKEN_SIGNATURE_INVALID',
      ],
      ['another application', cloudflare.mintAppToken({ groups, aud: 'f'.repeat(64) }), 'ERR_TOKEN_AUDIENCE_INVALID'],
      ['a global org token', cloudflare.mintAppToken({ groups, type: 'org' }), 'ERR_ACCESS_ASSERTION_INVALID'],
      ['alg none', cloudflare.mintAppToken({ groups, header: { alg: 'none' } }), 'ERR_TOKEN_ALG_NOT_ALLOWED'],
      ['expired', cloudflare.mintAppToken({ groups, issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 600 }), 'ERR_TOKEN_EXPIRED'],
      ['not a JWT', 'not.a.jwt', 'ERR_TOKEN_MALFORMED'],
    ];
    for (const [what, token, code] of cases) {
      const reply = await stack.request('GET', '/portal', assertion(token));
      expect({ what, status: reply.status }).toEqual({ what, status: 401 });
      expect({ what, code: reply.json().code }).toEqual({ what, code });
    }
    // An Entra bearer token alone did not come through Cloudflare: refused.
    const direct = await stack.request('GET', '/portal', { token: stack.mint({ groups: [STAFF] }), as: 'api' });
    expect(direct.status).toBe(401);
    expect(direct.json().code).toBe('ERR_TOKEN_MISSING');
    // Header and cookie carrying different assertions are ambiguous.
    const a = cloudflare.mintAppToken({ groups });
    const b = cloudflare.mintAppToken({ groups });
    expect((await stack.request('GET', '/portal', { headers: { 'cf-access-jwt-assertion': a }, cookie: `CF_Authorization=${b}`, as: 'api' })).status).toBe(400);
    // Positive control: a good assertion still passes, and decides even beside a (forged) bearer token.
    expect((await stack.request('GET', '/portal', { ...assertion(a), token: 'forged.bearer.token' })).status).toBe(200);
  });

  it('maps a service-token assertion to its service token, never to a user', async () => {
    const stack = stacks(framework);
    const ci = await stack.request('GET', '/portal', assertion(cloudflare.mintServiceToken({ commonName: CI_CLIENT })));
    expect(ci.status).toBe(200);
    expect(ci.json()).toMatchObject({ via: 'service-token', policy: 'CI' });
    expect(ci.json().email).toBeUndefined();
    // Another service token Cloudflare let through matches no `service_token` rule here.
    expect((await stack.request('GET', '/portal', assertion(cloudflare.mintServiceToken()))).status).toBe(403);
  });

  it('fails closed when get-identity is down: membership unknown is a 503, never "no groups"', async () => {
    const stack = stacks(framework);
    cloudflare.faults.identity.down = true;
    try {
      const reply = await stack.request(
        'GET',
        '/portal',
        assertion(cloudflare.mintAppToken({ email: `d-${randomUUID().slice(0, 6)}@contoso.com`, groups: [{ id: STAFF }] })),
      );
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBeDefined();
    } finally {
      cloudflare.faults.identity.down = false;
    }
  });
});
