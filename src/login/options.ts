import { KeyObject, type JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { relativePath } from '../config/validators.js';
import type { Gate } from '../gate.js';
import { isClientCertificate, type ClientCertificate } from '../credentials/client-credential.js';
import type { IdentityStore } from '../session/identity-store.js';
import type { KeyMaterial, SessionAlgorithm } from './keys.js';
import type { Assert, Equal } from '../config/type-equal.js';

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `must be ${what}`);
const keyMaterial = z.custom<KeyMaterial>(
  (v) =>
    v instanceof KeyObject ||
    (typeof v === 'string' && v.includes('-----BEGIN')) ||
    (typeof v === 'object' && v !== null && typeof (v as JsonWebKey).kty === 'string'),
  'must be a KeyObject, a PEM string or a JWK object',
);
const algorithm = z.enum(['ES256', 'RS256', 'EdDSA']);

/*
 * The options of `createLogin`, written out by hand so an editor shows each one's documentation and
 * default. The zod schema that validates them (below) is internal and checked against the interface at
 * compile time, so the two cannot drift. Units: milliseconds `…Ms`, seconds `…Seconds`.
 */

/** A key sessions are signed with. */
export interface LoginSigningKey {
  /** The key id written to the session's `kid` header. */
  kid: string;
  /** The signature algorithm: `ES256`, `RS256` or `EdDSA`. */
  alg: SessionAlgorithm;
  /** The private key: a `KeyObject`, a PEM string or a JWK object. */
  privateKey: KeyMaterial;
}

/** A key sessions may be verified with (a previous signing key during a rotation). */
export interface LoginVerificationKey {
  /** The key id matched against the session's `kid` header. */
  kid: string;
  /** The signature algorithm: `ES256`, `RS256` or `EdDSA`. */
  alg: SessionAlgorithm;
  /** The public key: a `KeyObject`, a PEM string or a JWK object. */
  publicKey: KeyMaterial;
}

/** The keys sessions are signed and verified with. */
export interface LoginKeysOptions {
  /** The key new sessions are signed with. */
  signing: LoginSigningKey;
  /** Further keys sessions may be verified with (the previous signing keys during a rotation). @defaultValue `[]` */
  verification?: LoginVerificationKey[] | undefined;
}

/** The session cookie and the login transaction cookies. */
export interface LoginCookieOptions {
  /** The session cookie's name; a `__Secure-` or `__Host-` prefix is checked against its rules. @defaultValue `"CF_Authorization"` */
  name?: string | undefined;
  /** The cookies' `Secure` attribute; set `false` only for local http development. @defaultValue `true` */
  secure?: boolean | undefined;
  /** The cookie `Domain` (a host name such as `example.com`). @defaultValue none: the cookie stays on the exact host */
  domain?: string | undefined;
  /** The cookie `Path` (a relative path). @defaultValue `"/"` */
  path?: string | undefined;
  /** Prefix of the login transaction cookies. @defaultValue `"CF_Login"` */
  transactionPrefix?: string | undefined;
}

/** The verified-session cache. */
export interface LoginSessionCacheOptions {
  /** Most verified sessions kept (least recently used dropped first). @defaultValue `10000` */
  max?: number | undefined;
}

/** How `logout` signs the user out of Entra too. */
export interface EntraLogoutOptions {
  /**
   * Send `logout_hint` so Entra signs the user out without an account picker. Its value is the ID
   * token's `login_hint` claim, an optional claim the app registration must add (Token configuration →
   * Add optional claim → ID → `login_hint`); without it the hint is left out. @defaultValue `true`
   */
  logoutHint?: boolean | undefined;
  /**
   * Send `id_token_hint`: the login's ID token is then kept server-side with the session (sealed in the
   * identity store, never in a cookie), about 1.5 KB per session. @defaultValue `false`
   */
  idTokenHint?: boolean | undefined;
}

