/**
 * Protecting an API with Entra's own controls (issue 13), the same in Express, Koa and Fastify:
 * `authenticate` (any valid token, no Access application), `auth.claims` / `auth.header`, the claim
 * checks (scopes, roles, claims) with RFC 6750 `insufficient_scope`, the claims challenge of an
 * authentication-context step-up, and the login path never redirected to itself. Every attack beside
 * its positive control.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import request from 'supertest';
import type { RequestListener, Server } from 'node:http';
import { createGate, EntragateError, type Gate } from '../../src/index.js';
import * as ex from '../../src/adapters/express.js';
import * as ko from '../../src/adapters/koa.js';
import * as fa from '../../src/adapters/fastify.js';
import type { Auth } from '../../src/adapters/core.js';
import type { Login } from '../../src/login/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

type Framework = 'express' | 'koa' | 'fastify';
const frameworks: readonly Framework[] = ['express', 'koa', 'fastify'];
const COOKIE = 'CF_Authorization';

let entra: MockEntra;
let gate: Gate;
let login: Login;
const listeners = new Map<Framework, RequestListener | Server>();

function summary(auth: Auth | null | undefined): Record<string, unknown> {
  if (auth === undefined) return { auth: 'undefined' };
  if (auth === null) return { auth: 'null' };
  return {
    via: auth.via,
    decision: auth.decision === null ? null : (auth.decision.policy?.name ?? 'none'),
    oid: auth.claims?.oid,
    scp: auth.claims?.scp,
    alg: auth.header?.alg,
    frozen: Object.isFrozen(auth.claims),
  };
}

/** The routes of every framework: what each one is protected with. */
type Check = 'scopes' | 'any' | 'roles' | 'tenant' | 'acrs' | 'custom' | 'throws';
const CHECKED: Record<Check, string> = {
  scopes: '/orders',
  any: '/any',
  roles: '/admin',
  tenant: '/tenant',
  acrs: '/acrs',
  custom: '/custom',
  throws: '/throws',
};

function checksOf(a: typeof ex | typeof ko | typeof fa, check: Check): unknown {
  switch (check) {
    case 'scopes':
      return a.requiredScopes('orders.read', 'orders.write');
    case 'any':
      return a.scopeIncludesAny('orders.read', 'orders.admin');
    case 'roles':
      return a.requiredRoles('Orders.Admin');
    case 'tenant':
      return a.claimEquals('tid', entra.tenantId);
    case 'acrs':
      return a.claimIncludes('acrs', 'c1');
    case 'custom':
      return a.claimCheck((claims) => claims.idtyp !== 'app', 'a user token');
    case 'throws':
      return a.claimCheck(() => {
        throw new Error('boom');
      });
  }
}

function buildExpress(): RequestListener {
  const app = express();
  app.get('/me', ex.authenticate(gate), (req, res) => res.json(summary(req.auth)));
  app.get('/optional', ex.authenticate(gate, { authRequired: false }), (req, res) => res.json(summary(req.auth)));
  app.get('/optional/orders', ex.authenticate(gate, { authRequired: false }), ex.requiredScopes('orders.read'), (req, res) => res.json(summary(req.auth)));
  for (const [check, path] of Object.entries(CHECKED))
    app.get(path, ex.authenticate(gate), checksOf(ex, check as Check) as express.RequestHandler, (req, res) => res.json(summary(req.auth)));
  app.get('/fw/orders', ex.authenticate(gate, { errorHandling: 'framework' }), ex.requiredScopes('orders.read'), (req, res) => res.json(summary(req.auth)));
  app.get('/unwired', ex.requiredScopes('orders.read'), (_req, res) => res.json({ reached: true }));
  // `x-copy: 1` swaps the admitted auth for a copy before the check (an app bug): the check must fail closed.
  app.get(
    '/copied',
    ex.authenticate(gate),
    (req, _res, next) => {
      if (req.headers['x-copy'] === '1' && req.auth !== undefined) req.auth = { ...req.auth };
      next();
    },
    ex.requiredScopes('orders.read'),
    (req, res) => res.json(summary(req.auth)),
  );
  app.get('/protected/orders', ex.protect(gate, { application: 'payroll' }), ex.requiredScopes('orders.read'), (req, res) => res.json(summary(req.auth)));
  app.get('/payroll', ex.protect(gate, { application: 'payroll' }, { login, loginPath: '/auth/login' }), (req, res) => res.json(summary(req.auth)));
  app.get('/auth/login', ex.authenticate(gate, { login, loginPath: '/auth/login' }), (_req, res) => res.json({ reached: true }));
  app.get('/session', ex.authenticate(gate, { login, loginPath: '/auth/login' }), (req, res) => res.json(summary(req.auth)));
  app.get('/vault', ex.protect(gate, { application: 'vault' }), (req, res) => res.json(summary(req.auth)));
  app.get('/open', (req, res) => res.json(summary(req.auth)));
  const onError: express.ErrorRequestHandler = (error, _req, res, next) => {
    if (!(error instanceof EntragateError)) return next(error);
    res.status(error.statusCode).set(error.headers).json({ handler: 'framework', code: error.code });
  };
  app.use(onError);
  return app as unknown as RequestListener;
}

