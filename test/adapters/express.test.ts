import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { identityEndpoint, loginRoutes, protect, scimEndpoint, type Auth } from '../../src/adapters/express.js';
import { ConfigError } from '../../src/index.js';
import { authSummary, createFixture, scenarios, socketScenarios, type AppUnderTest, type Fixture, type Reply, type SocketApp } from './fixture.js';
import { overSocket } from './socket.js';
import { viaSupertest } from './supertest.js';

type ExpressFactory = typeof express;

function buildApp(make: ExpressFactory, f: Fixture, trustProxy: boolean): express.Express {
  const app = make();
  app.set('trust proxy', trustProxy ? 'loopback' : false);
  // A middleware that awaits before the SCIM endpoint: by then the body may be parsed off the socket, unread.
  app.use((_req, _res, next) => void setImmediate(next));
  app.use('/scim/v2', scimEndpoint(f.scim, { maxBodyBytes: 1024 }));
  app.use('/auth', loginRoutes(f.login, { countryHeader: 'cf-ipcountry' }));
  const answer = (req: express.Request, res: express.Response) => {
    const auth: Auth | undefined = req.auth;
    res.json(authSummary(auth));
  };
  app.get('/hello', protect(f.gate, { application: 'portal' }, f.options), answer);
  app.get('/gw', protect(f.gate, { gateway: true }, f.options), answer);
  app.get('/cold/hello', protect(f.coldGate, { application: 'portal' }, f.options), answer);
  app.get('/graph/hello', protect(f.graphGate, { application: 'portal' }, f.options), answer);
  app.get('/whoami', protect(f.gate, { application: 'portal' }, f.options), identityEndpoint());
  app.get('/admin/users', protect(f.httpGate, { gateway: true }, f.options), answer);
  app.get('/orders', protect(f.httpGate, { gateway: true }, f.options), answer);
  return app;
}

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => {
  await f.close();
});

for (const [name, make] of [
  ['express 5', express],
  ['express 4', express4 as ExpressFactory],
] as const) {
  describe(`${name} through supertest`, () => {
    let app: AppUnderTest;
    let plain: AppUnderTest;
    beforeAll(() => {
      app = viaSupertest(buildApp(make, f, true));
      plain = viaSupertest(buildApp(make, f, false));
    });
    scenarios(
      name,
      () => f,
      () => app,
      () => plain,
    );
  });

  describe(`${name} over a real socket`, () => {
    let app: SocketApp;
    let plain: AppUnderTest;
    beforeAll(async () => {
      app = await overSocket(createServer(buildApp(make, f, true)));
      plain = await overSocket(createServer(buildApp(make, f, false)));
    });
    afterAll(async () => {
      await app.close();
      await plain.close();
    });
    scenarios(
      name,
      () => f,
      () => app,
      () => plain,
    );
    socketScenarios(name, () => app);
  });
}

describe('express protect configuration', () => {
  it('refuses an unknown application at construction', () => {
    expect(() => protect(f.gate, { application: 'nope' })).toThrow(ConfigError);
    expect(() => protect(f.gate, { application: 'nope' })).toThrow('the gate has no application `nope`');
  });

  it('refuses an unknown option with its name', () => {
    expect(() => protect(f.gate, { application: 'portal' }, { exposeTrase: true } as never)).toThrow(/exposeTrase/);
  });

  it('lets the app error handler render a 401 with its headers', async () => {
    const app = express();
    app.get('/x', protect(f.gate, { application: 'portal' }), (_req, res) => res.send('ok'));
    app.use(
      (err: { status: number; code: string; headers: Record<string, string> }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(err.status).set(err.headers).json({ code: err.code });
      },
    );
    const res = await request(app).get('/x');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="entragate"');
    expect(res.body).toEqual({ code: 'ERR_TOKEN_MISSING' });
  });

  it('puts the trace in a 403 only with exposeTrace', async () => {
    const app = express();
    app.get('/x', protect(f.gate, { application: 'portal' }, { exposeTrace: true }), (_req, res) => res.send('ok'));
    const res = await request(app)
      .get('/x')
      .set('authorization', `Bearer ${f.token({ groups: [] })}`);
    expect(res.status).toBe(403);
    expect(res.body.trace.map((t: { policy: { name: string } }) => t.policy.name)).toContain('Devs');
  });
});