/** Options accepted by `createLogin`, validated once at construction. */
export interface LoginOptions {
  /** The gate (`createGate`): its IdP configuration, hosts and verifier are used for the login and bearer tokens. */
  gate: Gate;
  /**
   * The Access application of the gate this login serves: its session duration (Cloudflare's precedence:
   * the deciding policy's, else the application's, else the gate's global one) and its AUD tag (`aud` of
   * every session, the unit of `revokeApp`). @defaultValue the gate's only application, if it has exactly one
   */
  application?: string | undefined;
  /** The absolute callback URL registered in Entra (`https://app.example.com/auth/callback`). */
  redirectUri: string;
  /**
   * Scopes asked for. `offline_access` (a refresh token) is not among the defaults: set `refreshTokens`.
   * @defaultValue `openid profile email`, plus `User.Read` when `support_groups` is on and a `groups`
   * source is given, plus `offline_access` with `refreshTokens`
   */
  scopes?: string[] | undefined;
  /**
   * Asks Entra for a refresh token (adds the `offline_access` scope). Without it no refresh token is
   * issued to the app at all. @defaultValue `false`
   */
  refreshTokens?: boolean | undefined;
  /**
   * Renews sessions through Entra: a session Entra last confirmed more than this many seconds ago is
   * renewed with its refresh token (the refresh-token grant, one at a time per session) before it is
   * honoured again; its groups and standing are resolved again from the new ID token. The refresh
   * token is kept server-side in the identity store, sealed (AES-256-GCM, keyed from
   * `transactionSecret`: set it when the store outlives the process or is shared), never in a cookie.
   * Implies `refreshTokens`. When Entra refuses (`invalid_grant`: the user is disabled, blocked or signed
   * out; the token expired or was revoked), the session is ended (`ERR_SESSION_RENEWAL_FAILED`, 401);
   * when Entra cannot be reached, the request answers 503 (`ERR_SESSION_RENEWAL_UNAVAILABLE`) and the
   * session is renewed at a later request. A session without a refresh token (`createSession`) is ended
   * when due. The cookie's lifetime is not extended. 60–31536000.
   *
   * **Several instances** (one shared `identities` store, such as the directory store's): give every
   * instance the same `transactionSecret`. The refresh token and the renewal stamp are sealed with it, so
   * without it an instance cannot open a record another one stored: the session is served while not due,
   * and ended (`ERR_SESSION_RENEWAL_FAILED`) when it falls due there — fail closed, the user logs in again.
   * With it, a session is renewed once per due period on whichever instance sees it first; when Entra
   * refuses another instance the refresh token the first one just redeemed (Entra rotates them), that
   * instance reads the record again past its cache and honours the renewed one. A request on any instance
   * while a renewal is stored sees the old record or the new one, never none. What is still refused: a
   * request on B whose refresh reached Entra after A's but finished before A stored its renewal finds no
   * renewal and ends the session (A then answers `ERR_SESSION_REVOKED`); the user logs in again.
   * @defaultValue none (no renewal)
   */
  renewAfterSeconds?: number | undefined;
  /**
   * How the client authenticates at the token endpoint: with a secret (`client_secret_post`,
   * `client_secret_basic`) or with `clientCertificate` (`private_key_jwt`).
   * @defaultValue `private_key_jwt` with a `clientCertificate`, else `client_secret_post`
   */
  clientAuth?: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | undefined;
  /** The client secret; never logged. @defaultValue the IdP config `client_secret` (unless `clientCertificate` is set) */
  clientSecret?: string | undefined;
  /**
   * A certificate credential instead of a secret (Microsoft's "certificate credentials"; the
   * certificate uploaded under the app registration's Certificates & secrets): the code exchange is
   * authenticated with a `private_key_jwt` client assertion, PS256 with `x5t#S256` (or RS256 with
   * `x5t`). The IdP config's `client_secret` is then not used; an explicit `clientSecret` beside it is
   * refused. The key is checked against the certificate at construction. @defaultValue none (a secret)
   */
  clientCertificate?: ClientCertificate | undefined;
  /** The authority tenant of the login (a tenant id, `organizations` or `common`). @defaultValue the IdP `directory_id` */
  authorityTenant?: string | undefined;
  /**
   * The app's AUD tag (`aud` of sessions, the unit of `revokeApp`). @defaultValue the application's `aud`
   * (its name unless set), or, without an application, the sha256 hex of the client id and redirect origin
   */
  audience?: string | undefined;
  /** `iss` of sessions. @defaultValue the origin of `redirectUri` */
  issuer?: string | undefined;
  /** The keys sessions are signed and verified with. */
  keys: LoginKeysOptions;
  /** The session cookie and the login transaction cookies. @defaultValue `{ name: "CF_Authorization", secure: true, path: "/" }` */
  cookie?: LoginCookieOptions | undefined;
  /**
   * Secret (at least 32 characters) the login transaction cookies are encrypted with, and the key the
   * credentials a session keeps server-side (`renewAfterSeconds`, `entraLogout.idTokenHint`) are sealed
   * from. Set it, the same on every instance, when several instances serve the callback or share the
   * identity store, or when the store outlives the process. @defaultValue random per process
   */
  transactionSecret?: string | undefined;
  /** How long a login may take between `start` and `callback`, in seconds (30–3600). @defaultValue `600` */
  transactionTtlSeconds?: number | undefined;
  /** Where identities (and their groups) live, by `identity_nonce`. @defaultValue an in-memory LRU */
  identities?: IdentityStore | undefined;
  /** The verified-session cache; `false` turns it off. @defaultValue `{ max: 10000 }` */
  sessionCache?: false | LoginSessionCacheOptions | undefined;
  /** Clock tolerance for the session's `exp` and `nbf`, in seconds (0–300). @defaultValue `0` */
  clockToleranceSeconds?: number | undefined;
  /** What `logout` revokes besides this session: `session` (only it) or `user` (every session of the user). @defaultValue `"session"` */
  logoutRevokes?: 'session' | 'user' | undefined;
  /**
   * After logout, also sign out of Entra: redirect to the tenant's `end_session_endpoint` with
   * `post_logout_redirect_uri` (the `postLogoutPath` on the redirect URI's origin; register it as the
   * app's front-channel / sign-out URL). `true` is `{ logoutHint: true }`. @defaultValue `false`
   */
  entraLogout?: boolean | EntraLogoutOptions | undefined;
  /** Where `logout` sends the browser (a relative path). @defaultValue `"/"` */
  postLogoutPath?: string | undefined;
  /** `fetch` for discovery and the token endpoint (tests inject one). @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined;
  /** Timeout of each call to Entra, in milliseconds (100–60000). @defaultValue `10000` */
  timeoutMs?: number | undefined;
  /** The clock, in milliseconds since the epoch (tests inject one). @defaultValue the gate's clock */
  now?: (() => number) | undefined;
}

