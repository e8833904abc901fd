/**
 * `entragate/express`: protect Express 5 and 4 routes with a gate, and mount the
 * login routes, the SCIM endpoint and the identity endpoint.
 *
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Gate } from '../gate.js';
import type { Login } from '../login/login.js';
import { pathRouting, type PathRouting } from '../policy/http-request.js';
import * as checks from '../policy/claim-checks.js';
import type { AccessTokenClaims, ClaimCheck, ClaimValue } from '../policy/claim-checks.js';
import { anonymousRequests, passMemo, runChecks, type PassMemo } from './checks.js';
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
import { runFetchHandler, writeParts, type FetchHandler, type ResponseParts } from './node-bridge.js';
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

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `protect` or `authenticate` from `entragate/express` on an allowed request; absent elsewhere. */
      auth?: Auth;
    }
  }
}

/**
 * Protects the routes after it with the gate: an application's Access policies
 * (`{ application }`) or the Gateway rules (`{ gateway: true }`). An allowed
 * request gets `req.auth`; a deny is a 403 JSON body naming the deciding policy;
 * a missing or bad token goes to `next(err)` with `status` 401 and a
 * `WWW-Authenticate` header, an IdP or Graph outage with 503 and `Retry-After`;
 * a browser without a session is redirected to the login when one is configured.
 *
 * The client IP is `req.ip` and the host (Gateway `http.request.host`) `req.hostname`, so Express's
 * `trust proxy` setting applies to both. Gateway path rules read the path as the app routes it: its
 * `case sensitive routing` and `strict routing` settings are read (by default Express routes `/Admin/`
 * to an `/admin` route, so the rules read `/admin`); a `Router` with its own `caseSensitive` / `strict`
 * needs the `routing` option.
 * Works with Express 5 and Express 4.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createGate } from 'entragate';
 * import { protect } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * const app = express();
 * app.get('/hello', protect(gate, { application: 'portal' }), (req, res) => {
 *   res.json({ hello: req.auth?.identity?.email });
 * });
 * ```
 */
export function protect(gate: Gate, target: ProtectTarget, options?: ProtectOptions): RequestHandler {
  return handlerOf(createProtector(gate, target, options));
}

/**
 * Authenticate-only protection: any valid Entra token (or login session, with `login`) lets the request
 * through with `req.auth` (its `claims` and `header`, `decision: null`); no Access application or Gateway
 * rule decides. The one identity pipeline still runs: revocations and the directory's standing apply.
 * `authRequired: false` lets a request without any credential through without `req.auth`; a bad token
 * is still a 401. Combine with {@link requiredScopes}, {@link requiredRoles} and the other checks.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createGate } from 'entragate';
 * import { authenticate, requiredScopes } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * express().get('/orders', authenticate(gate), requiredScopes('orders.read'), (req, res) => {
 *   res.json({ caller: req.auth?.claims?.oid });
 * });
 * ```
 */
export function authenticate(gate: Gate, options?: AuthenticateOptions): RequestHandler {
  return handlerOf(createProtector(gate, { authenticate: true }, options));
}

function handlerOf(protector: Protector): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    protector
      .decide({
        method: req.method,
        url: req.originalUrl ?? req.url,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        ip: req.ip,
        host: req.hostname,
        certificate: certificateOf(req.socket),
        routing: routingOf(req),
      })
      .then((outcome) => {
        if (outcome.kind === 'allow') {
          req.auth = outcome.auth;
          next();
        } else if (outcome.kind === 'pass') {
          anonymousRequests.add(req);
          next();
        } else if (outcome.kind === 'redirect') {
          res.redirect(302, outcome.location);
        } else {
          answer(res, next, outcome, protector.viaFramework(outcome, req.headers));
        }
      }, next);
  };
}

function answer(res: Response, next: NextFunction, outcome: Extract<ProtectOutcome, { kind: 'respond' }>, viaFramework: boolean): void {
  if (viaFramework) next(outcome.error);
  else res.status(outcome.status).set(outcome.headers).json(outcome.body);
}

/**
 * A middleware running claim checks (from `entragate`: `requiredScopes`, `claimCheck`, …) over `req.auth`,
 * after `protect` or `authenticate`: a failure is a 403 with RFC 6750's `insufficient_scope` challenge,
 * answered as `protect` answers errors (its `errorHandling`). Without a `protect` / `authenticate` before
 * it, it fails closed (`ERR_CONFIG_CLAIM_CHECK_UNPROTECTED`).
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createGate, claimEquals } from 'entragate';
 * import { authenticate, checkClaims } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * express().get('/t', authenticate(gate), checkClaims(claimEquals('idtyp', 'app')), (req, res) => res.end());
 * ```
 */
export function checkClaims(...claimChecks: ClaimCheck[]): RequestHandler {
  return checkMiddleware(claimChecks, undefined);
}

/** The middleware of `checkClaims` and of the built-in checks (which are pure: they get a `memo`). */
function checkMiddleware(claimChecks: readonly ClaimCheck[], memo: PassMemo | undefined): RequestHandler {
  const list = Object.freeze([...claimChecks]);
  return (req: Request, res: Response, next: NextFunction) => {
    const failed = runChecks(list, req.auth, req, req.headers, memo);
    if (failed === undefined) next();
    else answer(res, next, failed.outcome, failed.viaFramework);
  };
}

