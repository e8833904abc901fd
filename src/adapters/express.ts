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
import { certificateOf, createProtector, type Auth, type ProtectOptions, type ProtectTarget } from './core.js';
import { runFetchHandler, writeParts, type FetchHandler, type ResponseParts } from './node-bridge.js';
import { createLoginRouter, identityParts, type IdentityEndpointOptions, type LoginRoutesOptions, type ScimEndpointOptions } from './routes.js';

export { createProtector, certificateOf, identityJson, parseBearer } from './core.js';
export type { Auth, AuthVia, DenyBody, ErrorBody, ProtectOptions, ProtectOutcome, ProtectTarget, Protector, RequestView } from './core.js';
export type { IdentityEndpointOptions, LoginRoutesOptions, ScimEndpointOptions } from './routes.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `protect` from `entragate/express` on an allowed request. */
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
  const protector = createProtector(gate, target, options);
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
        } else if (outcome.kind === 'redirect') {
          res.redirect(302, outcome.location);
        } else if (protector.viaFramework(outcome, req.headers)) {
          next(outcome.error);
        } else {
          res.status(outcome.status).set(outcome.headers).json(outcome.body);
        }
      }, next);
  };
}

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
    identityParts(req.auth, options, { method: req.method, url: req.originalUrl ?? req.url, headers: req.headers }).then((parts: ResponseParts) => writeParts(res, parts), next);
  };
}

function bodyOptions(req: IncomingMessage & { body?: unknown }, options: ScimEndpointOptions): { maxBodyBytes?: number; parsedBody?: unknown } {
  return { ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }), ...(req.body === undefined ? {} : { parsedBody: req.body }) };
}
