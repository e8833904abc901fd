import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { identityEndpoint, loginRoutes, protect, protectHook, scimEndpoint, type Auth } from '../../src/adapters/fastify.js';
import { authSummary, createFixture, scenarios, socketScenarios, type AppUnderTest, type Fixture, type Reply, type SocketApp } from './fixture.js';
import { overSocket } from './socket.js';

const answer = async (request: FastifyRequest) => {
  const auth: Auth | null = request.auth;
  return authSummary(auth);
};

async function buildApp(f: Fixture, trustProxy: boolean): Promise<FastifyInstance> {
  const app = Fastify({ trustProxy });
  // A hook that awaits before every route (the SCIM endpoint too): by then the body may be parsed off the socket, unread.
  app.addHook('onRequest', async () => {
    await new Promise((resolve) => setImmediate(resolve));
  });
  await app.register(scimEndpoint(f.scim, { maxBodyBytes: 1024 }), { prefix: '/scim/v2' });
  await app.register(loginRoutes(f.login, { countryHeader: 'cf-ipcountry' }), { prefix: '/auth' });
  // A scope protected by the plugin, and single routes protected by the hook.
  await app.register(async (scope) => {
    await scope.register(protect(f.gate, { application: 'portal' }, f.options));
    scope.get('/hello', answer);
    scope.get('/whoami', identityEndpoint());
  });
  app.get('/gw', { onRequest: protectHook(f.gate, { gateway: true }, f.options) }, answer);
  app.get('/cold/hello', { onRequest: protectHook(f.coldGate, { application: 'portal' }, f.options) }, answer);
  app.get('/graph/hello', { onRequest: protectHook(f.graphGate, { application: 'portal' }, f.options) }, answer);
  app.get('/admin/users', { onRequest: protectHook(f.httpGate, { gateway: true }, f.options) }, answer);
  app.get('/orders', { onRequest: protectHook(f.httpGate, { gateway: true }, f.options) }, answer);
  app.get('/open', async (request) => ({ auth: request.auth }));
  await app.ready();
  return app;
}

function viaInject(app: FastifyInstance): AppUnderTest {
  return {
    async send(method, path, headers = {}, body) {
      const res = await app.inject({ method: method as 'GET', url: path, headers, ...(body === undefined ? {} : { payload: body }) });
      return { status: res.statusCode, headers: res.headers as Reply['headers'], text: res.body };
    },
    close: () => app.close(),
  };
}

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => {
  await f.close();
});

describe('fastify 5 through inject', () => {
  let app: AppUnderTest;
  let plain: AppUnderTest;
  beforeAll(async () => {
    app = viaInject(await buildApp(f, true));
    plain = viaInject(await buildApp(f, false));
  });
  afterAll(async () => {
    await app.close();
    await plain.close();
  });
  scenarios(
    'fastify',
    () => f,
    () => app,
    () => plain,
  );
});

describe('fastify 5 over a real socket', () => {
  let app: SocketApp;
  let plain: AppUnderTest;
  beforeAll(async () => {
    app = await overSocket((await buildApp(f, true)).server);
    plain = await overSocket((await buildApp(f, false)).server);
  });
  afterAll(async () => {
    await app.close();
    await plain.close();
  });
  scenarios(
    'fastify',
    () => f,
    () => app,
    () => plain,
  );
  socketScenarios('fastify', () => app);
});

describe('fastify plugin', () => {
  it('protects only the scope it is registered in; request.auth is null on every other route of the app', async () => {
    const app = await buildApp(f, false);
    const open = await app.inject({ method: 'GET', url: '/open' });
    expect(open.statusCode).toBe(200);
    expect(open.json()).toEqual({ auth: null });
    const scoped = Fastify();
    await scoped.register(protect(f.gate, { application: 'portal' }));
    scoped.get('/x', async (request) => ({ auth: request.auth === null ? null : 'set' }));
    await scoped.ready();
    expect(scoped.hasRequestDecorator('auth')).toBe(true);
    expect((await scoped.inject({ method: 'GET', url: '/x' })).statusCode).toBe(401);
    await scoped.close();
    await app.close();
  });

  it('request.auth is null outside the protected scope: the root, a scope registered before it and one after it', async () => {
    const seen = (request: FastifyRequest) => ({
      auth: request.auth === null ? null : request.auth === undefined ? 'undefined' : request.auth.identity?.email,
    });
    const app = Fastify();
    await app.register(async (before) => {
      before.get('/before', async (request) => seen(request));
    });
    await app.register(async (api) => {
      await api.register(protect(f.gate, { application: 'portal' }));
      api.get('/inside', async (request) => seen(request));
    });
    // A second protected scope: the decorator is added once, not refused as already present.
    await app.register(async (other) => {
      await other.register(protect(f.gate, { application: 'portal' }));
      other.get('/other', async (request) => seen(request));
    });
    await app.register(async (after) => {
      after.get('/after', async (request) => seen(request));
    });
    app.get('/root', async (request) => seen(request));
    await app.ready();
    for (const url of ['/before', '/after', '/root']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.json(), url).toEqual({ auth: null });
    }
    // Positive control: inside the protected scopes the admitted request carries its auth, and a
    // request without a token is still refused.
    const authorization = `Bearer ${f.token()}`;
    for (const url of ['/inside', '/other']) {
      const res = await app.inject({ method: 'GET', url, headers: { authorization } });
      expect(res.statusCode, url).toBe(200);
      expect(res.json(), url).toEqual({ auth: 'ada@contoso.com' });
      const refused = await app.inject({ method: 'GET', url });
      expect(refused.statusCode, url).toBe(401);
      expect(refused.headers['www-authenticate'], url).toMatch(/^Bearer /);
    }
    await app.close();
  });

  it('request.auth is null on the whole app when the plugin is registered on the root', async () => {
    const app = Fastify();
    await app.register(protect(f.gate, { application: 'portal' }));
    app.get('/x', async (request) => ({ email: request.auth?.identity?.email ?? null }));
    await app.ready();
    const res = await app.inject({ method: 'GET', url: '/x', headers: { authorization: `Bearer ${f.token()}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ email: 'ada@contoso.com' });
    expect((await app.inject({ method: 'GET', url: '/x' })).statusCode).toBe(401);
    await app.close();
  });

  it('hands a 401 to a custom error handler with its code and headers', async () => {
    const app = Fastify();
    app.setErrorHandler((error: Error & { statusCode?: number; status?: number; code?: string }, _request, reply) => {
      void reply.code(error.status ?? 500).send({ handled: error.code });
    });
    app.get('/x', { onRequest: protectHook(f.gate, { application: 'portal' }) }, async () => 'ok');
    const res = await app.inject({ method: 'GET', url: '/x' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ handled: 'ERR_TOKEN_MISSING' });
    await app.close();
  });
});
