import { z } from 'zod';
import { HEADER_NAME, relativePath } from '../config/validators.js';
import { parseWith } from '../config/idp.js';
import type { Assert, Equal } from '../config/type-equal.js';
import { ConfigError } from '../errors/index.js';
import type { Login } from '../login/login.js';
import { challengeOf } from '../http/request.js';
import { identityJson, headerOf, type Auth, type NodeHeaders } from './core.js';
import { toRequestLike, toResponseParts, type ResponseParts } from './node-bridge.js';

/** Options of `loginRoutes` (paths relative to where the routes are mounted). */
export interface LoginRoutesOptions {
  /** Starts a login (`?returnTo=/path`). @defaultValue `/login` */
  loginPath?: string | undefined;
  /** The callback registered in Entra (the path of the login's `redirectUri`). @defaultValue `/callback` */
  callbackPath?: string | undefined;
  /** Ends the session. @defaultValue `/logout` */
  logoutPath?: string | undefined;
  /**
   * Header with the client's country (for example `cf-ipcountry`), stamped into the session at the callback.
   * @defaultValue none: the session carries no country
   */
  countryHeader?: string | undefined;
}

const loginRoutesOptionsSchema = z.strictObject({
  loginPath: relativePath().default('/login'),
  callbackPath: relativePath().default('/callback'),
  logoutPath: relativePath().default('/logout'),
  countryHeader: z.string().regex(HEADER_NAME, 'must be a header name').optional(),
});

// The interface above and the schema cannot drift: this fails to compile if they do.
type _LoginRoutesOptionsMatch = Assert<Equal<z.input<typeof loginRoutesOptionsSchema>, LoginRoutesOptions>>;

/** Options of `scimEndpoint`. */
export interface ScimEndpointOptions {
  /** Request bodies over this many bytes are refused (413) while streaming. @defaultValue 1 MiB */
  maxBodyBytes?: number;
}

/** Options of `identityEndpoint`. */
export interface IdentityEndpointOptions {
  /**
   * Answers from the session cookie when the route is not behind `protect`.
   * @defaultValue none: the route answers only for requests `protect` has admitted
   */
  login?: Login;
}

/** The login routes resolved once: which route a path is, and how to answer it. */
export interface LoginRouter {
  readonly paths: { login: string; callback: string; logout: string };
  route(method: string, path: string): 'login' | 'callback' | 'logout' | undefined;
  handle(route: 'login' | 'callback' | 'logout', request: { method: string; url: string; headers: NodeHeaders }): Promise<ResponseParts>;
}

/** Validates the login-route options once (a bad one throws `ERR_CONFIG_INVALID`). */
export function createLoginRouter(login: Login, options: LoginRoutesOptions = {}): LoginRouter {
  if (typeof login !== 'object' || login === null || typeof login.start !== 'function') {
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid login routes configuration: the first argument must be a login from `createLogin`');
  }
  const o = parseWith(loginRoutesOptionsSchema, options, 'login routes');
  const countryHeader = o.countryHeader?.toLowerCase();
  const paths = { login: o.loginPath, callback: o.callbackPath, logout: o.logoutPath };
  return {
    paths,
    route(method, path) {
      if (method !== 'GET' && method !== 'HEAD' && !(method === 'POST' && (path === paths.logout || path === paths.callback))) return undefined;
      if (path === paths.login) return 'login';
      if (path === paths.callback) return 'callback';
      if (path === paths.logout) return 'logout';
      return undefined;
    },
    async handle(route, request) {
      const like = toRequestLike(request);
      if (route === 'login') return toResponseParts(await login.start(like));
      if (route === 'logout') return toResponseParts(await login.logout(like));
      const country = countryHeader === undefined ? undefined : headerOf(request.headers, countryHeader);
      return toResponseParts(await login.callback(like, country !== undefined && /^[A-Za-z]{2}$/.test(country) ? { country: country.toUpperCase() } : {}));
    },
  };
}

/**
 * The identity endpoint's answer: Cloudflare's get-identity JSON for the request's
 * `auth` (behind `protect`), else for its session (with a login), else a 401.
 */
export async function identityParts(
  auth: Auth | null | undefined,
  options: IdentityEndpointOptions,
  request: { method: string; url: string; headers: NodeHeaders },
): Promise<ResponseParts> {
  const body = auth ? identityJson(auth) : undefined;
  if (body !== undefined) return json(200, body);
  if (options.login !== undefined) return toResponseParts(await options.login.identity(toRequestLike(request)));
  const missing = { error: 'unauthorized', code: 'ERR_TOKEN_MISSING', message: 'no bearer token or session was presented' } as const;
  return json(401, missing, { 'www-authenticate': challengeOf(missing) });
}

function json(status: number, body: unknown, extra: Record<string, string> = {}): ResponseParts {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra },
    body: Buffer.from(JSON.stringify(body)),
  };
}
