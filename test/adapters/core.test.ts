import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProtector } from '../../src/adapters/core.js';
import { createMemoryRevocationList, type Login } from '../../src/login/index.js';
import { createFixture, type Fixture } from './fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => {
  await f.close();
});

describe('protect: revocations of bearer tokens', () => {
  it('applies an app revocation of the login to bearer tokens issued before it (regression: only user revocations were applied)', async () => {
    const revocations = createMemoryRevocationList();
    const login = { ...f.login, audience: 'app-aud', revocations } as Login;
    const protector = createProtector(f.gate, { application: 'portal' }, { login });
    const token = f.token();
    const view = { method: 'GET', url: '/hello', headers: { authorization: `Bearer ${token}` }, ip: '127.0.0.1' };
    expect((await protector.decide(view)).kind).toBe('allow');
    const iat = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    revocations.revokeApp('another-app', iat);
    expect((await protector.decide(view)).kind).toBe('allow');
    revocations.revokeApp('app-aud', iat);
    const outcome = await protector.decide(view);
    expect(outcome).toMatchObject({ kind: 'respond', status: 401, body: { code: 'ERR_SESSION_REVOKED' } });
    expect(outcome.kind === 'respond' && outcome.headers['WWW-Authenticate']).toBe('Bearer realm="entragate", error="invalid_token", error_description="the token was issued before a revocation of this user or app"');
  });
});
