/**
 * `entragate/fastify`'s routes: the login routes, the SCIM endpoint and the identity endpoint as
 * Fastify plugins and handlers (re-exported by `fastify.ts`, which holds the protection hooks).
 */
import type { FastifyPluginAsync, FastifyReply, RouteHandlerMethod } from 'fastify';
import type { Login } from '../login/login.js';
import { runFetchHandler, type FetchHandler, type ResponseParts } from './node-bridge.js';
import { createLoginRouter, identityParts, type IdentityEndpointOptions, type LoginRoutesOptions, type ScimEndpointOptions } from './routes.js';

/**
 * The login routes (`GET /login`, `GET /callback`, `GET|POST /logout`, paths
 * configurable) as a plugin: `app.register(loginRoutes(login), { prefix: '/auth' })`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createLogin } from 'entragate/login';
 * import { loginRoutes } from 'entragate/fastify';
 * declare const login: ReturnType<typeof createLogin>;
 * await Fastify().register(loginRoutes(login), { prefix: '/auth' });
 * ```
 */
export function loginRoutes(login: Login, options?: LoginRoutesOptions): FastifyPluginAsync {
  const router = createLoginRouter(login, options);
  return async (fastify) => {
    // The login reads no body, but a browser posts the sign-out form as `application/x-www-form-urlencoded`,
    // which Fastify refuses by default (415): inside these routes every body is accepted and left unread.
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    for (const route of ['login', 'callback', 'logout'] as const) {
      fastify.route({
        method: route === 'login' ? ['GET'] : ['GET', 'POST'],
        url: router.paths[route],
        handler: async (request, reply) => send(reply, await router.handle(route, { method: request.method, url: request.url, headers: request.headers })),
      });
    }
  };
}

/**
 * Serves a fetch-style SCIM handler (`createScimHandler` from `entragate/scim`) as
 * a plugin: `app.register(scimEndpoint(handler), { prefix: '/scim/v2' })`. Inside
 * it, Fastify's body parsers are replaced by a pass-through so the raw body is
 * streamed to the handler with a cap.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createScimHandler } from 'entragate/scim';
 * import { scimEndpoint } from 'entragate/fastify';
 * declare const handler: ReturnType<typeof createScimHandler>;
 * await Fastify().register(scimEndpoint(handler), { prefix: '/scim/v2' });
 * ```
 */
export function scimEndpoint(handler: FetchHandler, options: ScimEndpointOptions = {}): FastifyPluginAsync {
  return async (fastify) => {
    fastify.removeAllContentTypeParsers();
    // Leave the stream unread: the bridge streams it to the handler with its own cap.
    fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    const serve: RouteHandlerMethod = async (request, reply) =>
      send(
        reply,
        await runFetchHandler(handler, request.raw, {
          url: request.url,
          ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
        }),
      );
    fastify.all('/', serve);
    fastify.all('/*', serve);
  };
}

/**
 * A route handler answering Cloudflare's get-identity JSON for the caller: from
 * `request.auth` behind `protect`, else from the session cookie when `login` is
 * given, else a 401.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createGate } from 'entragate';
 * import { identityEndpoint, protectHook } from 'entragate/fastify';
 * declare const gate: ReturnType<typeof createGate>;
 * Fastify().get('/cdn-cgi/access/get-identity', { onRequest: protectHook(gate, { application: 'portal' }) }, identityEndpoint());
 * ```
 */
export function identityEndpoint(options: IdentityEndpointOptions = {}): RouteHandlerMethod {
  return async (request, reply) =>
    send(reply, await identityParts(request.auth, options, { method: request.method, url: request.url, headers: request.headers }));
}

function send(reply: FastifyReply, parts: ResponseParts): FastifyReply {
  return reply.code(parts.status).headers(parts.headers).send(parts.body);
}
