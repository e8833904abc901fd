import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProtector } from '../../src/adapters/core.js';
import { TokenError } from '../../src/errors/index.js';
import type { Gate } from '../../src/gate.js';
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

describe('protect: the 401 challenge', () => {
  it('rebuilds a challenge that would carry non-ASCII or control characters (regression: setHeader threw and crashed the server)', async () => {
    // An error whose own challenge echoes the message raw, as a custom group source or store might build one.
    const message = 'no signing key `k\u2603\u0001"x` for tenant `t`';
    const hostile = new TokenError('ERR_TOKEN_KEY_NOT_FOUND', message, { headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${message}"` } });
    const gate = {
      application: () => ({}),
      identify: () => Promise.reject(hostile),
      authorize: () => Promise.reject(new Error('not reached')),
    } as unknown as Gate;
    const outcome = await createProtector(gate, { application: 'portal' }).decide({ method: 'GET', url: '/', headers: { authorization: 'Bearer x.y.z' } });
    expect(outcome.kind).toBe('respond');
    if (outcome.kind !== 'respond') return;
    const challenge = 'Bearer realm="entragate", error="invalid_token", error_description="no signing key `k??x` for tenant `t`"';
    expect(outcome.status).toBe(401);
    expect(outcome.headers['WWW-Authenticate']).toBe(challenge);
    // The error handed to the framework's error handler carries the same, safe header.
    expect(outcome.error?.headers['WWW-Authenticate']).toBe(challenge);
    expect(outcome.error?.code).toBe('ERR_TOKEN_KEY_NOT_FOUND');
  });
});