function buildKoa(): RequestListener {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof EntragateError)) throw error;
      ctx.status = error.statusCode;
      ctx.set(error.headers);
      ctx.body = { handler: 'framework', code: error.code };
    }
  });
  const route =
    (path: string, ...middleware: Koa.Middleware[]): Koa.Middleware =>
    async (ctx, next) => {
      if (ctx.path !== path) return next();
      let i = 0;
      const run = async (): Promise<void> => {
        const m = middleware[i++];
        if (m) await m(ctx, run);
      };
      await run();
    };
  const answer: Koa.Middleware = (ctx) => {
    ctx.body = summary(ctx.state.auth);
  };
  app.use(route('/me', ko.authenticate(gate), answer));
  app.use(route('/optional', ko.authenticate(gate, { authRequired: false }), answer));
  app.use(route('/optional/orders', ko.authenticate(gate, { authRequired: false }), ko.requiredScopes('orders.read'), answer));
  for (const [check, path] of Object.entries(CHECKED)) app.use(route(path, ko.authenticate(gate), checksOf(ko, check as Check) as Koa.Middleware, answer));
  app.use(route('/fw/orders', ko.authenticate(gate, { errorHandling: 'framework' }), ko.requiredScopes('orders.read'), answer));
  app.use(
    route('/unwired', ko.requiredScopes('orders.read'), (ctx) => {
      ctx.body = { reached: true };
    }),
  );
  app.use(
    route(
      '/copied',
      ko.authenticate(gate),
      (ctx, next) => {
        if (ctx.headers['x-copy'] === '1' && ctx.state.auth !== undefined) ctx.state.auth = { ...ctx.state.auth };
        return next();
      },
      ko.requiredScopes('orders.read'),
      answer,
    ),
  );
  app.use(route('/protected/orders', ko.protect(gate, { application: 'payroll' }), ko.requiredScopes('orders.read'), answer));
  app.use(route('/payroll', ko.protect(gate, { application: 'payroll' }, { login, loginPath: '/auth/login' }), answer));
  app.use(
    route('/auth/login', ko.authenticate(gate, { login, loginPath: '/auth/login' }), (ctx) => {
      ctx.body = { reached: true };
    }),
  );
  app.use(route('/session', ko.authenticate(gate, { login, loginPath: '/auth/login' }), answer));
  app.use(route('/vault', ko.protect(gate, { application: 'vault' }), answer));
  app.use(route('/open', answer));
  return app.callback();
}

