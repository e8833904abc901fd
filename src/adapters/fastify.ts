/**
 * `entragate/fastify`: protect Fastify 5 routes with a gate (a real plugin made
 * with `fastify-plugin`, decorating `request.auth`), and mount the login routes,
 * the SCIM endpoint and the identity endpoint.
 *
 * @packageDocumentation
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from 'fastify';
import { ConfigError } from '../errors/index.js';
import * as checks from '../policy/claim-checks.js';
import type { AccessTokenClaims, ClaimCheck, ClaimValue } from '../policy/claim-checks.js';
import { anonymousRequests, passMemo, runChecks, type CheckFailure, type PassMemo } from './checks.js';
import type { Gate } from '../gate.js';
import { pathRouting, type PathRouting } from '../policy/http-request.js';
import {
  certificateOf,
  createProtector,
  type Auth,
  type AuthenticateOptions,
  type ProtectOptions,
  type ProtectOutcome,
  type ProtectTarget,
  type Protector,
} from './core.js';

export { createProtector, certificateOf, identityJson, parseBearer } from './core.js';
export type {
  Auth,
  AuthenticateOptions,
  AuthenticateTarget,
  AuthVia,
  DenyBody,
  ErrorBody,
  ProtectOptions,
  ProtectOutcome,
  ProtectRoutingOptions,
  ProtectTarget,
  Protector,
  RequestView,
  ServiceTokenCredential,
} from './core.js';
export type { AccessTokenClaims, ClaimCheck, ClaimValue } from '../policy/claim-checks.js';
export type { IdentityEndpointOptions, LoginRoutesOptions, ScimEndpointOptions } from './routes.js';
export { identityEndpoint, loginRoutes, scimEndpoint } from './fastify-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by `protect` or `authenticate` from `entragate/fastify` on an allowed request; `null` elsewhere
     * in a scope they protect (and for an anonymous request `authenticate` lets through with `authRequired: false`).
     */
    auth: Auth | null;
  }
}

const routings = new WeakMap<object, PathRouting>();

/**
 * How the server routes paths, from its initial config (`routerOptions` first, then the deprecated
 * top-level options, as Fastify itself reads them): find-my-way decodes the path before it matches,
 * lower-cases it unless `caseSensitive`, drops a trailing slash with `ignoreTrailingSlash`, and ends the
 * path at `;` with `useSemicolonDelimiter`. Read once per server.
 */
function routingOf(request: FastifyRequest): PathRouting {
  const config = (request.server as { initialConfig?: Record<string, unknown> }).initialConfig ?? {};
  let routing = routings.get(config);
  if (routing === undefined) {
    const router = (typeof config.routerOptions === 'object' && config.routerOptions !== null ? config.routerOptions : {}) as Record<string, unknown>;
    const setting = (name: string, fallback: boolean): boolean => {
      const value = Object.hasOwn(router, name) ? router[name] : config[name];
      return typeof value === 'boolean' ? value : fallback;
    };
    routing = pathRouting({
      caseInsensitive: !setting('caseSensitive', true),
      matchesDecoded: true,
      ignoreTrailingSlash: setting('ignoreTrailingSlash', false),
      semicolonDelimiter: setting('useSemicolonDelimiter', false),
    });
    routings.set(config, routing);
  }
  return routing;
}

/**
 * An `onRequest` hook that protects one route (`{ onRequest: protectHook(gate, …) }`);
 * {@link protect} registers the same hook for a whole scope. Same outcomes as `protect`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { protectHook } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * Fastify().get('/hello', { onRequest: protectHook(gate, { application: 'portal' }) }, async (request) => request.auth?.identity?.email);
 * ```
 */
export function protectHook(gate: Gate, target: ProtectTarget, options?: ProtectOptions): onRequestHookHandler {
  return hookOf(createProtector(gate, target, options));
}

/**
 * An `onRequest` hook for one route that only authenticates (see {@link authenticate}):
 * `{ onRequest: authenticateHook(gate), preHandler: requiredScopes('orders.read') }`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { authenticateHook, requiredScopes } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * Fastify().get('/orders', { onRequest: authenticateHook(gate), preHandler: requiredScopes('orders.read') }, async () => []);
 * ```
 */
export function authenticateHook(gate: Gate, options?: AuthenticateOptions): onRequestHookHandler {
  return hookOf(createProtector(gate, { authenticate: true }, options));
}

function hookOf(protector: Protector): onRequestHookHandler {
  // A callback hook, not an `async` one: Fastify then continues from `done` in the tick the decision
  // arrives, without a promise of its own for the hook.
  return function entragateProtect(request: FastifyRequest, reply: FastifyReply, done: HookDone) {
    // `null` until a protector admits the request, as the type says (a route-level hook has no decorator).
    if (request.auth === undefined) request.auth = null;
    protector
      .decide({
        method: request.method,
        url: request.url,
        headers: request.headers,
        rawHeaders: request.raw.rawHeaders,
        ip: request.ip,
        // `host`, not `hostname`: the same value once the gate drops the port (`hostOf`), without the
        // getter's split; both honour `trustProxy`.
        host: request.host,
        certificate: certificateOf(request.raw.socket),
        routing: routingOf(request),
      })
      .then((outcome) => {
        let next: boolean;
        try {
          next = settle(protector, request, reply, outcome);
        } catch (error) {
          done(error as Error);
          return;
        }
        if (next) done();
      }, done);
  };
}

