/**
 * One fixture for the three adapters: a mock Entra ID, a mock Graph, gates for the
 * normal case, a cold JWKS cache and an overage token, a fake login and a fake
 * SCIM handler, and the scenarios every framework must pass, over its own test
 * path and over a real socket.
 */
import { expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createGate, type Gate } from '../../src/index.js';
import { createGraphGroupSource } from '../../src/graph/index.js';
import { createMockEntra, createMockGraph, type MockEntra, type MockGraph } from '../../src/testing/index.js';
import type { Login } from '../../src/login/index.js';
import type { Auth, ProtectOptions } from '../../src/adapters/core.js';

export const DEVS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e10';
export const CONTRACTORS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e12';
export const ADMINS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e14';
export const SERVICE = { tokenId: 'a6cfe1d3-7e5c-4b59-9f5e-3c2d1b0a9e8f', clientId: 'ci.access', clientSecret: 'ci-secret-0123456789abcdef' };
export const SESSION_COOKIE = 'CF_Authorization';

export interface Fixture {
  entra: MockEntra;
  graph: MockGraph;
  gate: Gate;
  /** A gate that never fetched keys, for the JWKS-down case. */
  coldGate: Gate;
  /** A gate whose group source is the (mock) Graph, for overage tokens. */
  graphGate: Gate;
  /** A gate whose Gateway rules read the HTTP request: `/admin` for admins only, then only the app's hosts. */
  httpGate: Gate;
  login: Login;
  options: ProtectOptions;
  /** A fake fetch-style SCIM handler that echoes what it received. */
  scim: (request: Request) => Promise<Response>;
  token(claims?: Record<string, unknown>): string;
  close(): Promise<void>;
}

const policies = [
  { name: 'Block contractors', decision: 'deny' as const, include: [{ azureAD: { id: CONTRACTORS } }] },
  { name: 'CI', decision: 'non_identity' as const, include: [{ service_token: { token_id: SERVICE.tokenId } }] },
  { name: 'Devs', decision: 'allow' as const, include: [{ azureAD: { id: DEVS } }] },
  { name: 'Office network', decision: 'allow' as const, include: [{ ip: { ip: '203.0.113.0/24' } }] },
];

/** What every test route answers: the parts of `auth` the scenarios check (one shape for the three frameworks). */
export function authSummary(auth: Auth | null | undefined): Record<string, unknown> {
  return {
    email: auth?.identity?.email,
    via: auth?.via,
    policy: auth?.decision?.policy?.name,
    tokenId: auth?.serviceToken?.tokenId,
    country: auth?.context.country,
    ip: auth?.context.ip,
    request: auth?.context.request,
  };
}

