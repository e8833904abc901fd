/**
 * A full stack for attack tests, the same in Express 5, Koa 3 and Fastify 5 (and Express 4 on request),
 * so that one test body runs against every framework:
 *
 * - a mock Entra ID (`createMockEntra`): discovery, JWKS, authorize/token for logins, token minting;
 * - a gate built from the test's options (the mock's IdP config and authority filled in);
 * - optionally a directory store on PGlite `memory://` (`openDirectoryStore`), its SCIM endpoint at
 *   `/scim/v2` (`createScimHandler` + each framework's `scimEndpoint`) and the directory as group source;
 * - optionally a login (`createLogin` + `loginRoutes` at `/auth`), its session cookie read by `protect`;
 * - protected routes (`protect` with per-route targets, options and gates), each answering either a JSON
 *   summary of `auth` or a static folder (the files the test lists).
 *
 * Everything is on 127.0.0.1; requests go over a real socket with `node:http` (so the request target is sent
 * as written: `..`, `%2e`, `#`, `\` and repeated headers reach the framework untouched), or as raw bytes.
 *
 * @example
 * ```ts
 * import { afterAll, beforeAll, describe, expect, it } from 'vitest';
 * import { frameworks, useStacks } from './harness.js';
 *
 * const stacks = useStacks({
 *   gate: { gateway: { rules: [{ name: 'public', action: 'allow', precedence: 1, traffic: 'http.request.uri.path matches "^/public/"' }], defaultAction: 'block' } },
 *   files: { 'public/a.txt': 'a', 'secret.txt': 'secret' },
 *   routes: [{ at: 'USE /', target: { gateway: true }, options: { anonymous: 'evaluate' }, serve: 'static' }],
 * });
 *
 * describe.each(frameworks)('%s', (framework) => {
 *   it('serves the allowed path, and not a dot-segment escape from it', async () => {
 *     const stack = stacks(framework);
 *     expect((await stack.request('GET', '/public/a.txt')).status).toBe(200);
 *     expect((await stack.request('GET', '/public/../secret.txt')).text).not.toContain('secret');
 *   });
 * });
 * ```
 *
 * One backend (mock Entra ID, store, gates, login) is shared by the frameworks of a `useStacks` call, each
 * framework getting its own app and port: PGlite takes seconds to open. State a test writes (SCIM users,
 * revocations) is therefore seen by the other frameworks' tests of the file: use fresh ids per test
 * (`randomUUID()`), or `stack.user()` which makes them.
 */
import { afterAll, beforeAll } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import express from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import send from 'send';
import { createDirectoryGroupSource, createGate, type Gate, type GateOptions } from '../../src/index.js';
import * as expressAdapter from '../../src/adapters/express.js';
import * as koaAdapter from '../../src/adapters/koa.js';
import * as fastifyAdapter from '../../src/adapters/fastify.js';
import type { Auth, ProtectOptions, ProtectTarget } from '../../src/adapters/core.js';
import { createLogin, type Login, type LoginOptions } from '../../src/login/index.js';
import { createScimHandler } from '../../src/scim/index.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { createMockEntra, type MockEntra, type MockLoginUser } from '../../src/testing/index.js';

/** The frameworks every attack runs in. */
export type Framework = 'express' | 'koa' | 'fastify' | 'express4';

/** Express 5, Koa and Fastify: what `describe.each(frameworks)` runs. */
export const frameworks: readonly Framework[] = ['express', 'koa', 'fastify'];

/** The same with Express 4, for attacks where Express 4 behaves differently (its router, its `req.query`). */
export const frameworksWithExpress4: readonly Framework[] = ['express', 'express4', 'koa', 'fastify'];

/** The SCIM bearer secret of every stack. */
export const SCIM_SECRET = 'attack-harness-scim-secret-0123456789';

/** Gate options without the IdP and authority, which come from the mock (a function sees the backend: its store). */
export type GateSpec = Omit<GateOptions, 'idp' | 'authorityHost'> | ((backend: Backend) => Omit<GateOptions, 'idp' | 'authorityHost'>);

