import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { LRUCache } from 'lru-cache';
import { EntragateError, SessionError, StoreError, TokenError } from '../errors/index.js';
import type { Identity } from '../types.js';
import type { IdentityStore, SessionIdentity } from '../session/identity-store.js';
import type { ImportedKey } from './keys.js';
import type { Sealer } from './seal.js';

/** The claims of a session token: those of Cloudflare's application token (`type: "app"`). */
export interface SessionClaims {
  /** The app's AUD tag, in an array as Cloudflare sends it. */
  aud: string[];
  /** The identity's email when the session was issued (see {@link Identity.email}); `''` when it had none. Not re-read later. */
  email: string;
  /** The Entra `oid` (else the token `sub`). */
  sub: string;
  /** When the session was issued (Unix seconds): also its `nbf`, and the time revocations are compared with. */
  iat: number;
  /** Not valid before (Unix seconds): always equal to `iat`. */
  nbf: number;
  /**
   * When the session ends (Unix seconds): `iat` plus its duration (the application's `session_duration`, else
   * the gate's global one, unless `createSession` was given `durationSeconds`). Not the expiry of the Entra
   * tokens behind it: renewal refreshes the identity, not this.
   */
  exp: number;
  /** The login's `issuer` option (by default the origin of its redirect URI): whose session this is. */
  iss: string;
  /** Key of the server-side identity (groups included), as Cloudflare's get-identity uses it. */
  identity_nonce: string;
  /** Always `app`, as in Cloudflare's application token; any other value fails verification. */
  type: 'app';
  /** Country the user authenticated from, when known. */
  country?: string;
}

/** A verified session and the identity it points at. */
export interface AuthenticatedSession {
  /** Tells it apart from a bearer token (`AuthenticatedBearer.kind` is `bearer`). */
  kind: 'session';
  /** The identity stored under the session's `identity_nonce` at login; under `identity_update_behavior: 'automatic'`, resolved again (standing, groups) at this request. */
  identity: Identity;
  /** The verified claims of the session cookie (frozen). */
  session: SessionClaims;
  /** Country the user authenticated from, when known. */
  country?: string;
}

/** The settings the session manager runs with (built once by `createLogin`). */
export interface SessionSettings {
  signing: ImportedKey;
  /** Every key a session may be verified with, by `kid` (the signing key included). */
  verification: ReadonlyMap<string, ImportedKey>;
  issuer: string;
  audience: string;
  cacheMax: number;
  clockTolerance: number;
  maxTokenBytes: number;
  /**
   * Refuses a session issued before a revocation of its user or app (throws `ERR_SESSION_REVOKED`, or a
   * 503 when the revocations cannot be read): the gate's `assertNotRevoked`, with the subjects of the
   * session and of the identity it points at. Called on every verification, cache hit or not.
   */
  assertNotRevoked: (claims: SessionClaims, stored: SessionIdentity) => void;
  identities: IdentityStore;
  /** Seals the credentials a session keeps server-side (`SessionIdentity.sealed`). */
  sealer: Sealer;
  now: () => number;
}

/** The credentials a session may keep server-side, sealed (see `SessionIdentity.sealed`). */
export interface SessionSecrets {
  /** The ID token of the login, for Entra's sign-out `id_token_hint`. */
  idToken?: string;
  /** Entra's refresh token, for renewal. */
  refreshToken?: string;
  /** When Entra last confirmed the session (login or renewal), Unix seconds. */
  renewedAt?: number;
}

interface CacheEntry {
  /** The whole token: the cache is keyed by its signature only, so a hit is confirmed against it. */
  token: string;
  claims: SessionClaims;
  /** `exp` in ms: a cached session is never accepted at or after it. */
  expiresAt: number;
  /** The last answer, reused while the identity store returns the same object. */
  last: AuthenticatedSession | undefined;
  /** The stored identity `last` was built from (a renewal replaces it, even with an equal identity). */
  lastStored: SessionIdentity | undefined;
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A 16-character identity nonce like Cloudflare's (`6ei69kawdKzMIAPF`), ~95 bits. */
export function newIdentityNonce(): string {
  const bytes = randomBytes(16);
  let out = '';
  // 62 × 4 = 248 < 256: reject bytes ≥ 248 to keep the draw uniform.
  for (let i = 0; out.length < 16; i++) {
    if (i === bytes.length) {
      bytes.set(randomBytes(16));
      i = 0;
    }
    const b = bytes[i]!;
    if (b < 248) out += NONCE_ALPHABET[b % 62];
  }
  return out;
}

/** The stored identity each verified session result came from (the login's pipeline reads its claims). */
const storedIdentities = new WeakMap<AuthenticatedSession, SessionIdentity>();

/** The stored identity a session result of {@link SessionManager.verify} points at. */
export function storedIdentityOf(session: AuthenticatedSession): SessionIdentity | undefined {
  return storedIdentities.get(session);
}

/** The lower-cased subjects a revocation may name for a user: the `oid`/`sub` and the email. */
export function subjectsOf(sub: string, email: string): string[] {
  const out: string[] = [];
  if (sub) out.push(sub.toLowerCase());
  if (email && email.toLowerCase() !== sub.toLowerCase()) out.push(email.toLowerCase());
  return out;
}

/**
 * Issues and verifies session tokens. Verified tokens are cached (bounded LRU keyed
 * by the cookie value, entries never outliving `exp`); the revocation list and the
 * identity store are consulted on every call, so a revocation takes effect at the
 * next request.
 */
export class SessionManager {
  readonly #s: SessionSettings;
  readonly #cache: LRUCache<string, CacheEntry> | undefined;

