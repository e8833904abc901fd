import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProtector } from '../../src/adapters/core.js';
import { TokenError } from '../../src/errors/index.js';
import { createGate, type Gate } from '../../src/gate.js';
import { createMemoryRevocationList } from '../../src/login/index.js';
import { createFixture, DEVS, SERVICE, type Fixture } from './fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => {
  await f.close();
});

describe('protect: revocations of bearer tokens', () => {
  it("applies the gate's revocations to bearer tokens: `revokeApp` of the target application, not of another one", async () => {
    const revocations = createMemoryRevocationList();
    const gate = createGate({
      idp: f.entra.idpConfig(),
      authorityHost: f.entra.url,
      revocations,
      applications: { portal: { aud: 'app-aud', policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } },
    });
    const protector = createProtector(gate, { application: 'portal' });
    const token = f.token();
    const view = { method: 'GET', url: '/hello', headers: { authorization: `Bearer ${token}` }, ip: '127.0.0.1' };
    expect((await protector.decide(view)).kind).toBe('allow');
    const iat = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    revocations.revokeApp('another-app', iat);
    expect((await protector.decide(view)).kind).toBe('allow');
    revocations.revokeApp('app-aud', iat);
    const outcome = await protector.decide(view);
    expect(outcome).toMatchObject({ kind: 'respond', status: 401, body: { code: 'ERR_SESSION_REVOKED' } });
    expect(outcome.kind === 'respond' && outcome.headers['WWW-Authenticate']).toBe(
      'Bearer realm="entragate", error="invalid_token", error_description="the credential was issued before a revocation of this user or app: sign in again"',
    );
  });

  it('has no `revocations` option of its own any more: the gate holds them (one source of configuration)', () => {
    expect(() => createProtector(f.gate, { application: 'portal' }, { revocations: createMemoryRevocationList() } as never)).toThrow(/revocations/);
  });
});