/** One protected (or, with `protect: false`, unprotected) route of the app. */
export interface RouteSpec {
  /**
   * Where it is mounted: `'GET /admin'` (a route: the framework's own matching decides which spellings
   * reach it, its case-sensitivity and trailing-slash settings included), or `'USE /'` / `'USE /api'`
   * (every path under a prefix, every method: a mounted middleware).
   *
   * Koa has no router: `GET /x` is matched as @koa/router matches by default (case-insensitive, an optional
   * trailing slash), or as `routing` says.
   */
  at: string;
  /** What decides. @defaultValue `{ gateway: true }` */
  target?: ProtectTarget;
  /**
   * `protect` options (a function sees the backend and the framework being built); the login (`login`,
   * `loginPath: '/auth/login'`) is added when the stack has one.
   */
  options?: ProtectOptions | ((backend: Backend, framework: Framework) => ProtectOptions);
  /** A gate of its own for this route (same mock Entra ID, same store); default: the stack's gate. */
  gate?: GateSpec;
  /**
   * What answers after `protect`: a JSON {@link AuthSummary} (default), the static folder, or `echo`: the JSON
   * {@link Echo} of what the app received (method, target, raw header lines).
   */
  serve?: 'auth' | 'static' | 'echo';
  /** `false`: no `protect` in front (a baseline route). @defaultValue true */
  protect?: boolean;
}

/** Framework routing settings, mapped to each framework's own (absent: the framework's default). */
export interface RoutingSettings {
  /** Express `case sensitive routing`; Fastify `routerOptions.caseSensitive`; Koa: the emulated @koa/router `sensitive`. */
  caseSensitive?: boolean;
  /** Express: not `strict routing`; Fastify `routerOptions.ignoreTrailingSlash`; Koa: not @koa/router's `strict`. */
  ignoreTrailingSlash?: boolean;
  /** Fastify `routerOptions.ignoreDuplicateSlashes` (the others never merge slashes). */
  ignoreDuplicateSlashes?: boolean;
  /** Fastify `routerOptions.useSemicolonDelimiter`. */
  useSemicolonDelimiter?: boolean;
}

/** Options of {@link useStacks} / {@link createBackend}. */
export interface StackOptions {
  /** The stack's gate (rules, applications, lists…). @defaultValue `{}` */
  gate?: GateSpec;
  /** Overrides of the mock's IdP config (`config.pkce_enabled`, `scim_config`…). */
  idp?: Parameters<MockEntra['idpConfig']>[0];
  /** The tenants the mock Entra ID serves (the first is the IdP's `directory_id`). @defaultValue one random tenant */
  tenants?: string[];
  /**
   * A directory store on PGlite `memory://`, its SCIM endpoint at `/scim/v2` (bearer {@link SCIM_SECRET}) and,
   * with `groups: 'directory'`, the directory as the gate's group source. Opening PGlite takes seconds.
   * @defaultValue false
   */
  directory?: boolean;
  /** Where the stack's gate gets groups: the token claim (default) or the SCIM directory (needs `directory`). */
  groups?: 'token' | 'directory';
  /** A login at `/auth` (`loginRoutes`), its session read by every protected route. Object: `createLogin` overrides. */
  login?: boolean | Partial<Omit<LoginOptions, 'gate' | 'redirectUri' | 'keys'>>;
  /** Files of the static folder, by relative path (`'public/a.txt': 'a'`). */
  files?: Record<string, string>;
  routes: RouteSpec[];
  /** The framework's routing settings. */
  routing?: RoutingSettings;
  /** Trust `X-Forwarded-*` from 127.0.0.1 (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`). @defaultValue false */
  trustProxy?: boolean;
  /** Runs on the app before any route: settings a test needs beyond `routing` (an error handler is added after the routes). */
  configure?: { express?: (app: express.Express) => void; koa?: (app: Koa) => void; fastify?: FastifyServerOptions };
  /** The frameworks to start. @defaultValue {@link frameworks} */
  frameworks?: readonly Framework[];
}

/** The framework-free part of a stack, shared by its frameworks. */
export interface Backend {
  entra: MockEntra;
  gate: Gate;
  /** The store (with `directory`). */
  store: DirectoryStore | undefined;
  /** The login (with `login`): its `redirectUri` is on the first framework's port, which does not matter to the others (same paths). */
  login: Login | undefined;
  /** The static folder's path on disk. */
  root: string;
  /** Makes a gate from a spec (the mock's IdP filled in); route gates are made so. */
  makeGate(spec: GateSpec): Gate;
}

