/**
 * `entragate/koa`: protect Koa 3 routes with a gate, and mount the login routes,
 * the SCIM endpoint and the identity endpoint.
 *
 * @packageDocumentation
 */
import type { Context, Middleware } from 'koa';
import type { Gate } from '../gate.js';
import type { Login } from '../login/login.js';
import { pathRouting } from '../policy/http-request.js';
import * as checks from '../policy/claim-checks.js';
import type { AccessTokenClaims, ClaimCheck, ClaimValue } from '../policy/claim-checks.js';
import { anonymousRequests, passMemo, runChecks, type CheckFailure, type PassMemo } from './checks.js';
import { certificateOf, createProtector, type Auth, type AuthenticateOptions, type ProtectOptions, type ProtectTarget, type Protector } from './core.js';
import { pathOf, runFetchHandler, type FetchHandler, type ResponseParts } from './node-bridge.js';
import { createLoginRouter, identityParts, type IdentityEndpointOptions, type LoginRoutesOptions, type ScimEndpointOptions } from './routes.js';

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

declare module 'koa' {
  interface DefaultState {
    /** Set by `protect` or `authenticate` from `entragate/koa` on an allowed request; absent elsewhere. */
    auth?: Auth;
  }
}

/** @koa/router's defaults: path-to-regexp on the encoded path, `sensitive: false` and `strict: false`. */
const KOA_ROUTER_DEFAULTS = pathRouting({ caseInsensitive: true, ignoreTrailingSlash: true });

/**
 * Protects the middleware after it with the gate: an application's Access
 * policies (`{ application }`) or the Gateway rules (`{ gateway: true }`). An
 * allowed request gets `ctx.state.auth`; a deny is a 403 JSON body naming the
 * deciding policy; a missing or bad token is thrown as an error with `status`
 * 401, `headers` (`WWW-Authenticate`) and `expose`, as `ctx.throw` would, so
 * Koa's error handling renders it; an outage is a 503 with `Retry-After`; a
 * browser without a session is redirected to the login when one is configured.
 *
 * The client IP is `ctx.ip` and the host (Gateway `http.request.host`) `ctx.hostname`, so Koa's
 * `app.proxy` setting applies to both. Koa does not route: Gateway path rules read the path as
 * @koa/router routes it by default (`sensitive: false`, `strict: false`: `/Admin/` is read as `/admin`);
 * a router with `sensitive: true` or `strict: true` needs the matching `routing` option.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createGate } from 'entragate';
 * import { protect } from 'entragate/koa';
 * declare const gate: ReturnType<typeof createGate>;
 * const app = new Koa();
 * app.use(protect(gate, { application: 'portal' }));
 * app.use((ctx) => { ctx.body = { hello: ctx.state.auth?.identity?.email }; });
 * ```
 */
export function protect(gate: Gate, target: ProtectTarget, options?: ProtectOptions): Middleware {
  return middlewareOf(createProtector(gate, target, options));
}

/**
 * Authenticate-only protection: any valid Entra token (or login session, with `login`) lets the request
 * through with `ctx.state.auth` (its `claims` and `header`, `decision: null`); no Access application or
 * Gateway rule decides. The one identity pipeline still runs: revocations and the directory's standing
 * apply. `authRequired: false` lets a request without any credential through without `auth`; a bad
 * token is still a 401. Combine with {@link requiredScopes}, {@link requiredRoles} and the other checks.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createGate } from 'entragate';
 * import { authenticate, requiredScopes } from 'entragate/koa';
 * declare const gate: ReturnType<typeof createGate>;
 * new Koa().use(authenticate(gate)).use(requiredScopes('orders.read')).use((ctx) => { ctx.body = ctx.state.auth?.claims?.oid; });
 * ```
 */
export function authenticate(gate: Gate, options?: AuthenticateOptions): Middleware {
  return middlewareOf(createProtector(gate, { authenticate: true }, options));
}

function middlewareOf(protector: Protector): Middleware {
  return async (ctx, next) => {
    const outcome = await protector.decide({
      method: ctx.method,
      url: ctx.originalUrl,
      headers: ctx.headers,
      rawHeaders: ctx.req.rawHeaders,
      ip: ctx.ip,
      host: ctx.hostname,
      certificate: certificateOf(ctx.req.socket),
      routing: KOA_ROUTER_DEFAULTS,
    });
    if (outcome.kind === 'allow') {
      ctx.state.auth = outcome.auth;
      return next();
    }
    if (outcome.kind === 'pass') {
      anonymousRequests.add(ctx.req);
      return next();
    }
    if (outcome.kind === 'redirect') {
      ctx.status = 302;
      ctx.redirect(outcome.location);
      return undefined;
    }
    answer(ctx, { outcome, viaFramework: protector.viaFramework(outcome, ctx.headers) });
    return undefined;
  };
}

function answer(ctx: Context, failed: CheckFailure): void {
  if (failed.viaFramework) throw failed.outcome.error;
  ctx.status = failed.outcome.status;
  ctx.set(failed.outcome.headers);
  ctx.body = failed.outcome.body;
}

/**
 * A middleware running claim checks (from `entragate`: `requiredScopes`, `claimCheck`, …) over
 * `ctx.state.auth`, after `protect` or `authenticate`: a failure is a 403 with RFC 6750's
 * `insufficient_scope` challenge, answered as `protect` answers errors (its `errorHandling`: thrown
 * with `status` and `headers` otherwise). Without a `protect` / `authenticate` before it, it fails
 * closed (`ERR_CONFIG_CLAIM_CHECK_UNPROTECTED`).
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createGate, claimEquals } from 'entragate';
 * import { authenticate, checkClaims } from 'entragate/koa';
 * declare const gate: ReturnType<typeof createGate>;
 * new Koa().use(authenticate(gate)).use(checkClaims(claimEquals('idtyp', 'app')));
 * ```
 */