describe('protect: the 401 challenge', () => {
  it('rebuilds a challenge that would carry non-ASCII or control characters (regression: setHeader threw and crashed the server)', async () => {
    // An error whose own challenge echoes the message raw, as a custom group source or store might build one.
    const message = 'no signing key `k\u2603\u0001"x` for tenant `t`';
    const hostile = new TokenError('ERR_TOKEN_KEY_NOT_FOUND', message, {
      headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${message}"` },
    });
    const gate = {
      application: () => ({}),
      identify: () => Promise.reject(hostile),
      identifyToken: () => Promise.reject(hostile),
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

describe('protect: service tokens in one header (read_service_tokens_from_header)', () => {
  const json = (id: string, secret: string) => JSON.stringify({ 'cf-access-client-id': id, 'cf-access-client-secret': secret });
  const view = (headers: Record<string, string>) => ({ method: 'GET', url: '/hello', headers, ip: '198.51.100.7' });
  const protector = () => createProtector(f.gate, { application: 'portal' }, { serviceTokens: [SERVICE], serviceTokenHeader: 'X-Service-Token' });

  it('admits the token the JSON header names, as the header pair would', async () => {
    const outcome = await protector().decide(view({ 'x-service-token': json(SERVICE.clientId, SERVICE.clientSecret) }));
    expect(outcome).toMatchObject({ kind: 'allow', auth: { via: 'service-token', serviceToken: { tokenId: SERVICE.tokenId }, identity: null } });
    // Field names are case-insensitive, as header names are.
    const upper = await protector().decide(
      view({ 'x-service-token': JSON.stringify({ 'CF-Access-Client-Id': SERVICE.clientId, 'CF-Access-Client-Secret': SERVICE.clientSecret }) }),
    );
    expect(upper.kind).toBe('allow');
  });

  it('answers 401 for a wrong secret, a malformed value, missing or doubled fields; never an anonymous pass', async () => {
    const values = [
      json(SERVICE.clientId, `${SERVICE.clientSecret}x`),
      json('someone-else', SERVICE.clientSecret),
      'not json',
      '[]',
      'null',
      JSON.stringify({ 'cf-access-client-id': SERVICE.clientId }),
      JSON.stringify({ 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': 42 }),
      `{"cf-access-client-id":"${SERVICE.clientId}","cf-access-client-secret":"wrong-secret-0123456789","CF-Access-Client-Secret":"${SERVICE.clientSecret}"}`,
    ];
    for (const value of values) {
      const outcome = await protector().decide(view({ 'x-service-token': value }));
      expect(outcome, value).toMatchObject({ kind: 'respond', status: 401, body: { code: 'ERR_SERVICE_TOKEN_INVALID' } });
      if (outcome.kind === 'respond') expect(JSON.stringify(outcome.body)).not.toContain(SERVICE.clientSecret);
    }
  });

  it('with the pair and the header both sent, each must be valid and name the same token', async () => {
    const other = { tokenId: 'b0d3c0e2-1111-4b59-9f5e-3c2d1b0a9e8f', clientId: 'other.access', clientSecret: 'other-secret-0123456789abc' };
    const p = createProtector(f.gate, { application: 'portal' }, { serviceTokens: [SERVICE, other], serviceTokenHeader: 'x-service-token' });
    const pair = { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': SERVICE.clientSecret };
    expect((await p.decide(view({ ...pair, 'x-service-token': json(SERVICE.clientId, SERVICE.clientSecret) }))).kind).toBe('allow');
    expect(await p.decide(view({ ...pair, 'x-service-token': json(other.clientId, other.clientSecret) }))).toMatchObject({ status: 401 });
    expect(await p.decide(view({ ...pair, 'x-service-token': json(SERVICE.clientId, 'wrong-secret-0123456789') }))).toMatchObject({ status: 401 });
  });

  it('is off unless configured: the header is then ignored', async () => {
    const p = createProtector(f.gate, { application: 'portal' }, { serviceTokens: [SERVICE] });
    const outcome = await p.decide(view({ 'x-service-token': json(SERVICE.clientId, SERVICE.clientSecret) }));
    expect(outcome).toMatchObject({ kind: 'respond', status: 401, body: { code: 'ERR_TOKEN_MISSING' } });
  });

  it('on Authorization, a Bearer value is still a bearer token and a JSON value a service token', async () => {
    const p = createProtector(f.gate, { application: 'portal' }, { serviceTokens: [SERVICE], serviceTokenHeader: 'Authorization' });
    const bearer = await p.decide(view({ authorization: `Bearer ${f.token({ groups: [DEVS] })}` }));
    expect(bearer).toMatchObject({ kind: 'allow', auth: { via: 'bearer' } });
    const service = await p.decide(view({ authorization: json(SERVICE.clientId, SERVICE.clientSecret) }));
    expect(service).toMatchObject({ kind: 'allow', auth: { via: 'service-token' } });
    const bad = await p.decide(view({ authorization: 'Basic dXNlcjpwYXNz' }));
    expect(bad).toMatchObject({ kind: 'respond', status: 401, body: { code: 'ERR_SERVICE_TOKEN_INVALID' } });
  });

  it('refuses a header name that is not a token, or one another option already reads', () => {
    expect(() => createProtector(f.gate, { application: 'portal' }, { serviceTokenHeader: 'bad header' })).toThrow(/serviceTokenHeader/);
    expect(() => createProtector(f.gate, { application: 'portal' }, { serviceTokenHeader: 'CF-Access-Client-Id' })).toThrow(/header pair/);
    expect(() => createProtector(f.gate, { application: 'portal' }, { serviceTokenHeader: 'x-jwt', assertionHeader: 'X-JWT' })).toThrow(/assertionHeader/);
  });
});

describe('protect: device posture', () => {
  const POSTURE = '0ddb9a7b-4f5e-4e8b-9f58-1c2d3e4f5a6b';
  const gateWithPosture = (): Gate =>
    createGate({
      idp: f.entra.idpConfig(),
      authorityHost: f.entra.url,
      applications: {
        portal: {
          policies: [{ name: 'Managed devices', decision: 'allow', include: [{ everyone: {} }], require: [{ device_posture: { integration_uid: POSTURE } }] }],
        },
      },
    });
  const view = (headers: Record<string, string>) => ({ method: 'GET', url: '/', headers: { authorization: `Bearer ${f.token()}`, ...headers } });

  it('passes the checks the app reports to the policies; without them no check passes', async () => {
    const gate = gateWithPosture();
    const p = createProtector(
      gate,
      { application: 'portal' },
      { devicePosture: (request) => (request.headers['x-device-managed'] === 'yes' ? [POSTURE] : []) },
    );
    const allowed = await p.decide(view({ 'x-device-managed': 'yes' }));
    expect(allowed).toMatchObject({ kind: 'allow', auth: { context: { devicePosture: [POSTURE] } } });
    expect(await p.decide(view({}))).toMatchObject({ kind: 'respond', status: 403 });
    expect(await createProtector(gate, { application: 'portal' }).decide(view({ 'x-device-managed': 'yes' }))).toMatchObject({ kind: 'respond', status: 403 });
  });

  it('awaits an async provider, and refuses a provider that returns something else', async () => {
    const gate = gateWithPosture();
    const async = createProtector(gate, { application: 'portal' }, { devicePosture: async () => [POSTURE] });
    expect((await async.decide(view({}))).kind).toBe('allow');
    const broken = createProtector(gate, { application: 'portal' }, { devicePosture: () => POSTURE as unknown as string[] });
    // A 500 whose error (for the framework's handler) shows only the public message; the detail is its cause.
    const outcome = await broken.decide(view({}));
    expect(outcome).toMatchObject({
      kind: 'respond',
      status: 500,
      body: { code: 'ERR_CONFIG_INVALID', message: 'the request could not be authorized: internal error' },
    });
    const error = (outcome as { error: Error & { cause: Error } }).error;
    expect(error).toMatchObject({ code: 'ERR_CONFIG_INVALID', status: 500, expose: false, message: 'the request could not be authorized: internal error' });
    expect(error.cause.message).toBe('protect: `devicePosture` must return an array of integration uids (strings) or undefined');
  });
});

describe('protect: the HTTP request for Gateway http.* fields', () => {
  const as = (headers: Record<string, string>, host?: string) => ({
    method: 'GET',
    url: '/orders?page=2',
    headers: { authorization: `Bearer ${f.token({ groups: [DEVS] })}`, ...headers },
    ...(host === undefined ? {} : { host }),
  });

  it('sets method, host and url on every request, the host from the framework, else the Host header, normalised', async () => {
    const p = createProtector(f.httpGate, { gateway: true });
    const request = { method: 'GET', host: 'app.example.com', url: '/orders?page=2' };
    expect(await p.decide(as({ host: 'ignored.example' }, 'App.Example.com'))).toMatchObject({ kind: 'allow', auth: { context: { request } } });
    expect(await p.decide(as({ host: 'APP.example.com.:8443' }))).toMatchObject({ kind: 'allow', auth: { context: { request } } });
    expect(await p.decide(as({ host: 'APP.example.com' }, ''))).toMatchObject({ kind: 'allow', auth: { context: { request } } });
    expect(await p.decide(as({ ':authority': '[::1]:3000' }))).toMatchObject({ kind: 'allow', auth: { context: { request: { host: '[::1]' } } } });
    // No host at all reads as "" (known, not unknown): the host rule does not match and the default blocks.
    expect(await p.decide(as({}))).toMatchObject({ kind: 'respond', status: 403, body: { decision: { reason: 'default' } } });
  });

  it('says so when a decision failed closed for want of HTTP attributes', async () => {
    const { compileGatewayRules } = await import('../../src/policy/index.js');
    const rules = compileGatewayRules([{ name: 'Admin area', action: 'block', precedence: 1, traffic: 'http.request.uri.path matches "^/admin"' }]);
    // A gate that drops the request attributes, as a custom gate or an old caller of `authorize` might.
    const gate = {
      application: () => ({}),
      identify: () => Promise.reject(new Error('not reached')),
      identifyToken: () => Promise.reject(new Error('not reached')),
      authorize: async () => rules.evaluate(null, {}),
    } as unknown as Gate;
    const outcome = await createProtector(gate, { gateway: true }, { serviceTokens: [SERVICE] }).decide({
      method: 'GET',
      url: '/admin',
      headers: { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': SERVICE.clientSecret },
    });
    expect(outcome).toMatchObject({
      kind: 'respond',
      status: 403,
      body: {
        message: "denied: the request's HTTP attributes are unknown, so the rules fail closed",
        decision: { reason: 'unknown-request', policy: { name: 'Admin area' } },
      },
    });
    expect(outcome.kind === 'respond' && 'membership' in outcome.body).toBe(false);
  });
});

describe('protect: a credential given twice', () => {
  const protector = () => createProtector(f.gate, { application: 'portal' }, { login: f.login, serviceTokens: [SERVICE], countryHeader: 'CF-IPCountry' });

  it('reads the raw header lines case-insensitively, and only the headers that must come once', async () => {
    const token = f.token();
    const twice = await protector().decide({
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: ['AUTHORIZATION', `Bearer ${token}`, 'Authorization', 'Bearer x'],
    });
    expect(twice).toMatchObject({
      kind: 'respond',
      status: 400,
      body: { error: 'invalid_request', code: 'ERR_REQUEST_INVALID', message: 'the request carries the `authorization` header more than once' },
    });
    expect(twice.kind === 'respond' && twice.error).toMatchObject({ code: 'ERR_REQUEST_INVALID', status: 400, expose: true });
    const country = await protector().decide({
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: ['cf-ipcountry', 'FR', 'CF-IPCOUNTRY', 'US'],
    });
    expect(country).toMatchObject({ kind: 'respond', status: 400, body: { message: 'the request carries the `cf-ipcountry` header more than once' } });
    // Positive control: other headers may repeat (and a header of the same length is not confused with one watched).
    const other = await protector().decide({
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: ['authorization', `Bearer ${token}`, 'accept', 'a', 'accept', 'b', 'content-type', 'x', 'content-type', 'y'],
    });
    expect(other.kind).toBe('allow');
  });

  it('without raw header lines, sees a header given as a list', async () => {
    const outcome = await protector().decide({
      method: 'GET',
      url: '/',
      headers: { 'cf-access-client-id': [SERVICE.clientId, SERVICE.clientId], 'cf-access-client-secret': SERVICE.clientSecret },
    });
    expect(outcome).toMatchObject({ kind: 'respond', status: 400, body: { message: 'the request carries the `cf-access-client-id` header more than once' } });
    expect(outcome.kind === 'respond' && outcome.headers['WWW-Authenticate']).toBeUndefined();
  });

  it('counts the session cookie by its exact name', async () => {
    const decide = (cookie: string) => protector().decide({ method: 'GET', url: '/', headers: { cookie, accept: 'application/json' } });
    expect(await decide('CF_Authorization=good; CF_Authorization=good')).toMatchObject({
      status: 400,
      body: { message: 'the request carries the `CF_Authorization` session cookie more than once' },
    });
    expect(await decide('a=1;CF_Authorization=good;  CF_Authorization=x')).toMatchObject({ status: 400 });
    expect((await decide('CF_Authorization=good; CF_Authorization_old=x; xCF_Authorization=y; z=CF_Authorization=w')).kind).toBe('allow');
  });
});

describe('protect: a 5xx shows the public text only', () => {
  it('wraps an outage in an error of the same class and code whose message is public, keeping the detail as its cause', async () => {
    const { JwksError } = await import('../../src/errors/index.js');
    const detail = new JwksError('ERR_JWKS_UNAVAILABLE', 'signing keys for tenant `t` are unavailable: https://login.example/t: fetch failed');
    const gate = {
      application: () => ({}),
      identify: () => Promise.reject(detail),
      identifyToken: () => Promise.reject(detail),
      authorize: () => Promise.reject(new Error('not reached')),
    } as unknown as Gate;
    const outcome = await createProtector(gate, { application: 'portal' }).decide({ method: 'GET', url: '/', headers: { authorization: 'Bearer x.y.z' } });
    expect(outcome).toMatchObject({
      kind: 'respond',
      status: 503,
      headers: { 'Retry-After': '30' },
      body: { code: 'ERR_JWKS_UNAVAILABLE', message: 'the identity provider or the directory is unavailable' },
    });
    const error = outcome.kind === 'respond' ? outcome.error : undefined;
    expect(error).toBeInstanceOf(JwksError);
    expect(error).toMatchObject({
      code: 'ERR_JWKS_UNAVAILABLE',
      status: 503,
      expose: false,
      message: 'the identity provider or the directory is unavailable',
      headers: { 'Retry-After': '30' },
    });
    expect(error?.cause).toBe(detail);
    expect(String(error?.stack)).not.toContain('fetch failed');
  });
});

describe('protect: behind Cloudflare Access', () => {
  it("refuses an `assertionHeader` other than Cloudflare's when the gate is behind Cloudflare Access (one source of truth)", () => {
    const gate = createGate({
      idp: f.entra.idpConfig(),
      authorityHost: f.entra.url,
      cloudflareAccess: { teamDomain: 'http://127.0.0.1:9', aud: 'a'.repeat(64) },
      applications: { portal: { policies: [] } },
    });
    expect(() => createProtector(gate, { application: 'portal' }, { assertionHeader: 'x-my-jwt' })).toThrow(/behind Cloudflare Access/);
    expect(() => createProtector(gate, { application: 'portal' }, { assertionHeader: 'Cf-Access-Jwt-Assertion' })).not.toThrow();
  });
});