async function buildFastify(): Promise<Server> {
  const app = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    if (!(error instanceof EntragateError)) return reply.send(error);
    return reply.code(error.statusCode).headers(error.headers).send({ handler: 'framework', code: error.code });
  });
  const answer = async (req: { auth: Auth | null }) => summary(req.auth);
  // The plugin for a scope, the hooks for single routes.
  await app.register(async (scope) => {
    await scope.register(fa.authenticate(gate));
    scope.get('/me', answer);
    for (const [check, path] of Object.entries(CHECKED)) scope.get(path, { preHandler: checksOf(fa, check as Check) as fa.ClaimCheck as never }, answer);
  });
  app.get('/optional', { onRequest: fa.authenticateHook(gate, { authRequired: false }) }, answer);
  app.get('/optional/orders', { onRequest: fa.authenticateHook(gate, { authRequired: false }), preHandler: fa.requiredScopes('orders.read') }, answer);
  app.get('/fw/orders', { onRequest: fa.authenticateHook(gate, { errorHandling: 'framework' }), preHandler: fa.requiredScopes('orders.read') }, answer);
  app.get('/unwired', { preHandler: fa.requiredScopes('orders.read') }, async () => ({ reached: true }));
  app.get(
    '/copied',
    {
      onRequest: fa.authenticateHook(gate),
      preHandler: [
        async (req) => {
          if (req.headers['x-copy'] === '1' && req.auth !== null) req.auth = { ...req.auth };
        },
        fa.requiredScopes('orders.read'),
      ],
    },
    answer,
  );
  app.get('/protected/orders', { onRequest: fa.protectHook(gate, { application: 'payroll' }), preHandler: fa.requiredScopes('orders.read') }, answer);
  app.get('/payroll', { onRequest: fa.protectHook(gate, { application: 'payroll' }, { login, loginPath: '/auth/login' }) }, answer);
  app.get('/auth/login', { onRequest: fa.authenticateHook(gate, { login, loginPath: '/auth/login' }) }, async () => ({ reached: true }));
  app.get('/session', { onRequest: fa.authenticateHook(gate, { login, loginPath: '/auth/login' }) }, answer);
  app.get('/vault', { onRequest: fa.protectHook(gate, { application: 'vault' }) }, answer);
  app.get('/open', answer);
  await app.ready();
  return app.server;
}

beforeAll(async () => {
  entra = await createMockEntra();
  gate = createGate({
    idp: entra.idpConfig({ config: { conditional_access_enabled: true } }),
    authorityHost: entra.url,
    allowAppTokens: true,
    applications: {
      payroll: {
        policies: [
          {
            name: 'Payroll needs the c1 context',
            decision: 'allow',
            include: [{ everyone: {} }],
            require: [{ auth_context: { id: 'ctx-1', ac_id: 'c1', identity_provider_id: gate_idp_id() } }],
          },
        ],
      },
      vault: {
        policies: [
          {
            name: 'Vault needs c1 and c2',
            decision: 'allow',
            include: [{ everyone: {} }],
            require: [
              { auth_context: { id: 'ctx-1', ac_id: 'c1', identity_provider_id: gate_idp_id() } },
              { auth_context: { id: 'ctx-2', ac_id: 'c2', identity_provider_id: gate_idp_id() } },
            ],
          },
        ],
      },
    },
  });
  const sessionIdentity = await gate.verify(entra.mintToken({ claims: { email: 'session@contoso.com' } }));
  // A login double: `protect` reads only these members (the real login is tested in test/login).
  login = {
    cookieName: COOKIE,
    application: undefined,
    async authenticate(req: { headers: Record<string, unknown> }) {
      if (String(req.headers.cookie ?? '').includes(`${COOKIE}=good`))
        return { kind: 'session', identity: sessionIdentity, session: { iat: Math.floor(Date.now() / 1000) } };
      const { SessionError } = await import('../../src/errors/index.js');
      throw new SessionError('ERR_SESSION_EXPIRED', 'the session has expired');
    },
  } as unknown as Login;
  listeners.set('express', buildExpress());
  listeners.set('koa', buildKoa());
  listeners.set('fastify', await buildFastify());
});
afterAll(async () => {
  await entra.close();
});

/** The IdP id Cloudflare's `auth_context` names (the mock's IdP config id). */
function gate_idp_id(): string {
  const config = entra.idpConfig() as { id?: string; uid?: string };
  return config.id ?? config.uid ?? 'azureAD';
}

const token = (claims: Record<string, unknown> = {}, version: '1.0' | '2.0' = '2.0') =>
  entra.mintToken({ version, claims: { scp: 'orders.read orders.write', ...claims } });
const appToken = (claims: Record<string, unknown> = {}) => {
  const oid = 'a0b1c2d3-0000-4000-8000-000000000001';
  return entra.mintToken({
    claims: {
      scp: undefined,
      sub: oid,
      oid,
      idtyp: 'app',
      roles: ['Orders.Admin'],
      name: undefined,
      preferred_username: undefined,
      email: undefined,
      ...claims,
    },
  });
};
const JSON_ACCEPT = { accept: 'application/json' };