/** The schema `createLogin` parses its options with. @internal */
export const loginOptionsSchema = z.strictObject({
  gate: z.custom<Gate>((v) => typeof v === 'object' && v !== null && typeof (v as Gate).verifyToken === 'function', 'must be a gate from `createGate`'),
  application: z.string().min(1).optional(),
  redirectUri: z.url({ protocol: /^https?$/ }),
  scopes: z
    .array(z.string().regex(/^[\x21-\x7e]+$/))
    .min(1)
    .optional(),
  refreshTokens: z.boolean().default(false),
  renewAfterSeconds: z.number().int().min(60).max(31_536_000).optional(),
  clientAuth: z.enum(['client_secret_post', 'client_secret_basic', 'private_key_jwt']).optional(),
  clientSecret: z.string().min(1).optional(),
  clientCertificate: z
    .custom<ClientCertificate>(
      isClientCertificate,
      'must be `{ privateKey, certificate, algorithm? }` (a private KeyObject or PEM, a PEM certificate, `PS256` or `RS256`)',
    )
    .optional(),
  authorityTenant: z
    .string()
    .regex(/^[A-Za-z0-9.-]+$/)
    .optional(),
  audience: z.string().min(1).optional(),
  issuer: z.string().min(1).optional(),
  keys: z.strictObject({
    signing: z.strictObject({ kid: z.string().min(1), alg: algorithm, privateKey: keyMaterial }),
    verification: z.array(z.strictObject({ kid: z.string().min(1), alg: algorithm, publicKey: keyMaterial })).default([]),
  }),
  cookie: z
    .strictObject({
      name: z
        .string()
        .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/)
        .default('CF_Authorization'),
      secure: z.boolean().default(true),
      domain: z
        .string()
        .regex(/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'must be a host name such as `example.com`')
        .optional(),
      path: relativePath().default('/'),
      transactionPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('CF_Login'),
    })
    // Browsers silently drop a prefixed cookie that breaks its prefix's rules: refuse it here instead.
    .refine((c) => !c.name.startsWith('__Secure-') || c.secure, { message: 'a `__Secure-` cookie needs `secure: true`', path: ['name'] })
    .refine((c) => !c.name.startsWith('__Host-') || (c.secure && c.domain === undefined && c.path === '/'), {
      message: 'a `__Host-` cookie needs `secure: true`, no `domain` and `path: "/"`',
      path: ['name'],
    })
    .prefault({}),
  transactionSecret: z.string().min(32).optional(),
  transactionTtlSeconds: z.number().int().min(30).max(3600).default(600),
  identities: z
    .custom<IdentityStore>(
      (v) => typeof v === 'object' && v !== null && ['get', 'set', 'delete'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      'must have `get`, `set` and `delete`',
    )
    .optional(),
  sessionCache: z.union([z.literal(false), z.strictObject({ max: z.number().int().min(1).default(10_000) })]).prefault({}),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(0),
  logoutRevokes: z.enum(['session', 'user']).default('session'),
  entraLogout: z
    .union([
      z.boolean(),
      z.strictObject({
        logoutHint: z.boolean().default(true),
        idTokenHint: z.boolean().default(false),
      }),
    ])
    .default(false)
    .transform((v) => (v === false ? undefined : v === true ? { logoutHint: true, idTokenHint: false } : v)),
  postLogoutPath: relativePath().default('/'),
  fetch: fn<typeof fetch>('a fetch function').optional(),
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  now: fn<() => number>('a function returning ms').optional(),
});

/** The options after validation. */
export type ParsedLoginOptions = z.output<typeof loginOptionsSchema>;

type _LoginOptionsMatch = Assert<Equal<z.input<typeof loginOptionsSchema>, LoginOptions>>;