/** Fastify's `done` of a callback hook. */
type HookDone = (error?: Error) => void;

/** Applies an outcome to the request: `true` when the request goes on, `false` when it was answered. Throws an error for Fastify's error handling. */
function settle(protector: Protector, request: FastifyRequest, reply: FastifyReply, outcome: ProtectOutcome): boolean {
  if (outcome.kind === 'allow') {
    request.auth = outcome.auth;
    return true;
  }
  if (outcome.kind === 'pass') {
    anonymousRequests.add(request.raw);
    return true;
  }
  if (outcome.kind === 'redirect') {
    reply.redirect(outcome.location, 302);
    return false;
  }
  answer(reply, { outcome, viaFramework: protector.viaFramework(outcome, request.headers) });
  return false;
}

function answer(reply: FastifyReply, failed: CheckFailure): FastifyReply {
  // Fastify's error handler renders `statusCode` and sets `headers` (WWW-Authenticate, Retry-After).
  if (failed.viaFramework) throw failed.outcome.error;
  return reply.code(failed.outcome.status).headers(failed.outcome.headers).send(failed.outcome.body);
}

/** Where `request.auth` is kept on a request (the decorator's getter and setter read and write it). */
const AUTH = Symbol('entragate.auth');

/**
 * Decorates `request.auth` (`null` until a protector admits the request) on the ROOT instance, so that
 * it is `null`, as the type says, on every route of the app, inside the protected scope or not
 * (fastify-plugin registers the hook in the scope it is given; a decorator there would leave the routes
 * of the root and of other scopes with `undefined`). A getter and setter rather than a value: Fastify
 * copies value decorators into a scope when the scope is created, so a sibling scope registered
 * before this plugin would never see one; a getter is found through the prototype chain. The root is
 * reached the way Fastify encapsulates: every scope is `Object.create` of its parent.
 */
function decorateAuth(fastify: FastifyInstance): void {
  let root = fastify;
  for (
    let up: unknown = Object.getPrototypeOf(root);
    typeof (up as Partial<FastifyInstance> | null)?.decorateRequest === 'function';
    up = Object.getPrototypeOf(up)
  ) {
    root = up as FastifyInstance;
  }
  if (root.hasRequestDecorator('auth')) return;
  root.decorateRequest('auth', {
    getter(this: FastifyRequest & { [AUTH]?: Auth | null }) {
      return this[AUTH] ?? null;
    },
    setter(this: FastifyRequest & { [AUTH]?: Auth | null }, value: Auth | null) {
      this[AUTH] = value;
    },
  } as never);
}

/** The plugin of `protect` and `authenticate`: the decorator and the hook, for the scope it is registered in. */
function pluginOf(hook: onRequestHookHandler, name: string): FastifyPluginAsync {
  return fp(
    async (fastify, opts: Record<string, unknown>) => {
      // INVARIANT: fastify-plugin ignores `prefix` (the plugin is not encapsulated), so
      // `register(protect(…), { prefix: '/api' })` would protect the whole app, its login routes
      // included (a browser then loops through `/auth/login?returnTo=%2Fauth%2Flogin`): refused.
      if (opts !== null && typeof opts === 'object' && opts.prefix !== undefined) {
        throw new ConfigError(
          'ERR_CONFIG_INVALID',
          `invalid ${name} registration: \`prefix\` is ignored by this plugin (it protects the scope it is registered in): register it inside a scope, \`app.register(async (api) => { await api.register(${name}(…)); … }, { prefix })\``,
        );
      }
      decorateAuth(fastify);
      fastify.addHook('onRequest', hook);
    },
    { fastify: '5.x' },
  );
}

/**
 * A plugin that protects every route of the scope it is registered in with the
 * gate: an application's Access policies (`{ application }`) or the Gateway rules
 * (`{ gateway: true }`). It decorates `request.auth` (typed) and adds an
 * `onRequest` hook, so an unauthenticated body is never parsed. A deny is a 403
 * JSON body naming the deciding policy; a missing or bad token is thrown to
 * Fastify's error handler with `statusCode` 401 and `WWW-Authenticate`; an outage
 * is a 503 with `Retry-After`; a browser without a session is redirected to the
 * login when one is configured. The client IP is `request.ip` and the host (Gateway
 * `http.request.host`) `request.hostname`, both honouring `trustProxy`. Gateway path rules read the path
 * as the server routes it: its `caseSensitive`, `ignoreTrailingSlash` and `useSemicolonDelimiter` are read.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { protect } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * const app = Fastify();
 * await app.register(async (scope) => {
 *   await scope.register(protect(gate, { application: 'portal' }));
 *   scope.get('/hello', async (request) => ({ hello: request.auth?.identity?.email }));
 * });
 * ```
 */