function get(framework: Framework, path: string, headers: Record<string, string> = {}) {
  return request(listeners.get(framework)!).get(path).set(headers);
}
const bearer = (t: string) => ({ ...JSON_ACCEPT, authorization: `Bearer ${t}` });

describe.each(frameworks)('%s: authenticate', (framework) => {
  it('lets any valid token through with frozen claims and the protected header, no decision', async () => {
    const res = await get(framework, '/me', bearer(token()));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ via: 'bearer', decision: null, scp: 'orders.read orders.write', alg: 'RS256', frozen: true });
    expect(typeof res.body.oid).toBe('string');
  });

  it('answers 401 without a token, and 401 invalid_token for a forged one (positive control above)', async () => {
    const none = await get(framework, '/me', JSON_ACCEPT);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="entragate"');
    const forged = entra.mintToken({ key: entra.createUnpublishedKey() });
    const bad = await get(framework, '/me', bearer(forged));
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_token"/);
    expect(bad.text).not.toContain(forged);
  });

  it('applies the revocations (the gate pipeline): a revoked user is refused, another user still passes', async () => {
    const oid = `7c1f0b2e-0000-4000-8000-${String(frameworks.indexOf(framework)).padStart(12, '0')}`;
    const before = token({ oid, iat: Math.floor(Date.now() / 1000) - 60 });
    expect((await get(framework, '/me', bearer(before))).status).toBe(200);
    await gate.revocations.revokeUser([oid], Math.floor(Date.now() / 1000));
    const res = await get(framework, '/me', bearer(before));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_SESSION_REVOKED');
    expect((await get(framework, '/me', bearer(token()))).status).toBe(200);
  });

  it('authRequired: false lets an anonymous request through without auth, but a bad token is still 401', async () => {
    const anon = await get(framework, '/optional', JSON_ACCEPT);
    expect(anon.status).toBe(200);
    expect(anon.body).toEqual({ auth: framework === 'fastify' ? 'null' : 'undefined' });
    const ok = await get(framework, '/optional', bearer(token()));
    expect(ok.body).toMatchObject({ via: 'bearer', decision: null });
    const bad = await get(framework, '/optional', bearer('not.a.token'));
    expect(bad.status).toBe(401);
    expect(bad.body.code).toMatch(/^ERR_TOKEN_/);
    const empty = await get(framework, '/optional', { ...JSON_ACCEPT, authorization: 'Bearer ' });
    expect(empty.status).toBe(401);
  });

  it('a check after authRequired: false answers an anonymous request 401, a token with the scope passes', async () => {
    const anon = await get(framework, '/optional/orders', JSON_ACCEPT);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toBe('Bearer realm="entragate"');
    expect((await get(framework, '/optional/orders', bearer(token()))).status).toBe(200);
  });

  it('with a login: a session is enough (via session, no claims), a browser without one goes to the login', async () => {
    const res = await get(framework, '/session', { ...JSON_ACCEPT, cookie: `${COOKIE}=good` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ via: 'session', decision: null });
    expect(res.body.scp).toBeUndefined();
    const browser = await get(framework, '/session', { accept: 'text/html' });
    expect(browser.status).toBe(302);
    expect(browser.headers.location).toBe('/auth/login?returnTo=%2Fsession');
    const expired = await get(framework, '/session', { ...JSON_ACCEPT, cookie: `${COOKIE}=stale` });
    expect(expired.status).toBe(401);
    expect(expired.body.code).toBe('ERR_SESSION_EXPIRED');
  });

  it('request.auth outside any protection is what the types say', async () => {
    const res = await get(framework, '/open', bearer(token()));
    expect(res.status).toBe(200);
    // Express and Koa declare `auth?: Auth`; Fastify `Auth | null`: the plugin decorates the root, so a
    // route outside its scope reads `null` too.
    expect(res.body).toEqual({ auth: framework === 'fastify' ? 'null' : 'undefined' });
  });
});

