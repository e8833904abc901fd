import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import Koa from 'koa';
import request from 'supertest';
import { identityEndpoint, loginRoutes, protect, scimEndpoint, type Auth } from '../../src/adapters/koa.js';
import { authSummary, createFixture, scenarios, socketScenarios, type AppUnderTest, type Fixture, type Reply, type SocketApp } from './fixture.js';
import { overSocket } from './socket.js';
import { viaSupertest } from './supertest.js';

function route(path: string, ...middleware: Koa.Middleware[]): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.path !== path) return next();
    let i = 0;
    const run = async (): Promise<void> => {
      const m = middleware[i++];
      if (m) await m(ctx, run);
    };
    await run();
  };
}

const answer: Koa.Middleware = (ctx) => {
  const auth: Auth | undefined = ctx.state.auth;
  ctx.body = authSummary(auth);
};

function buildApp(f: Fixture, trustProxy: boolean): Koa {
  const app = new Koa({ proxy: trustProxy });
  app.silent = true;
  // A middleware that awaits before the SCIM endpoint: by then the body may be parsed off the socket, unread.
  app.use(async (_ctx, next) => {
    await new Promise((resolve) => setImmediate(resolve));
    await next();
  });
  app.use(scimEndpoint(f.scim, { prefix: '/scim/v2', maxBodyBytes: 1024 }));
  app.use(loginRoutes(f.login, { prefix: '/auth', countryHeader: 'cf-ipcountry' }));
  app.use(route('/hello', protect(f.gate, { application: 'portal' }, f.options), answer));
  app.use(route('/gw', protect(f.gate, { gateway: true }, f.options), answer));
  app.use(route('/cold/hello', protect(f.coldGate, { application: 'portal' }, f.options), answer));
  app.use(route('/graph/hello', protect(f.graphGate, { application: 'portal' }, f.options), answer));
  app.use(route('/whoami', protect(f.gate, { application: 'portal' }, f.options), identityEndpoint()));
  app.use(route('/admin/users', protect(f.httpGate, { gateway: true }, f.options), answer));
  app.use(route('/orders', protect(f.httpGate, { gateway: true }, f.options), answer));
  return app;
}

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => {
  await f.close();
});

describe('koa 3 through supertest', () => {
  let app: AppUnderTest;
  let plain: AppUnderTest;
  beforeAll(() => {
    app = viaSupertest(buildApp(f, true).callback());
    plain = viaSupertest(buildApp(f, false).callback());
  });
  scenarios(
    'koa',
    () => f,
    () => app,
    () => plain,
  );
});

describe('koa 3 over a real socket', () => {
  let app: SocketApp;
  let plain: AppUnderTest;
  beforeAll(async () => {
    app = await overSocket(createServer(buildApp(f, true).callback()));
    plain = await overSocket(createServer(buildApp(f, false).callback()));
  });
  afterAll(async () => {
    await app.close();
    await plain.close();
  });
  scenarios(
    'koa',
    () => f,
    () => app,
    () => plain,
  );
  socketScenarios('koa', () => app);
});

describe('koa error handling', () => {
  it('throws a ctx.throw-compatible error an upstream middleware can catch', async () => {
    const app = new Koa();
    const seen: Array<{ status: number; expose: boolean; code: string }> = [];
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        const e = error as { status: number; expose: boolean; code: string; headers: Record<string, string> };
        seen.push({ status: e.status, expose: e.expose, code: e.code });
        ctx.status = e.status;
        ctx.set(e.headers);
        ctx.body = { code: e.code };
      }
    });
    app.use(protect(f.gate, { application: 'portal' }));
    const res = await request(app.callback()).get('/').set('authorization', 'Bearer not.a.token');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(seen).toEqual([{ status: 401, expose: true, code: 'ERR_TOKEN_MALFORMED' }]);
  });
});
