/*
 * The options of `protect` and `authenticate`, written out by hand so an editor shows each one's
 * documentation and default. The zod schema that validates them (below) is internal and checked against
 * the interface at compile time. Units: seconds `…Seconds`.
 */
import { z } from 'zod';
import type { Assert, Equal } from '../config/type-equal.js';
import { HEADER_NAME, relativePath } from '../config/validators.js';
import type { Login } from '../login/login.js';
import type { ErrorBody, RequestView } from './types.js';

/** A Cloudflare Access service token the adapter accepts (`CF-Access-Client-Id` / `CF-Access-Client-Secret`). */
export interface ServiceTokenCredential {
  /** The token's id: what `service_token` rules name. */
  tokenId: string;
  /** The `CF-Access-Client-Id` value. */
  clientId: string;
  /** The `CF-Access-Client-Secret` value (at least 16 characters); never logged. */
  clientSecret: string;
}

/** How your router matches paths, for Gateway path rules. */
export interface ProtectRoutingOptions {
  /** The router tells `/Admin` from `/admin`. @defaultValue what the adapter reads from the framework (Koa: `false`) */
  caseSensitive?: boolean | undefined;
  /** The router serves `/admin/` as `/admin`. @defaultValue what the adapter reads from the framework (Koa: `true`) */
  ignoreTrailingSlash?: boolean | undefined;
  /** The router ends the path at `;` (Fastify's `useSemicolonDelimiter`). @defaultValue what the adapter reads from the framework (Koa: `false`) */
  semicolonDelimiter?: boolean | undefined;
}

/** Options of `protect`, the same in the Express, Koa and Fastify adapters. */
export interface ProtectOptions {
  /** The login (`entragate/login`): enables the session cookie and redirects browsers without one. @defaultValue none (bearer tokens only) */
  login?: Login | undefined;
  /** Where a browser without a session is sent (the login route), with `returnTo`. @defaultValue `"/login"` */
  loginPath?: string | undefined;
  /** Redirect browsers (`GET`, `Accept: text/html`) without a session to the login; `false` answers 401. @defaultValue `true` */
  redirectBrowsers?: boolean | undefined;
  /**
   * Service tokens accepted from `CF-Access-Client-Id` / `CF-Access-Client-Secret`: `tokenId` is what
   * `service_token` rules name. A pair that matches none is a 401. @defaultValue `[]`
   */
  serviceTokens?: ServiceTokenCredential[] | undefined;
  /**
   * Cloudflare's `read_service_tokens_from_header`: also read a service token from this one header, whose
   * value is the JSON `{"cf-access-client-id": "…", "cf-access-client-secret": "…"}` (for clients that can set
   * only one header). With `authorization`, a `Bearer` value is still a bearer token. @defaultValue none
   */
  serviceTokenHeader?: string | undefined;
  /**
   * The device posture checks that passed for this request (integration uids, which `device_posture` rules
   * name), for example from a device-management proxy's header. @defaultValue none: no posture check passes
   */
  devicePosture?: ((request: RequestView) => readonly string[] | undefined | Promise<readonly string[] | undefined>) | undefined;
  /** Header holding the client's ISO country (`cf-ipcountry` behind Cloudflare); only trust one your proxy sets. @defaultValue none */
  countryHeader?: string | undefined;
  /** Also accept a token from this header (`cf-access-jwt-assertion`), after `Authorization`. @defaultValue none */
  assertionHeader?: string | undefined;
  /**
   * Where a 400, 401 or 5xx goes. `auto`: a client that asks for JSON (`Accept` naming JSON and not HTML, as
   * API clients do) gets the JSON {@link ErrorBody} with the status and headers (`WWW-Authenticate`,
   * `Retry-After`) from the adapter itself, the same in Express, Koa and Fastify; any other request goes to
   * the framework's error handling (`next(err)`, a thrown error) as an `EntragateError` carrying `status`,
   * `statusCode`, `headers` and `expose`. `framework`: every error goes to the framework's error handling.
   * @defaultValue `"auto"`
   */
  errorHandling?: 'auto' | 'framework' | undefined;
  /**
   * `authenticate` only: `false` lets a request without any credential (no token, no session) through
   * without `auth` (express-oauth2-jwt-bearer's option of that name); a credential that is given but not
   * valid is still a 401. Refused on `protect`, whose policies decide who may pass. @defaultValue `true`
   */
  authRequired?: boolean | undefined;
  /** Put the decision trace in 403 bodies (debugging only: it names policies and groups). @defaultValue `false` */
  exposeTrace?: boolean | undefined;
  /** The `Retry-After` on a 503 (IdP or Graph down), in seconds (1–86400). @defaultValue `30` */
  retryAfterSeconds?: number | undefined;
  /** The user's delegated Graph token for the Graph group source, when the app has one per request. @defaultValue none */
  graphToken?: ((request: RequestView) => string | undefined) | undefined;
  /**
   * Gateway targets only: what a request without any credential (no token, session or service token) gets.
   * `'challenge'` answers it as an Access target does: 401 with the bare `Bearer` challenge for an API client,
   * the login for a browser when a login is configured. `'evaluate'` runs the rules without an identity: a rule
   * that reads `identity.*` is then unknown (a Block that might match denies, an Allow does not allow), one
   * that reads only `http.*` / `net.*` decides. @defaultValue `"challenge"`
   */
  anonymous?: 'challenge' | 'evaluate' | undefined;
  /**
   * How your router matches paths, when the adapter cannot read it: Express reads the app's `case sensitive
   * routing` and `strict routing`, Fastify its `caseSensitive`, `ignoreTrailingSlash` and `useSemicolonDelimiter`;
   * Koa assumes @koa/router's defaults (case-insensitive, trailing slash ignored). Set it for an
   * `express.Router({ caseSensitive, strict })` or a @koa/router with `sensitive` / `strict`, so a Gateway path
   * rule reads `/Admin/` as the `/admin` your router serves for it. @defaultValue what the adapter reads from the framework
   */
  routing?: ProtectRoutingOptions | undefined;
}