  constructor(settings: SessionSettings) {
    this.#s = settings;
    this.#cache = settings.cacheMax > 0 ? new LRUCache<string, CacheEntry>({ max: settings.cacheMax }) : undefined;
  }

  /** Signs a session for `identity`, stores the identity under a fresh nonce, and returns the token and claims. */
  async issue(
    identity: Identity,
    options: {
      durationSeconds: number;
      country?: string | undefined;
      claims?: Readonly<Record<string, unknown>> | undefined;
      secrets?: SessionSecrets | undefined;
    },
  ): Promise<{ token: string; claims: SessionClaims }> {
    const s = this.#s;
    const iat = Math.floor(s.now() / 1000);
    const claims: SessionClaims = {
      aud: [s.audience],
      email: identity.email,
      sub: identity.oid || identity.sub,
      iat,
      nbf: iat,
      exp: iat + options.durationSeconds,
      iss: s.issuer,
      identity_nonce: newIdentityNonce(),
      type: 'app',
      ...(options.country ? { country: options.country } : {}),
    };
    const stored: SessionIdentity = {
      identity,
      issuedAt: iat,
      ...(options.country ? { country: options.country } : {}),
      ...(options.claims ? { claims: options.claims } : {}),
    };
    if (options.secrets !== undefined && Object.keys(options.secrets).length > 0) stored.sealed = this.sealSecrets(options.secrets, claims.identity_nonce);
    await s.identities.set(claims.identity_nonce, stored, claims.exp);
    const token = await new SignJWT({ ...claims } as unknown as JWTPayload)
      .setProtectedHeader({ alg: s.signing.alg, kid: s.signing.kid, typ: 'JWT' })
      .sign(s.signing.key);
    return { token, claims };
  }

  /**
   * Verifies a session token and returns the session and its identity. Throws a
   * `SessionError`: `ERR_TOKEN_MISSING`, `ERR_SESSION_INVALID`, `ERR_SESSION_EXPIRED`
   * or `ERR_SESSION_REVOKED`.
   */
  async verify(token: string): Promise<AuthenticatedSession> {
    const s = this.#s;
    if (typeof token !== 'string' || token.length === 0) throw new TokenError('ERR_TOKEN_MISSING', 'no session cookie was presented');
    const now = s.now();
    // Keyed by the signature's last 32 characters: hashing a fresh 500-byte cookie string costs
    // about 1 µs, 32 characters a few ns. INVARIANT: a hit counts only when the whole token is equal.
    const key = cacheKey(token);
    let entry = this.#cache?.get(key);
    if (entry === undefined || entry.token !== token) {
      entry = await this.#verifyUncached(token, now);
      this.#cache?.set(key, entry);
    } else if (now >= entry.expiresAt) {
      // INVARIANT: a cached session is never accepted at or after its exp.
      this.#cache!.delete(key);
      throw expired(entry.claims.exp);
    }
    const claims = entry.claims;
    let stored: SessionIdentity | undefined;
    try {
      const found = s.identities.get(claims.identity_nonce);
      stored = found instanceof Promise ? await found : found;
    } catch (cause) {
      // INVARIANT: a store that cannot answer is an outage (503), never an allow and never a bad session.
      if (cause instanceof EntragateError) throw cause;
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the identity store could not be read', { cause });
    }
    if (stored === undefined) {
      // Logged out, evicted or lost with a restart: the groups are gone, so the session cannot be honoured.
      throw new SessionError('ERR_SESSION_REVOKED', 'the identity of this session is no longer held (logged out, revoked or evicted): log in again');
    }
    // INVARIANT: revocation is checked on every call, cache hit or not.
    s.assertNotRevoked(claims, stored);
    const last = entry.last;
    if (last !== undefined && entry.lastStored === stored) return last;
    const result: AuthenticatedSession = {
      kind: 'session',
      identity: stored.identity,
      session: claims,
      ...(stored.country ? { country: stored.country } : {}),
    };
    storedIdentities.set(result, stored);
    entry.last = result;
    entry.lastStored = stored;
    return result;
  }