/** What an `'auth'` route answers: the parts of `auth` attack tests check. */
export interface AuthSummary {
  via: Auth['via'] | undefined;
  email: string | undefined;
  policy: string | undefined;
  reason: string | undefined;
  action: string | undefined;
  request: unknown;
}

/** What an `'echo'` route answers. */
export interface Echo {
  method: string | undefined;
  url: string | undefined;
  /** `[name, value, name, value…]` as received. */
  rawHeaders: string[];
}

function echo(req: IncomingMessage): Echo {
  return { method: req.method, url: req.url, rawHeaders: req.rawHeaders };
}

/** A response, whatever the framework. */
export interface Reply {
  status: number;
  /** Lower-case names; `set-cookie` is always an array. */
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** Options of one {@link Stack.request}. */
export interface RequestInit {
  /**
   * Headers; an array value sends the header once per element (two `Authorization` lines, two `Cookie` lines),
   * in order. A list of pairs keeps any order and repetition.
   */
  headers?: Record<string, string | string[]> | Array<[string, string]>;
  /** Adds `Authorization: Bearer <token>`. */
  token?: string;
  /** Adds a `Cookie` header (`name=value; …`, e.g. from {@link Stack.login}). */
  cookie?: string;
  /** A request body (sent as given; set `content-type` in `headers`). */
  body?: string;
  /** `'browser'` adds `Accept: text/html`, `'api'` `Accept: application/json` (default: no Accept). */
  as?: 'browser' | 'api';
}

/** One framework's app, started, and what a test does with it. */
export interface Stack {
  readonly framework: Framework;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly backend: Backend;
  /** Sends one request with `node:http`, the target as written (no dot-segment removal, no `#` stripping). */
  request(method: string, target: string, init?: RequestInit): Promise<Reply>;
  /** Writes raw bytes and resolves with everything the server sent until it closed (send `connection: close`). */
  raw(bytes: string): Promise<string>;
  /** A SCIM request with the bearer secret (needs `directory`); `path` below `/scim/v2` (`/Users`). */
  scim(method: string, path: string, body?: unknown): Promise<Reply>;
  /** A token from the mock Entra ID: `ada@contoso.com`, no groups, unless the claims say otherwise. */
  mint(claims?: Record<string, unknown>): string;
  /**
   * Logs a user in through the login routes and the mock's authorize endpoint (authorization code, PKCE when
   * enabled) and returns the `Cookie` header value holding the session (needs `login`).
   */
  login(user?: MockLoginUser): Promise<string>;
  /**
   * Runs a login like {@link login} but returns the callback's reply and the session cookie, if one was
   * set, instead of throwing when the login is refused. `cookie` carries cookies the browser already holds.
   */
  attemptLogin(user?: MockLoginUser, cookie?: string): Promise<{ callback: Reply; session: string | undefined }>;
  /** Provisions a user over SCIM (fresh `oid` and email unless given) and returns its SCIM id, oid and email. */
  user(fields?: { oid?: string; email?: string; active?: boolean }): Promise<{ id: string; oid: string; email: string }>;
  /** Provisions a group over SCIM with these SCIM member ids and returns its SCIM id and object id. */
  group(fields: { name?: string; objectId?: string; members?: string[] }): Promise<{ id: string; objectId: string }>;
}

/**
 * Registers `beforeAll` / `afterAll` hooks that start the stacks (one backend, one app per framework) and
 * stop them, and returns the accessor of a framework's stack (valid inside tests).
 */
export function useStacks(options: StackOptions): (framework: Framework) => Stack {
  let started: { backend: Backend; stacks: Map<Framework, Stack>; close(): Promise<void> } | undefined;
  beforeAll(async () => {
    started = await startStacks(options);
  });
  afterAll(async () => {
    await started?.close();
  });
  return (framework) => {
    const stack = started?.stacks.get(framework);
    if (stack === undefined) throw new Error(`the ${framework} stack is not started (use it inside a test, and list it in \`frameworks\`)`);
    return stack;
  };
}

/** Starts a backend and one app per framework, without test hooks (for a test that builds its own stacks). */
export async function startStacks(options: StackOptions): Promise<{ backend: Backend; stacks: Map<Framework, Stack>; close(): Promise<void> }> {
  const servers: Server[] = [];
  const fastifies: FastifyInstance[] = [];
  // Listening first gives the login its redirect URI; the app is attached once built.
  const listeners = new Map<Framework, { server: Server; url: string }>();
  for (const framework of options.frameworks ?? frameworks) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    listeners.set(framework, { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  }
  const first = [...listeners.values()][0]!;
  const backend = await createBackend(options, first.url);
  const stacks = new Map<Framework, Stack>();
  for (const [framework, { server, url }] of listeners) {
    const listener = await buildApp(framework, backend, options, fastifies);
    server.on('request', listener);
    stacks.set(framework, makeStack(framework, url, backend));
  }
  return {
    backend,
    stacks,
    async close() {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      for (const app of fastifies) await app.close();
      await backend.store?.close();
      await backend.entra.close();
      rmSync(backend.root, { recursive: true, force: true });
    },
  };
}

/** The IdP overrides of a stack: with a directory, SCIM is on (`scim_config.enabled`) unless the test says otherwise. */
function idpOf(options: StackOptions): Parameters<MockEntra['idpConfig']>[0] {
  const idp = options.idp ?? {};
  if (!options.directory || idp.scim_config !== undefined) return idp;
  return { ...idp, scim_config: { enabled: true } };
}

/** The mock Entra ID, store, gate and login of a stack; `origin` is where the login's callback is served. */
export async function createBackend(options: StackOptions, origin: string): Promise<Backend> {
  const entra = await createMockEntra(options.tenants === undefined ? {} : { tenants: options.tenants });
  const store = options.directory ? await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' }) : undefined;
  const root = mkdtempSync(join(tmpdir(), 'entragate-attacks-'));
  for (const [path, content] of Object.entries(options.files ?? {})) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  const backend: Backend = {
    entra,
    store,
    root,
    login: undefined,
    gate: undefined as unknown as Gate,
    makeGate(spec) {
      const given = typeof spec === 'function' ? spec(backend) : spec;
      const groups =
        options.groups === 'directory' && store !== undefined && given.groups === undefined ? { groups: createDirectoryGroupSource({ store }) } : {};
      // The store's revocations are the gate's: SCIM deprovisioning and reauth count on every path.
      const revocations = store === undefined || given.revocations !== undefined ? {} : { revocations: store.revocations };
      return createGate({ idp: entra.idpConfig(idpOf(options)), authorityHost: entra.url, ...groups, ...revocations, ...given });
    },
  };
  backend.gate = backend.makeGate(options.gate ?? {});
  if (options.login) {
    const overrides = typeof options.login === 'object' ? options.login : {};
    backend.login = createLogin({
      gate: backend.gate,
      redirectUri: `${origin}/auth/callback`,
      keys: { signing: { kid: 'attack-harness', alg: 'ES256', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey } },
      cookie: { secure: false },
      ...(store === undefined ? {} : { identities: store.identities }),
      ...overrides,
    });
  }
  return backend;
}

interface ResolvedRoute {
  method: string | undefined;
  path: string;
  gate: Gate;
  target: ProtectTarget;
  options: ProtectOptions;
  serve: 'auth' | 'static' | 'echo';
  protect: boolean;
}

function resolveRoutes(backend: Backend, options: StackOptions, framework: Framework): ResolvedRoute[] {
  return options.routes.map((route) => {
    const [verb, path] = route.at.split(' ') as [string, string];
    if (path === undefined || !path.startsWith('/')) throw new Error(`route \`${route.at}\`: expected \`GET /path\` or \`USE /prefix\``);
    const given = typeof route.options === 'function' ? route.options(backend, framework) : (route.options ?? {});
    const withLogin: ProtectOptions = backend.login === undefined ? given : { login: backend.login, loginPath: '/auth/login', ...given };
    return {
      method: verb === 'USE' ? undefined : verb,
      path,
      gate: route.gate === undefined ? backend.gate : backend.makeGate(route.gate),
      target: route.target ?? { gateway: true },
      options: withLogin,
      serve: route.serve ?? 'auth',
      protect: route.protect !== false,
    };
  });
}

/** The JSON an `'auth'` route answers. */
export function summarise(auth: Auth | null | undefined): AuthSummary {
  return {
    via: auth?.via,
    email: auth?.identity?.email,
    policy: auth?.decision?.policy?.name,
    reason: auth?.decision?.reason,
    action: auth?.decision?.action,
    request: auth?.context.request,
  };
}

/** The path of a request target as a static server mounted at `/` reads it (parseurl's pathname: before `?` and `#`). */
function rawPathname(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** Serves `pathname` from the static folder with `send` (what `express.static` runs): decoding, dot segments and root containment are `send`'s. */
function sendFile(req: IncomingMessage, res: ServerResponse, root: string, pathname: string): void {
  // `send` sets no 200 of its own, and Koa starts every response at 404.
  res.statusCode = 200;
  send(req, pathname, { root, dotfiles: 'deny' })
    .on('error', (error: { status?: number }) => {
      res.statusCode = error.status ?? 500;
      res.end();
    })
    .on('directory', () => {
      res.statusCode = 404;
      res.end();
    })
    .pipe(res);
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

async function buildApp(framework: Framework, backend: Backend, options: StackOptions, fastifies: FastifyInstance[]): Promise<Listener> {
  const routes = resolveRoutes(backend, options, framework);
  // The SCIM lifecycle is the gate's IdP `scim_config` (one place); a stack without one gets `enabled: true`.
  const scim = backend.store === undefined ? undefined : createScimHandler({ store: backend.store, gate: backend.gate, secrets: [SCIM_SECRET] });
  if (framework === 'express' || framework === 'express4')
    return buildExpress(framework === 'express' ? express : (express4 as unknown as typeof express), backend, options, routes, scim);
  if (framework === 'koa') return buildKoa(backend, options, routes, scim);
  const app = await buildFastify(backend, options, routes, scim);
  fastifies.push(app);
  return (req, res) => app.routing(req, res);
}

function buildExpress(
  make: typeof express,
  backend: Backend,
  options: StackOptions,
  routes: ResolvedRoute[],
  scim: ReturnType<typeof createScimHandler> | undefined,
): Listener {
  const app = make();
  const routing = options.routing ?? {};
  // Before any route: Express builds its router with these settings on first use.
  if (routing.caseSensitive !== undefined) app.set('case sensitive routing', routing.caseSensitive);
  if (routing.ignoreTrailingSlash !== undefined) app.set('strict routing', !routing.ignoreTrailingSlash);
  app.set('trust proxy', options.trustProxy ? 'loopback' : false);
  options.configure?.express?.(app);
  if (scim !== undefined) app.use('/scim/v2', expressAdapter.scimEndpoint(scim));
  if (backend.login !== undefined) app.use('/auth', expressAdapter.loginRoutes(backend.login));
  const serveStatic = express.static(backend.root, { dotfiles: 'deny', index: false, redirect: false });
  for (const route of routes) {
    const handlers: express.RequestHandler[] = [];
    if (route.protect) handlers.push(expressAdapter.protect(route.gate, route.target, route.options));
    handlers.push(
      route.serve === 'static'
        ? serveStatic
        : route.serve === 'echo'
          ? (req, res) => void res.json({ ...echo(req), url: req.originalUrl })
          : (req, res) => void res.json(summarise(req.auth)),
    );
    if (route.method === undefined) app.use(route.path, ...handlers);
    else (app as unknown as Record<string, (path: string, ...h: express.RequestHandler[]) => void>)[route.method.toLowerCase()]!(route.path, ...handlers);
  }
  return app as unknown as Listener;
}

/** @koa/router's default matching (`sensitive: false`, `strict: false`) of a static route path, or as `routing` says. */
function koaRouteMatches(path: string, route: string, routing: RoutingSettings): boolean {
  let p = path;
  if (routing.ignoreTrailingSlash !== false && p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return routing.caseSensitive === true ? p === route : p.toLowerCase() === route.toLowerCase();
}

function buildKoa(backend: Backend, options: StackOptions, routes: ResolvedRoute[], scim: ReturnType<typeof createScimHandler> | undefined): Listener {
  const app = new Koa();
  app.proxy = options.trustProxy === true;
  options.configure?.koa?.(app);
  const routing = options.routing ?? {};
  if (scim !== undefined) app.use(koaAdapter.scimEndpoint(scim, { prefix: '/scim/v2' }));
  if (backend.login !== undefined) app.use(koaAdapter.loginRoutes(backend.login, { prefix: '/auth' }));
  for (const route of routes) {
    const guard = route.protect ? koaAdapter.protect(route.gate, route.target, route.options) : undefined;
    const serve: Koa.Middleware = async (ctx) => {
      if (route.serve === 'static') {
        ctx.respond = false;
        sendFile(ctx.req, ctx.res, backend.root, rawPathname(ctx.originalUrl));
      } else if (route.serve === 'echo') {
        ctx.body = echo(ctx.req);
      } else {
        ctx.body = summarise(ctx.state.auth);
      }
    };
    app.use(async (ctx, next) => {
      const applies =
        route.method === undefined
          ? route.path === '/' || ctx.path.toLowerCase() === route.path.toLowerCase() || ctx.path.toLowerCase().startsWith(`${route.path.toLowerCase()}/`)
          : (ctx.method === route.method || (route.method === 'GET' && ctx.method === 'HEAD')) && koaRouteMatches(ctx.path, route.path, routing);
      if (!applies) return next();
      if (guard === undefined) return serve(ctx, next);
      return guard(ctx, () => serve(ctx, next));
    });
  }
  return app.callback() as Listener;
}

async function buildFastify(
  backend: Backend,
  options: StackOptions,
  routes: ResolvedRoute[],
  scim: ReturnType<typeof createScimHandler> | undefined,
): Promise<FastifyInstance> {
  const routing = options.routing ?? {};
  const routerOptions: Record<string, boolean> = {};
  if (routing.caseSensitive !== undefined) routerOptions.caseSensitive = routing.caseSensitive;
  if (routing.ignoreTrailingSlash !== undefined) routerOptions.ignoreTrailingSlash = routing.ignoreTrailingSlash;
  if (routing.ignoreDuplicateSlashes !== undefined) routerOptions.ignoreDuplicateSlashes = routing.ignoreDuplicateSlashes;
  if (routing.useSemicolonDelimiter !== undefined) routerOptions.useSemicolonDelimiter = routing.useSemicolonDelimiter;
  const given = options.configure?.fastify ?? {};
  // `serverFactory` hands Fastify's handler to the harness's own listening server.
  const app = Fastify({ trustProxy: options.trustProxy === true, ...given, routerOptions: { ...routerOptions, ...(given.routerOptions ?? {}) } });
  if (scim !== undefined) await app.register(fastifyAdapter.scimEndpoint(scim), { prefix: '/scim/v2' });
  if (backend.login !== undefined) await app.register(fastifyAdapter.loginRoutes(backend.login), { prefix: '/auth' });
  for (const route of routes) {
    await app.register(async (scope) => {
      if (route.protect) await scope.register(fastifyAdapter.protect(route.gate, route.target, route.options));
      const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
        if (route.serve === 'static') {
          reply.hijack();
          sendFile(request.raw, reply.raw, backend.root, rawPathname(request.url));
          return reply;
        }
        if (route.serve === 'echo') return echo(request.raw);
        return summarise(request.auth);
      };
      if (route.method === undefined) {
        const base = route.path === '/' ? '' : route.path;
        scope.all(base === '' ? '/' : base, handler);
        scope.all(`${base}/*`, handler);
      } else {
        scope.route({ method: route.method as 'GET', url: route.path, handler });
      }
    });
  }
  await app.ready();
  return app;
}

function toReply(status: number, headers: Reply['headers'], text: string): Reply {
  return {
    status,
    headers,
    text,
    json<T>() {
      return JSON.parse(text) as T;
    },
  };
}

function makeStack(framework: Framework, url: string, backend: Backend): Stack {
  const { hostname, port } = new URL(url);

  const stack: Stack = {
    framework,
    url,
    backend,
    request(method, target, init = {}) {
      const pairs: Array<[string, string]> = [];
      const given = init.headers ?? {};
      if (Array.isArray(given)) pairs.push(...given);
      else for (const [name, value] of Object.entries(given)) for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, v]);
      if (init.token !== undefined) pairs.push(['authorization', `Bearer ${init.token}`]);
      if (init.cookie !== undefined) pairs.push(['cookie', init.cookie]);
      if (init.as === 'browser') pairs.push(['accept', 'text/html,application/xhtml+xml']);
      if (init.as === 'api') pairs.push(['accept', 'application/json']);
      // A flat [name, value, name, value…] list: node:http sends each pair as its own header line, in order,
      // and adds no `Host` of its own to such a list.
      if (!pairs.some(([name]) => name.toLowerCase() === 'host')) pairs.unshift(['host', `${hostname}:${port}`]);
      const headers = pairs.flat() as unknown as OutgoingHttpHeaders;
      return new Promise<Reply>((resolve, reject) => {
        const req = httpRequest({ host: hostname, port: Number(port), method, path: target, headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const out: Reply['headers'] = {};
            for (const [name, value] of Object.entries(res.headers)) out[name] = value;
            resolve(toReply(res.statusCode ?? 0, out, Buffer.concat(chunks).toString('utf8')));
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(init.body);
      });
    },
    raw(bytes) {
      return new Promise<string>((resolve, reject) => {
        // Written, not ended: a half-closed socket may be dropped before an asynchronous answer is written.
        const socket = connect(Number(port), hostname, () => socket.write(bytes));
        let out = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (out += chunk));
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    },
    async scim(method, path, body) {
      if (backend.store === undefined) throw new Error('the stack has no directory: pass `directory: true`');
      return stack.request(method, `/scim/v2${path}`, {
        headers: { authorization: `Bearer ${SCIM_SECRET}`, ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    },
    mint(claims = {}) {
      return backend.entra.mintToken({ claims: { email: 'ada@contoso.com', groups: [], ...claims } });
    },
    async login(user = { claims: { email: 'ada@contoso.com' } }) {
      const { callback, session } = await stack.attemptLogin(user);
      if (callback.status !== 302 || session === undefined) throw new Error(`the login did not complete: ${callback.status} ${callback.text}`);
      return session;
    },
    async attemptLogin(user = { claims: { email: 'ada@contoso.com' } }, held) {
      const login = backend.login;
      if (login === undefined) throw new Error('the stack has no login: pass `login: true`');
      const cookies = new Map<string, string>();
      for (const part of (held ?? '').split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) cookies.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
      }
      const jar = (reply: Reply) => {
        for (const line of (reply.headers['set-cookie'] as string[] | undefined) ?? []) {
          const [pair] = line.split(';');
          const eq = pair!.indexOf('=');
          if (/max-age=0/i.test(line)) cookies.delete(pair!.slice(0, eq));
          else cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
        }
      };
      const header = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const start = await stack.request('GET', '/auth/login?returnTo=/', cookies.size > 0 ? { cookie: header() } : {});
      jar(start);
      const authorize = String(start.headers.location ?? '');
      if (start.status !== 302 || !authorize.startsWith(backend.entra.url)) throw new Error(`the login did not start: ${start.status} ${authorize}`);
      backend.entra.login.nextUser = user;
      const code = await fetch(authorize, { redirect: 'manual' });
      const callback = new URL(code.headers.get('location') ?? '');
      const before = cookies.get(login.cookieName);
      const done = await stack.request('GET', `${callback.pathname}${callback.search}`, { cookie: header() });
      jar(done);
      const value = cookies.get(login.cookieName);
      return { callback: done, session: value === undefined || value === before ? undefined : `${login.cookieName}=${value}` };
    },
    async user(fields = {}) {
      const oid = fields.oid ?? randomUUID();
      const email = fields.email ?? `u-${oid.slice(0, 8)}@contoso.com`;
      const reply = await stack.scim('POST', '/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        externalId: oid,
        userName: email,
        active: fields.active ?? true,
        emails: [{ primary: true, type: 'work', value: email }],
      });
      if (reply.status !== 201) throw new Error(`SCIM user creation failed: ${reply.status} ${reply.text}`);
      return { id: String(reply.json().id), oid, email };
    },
    async group(fields) {
      const objectId = fields.objectId ?? randomUUID();
      const reply = await stack.scim('POST', '/Groups', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        externalId: objectId,
        displayName: fields.name ?? `group-${objectId.slice(0, 8)}`,
        members: (fields.members ?? []).map((value) => ({ value })),
      });
      if (reply.status !== 201) throw new Error(`SCIM group creation failed: ${reply.status} ${reply.text}`);
      return { id: String(reply.json().id), objectId };
    },
  };
  return stack;
}