export function protect(gate: Gate, target: ProtectTarget, options?: ProtectOptions): FastifyPluginAsync {
  return pluginOf(protectHook(gate, target, options), 'protect');
}

/**
 * Authenticate-only protection for every route of the scope it is registered in: any valid Entra token
 * (or login session, with `login`) lets the request through with `request.auth` (its `claims` and
 * `header`, `decision: null`); no Access application or Gateway rule decides. The one identity pipeline
 * still runs: revocations and the directory's standing apply. `authRequired: false` lets a request
 * without any credential through with `request.auth` `null`; a bad token is still a 401. Combine with
 * the `preHandler` checks {@link requiredScopes}, {@link requiredRoles}, …
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { authenticate, requiredScopes } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * const app = Fastify();
 * await app.register(async (api) => {
 *   await api.register(authenticate(gate));
 *   api.get('/orders', { preHandler: requiredScopes('orders.read') }, async (request) => ({ caller: request.auth?.claims?.oid }));
 * }, { prefix: '/api' });
 * ```
 */
export function authenticate(gate: Gate, options?: AuthenticateOptions): FastifyPluginAsync {
  return pluginOf(authenticateHook(gate, options), 'authenticate');
}

/**
 * A `preHandler` hook running claim checks (from `entragate`: `requiredScopes`, `claimCheck`, …) over
 * `request.auth`, after `protect` or `authenticate`: a failure is a 403 with RFC 6750's
 * `insufficient_scope` challenge, answered as `protect` answers errors (its `errorHandling`). Without a
 * `protect` / `authenticate` before it, it fails closed (`ERR_CONFIG_CLAIM_CHECK_UNPROTECTED`).
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate, claimEquals } from 'entragate';
 * import { authenticateHook, checkClaims } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * Fastify().get('/t', { onRequest: authenticateHook(gate), preHandler: checkClaims(claimEquals('idtyp', 'app')) }, async () => 'ok');
 * ```
 */
export function checkClaims(...claimChecks: ClaimCheck[]): preHandlerHookHandler {
  return checkHook(claimChecks, undefined);
}

/** The hook of `checkClaims` and of the built-in checks (which are pure: they get a `memo`). */
function checkHook(claimChecks: readonly ClaimCheck[], memo: PassMemo | undefined): preHandlerHookHandler {
  const list = Object.freeze([...claimChecks]);
  // A callback hook: a passing check continues in the same tick, with no promise (issue 13: the checks
  // on a cached token add at most 100 ns).
  return function entragateCheckClaims(request: FastifyRequest, reply: FastifyReply, done: HookDone) {
    const failed = runChecks(list, request.auth, request.raw, request.headers, memo);
    if (failed === undefined) return done();
    if (failed.viaFramework) return done(failed.outcome.error);
    answer(reply, failed);
    return undefined;
  };
}

/**
 * Requires every one of the delegated scopes in the token's `scp` (v1 and v2 tokens); a 403
 * `insufficient_scope` naming them otherwise. A `preHandler` hook.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { authenticateHook, requiredScopes } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * Fastify().get('/orders', { onRequest: authenticateHook(gate), preHandler: requiredScopes('orders.read') }, async () => []);
 * ```
 */
export const requiredScopes = (...scopes: string[]): preHandlerHookHandler => checkHook([checks.requiredScopes(...scopes)], passMemo());
/** Requires at least one of the delegated scopes in `scp`. See {@link requiredScopes}. */
export const scopeIncludesAny = (...scopes: string[]): preHandlerHookHandler => checkHook([checks.scopeIncludesAny(...scopes)], passMemo());
/** Requires every one of the app roles in `roles` (app-only tokens too, with the gate's `allowAppTokens`). */
export const requiredRoles = (...roles: string[]): preHandlerHookHandler => checkHook([checks.requiredRoles(...roles)], passMemo());
/** Requires the claim `name` to equal `value`. */
export const claimEquals = (name: string, value: ClaimValue): preHandlerHookHandler => checkHook([checks.claimEquals(name, value)], passMemo());
/** Requires the claim `name` (an array, or a space-separated string) to include every one of `values`. */
export const claimIncludes = (name: string, ...values: ClaimValue[]): preHandlerHookHandler => checkHook([checks.claimIncludes(name, ...values)], passMemo());
/** A check of your own: `fn` returns `true` to pass; anything else (or a throw) fails it. */
export const claimCheck = (fn: (claims: Readonly<AccessTokenClaims>) => boolean, description?: string): preHandlerHookHandler =>
  checkClaims(checks.claimCheck(fn, description));