  /**
   * The credentials a stored identity keeps for the session of `nonce`; empty when it keeps none, or
   * when they do not open (sealed with another `transactionSecret`, or for another session).
   */
  secretsOf(stored: SessionIdentity, nonce: string): SessionSecrets {
    if (stored.sealed === undefined) return {};
    const opened = this.#s.sealer.open(stored.sealed, nonce, 65_536);
    if (typeof opened !== 'object' || opened === null) return {};
    const { idToken, refreshToken, renewedAt } = opened as Record<string, unknown>;
    return {
      ...(typeof idToken === 'string' ? { idToken } : {}),
      ...(typeof refreshToken === 'string' ? { refreshToken } : {}),
      ...(typeof renewedAt === 'number' && Number.isFinite(renewedAt) ? { renewedAt } : {}),
    };
  }

  /** Seals a session's credentials for the session of `nonce` (`SessionIdentity.sealed`). */
  sealSecrets(secrets: SessionSecrets, nonce: string): string {
    return this.#s.sealer.seal(secrets, nonce);
  }

  /** Forgets a token's cached verification (logout). */
  evict(token: string): void {
    const key = cacheKey(token);
    if (this.#cache?.get(key)?.token === token) this.#cache.delete(key);
  }

  clearCache(): void {
    this.#cache?.clear();
  }

  async #verifyUncached(token: string, now: number): Promise<CacheEntry> {
    const s = this.#s;
    if (token.length > s.maxTokenBytes) {
      throw new SessionError('ERR_SESSION_INVALID', `the session token is ${token.length} bytes, over the cap of ${s.maxTokenBytes}`);
    }
    // The header is read first so an unknown key or a foreign algorithm gets a precise message.
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (cause) {
      throw new SessionError('ERR_SESSION_INVALID', 'the session token is malformed', { cause });
    }
    const key = typeof header.kid === 'string' ? s.verification.get(header.kid) : undefined;
    if (key === undefined) throw new SessionError('ERR_SESSION_INVALID', `the session key \`${clip(String(header.kid))}\` is unknown`);
    if (header.alg !== key.alg)
      throw new SessionError('ERR_SESSION_INVALID', `the session algorithm \`${clip(String(header.alg))}\` does not match key \`${key.kid}\``);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        issuer: s.issuer,
        audience: s.audience,
        algorithms: [key.alg],
        currentDate: new Date(now),
        clockTolerance: s.clockTolerance,
        requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'iss', 'aud'],
      }));
    } catch (error) {
      if (error instanceof SessionError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw expired(typeof error.payload.exp === 'number' ? error.payload.exp : 0, error);
      throw new SessionError('ERR_SESSION_INVALID', describeJoseError(error), { cause: error });
    }
    const claims = sessionClaims(payload);
    if (claims === undefined)
      throw new SessionError('ERR_SESSION_INVALID', 'the session token is not an app session (`type`, `identity_nonce`, `email` or `aud`)');
    return { token, claims, expiresAt: claims.exp * 1000, last: undefined, lastStored: undefined };
  }
}

/** The cache key of a token: the tail of its signature (a collision only costs a re-verification). */
function cacheKey(token: string): string {
  return token.length > 32 ? token.slice(-32) : token;
}

function expired(exp: number, cause?: unknown): SessionError {
  return new SessionError('ERR_SESSION_EXPIRED', `the session expired at ${new Date(exp * 1000).toISOString()}`, cause === undefined ? {} : { cause });
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the session signature does not verify';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the session claim \`${error.claim}\` is invalid: ${error.reason}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the session algorithm is not allowed';
  return 'the session token is malformed';
}

/** Hand-written guard (no zod on the request path). */
function sessionClaims(p: JWTPayload): SessionClaims | undefined {
  const r = p as Record<string, unknown>;
  if (r.type !== 'app' || typeof r.identity_nonce !== 'string' || r.identity_nonce.length === 0) return undefined;
  if (typeof r.email !== 'string' || typeof r.sub !== 'string' || !Array.isArray(r.aud)) return undefined;
  if (typeof r.iat !== 'number' || typeof r.nbf !== 'number' || typeof r.exp !== 'number' || typeof r.iss !== 'string') return undefined;
  if (r.country !== undefined && typeof r.country !== 'string') return undefined;
  const claims: SessionClaims = {
    aud: r.aud.filter((a): a is string => typeof a === 'string'),
    email: r.email,
    sub: r.sub,
    iat: r.iat,
    nbf: r.nbf,
    exp: r.exp,
    iss: r.iss,
    identity_nonce: r.identity_nonce,
    type: 'app',
    ...(typeof r.country === 'string' ? { country: r.country } : {}),
  };
  return Object.freeze(claims) as SessionClaims;
}

function clip(value: string): string {
  return value.length > 64 ? `${value.slice(0, 64)}…` : value;
}
