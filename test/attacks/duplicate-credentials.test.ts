/**
 * A credential given twice (issue 12, finding 12), in Express 5, Express 4, Koa and Fastify: Node keeps
 * the first `Authorization` in `req.headers`, so a proxy that reads the other copy disagrees with the app.
 * RFC 6750 §3.1: 400 `invalid_request`. The same for the session cookie, the service-token headers and
 * the configured single headers.
 */
import { describe, expect, it } from 'vitest';
import { frameworksWithExpress4, useStacks, type AuthSummary, type Framework, type Reply, type Stack } from './harness.js';

const SERVICE = { tokenId: '0f3c3e0e-5b7a-4d7e-9a53-0c1d2e3f4a5b', clientId: 'ci.access', clientSecret: 'ci-secret-0123456789abcdef' };
const SERVICE_JSON = JSON.stringify({ 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': SERVICE.clientSecret });

const stacks = useStacks({
  frameworks: frameworksWithExpress4,
  login: true,
  gate: {
    applications: {
      portal: {
        policies: [
          { name: 'CI', decision: 'non_identity', include: [{ service_token: { token_id: SERVICE.tokenId } }] },
          { name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] },
        ],
      },
      geo: { policies: [{ name: 'France', decision: 'allow', include: [{ geo: { country_code: 'FR' } }] }] },
    },
  },
  routes: [
    {
      at: 'USE /portal',
      target: { application: 'portal' },
      options: { serviceTokens: [SERVICE], assertionHeader: 'cf-access-jwt-assertion', serviceTokenHeader: 'cf-access-service-token' },
    },
    { at: 'USE /geo', target: { application: 'geo' }, options: { countryHeader: 'cf-ipcountry' } },
  ],
});

function expectAmbiguous(reply: Reply, what: string, challenge: boolean): void {
  expect(reply.status).toBe(400);
  expect(reply.text).not.toContain('"via"');
  if (challenge) {
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer realm="entragate", error="invalid_request", error_description="the request carries ${what} more than once"`,
    );
  } else {
    expect(reply.headers['www-authenticate']).toBeUndefined();
  }
}

describe.each(frameworksWithExpress4)('%s', (framework: Framework) => {
  const stack = (): Stack => stacks(framework);

  it('admits each credential given once (positive control)', async () => {
    const token = stack().mint();
    const bearer = await stack().request('GET', '/portal', { token });
    expect(bearer.status).toBe(200);
    expect(bearer.json<AuthSummary>()).toMatchObject({ via: 'bearer' });
    const assertion = await stack().request('GET', '/portal', { headers: { 'cf-access-jwt-assertion': token } });
    expect(assertion.json<AuthSummary>()).toMatchObject({ via: 'assertion' });
    const pair = await stack().request('GET', '/portal', {
      headers: { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': SERVICE.clientSecret },
    });
    expect(pair.json<AuthSummary>()).toMatchObject({ via: 'service-token', policy: 'CI' });
    const single = await stack().request('GET', '/portal', { headers: { 'cf-access-service-token': SERVICE_JSON } });
    expect(single.json<AuthSummary>()).toMatchObject({ via: 'service-token' });
    const country = await stack().request('GET', '/geo', { token, headers: { 'cf-ipcountry': 'FR' } });
    expect(country.status).toBe(200);
    // Other cookies, and cookies whose names only contain the session's, are not the session cookie twice.
    const cookie = await stack().login();
    const session = await stack().request('GET', '/portal', { cookie: `${cookie}; xCF_Authorization=1; CF_Authorization_old=2; theme=dark`, as: 'api' });
    expect(session.status).toBe(200);
    expect(session.json<AuthSummary>()).toMatchObject({ via: 'session' });
  });

  it('refuses two Authorization headers, the valid one first, with 400 invalid_request', async () => {
    const token = stack().mint();
    expectAmbiguous(
      await stack().request('GET', '/portal', { headers: { authorization: [`Bearer ${token}`, 'Bearer forged'] } }),
      'the `authorization` header',
      true,
    );
    expectAmbiguous(
      await stack().request('GET', '/portal', { headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } }),
      'the `authorization` header',
      true,
    );
    expectAmbiguous(
      await stack().request('GET', '/portal', {
        headers: [
          ['Authorization', `Bearer ${token}`],
          ['authorization', 'Basic YTpi'],
        ],
      }),
      'the `authorization` header',
      true,
    );
    const body = (await stack().request('GET', '/portal', { headers: { authorization: [`Bearer ${token}`, 'Bearer x'] } })).text;
    expect(body).not.toContain(token);
  });

  it('refuses the assertion header, the service-token header and the country header given twice', async () => {
    const token = stack().mint();
    expectAmbiguous(
      await stack().request('GET', '/portal', { headers: { 'cf-access-jwt-assertion': [token, 'forged'] } }),
      'the `cf-access-jwt-assertion` header',
      true,
    );
    expectAmbiguous(
      await stack().request('GET', '/portal', { headers: { 'cf-access-service-token': [SERVICE_JSON, '{}'] } }),
      'the `cf-access-service-token` header',
      false,
    );
    expectAmbiguous(await stack().request('GET', '/geo', { token, headers: { 'cf-ipcountry': ['FR', 'US'] } }), 'the `cf-ipcountry` header', false);
  });

  it('refuses two service-token pairs', async () => {
    const id = { 'cf-access-client-id': [SERVICE.clientId, SERVICE.clientId], 'cf-access-client-secret': SERVICE.clientSecret };
    expectAmbiguous(await stack().request('GET', '/portal', { headers: id }), 'the `cf-access-client-id` header', false);
    const secret = { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': [SERVICE.clientSecret, 'another-secret-0123456789'] };
    expectAmbiguous(await stack().request('GET', '/portal', { headers: secret }), 'the `cf-access-client-secret` header', false);
  });

  it('refuses the session cookie twice, in one Cookie header or in two', async () => {
    const cookie = await stack().login();
    const what = 'the `CF_Authorization` session cookie';
    expectAmbiguous(await stack().request('GET', '/portal', { cookie: `${cookie}; CF_Authorization=forged`, as: 'api' }), what, false);
    expectAmbiguous(await stack().request('GET', '/portal', { cookie: `CF_Authorization=forged; ${cookie}`, as: 'browser' }), what, false);
    expectAmbiguous(await stack().request('GET', '/portal', { headers: { cookie: [cookie, 'CF_Authorization=forged'] }, as: 'api' }), what, false);
  });
});