/** Options of `authenticate` (Express, Koa and Fastify alike): `protect`'s, without the Gateway-only `anonymous`. */
export type AuthenticateOptions = Omit<ProtectOptions, 'anonymous'>;

const headerName = z.string().regex(HEADER_NAME, 'must be a header name');
const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `must be ${what}`);

/** The schema `protect` parses its options with. @internal */
export const protectOptionsSchema = z.strictObject({
  login: z
    .custom<Login>((v) => typeof v === 'object' && v !== null && typeof (v as Login).authenticate === 'function', 'must be a login from `createLogin`')
    .optional(),
  loginPath: relativePath().default('/login'),
  redirectBrowsers: z.boolean().default(true),
  serviceTokens: z
    .array(
      z.strictObject({
        tokenId: z.string().min(1),
        clientId: z.string().min(1),
        clientSecret: z.string().min(16, 'a service token secret must be at least 16 characters'),
      }),
    )
    .default([]),
  serviceTokenHeader: headerName.optional(),
  devicePosture: fn<(request: RequestView) => readonly string[] | undefined | Promise<readonly string[] | undefined>>('a function').optional(),
  countryHeader: headerName.optional(),
  assertionHeader: headerName.optional(),
  errorHandling: z.enum(['auto', 'framework']).default('auto'),
  authRequired: z.boolean().optional(),
  exposeTrace: z.boolean().default(false),
  retryAfterSeconds: z.number().int().min(1).max(86_400).default(30),
  graphToken: fn<(request: RequestView) => string | undefined>('a function').optional(),
  anonymous: z.enum(['challenge', 'evaluate']).optional(),
  routing: z
    .strictObject({
      caseSensitive: z.boolean().optional(),
      ignoreTrailingSlash: z.boolean().optional(),
      semicolonDelimiter: z.boolean().optional(),
    })
    .optional(),
});

type _ProtectOptionsMatch = Assert<Equal<z.input<typeof protectOptionsSchema>, ProtectOptions>>;
