import { afterAll, describe, expect, it } from 'vitest';

const saved = { ...process.env };
afterAll(() => {
  for (const name of ['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID', 'CI_CLIENT_ID', 'CI_CLIENT_SECRET']) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});
import request from 'supertest';

describe('examples/koa-app.ts', () => {
  it('accepts no service token unless its id and secret are set (regression: it shipped a default secret)', async () => {
    process.env.ENTRA_TENANT_ID = '6b1a7f5e-2c9d-4e3b-8f0a-1d2c3b4a5e6f';
    process.env.ENTRA_CLIENT_ID = '0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f';
    delete process.env.CI_CLIENT_ID;
    delete process.env.CI_CLIENT_SECRET;
    const { app } = await import('../../examples/koa-app.js');
    const res = await request(app.callback()).get('/').set({ 'cf-access-client-id': 'ci.access', 'cf-access-client-secret': 'change-me-to-a-long-secret' });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="entragate", error="invalid_token", error_description="the service token is not valid"');
  });
});