describe.each(frameworks)('%s: claim checks', (framework) => {
  it('requiredScopes: passes with every scope (v2 and v1 tokens), 403 insufficient_scope naming them otherwise', async () => {
    expect((await get(framework, '/orders', bearer(token()))).status).toBe(200);
    expect((await get(framework, '/orders', bearer(token({}, '1.0')))).status).toBe(200);
    const res = await get(framework, '/orders', bearer(token({ scp: 'orders.read' })));
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="entragate", error="insufficient_scope", error_description="the token lacks the scope `orders.write`", scope="orders.read orders.write"',
    );
    expect(res.body).toEqual({ error: 'insufficient_scope', code: 'ERR_INSUFFICIENT_SCOPE', message: 'the token lacks the scope `orders.write`' });
  });

  it('requiredScopes: a scope is a whole word (`orders.readwrite` is not `orders.read`), `scp` not a string is a coded deny', async () => {
    expect((await get(framework, '/orders', bearer(token({ scp: 'orders.readwrite orders.write' })))).status).toBe(403);
    // A broken `scp` is refused with the token, before any scope check (a bearer token must be an access token).
    const array = await get(framework, '/orders', bearer(token({ scp: ['orders.read', 'orders.write'] })));
    expect(array.status).toBe(401);
    expect(array.body.code).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(array.body.message).toBe('the token `scp` claim is not a string');
  });

  it('scopeIncludesAny: one of them is enough, none is a 403', async () => {
    expect((await get(framework, '/any', bearer(token({ scp: 'orders.admin' })))).status).toBe(200);
    const res = await get(framework, '/any', bearer(token({ scp: 'profile' })));
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain('scope="orders.read orders.admin"');
  });

  it('requiredRoles: an app-only token with the role passes (allowAppTokens), a user without it is 403, malformed roles are a coded deny', async () => {
    expect((await get(framework, '/admin', bearer(appToken()))).status).toBe(200);
    expect((await get(framework, '/admin', bearer(token({ roles: ['Orders.Admin'] })))).status).toBe(200);
    const none = await get(framework, '/admin', bearer(token()));
    expect(none.status).toBe(403);
    expect(none.body.code).toBe('ERR_INSUFFICIENT_ROLE');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="entragate", error="insufficient_scope"/);
    for (const roles of ['Orders.Admin', [['Orders.Admin']], { 0: 'Orders.Admin' }, [1]]) {
      const bad = await get(framework, '/admin', bearer(token({ roles })));
      expect(bad.status).toBe(403);
      expect(bad.body).toMatchObject({ code: 'ERR_INSUFFICIENT_ROLE', message: 'the token `roles` claim is not an array of strings' });
    }
  });

  it('claimEquals, claimIncludes and claimCheck: pass on the right claims, a coded 403 on others', async () => {
    expect((await get(framework, '/tenant', bearer(token()))).status).toBe(200);
    expect((await get(framework, '/acrs', bearer(token({ acrs: ['c1', 'c2'] })))).status).toBe(200);
    expect((await get(framework, '/custom', bearer(token()))).status).toBe(200);
    const acrs = await get(framework, '/acrs', bearer(token({ acrs: ['c2'] })));
    expect(acrs.status).toBe(403);
    expect(acrs.body.code).toBe('ERR_CLAIM_CHECK_FAILED');
    const custom = await get(framework, '/custom', bearer(appToken()));
    expect(custom.status).toBe(403);
    expect(custom.body).toMatchObject({ code: 'ERR_CLAIM_CHECK_FAILED', message: 'the token claims fail the check: a user token' });
    // A check that throws fails closed, never crashes.
    const throws = await get(framework, '/throws', bearer(token()));
    expect(throws.status).toBe(403);
    expect(throws.body.code).toBe('ERR_CLAIM_CHECK_FAILED');
  });

  it('malformed acrs is a 401 at verification, never an allow (a well-formed one passes above)', async () => {
    const res = await get(framework, '/acrs', bearer(token({ acrs: 'c1' })));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_TOKEN_CLAIM_INVALID');
  });

  it("errorHandling: 'framework' sends the 403 to the framework's error path with status and challenge", async () => {
    expect((await get(framework, '/fw/orders', bearer(token()))).status).toBe(200);
    const res = await get(framework, '/fw/orders', bearer(token({ scp: 'profile' })));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ handler: 'framework', code: 'ERR_INSUFFICIENT_SCOPE' });
    expect(res.headers['www-authenticate']).toContain(
      'error="insufficient_scope", error_description="the token lacks the scope `orders.read`", scope="orders.read"',
    );
    // With the default `auto`, a browser-like client (no JSON in Accept) goes to the framework too.
    const html = await get(framework, '/orders', { authorization: `Bearer ${token({ scp: 'profile' })}`, accept: 'text/html' });
    expect(html.status).toBe(403);
    expect(html.body).toEqual({ handler: 'framework', code: 'ERR_INSUFFICIENT_SCOPE' });
  });

  it('a check with no authenticate before it fails closed (500, coded) and the route never runs', async () => {
    const res = await get(framework, '/unwired', bearer(token()));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ handler: 'framework', code: 'ERR_CONFIG_CLAIM_CHECK_UNPROTECTED' });
    expect(res.text).not.toContain('reached');
  });

  it('checks compose with protect: the policy allows (c1 present) and the scope check still applies', async () => {
    expect((await get(framework, '/protected/orders', bearer(token({ acrs: ['c1'] })))).status).toBe(200);
    const res = await get(framework, '/protected/orders', bearer(token({ acrs: ['c1'], scp: 'profile' })));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_INSUFFICIENT_SCOPE');
  });
});