/**
 * Requires every one of the delegated scopes in the token's `scp` (v1 and v2 tokens); a 403
 * `insufficient_scope` naming them otherwise.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createGate } from 'entragate';
 * import { authenticate, requiredScopes } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * express().get('/orders', authenticate(gate), requiredScopes('orders.read'), (req, res) => res.json([]));
 * ```
 */
export const requiredScopes = (...scopes: string[]): RequestHandler => checkMiddleware([checks.requiredScopes(...scopes)], passMemo());
/** Requires at least one of the delegated scopes in `scp`. See {@link requiredScopes}. */
export const scopeIncludesAny = (...scopes: string[]): RequestHandler => checkMiddleware([checks.scopeIncludesAny(...scopes)], passMemo());
/** Requires every one of the app roles in `roles` (app-only tokens too, with the gate's `allowAppTokens`). */
export const requiredRoles = (...roles: string[]): RequestHandler => checkMiddleware([checks.requiredRoles(...roles)], passMemo());
/** Requires the claim `name` to equal `value`. */
export const claimEquals = (name: string, value: ClaimValue): RequestHandler => checkMiddleware([checks.claimEquals(name, value)], passMemo());
/** Requires the claim `name` (an array, or a space-separated string) to include every one of `values`. */
export const claimIncludes = (name: string, ...values: ClaimValue[]): RequestHandler => checkMiddleware([checks.claimIncludes(name, ...values)], passMemo());
/** A check of your own: `fn` returns `true` to pass; anything else (or a throw) fails it. */
export const claimCheck = (fn: (claims: Readonly<AccessTokenClaims>) => boolean, description?: string): RequestHandler =>
  checkClaims(checks.claimCheck(fn, description));

// Express 5 and 4 alike: matched on the percent-encoded path, ASCII letters folded unless `case sensitive
// routing`, one optional trailing slash unless `strict routing` (path-to-regexp's `sensitive` / `strict`).
const EXPRESS_ROUTING: readonly PathRouting[] = [
  pathRouting({ caseInsensitive: true, ignoreTrailingSlash: true }),
  pathRouting({ caseInsensitive: false, ignoreTrailingSlash: true }),
  pathRouting({ caseInsensitive: true, ignoreTrailingSlash: false }),
  pathRouting({ caseInsensitive: false, ignoreTrailingSlash: false }),
];

/** How the app that runs this request routes paths (its settings at request time; Express's defaults without an app). */
function routingOf(req: Request): PathRouting {
  const app = req.app as { enabled?: (setting: string) => boolean } | undefined;
  if (app === undefined || typeof app.enabled !== 'function') return EXPRESS_ROUTING[0] as PathRouting;
  return EXPRESS_ROUTING[(app.enabled('case sensitive routing') ? 1 : 0) | (app.enabled('strict routing') ? 2 : 0)] as PathRouting;
}

/**
 * The login routes (`GET /login`, `GET /callback`, `GET|POST /logout`, paths
 * configurable) as one middleware; mount it where the login's `redirectUri`
 * points (`app.use('/auth', loginRoutes(login))`). Other paths fall through.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createLogin } from 'entragate/login';
 * import { loginRoutes } from 'entragate/express';
 * declare const login: ReturnType<typeof createLogin>;
 * express().use('/auth', loginRoutes(login));
 * ```
 */
export function loginRoutes(login: Login, options?: LoginRoutesOptions): RequestHandler {
  const router = createLoginRouter(login, options);
  return (req: Request, res: Response, next: NextFunction) => {
    const route = router.route(req.method, req.path);
    if (route === undefined) return next();
    router.handle(route, { method: req.method, url: req.originalUrl ?? req.url, headers: req.headers }).then((parts) => writeParts(res, parts), next);
  };
}

/**
 * Serves a fetch-style SCIM handler (`createScimHandler` from `entragate/scim`)
 * under a path: `app.use('/scim/v2', scimEndpoint(handler))`. The body is
 * streamed with a cap; mount it before any body parser (a parsed JSON body is
 * re-sent as JSON otherwise).
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createScimHandler } from 'entragate/scim';
 * import { scimEndpoint } from 'entragate/express';
 * declare const handler: ReturnType<typeof createScimHandler>;
 * express().use('/scim/v2', scimEndpoint(handler));
 * ```
 */
export function scimEndpoint(handler: FetchHandler, options: ScimEndpointOptions = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    runFetchHandler(handler, req, { ...bodyOptions(req, options), url: req.originalUrl ?? req.url }).then((parts) => writeParts(res, parts), next);
  };
}

/**
 * Cloudflare's get-identity JSON for the caller: from `req.auth` behind
 * `protect`, else from the session cookie when `login` is given, else a 401.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createGate } from 'entragate';
 * import { identityEndpoint, protect } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * express().get('/cdn-cgi/access/get-identity', protect(gate, { application: 'portal' }), identityEndpoint());
 * ```
 */
export function identityEndpoint(options: IdentityEndpointOptions = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    identityParts(req.auth, options, { method: req.method, url: req.originalUrl ?? req.url, headers: req.headers }).then(
      (parts: ResponseParts) => writeParts(res, parts),
      next,
    );
  };
}

function bodyOptions(req: IncomingMessage & { body?: unknown }, options: ScimEndpointOptions): { maxBodyBytes?: number; parsedBody?: unknown } {
  return { ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }), ...(req.body === undefined ? {} : { parsedBody: req.body }) };
}