export async function createFixture(): Promise<Fixture> {
  const entra = await createMockEntra();
  const graph = await createMockGraph({ tenantId: entra.tenantId });
  const common = { idp: entra.idpConfig(), authorityHost: entra.url, applications: { portal: { policies } } };
  const gate = createGate({
    ...common,
    gateway: { rules: [{ name: 'Allow devs', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${DEVS}"})` }], defaultAction: 'block' },
  });
  const coldGate = createGate({ ...common, jwks: { timeoutMs: 500, failureBackoffMs: 0, cooldownMs: 0 } });
  const httpGate = createGate({
    ...common,
    gateway: {
      rules: [
        {
          name: 'Admin area is for admins',
          action: 'block',
          precedence: 1,
          traffic: 'http.request.uri.path matches "^/admin"',
          identity: `not(any(identity.groups.id[*] in {"${ADMINS}"}))`,
        },
        {
          name: 'Allow the app hosts',
          action: 'allow',
          precedence: 2,
          traffic: 'http.request.host in {"app.example.com" "[::1]"} and http.request.method == "GET"',
        },
      ],
      defaultAction: 'block',
    },
  });
  const graphGate = createGate({
    ...common,
    groups: createGraphGroupSource({
      tenantId: entra.tenantId,
      clientId: 'mock-graph-client',
      clientSecret: 'mock-graph-secret',
      graphHost: graph.url,
      authorityHost: graph.url,
      maxRetries: 0,
      timeoutMs: 1_000,
      // The scenario checks recovery at the next request once Graph is back: no fail-fast window.
      outageBackoffMs: 0,
    }),
  });
  const sessionIdentity = await gate.verify(entra.mintToken({ claims: { groups: [DEVS], email: 'session@contoso.com' } }));
  // A login double: the adapters only call these members; the real login is tested in test/login.
  const login = {
    cookieName: SESSION_COOKIE,
    revocations: { isRevoked: () => false, revokeUser: () => undefined, revokeApp: () => undefined },
    async authenticate(request: { headers: Record<string, unknown> }) {
      const cookie = String(request.headers.cookie ?? '');
      if (cookie.includes(`${SESSION_COOKIE}=good`)) return { kind: 'session', identity: sessionIdentity, session: {}, country: 'FR' };
      const { SessionError } = await import('../../src/errors/index.js');
      throw new SessionError('ERR_SESSION_EXPIRED', 'the session has expired');
    },
    start: async (request: { url?: string }) =>
      new Response(null, { status: 302, headers: { location: `${entra.url}/authorize?from=${encodeURIComponent(request.url ?? '')}` } }),
    callback: async (_request: unknown, context: { country?: string }) => {
      const headers = new Headers({ location: '/' });
      headers.append('set-cookie', `${SESSION_COOKIE}=good; Path=/; HttpOnly`);
      headers.append('set-cookie', `CF_Login_tx=; Max-Age=0; country=${context.country ?? 'none'}`);
      return new Response(null, { status: 302, headers });
    },
    logout: async () => new Response(null, { status: 302, headers: { location: '/', 'set-cookie': `${SESSION_COOKIE}=; Max-Age=0` } }),
    identity: async () => new Response(JSON.stringify({ email: 'session@contoso.com' }), { status: 200, headers: { 'content-type': 'application/json' } }),
  } as unknown as Login;
  const scim = async (request: Request): Promise<Response> => {
    const text = await request.text();
    return new Response(
      JSON.stringify({ method: request.method, path: new URL(request.url).pathname, auth: request.headers.get('authorization'), body: text }),
      {
        status: request.method === 'POST' ? 201 : 200,
        headers: { 'content-type': 'application/scim+json' },
      },
    );
  };
  return {
    entra,
    graph,
    gate,
    coldGate,
    graphGate,
    httpGate,
    login,
    options: { serviceTokens: [SERVICE], countryHeader: 'cf-ipcountry', login, exposeTrace: false, retryAfterSeconds: 7 },
    scim,
    token: (claims = {}) => entra.mintToken({ claims: { email: 'ada@contoso.com', groups: [DEVS], ...claims } }),
    async close() {
      await graph.close();
      await entra.close();
    },
  };
}

/** A framework-independent response. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Sends a request through one path (the framework's test path, or a real socket). */
export type Send = (method: string, path: string, headers?: Record<string, string>, body?: string) => Promise<Reply>;

/** An app under test: `trustProxy` decides whether `X-Forwarded-For` is believed. */
export interface AppUnderTest {
  send: Send;
  close(): Promise<void>;
}

/** An app listening on 127.0.0.1: `raw` writes bytes as they are and resolves with all the server sent until it closed. */
export interface SocketApp extends AppUnderTest {
  raw(bytes: string): Promise<string>;
}

function json(reply: Reply): Record<string, unknown> {
  return JSON.parse(reply.text) as Record<string, unknown>;
}

/**
 * The scenarios every adapter passes. The app must serve:
 * `GET /hello` (protect portal, `fixture.options`) answering `{ email, via, policy, tokenId, country, ip }`,
 * `GET /gw` (protect gateway), `GET /cold/hello` (coldGate), `GET /graph/hello` (graphGate),
 * `GET /admin/users` and `GET /orders` (protect gateway with httpGate, the answer adding `request`),
 * `GET /whoami` (protect + identityEndpoint), `/auth/*` (loginRoutes), `/scim/v2/*` (scimEndpoint, 1 KiB cap).
 */
export function scenarios(label: string, fixture: () => Fixture, app: () => AppUnderTest, plain: () => AppUnderTest): void {
  const send: Send = (...args) => app().send(...args);

  it(`${label}: allows a member of Devs and attaches the typed identity and decision`, async () => {
    const reply = await send('GET', '/hello', { authorization: `Bearer ${fixture().token()}` });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ email: 'ada@contoso.com', via: 'bearer', policy: 'Devs' });
  });

  it(`${label}: accepts the bearer scheme in any case`, async () => {
    const reply = await send('GET', '/hello', { authorization: `bEaReR ${fixture().token()}` });
    expect(reply.status).toBe(200);
  });

  it(`${label}: answers 401 with a bare Bearer challenge when no token is presented`, async () => {
    const reply = await send('GET', '/hello', { accept: 'application/json' });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="entragate"');
  });

  it(`${label}: answers 401 invalid_token with a description for a bad token`, async () => {
    const forged = fixture().entra.mintToken({ key: fixture().entra.createUnpublishedKey() });
    const reply = await send('GET', '/hello', { authorization: `Bearer ${forged}` });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_token", error_description="[^"]+"$/);
    expect(reply.text).not.toContain(forged);
  });

  it(`${label}: answers 401 with a printable challenge when the token header echoes non-ASCII (regression: the server crashed)`, async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const hostile = `${b64({ alg: 'R\u2603\u0001S256', kid: 'k' })}.${b64({ sub: 'x' })}.c2ln`;
    const reply = await send('GET', '/hello', { authorization: `Bearer ${hostile}` });
    expect(reply.status).toBe(401);
    // RFC 6750 §3: error_description is printable ASCII without `"` and `\`.
    expect(reply.headers['www-authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/);
    expect((await send('GET', '/hello', { authorization: `Bearer ${fixture().token()}` })).status).toBe(200);
  });

  it(`${label}: answers 403 naming the deciding policy, without the token or the trace`, async () => {
    const token = fixture().token({ groups: [CONTRACTORS, DEVS] });
    const reply = await send('GET', '/hello', { authorization: `Bearer ${token}` });
    expect(reply.status).toBe(403);
    const body = json(reply);
    expect(body).toMatchObject({ error: 'access_denied', code: 'ERR_ACCESS_DENIED', message: 'denied by policy `Block contractors`' });
    expect(body.decision).toMatchObject({ kind: 'access', action: 'deny', reason: 'matched', policy: { name: 'Block contractors' } });
    expect(body).not.toHaveProperty('trace');
    expect(reply.text).not.toContain(token.split('.')[1]!);
    expect(reply.text).not.toContain('ada@contoso.com');
  });

  it(`${label}: denies by default when no policy matches`, async () => {
    const reply = await send('GET', '/hello', { authorization: `Bearer ${fixture().token({ groups: [randomUUID()] })}` });
    expect(reply.status).toBe(403);
    expect(json(reply)).toMatchObject({ message: 'denied: no policy allowed the request', decision: { reason: 'default' } });
  });

  it(`${label}: answers 503 with Retry-After when the JWKS is down and the key cache is cold`, async () => {
    const f = fixture();
    f.entra.faults.down = true;
    try {
      const reply = await send('GET', '/cold/hello', { authorization: `Bearer ${f.token()}` });
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('7');
    } finally {
      f.entra.faults.down = false;
    }
  });

  it(`${label}: answers 503 when Graph is down for an overage token, and allows once it is back`, async () => {
    const f = fixture();
    const oid = randomUUID();
    f.graph.addUser({ id: oid });
    f.graph.addGroup({ id: DEVS, displayName: 'Devs' });
    f.graph.addMember(DEVS, oid);
    const token = f.entra.mintToken({ claims: { oid, email: 'big@contoso.com', groups: undefined, _claim_names: { groups: 'src1' } } });
    f.graph.down();
    try {
      const reply = await send('GET', '/graph/hello', { authorization: `Bearer ${token}` });
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toBe('7');
      expect(reply.text).not.toContain('Devs');
    } finally {
      f.graph.up();
    }
    const after = await send('GET', '/graph/hello', { authorization: `Bearer ${token}` });
    expect(after.status).toBe(200);
    expect(json(after)).toMatchObject({ email: 'big@contoso.com', policy: 'Devs' });
  });

  it(`${label}: admits a valid service token with Service Auth, and refuses a wrong secret with 401`, async () => {
    const ok = await send('GET', '/hello', { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': SERVICE.clientSecret });
    expect(ok.status).toBe(200);
    expect(json(ok)).toMatchObject({ via: 'service-token', tokenId: SERVICE.tokenId, policy: 'CI' });
    const bad = await send('GET', '/hello', { 'cf-access-client-id': SERVICE.clientId, 'cf-access-client-secret': `${SERVICE.clientSecret}x` });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
    const half = await send('GET', '/hello', { 'cf-access-client-id': SERVICE.clientId });
    expect(half.status).toBe(401);
    expect(half.headers['www-authenticate']).toBe('Bearer realm="entragate", error="invalid_token", error_description="the service token is not valid"');
    // A failed service token never falls back to a pass: not even with a valid bearer token beside it.
    const mixed = await send('GET', '/hello', {
      authorization: `Bearer ${fixture().token()}`,
      'cf-access-client-id': SERVICE.clientId,
      'cf-access-client-secret': 'wrong-secret-0123456789',
    });
    expect(mixed.status).toBe(401);
    expect(mixed.headers['www-authenticate']).toContain('error_description="the service token is not valid"');
  });

  it(`${label}: takes the client IP from X-Forwarded-For only when the framework trusts the proxy`, async () => {
    const token = fixture().token({ groups: [] });
    const headers = { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' };
    const trusted = await send('GET', '/hello', headers);
    expect(trusted.status).toBe(200);
    expect(json(trusted)).toMatchObject({ policy: 'Office network', ip: '203.0.113.9' });
    const untrusted = await plain().send('GET', '/hello', headers);
    expect(untrusted.status).toBe(403);
  });

  it(`${label}: reads the country from the configured header`, async () => {
    const reply = await send('GET', '/hello', { authorization: `Bearer ${fixture().token()}`, 'cf-ipcountry': 'de' });
    expect(json(reply)).toMatchObject({ country: 'DE' });
  });

  it(`${label}: decides with the Gateway rules`, async () => {
    expect((await send('GET', '/gw', { authorization: `Bearer ${fixture().token()}` })).status).toBe(200);
    const blocked = await send('GET', '/gw', { authorization: `Bearer ${fixture().token({ groups: [] })}` });
    expect(blocked.status).toBe(403);
    expect(json(blocked)).toMatchObject({ decision: { kind: 'gateway', action: 'block', reason: 'default' } });
  });

  it(`${label}: gives Gateway rules the HTTP request: a path rule blocks /admin for non-admins`, async () => {
    const as = (groups: string[], host = 'App.Example.com:8443') => ({ authorization: `Bearer ${fixture().token({ groups })}`, 'x-forwarded-host': host });
    const blocked = await send('GET', '/admin/users?tab=1', as([DEVS]));
    expect(blocked.status).toBe(403);
    expect(json(blocked)).toMatchObject({
      message: 'denied by rule `Admin area is for admins`',
      decision: { kind: 'gateway', action: 'block', reason: 'matched', policy: { name: 'Admin area is for admins' } },
    });
    const admin = await send('GET', '/admin/users?tab=1', as([ADMINS]));
    expect(admin.status).toBe(200);
    expect(json(admin)).toMatchObject({ policy: 'Allow the app hosts', request: { method: 'GET', host: 'app.example.com', url: '/admin/users?tab=1' } });
    const orders = await send('GET', '/orders', as([DEVS]));
    expect(orders.status).toBe(200);
    expect(json(orders)).toMatchObject({ policy: 'Allow the app hosts', request: { host: 'app.example.com', url: '/orders' } });
    // An IPv6 literal keeps its brackets and loses its port.
    const v6 = await send('GET', '/orders', as([DEVS], '[::1]:3000'));
    expect(v6.status).toBe(200);
    expect(json(v6)).toMatchObject({ request: { host: '[::1]' } });
    // Another host falls to the default; so does X-Forwarded-Host when the framework does not trust the proxy.
    const other = await send('GET', '/orders', as([DEVS], 'other.example.com'));
    expect(other.status).toBe(403);
    expect(json(other)).toMatchObject({ decision: { kind: 'gateway', reason: 'default' } });
    const untrusted = await plain().send('GET', '/orders', as([DEVS]));
    expect(untrusted.status).toBe(403);
    expect(json(untrusted)).toMatchObject({ decision: { kind: 'gateway', reason: 'default' } });
  });

  it(`${label}: redirects a browser without a session to the login, and admits one with a session`, async () => {
    const browser = { accept: 'text/html,application/xhtml+xml' };
    const reply = await send('GET', '/hello?x=1', browser);
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe(`/login?returnTo=${encodeURIComponent('/hello?x=1')}`);
    const expired = await send('GET', '/hello', { ...browser, cookie: `${SESSION_COOKIE}=old` });
    expect(expired.status).toBe(302);
    const api = await send('GET', '/hello', { accept: 'application/json', cookie: `${SESSION_COOKIE}=old` });
    expect(api.status).toBe(401);
    expect(api.headers['www-authenticate']).toContain('error="invalid_token"');
    const session = await send('GET', '/hello', { ...browser, cookie: `a=b; ${SESSION_COOKIE}=good` });
    expect(session.status).toBe(200);
    expect(json(session)).toMatchObject({ email: 'session@contoso.com', via: 'session', country: 'FR' });
  });

  it(`${label}: serves the identity endpoint for the authenticated caller`, async () => {
    const reply = await send('GET', '/whoami', { authorization: `Bearer ${fixture().token()}` });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ email: 'ada@contoso.com', groups: [{ id: DEVS }], membership: { state: 'complete' }, idp: { type: 'azureAD' } });
  });

  it(`${label}: mounts the login routes`, async () => {
    const start = await send('GET', '/auth/login?returnTo=/hello');
    expect(start.status).toBe(302);
    expect(start.headers.location).toContain('/authorize?from=');
    const callback = await send('GET', '/auth/callback?code=c&state=s', { 'cf-ipcountry': 'nl' });
    expect(callback.status).toBe(302);
    const cookies = callback.headers['set-cookie'];
    expect(Array.isArray(cookies) ? cookies : [cookies]).toEqual([`${SESSION_COOKIE}=good; Path=/; HttpOnly`, 'CF_Login_tx=; Max-Age=0; country=NL']);
    expect((await send('GET', '/auth/logout')).status).toBe(302);
  });

  it(`${label}: bridges the SCIM endpoint with its path, headers and body, and caps the body`, async () => {
    const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ada@contoso.com' });
    const reply = await send('POST', '/scim/v2/Users', { authorization: 'Bearer scim-secret', 'content-type': 'application/scim+json' }, body);
    expect(reply.status).toBe(201);
    expect(reply.headers['content-type']).toBe('application/scim+json');
    expect(json(reply)).toEqual({ method: 'POST', path: '/scim/v2/Users', auth: 'Bearer scim-secret', body });
    const list = await send('GET', '/scim/v2/Users?filter=userName%20eq%20%22a%22');
    expect(json(list)).toMatchObject({ method: 'GET', path: '/scim/v2/Users' });
    const big = await send('POST', '/scim/v2/Users', { 'content-type': 'application/scim+json' }, 'x'.repeat(4096));
    expect(big.status).toBe(413);
  });
}

/**
 * Scenarios only a real socket can show: how the bytes arrive. The app must serve the
 * SCIM endpoint as in {@link scenarios}, behind a middleware that awaits before it.
 */
export function socketScenarios(label: string, app: () => SocketApp): void {
  it(`${label}: passes a SCIM body that arrived with its headers, behind a middleware that awaited (regression: the body was dropped)`, async () => {
    const body = '{"userName":"ada@contoso.com"}';
    const response = await app().raw(
      `POST /scim/v2/Users HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/scim+json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 201 /);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toMatchObject({ method: 'POST', path: '/scim/v2/Users', body });
  });

  it(`${label}: answers 413 to a chunked SCIM body over the cap and closes the connection (regression: the socket was reset with no answer)`, async () => {
    const chunk = 'x'.repeat(512);
    const response = await app().raw(
      `POST /scim/v2/Users HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/scim+json\r\ntransfer-encoding: chunked\r\n\r\n${`200\r\n${chunk}\r\n`.repeat(5)}0\r\n\r\n`,
    );
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response.toLowerCase()).toContain('\r\nconnection: close\r\n');
  });
}