describe.each(frameworks)('%s: a passing check is remembered for the same verified claims only', (framework) => {
  it('the same token passes again, another token of the same user without the scope is still a 403', async () => {
    const oid = 'b0b1c2d3-0000-4000-8000-000000000002';
    const good = token({ oid });
    expect((await get(framework, '/orders', bearer(good))).status).toBe(200);
    expect((await get(framework, '/orders', bearer(good))).status).toBe(200);
    const lacking = await get(framework, '/orders', bearer(token({ oid, scp: 'orders.read' })));
    expect(lacking.status).toBe(403);
    expect(lacking.body.code).toBe('ERR_INSUFFICIENT_SCOPE');
    expect(lacking.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect((await get(framework, '/orders', bearer(good))).status).toBe(200);
  });

  it('a copy of an admitted auth with the claims that passed still fails closed: admittance is checked on every request', async () => {
    const t = token();
    const admitted = await get(framework, '/copied', bearer(t));
    expect(admitted.status).toBe(200);
    expect(admitted.body.scp).toBe('orders.read orders.write');
    const copied = await get(framework, '/copied', { ...bearer(t), 'x-copy': '1' });
    expect(copied.status).toBe(500);
    expect(copied.body).toEqual({ handler: 'framework', code: 'ERR_CONFIG_CLAIM_CHECK_UNPROTECTED' });
  });
});

describe('the claims a check remembers are immutable', () => {
  it('the verified claims and every array and object in them are frozen (what the pass memo relies on)', async () => {
    const { claims } = await gate.verifyToken(token({ roles: ['Orders.Admin'], acrs: ['c1'], groups: ['g1'], nested: { deep: ['x'] } }));
    expect(Object.isFrozen(claims)).toBe(true);
    for (const name of ['roles', 'acrs', 'groups', 'nested'] as const) expect(Object.isFrozen(claims[name]), name).toBe(true);
    expect(Object.isFrozen((claims.nested as { deep: unknown }).deep)).toBe(true);
  });
});

describe.each(frameworks)('%s: authentication-context step-up', (framework) => {
  it('an API client lacking c1 gets the claims challenge (401 insufficient_claims); with c1 it is allowed', async () => {
    const ok = await get(framework, '/payroll', bearer(token({ acrs: ['c1'] })));
    expect(ok.status).toBe(200);
    expect(ok.body.decision).toBe('Payroll needs the c1 context');
    const res = await get(framework, '/payroll', bearer(token()));
    expect(res.status).toBe(401);
    const claims = Buffer.from(JSON.stringify({ access_token: { acrs: { essential: true, value: 'c1' } } })).toString('base64');
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="", authorization_uri="${entra.url}/${entra.tenantId}/oauth2/v2.0/authorize", error="insufficient_claims", claims="${claims}"`,
    );
    expect(res.body).toMatchObject({ error: 'insufficient_claims', code: 'ERR_AUTH_CONTEXT_REQUIRED' });
    // A client that does not ask for JSON gets it through the framework's error handling, challenge included.
    const plain = await get(framework, '/payroll', { authorization: `Bearer ${token()}` });
    expect(plain.status).toBe(401);
    expect(plain.body).toEqual({ handler: 'framework', code: 'ERR_AUTH_CONTEXT_REQUIRED' });
    expect(plain.headers['www-authenticate']).toBe(res.headers['www-authenticate']);
  });

  it('several missing contexts are `values` in the challenge; a token with both is allowed', async () => {
    expect((await get(framework, '/vault', bearer(token({ acrs: ['c1', 'c2'] })))).status).toBe(200);
    const res = await get(framework, '/vault', bearer(token({ acrs: ['c1'] })));
    expect(res.status).toBe(401);
    const claims = /claims="([^"]+)"/.exec(String(res.headers['www-authenticate']))?.[1];
    const asked = JSON.parse(Buffer.from(claims!, 'base64').toString()) as {
      access_token: { acrs: { essential: boolean; value?: string; values?: string[] } };
    };
    // Only the context the token lacks is asked for (missingAuthContext).
    expect(asked).toEqual({ access_token: { acrs: { essential: true, value: 'c2' } } });
    const none = await get(framework, '/vault', bearer(token()));
    const both = JSON.parse(Buffer.from(/claims="([^"]+)"/.exec(String(none.headers['www-authenticate']))![1]!, 'base64').toString());
    expect(both).toEqual({ access_token: { acrs: { essential: true, values: ['c1', 'c2'] } } });
  });

  it('a browser with a session lacking c1 is sent to the login with the claims request for the ID token', async () => {
    const res = await get(framework, '/payroll?x=1', { accept: 'text/html', cookie: `${COOKIE}=good` });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.location!, 'http://app.test');
    expect(location.pathname).toBe('/auth/login');
    expect(location.searchParams.get('returnTo')).toBe('/payroll?x=1');
    expect(JSON.parse(location.searchParams.get('claims')!)).toEqual({ id_token: { acrs: { essential: true, values: ['c1'] } } });
  });

  it('the login path is never redirected to itself (a browser without a session there gets a 401, elsewhere the login)', async () => {
    const elsewhere = await get(framework, '/payroll', { accept: 'text/html' });
    expect(elsewhere.status).toBe(302);
    expect(elsewhere.headers.location).toBe('/auth/login?returnTo=%2Fpayroll');
    const loop = await get(framework, '/auth/login?returnTo=%2Fauth%2Flogin', { accept: 'text/html' });
    expect(loop.status).toBe(401);
    expect(loop.headers.location).toBeUndefined();
  });
});

describe('fastify: registering protect or authenticate with a prefix', () => {
  it('is refused at registration with a coded ConfigError (fastify-plugin would ignore it), inside a prefixed scope it works', async () => {
    for (const plugin of [fa.protect(gate, { application: 'payroll' }), fa.authenticate(gate)]) {
      const app = Fastify();
      await expect(app.register(plugin, { prefix: '/api' })).rejects.toMatchObject({
        code: 'ERR_CONFIG_INVALID',
        message: expect.stringMatching(/`prefix` is ignored/),
      });
      await app.close();
    }
    const app = Fastify();
    await app.register(
      async (api) => {
        await api.register(fa.authenticate(gate));
        api.get('/me', async (req) => summary(req.auth));
      },
      { prefix: '/api' },
    );
    app.get('/auth/login', async () => 'login page');
    await app.ready();
    expect((await app.inject({ url: '/api/me', headers: JSON_ACCEPT })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/me', headers: bearer(token()) })).statusCode).toBe(200);
    expect((await app.inject({ url: '/auth/login', headers: { accept: 'text/html' } })).body).toBe('login page');
    await app.close();
  });
});

describe('options', () => {
  it('authRequired is refused on protect, anonymous on authenticate; both construct without them', () => {
    expect(() => ex.protect(gate, { application: 'payroll' }, { authRequired: false })).toThrow(/`authRequired` is an `authenticate` option/);
    expect(() => ex.authenticate(gate, { anonymous: 'evaluate' } as never)).toThrow(/`anonymous` applies to `protect`/);
    expect(() => ex.protect(gate, { application: 'payroll' })).not.toThrow();
    expect(() => ex.authenticate(gate, { authRequired: false })).not.toThrow();
  });

  it('a check needs names: an empty or spaced scope is a ConfigError at construction', () => {
    expect(() => ex.requiredScopes()).toThrow(/needs at least one name/);
    expect(() => ko.requiredRoles('a b')).toThrow(/is not a scope or role name/);
    expect(() => fa.requiredScopes('a"b')).toThrow(/is not a scope or role name/);
    expect(() => fa.requiredScopes('orders.read')).not.toThrow();
  });
});
