import { z } from 'zod';
import { HEADER_NAME, relativePath } from '../config/validators.js';
import type { Login } from '../login/login.js';
import type { RequestView } from './types.js';

const headerName = z.string().regex(HEADER_NAME, 'must be a header name');
const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `must be ${what}`);

/**
 * Options of `protect`, the same in the Express, Koa and Fastify adapters.
 */
export const protectOptionsSchema = z.strictObject({
  /** The login (`entragate/login`): enables the session cookie and redirects browsers without one. */
  login: z
    .custom<Login>((v) => typeof v === 'object' && v !== null && typeof (v as Login).authenticate === 'function', 'must be a login from `createLogin`')
    .optional(),
  /** Where a browser without a session is sent (the login route), with `returnTo`. @defaultValue `/login` */
  loginPath: relativePath().default('/login'),
  /** Redirect browsers (`GET`, `Accept: text/html`) without a session to the login; `false` answers 401. @defaultValue true */
  redirectBrowsers: z.boolean().default(true),
  /**
   * Service tokens accepted from `CF-Access-Client-Id` / `CF-Access-Client-Secret`:
   * `tokenId` is what `service_token` rules name. A pair that matches none is a 401.
   */
  serviceTokens: z
    .array(z.strictObject({ tokenId: z.string().min(1), clientId: z.string().min(1), clientSecret: z.string().min(16, 'a service token secret must be at least 16 characters') }))
    .default([]),
  /**
   * Cloudflare's `read_service_tokens_from_header`: also read a service token from this one header, whose
   * value is the JSON `{"cf-access-client-id": "…", "cf-access-client-secret": "…"}` (for clients that can set
   * only one header). With `authorization`, a `Bearer` value is still a bearer token.
   */
  serviceTokenHeader: headerName.optional(),
  /**
   * The device posture checks that passed for this request (integration uids, which `device_posture` rules
   * name), for example from a device-management proxy's header. Without it no posture check passes.
   */
  devicePosture: fn<(request: RequestView) => readonly string[] | undefined | Promise<readonly string[] | undefined>>('a function').optional(),
  /** Header holding the client's ISO country (`cf-ipcountry` behind Cloudflare); only trust one your proxy sets. */
  countryHeader: headerName.optional(),
  /** Also accept a token from this header (`cf-access-jwt-assertion`), after `Authorization`. Off by default. */
  assertionHeader: headerName.optional(),
  /**
   * Where a 400, 401 or 5xx goes. `auto`: a client that asks for JSON (`Accept` naming JSON and not HTML, as
   * API clients do) gets the JSON {@link ErrorBody} with the status and headers (`WWW-Authenticate`,
   * `Retry-After`) from the adapter itself, the same in Express, Koa and Fastify; any other request goes to
   * the framework's error handling (`next(err)`, a thrown error) as an `EntragateError` carrying `status`,
   * `statusCode`, `headers` and `expose`. `framework`: every error goes to the framework's error handling.
   * @defaultValue `auto`
   */
  errorHandling: z.enum(['auto', 'framework']).default('auto'),
  /**
   * `authenticate` only: `false` lets a request without any credential (no token, no session) through
   * without `auth` (express-oauth2-jwt-bearer's option of that name); a credential that is given but not
   * valid is still a 401. Refused on `protect`, whose policies decide who may pass. @defaultValue true
   */
  authRequired: z.boolean().optional(),
  /** Put the decision trace in 403 bodies (debugging only: it names policies and groups). @defaultValue false */
  exposeTrace: z.boolean().default(false),
  /** `Retry-After` seconds on a 503 (IdP or Graph down). @defaultValue 30 */
  retryAfter: z.number().int().min(1).max(86_400).default(30),
  /** The user's delegated Graph token for the Graph group source, when the app has one per request. */
  graphToken: fn<(request: RequestView) => string | undefined>('a function').optional(),
  /**
   * Gateway targets only: what a request without any credential (no token, session or service token) gets.
   * `'challenge'` answers it as an Access target does: 401 with the bare `Bearer` challenge for an API client,
   * the login for a browser when a login is configured. `'evaluate'` runs the rules without an identity: a rule
   * that reads `identity.*` is then unknown (a Block that might match denies, an Allow does not allow), one
   * that reads only `http.*` / `net.*` decides. @defaultValue 'challenge'
   */
  anonymous: z.enum(['challenge', 'evaluate']).optional(),
  /**
   * How your router matches paths, when the adapter cannot read it: Express reads the app's `case sensitive
   * routing` and `strict routing`, Fastify its `caseSensitive`, `ignoreTrailingSlash` and `useSemicolonDelimiter`;
   * Koa assumes @koa/router's defaults (case-insensitive, trailing slash ignored). Set it for an
   * `express.Router({ caseSensitive, strict })` or a @koa/router with `sensitive` / `strict`, so a Gateway path
   * rule reads `/Admin/` as the `/admin` your router serves for it.
   */
  routing: z
    .strictObject({
      /** The router tells `/Admin` from `/admin`. */
      caseSensitive: z.boolean().optional(),
      /** The router serves `/admin/` as `/admin`. */
      ignoreTrailingSlash: z.boolean().optional(),
      /** The router ends the path at `;` (Fastify's `useSemicolonDelimiter`). */
      semicolonDelimiter: z.boolean().optional(),
    })
    .optional(),
});

/** Options of `protect` (Express, Koa and Fastify alike). */
export type ProtectOptions = z.input<typeof protectOptionsSchema>;

/** Options of `authenticate` (Express, Koa and Fastify alike): `protect`'s, without the Gateway-only `anonymous`. */
export type AuthenticateOptions = Omit<ProtectOptions, 'anonymous'>;