export function checkClaims(...claimChecks: ClaimCheck[]): Middleware {
  return checkMiddleware(claimChecks, undefined);
}

/** The middleware of `checkClaims` and of the built-in checks (which are pure: they get a `memo`). */
function checkMiddleware(claimChecks: readonly ClaimCheck[], memo: PassMemo | undefined): Middleware {
  const list = Object.freeze([...claimChecks]);
  // Not `async`: a passing check hands on `next()`'s promise instead of wrapping it in one of its own;
  // a failing one throws (or answers) synchronously, which koa-compose turns into a rejection.
  return (ctx, next) => {
    const failed = runChecks(list, ctx.state.auth, ctx.req, ctx.headers, memo);
    if (failed === undefined) return next();
    answer(ctx, failed);
    return Promise.resolve();
  };
}

/**
 * Requires every one of the delegated scopes in the token's `scp` (v1 and v2 tokens); a 403
 * `insufficient_scope` naming them otherwise.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createGate } from 'entragate';
 * import { authenticate, requiredScopes } from 'entragate/koa';
 * declare const gate: ReturnType<typeof createGate>;
 * new Koa().use(authenticate(gate)).use(requiredScopes('orders.read'));
 * ```
 */
export const requiredScopes = (...scopes: string[]): Middleware => checkMiddleware([checks.requiredScopes(...scopes)], passMemo());
/** Requires at least one of the delegated scopes in `scp`. See {@link requiredScopes}. */
export const scopeIncludesAny = (...scopes: string[]): Middleware => checkMiddleware([checks.scopeIncludesAny(...scopes)], passMemo());
/** Requires every one of the app roles in `roles` (app-only tokens too, with the gate's `allowAppTokens`). */
export const requiredRoles = (...roles: string[]): Middleware => checkMiddleware([checks.requiredRoles(...roles)], passMemo());
/** Requires the claim `name` to equal `value`. */
export const claimEquals = (name: string, value: ClaimValue): Middleware => checkMiddleware([checks.claimEquals(name, value)], passMemo());
/** Requires the claim `name` (an array, or a space-separated string) to include every one of `values`. */
export const claimIncludes = (name: string, ...values: ClaimValue[]): Middleware => checkMiddleware([checks.claimIncludes(name, ...values)], passMemo());
/** A check of your own: `fn` returns `true` to pass; anything else (or a throw) fails it. */
export const claimCheck = (fn: (claims: Readonly<AccessTokenClaims>) => boolean, description?: string): Middleware =>
  checkClaims(checks.claimCheck(fn, description));

/**
 * The login routes (`GET /login`, `GET /callback`, `GET|POST /logout`, paths
 * configurable, under `prefix`) as one middleware; other paths fall through.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createLogin } from 'entragate/login';
 * import { loginRoutes } from 'entragate/koa';
 * declare const login: ReturnType<typeof createLogin>;
 * new Koa().use(loginRoutes(login, { prefix: '/auth' }));
 * ```
 */
export function loginRoutes(login: Login, options: LoginRoutesOptions & { prefix?: string } = {}): Middleware {
  const { prefix = '', ...rest } = options;
  const router = createLoginRouter(login, rest);
  return async (ctx, next) => {
    if (!ctx.path.startsWith(prefix)) return next();
    const route = router.route(ctx.method, ctx.path.slice(prefix.length));
    if (route === undefined) return next();
    write(ctx, await router.handle(route, { method: ctx.method, url: ctx.originalUrl, headers: ctx.headers }));
    return undefined;
  };
}

/**
 * Serves a fetch-style SCIM handler (`createScimHandler` from `entragate/scim`)
 * for paths under `prefix`; the body is streamed from the raw request with a
 * cap (mount it before any body parser).
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createScimHandler } from 'entragate/scim';
 * import { scimEndpoint } from 'entragate/koa';
 * declare const handler: ReturnType<typeof createScimHandler>;
 * new Koa().use(scimEndpoint(handler, { prefix: '/scim/v2' }));
 * ```
 */
export function scimEndpoint(handler: FetchHandler, options: ScimEndpointOptions & { prefix?: string } = {}): Middleware {
  const { prefix = '', maxBodyBytes } = options;
  return async (ctx, next) => {
    const path = pathOf(ctx.originalUrl);
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) return next();
    const parsedBody = (ctx.request as { body?: unknown }).body;
    write(
      ctx,
      await runFetchHandler(handler, ctx.req, {
        url: ctx.originalUrl,
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        ...(parsedBody === undefined ? {} : { parsedBody }),
      }),
    );
    return undefined;
  };
}

/**
 * Cloudflare's get-identity JSON for the caller: from `ctx.state.auth` behind
 * `protect`, else from the session cookie when `login` is given, else a 401.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { createGate } from 'entragate';
 * import { identityEndpoint, protect } from 'entragate/koa';
 * declare const gate: ReturnType<typeof createGate>;
 * new Koa().use(protect(gate, { application: 'portal' })).use(identityEndpoint());
 * ```
 */
export function identityEndpoint(options: IdentityEndpointOptions = {}): Middleware {
  return async (ctx) => {
    write(ctx, await identityParts(ctx.state.auth, options, { method: ctx.method, url: ctx.originalUrl, headers: ctx.headers }));
  };
}

function write(ctx: Context, parts: ResponseParts): void {
  ctx.status = parts.status;
  for (const [name, value] of Object.entries(parts.headers)) ctx.set(name, value);
  ctx.body = parts.body;
}
