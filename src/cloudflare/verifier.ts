import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { isGuid, parseWith } from '../config/idp.js';
import { TokenError } from '../errors/index.js';
import { channels } from '../diagnostics.js';
import { decodeJwt, type DecodedJwt } from '../token/jwt.js';
import { quote } from '../token/quote.js';
import type { GroupMembership, IdpRef } from '../types.js';
import { AccessKeyStore } from './key-store.js';
import { normalizeTeamDomain } from './team-domain.js';
import { ACCESS_ASSERTION, type AccessAssertion, type AccessIdentity, type AccessServiceAssertion, type AccessUserAssertion } from './types.js';

/** Options of {@link createAccessVerifier}. Durations in milliseconds end in `Ms`, in seconds in `Seconds`. */
export interface AccessVerifierOptions {
  /**
   * The team domain, exactly as Cloudflare writes it in `iss`: `https://<team>.cloudflareaccess.com`
   * (the host or the bare team name are accepted too). Keys come from `<teamDomain>/cdn-cgi/access/certs`.
   * `http:` only on a loopback host (the mock).
   */
  teamDomain: string;
  /** The Access application's AUD tag, or several (one application may have more): the token's `aud` must contain one. */
  aud: string | readonly string[];
  /** Clock tolerance for `exp`, `nbf` and `iat`, in seconds (pass `gate.clockTolerance`). @defaultValue 60 */
  clockToleranceSeconds?: number;
  /** Assertions longer than this are refused before any parsing. @defaultValue 16384 */
  maxTokenBytes?: number;
  /**
   * The Cloudflare identity-provider id of your Entra login method, stamped as `identity.idp.id` (the token
   * does not name the login method; `azureAD` and `login_method` rules compare it). Give the Access
   * application only that login method, or the get-identity source's `idpId` check, so that a login
   * through another one does not read as Entra. @defaultValue `'azureAD'` (as the gate's, without an IdP id)
   */
  idpId?: string;
  /**
   * The custom OIDC claim (in the token's `custom`) that carries the Entra object id, when you configured
   * one on the Entra login method (Cloudflare: "custom OIDC claims", e.g. `oid`): it becomes `identity.oid`
   * (a GUID, else ignored), which the SCIM directory matches as it matches Entra tokens.
   * @defaultValue none: `oid` is `''`
   */
  oidClaim?: string;
  /**
   * The Entra tenant (GUID) whose users this team signs in, stamped as `identity.tid`. Set it only when the
   * Access application allows that tenant's Entra login method alone: the SCIM directory then matches the
   * user by email within its tenant. @defaultValue none: `tid` is `''`, and the directory matches by `oid` only
   */
  tenantId?: string;
  /** Verified assertions kept (LRU), each until its `exp` at most; `0` turns the cache off. @defaultValue 10000 */
  cacheMax?: number;
  /** `fetch` for the certs (tests inject one). @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch;
  /** Clock in ms (tests inject one). @defaultValue `Date.now` */
  now?: () => number;
  /** Deadline of each certs fetch, body included. @defaultValue 5000 */
  timeoutMs?: number;
  /**
   * Minimum time between refetches triggered by an unknown `kid`. Shorter than Entra's 5 minutes: Cloudflare
   * signs with a new key as soon as it rotates, so a token with a new `kid` may arrive right after a fetch.
   * @defaultValue 30000
   */
  cooldownMs?: number;
  /** After a failed certs fetch, the time before another is tried (a cold cache fails fast meanwhile). @defaultValue 5000 */
  failureBackoffMs?: number;
  /** Keys older than this are refreshed in the background on use. @defaultValue 3600000 */
  refreshIntervalMs?: number;
}

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `must be ${what}` });
const audTag = z.string().min(1).regex(/^\S+$/, { message: 'an AUD tag has no whitespace' });

const optionsSchema = z.strictObject({
  teamDomain: z.string().min(1),
  aud: z.union([audTag, z.array(audTag).min(1)]),
  clockToleranceSeconds: z.number().int().min(0).max(600).default(60),
  maxTokenBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
  idpId: z.string().min(1).default('azureAD'),
  oidClaim: z
    .string()
    .min(1)
    .refine((v) => v !== '__proto__', { message: 'not a claim name' })
    .optional(),
  tenantId: z.string().refine(isGuid, { message: 'must be a tenant GUID' }).optional(),
  cacheMax: z.number().int().min(0).default(10_000),
  fetch: fn<typeof fetch>('a fetch function').optional(),
  now: fn<() => number>('a function returning ms').optional(),
  timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
  cooldownMs: z.number().int().min(0).default(30_000),
  failureBackoffMs: z.number().int().min(0).default(5_000),
  refreshIntervalMs: z.number().int().min(1_000).default(3_600_000),
});

// The schema reads exactly the interface: a field added to one and not the other fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesInterface: Same<keyof z.input<typeof optionsSchema>, keyof AccessVerifierOptions> = true;
void schemaMatchesInterface;

/** Verifies Cloudflare Access assertions for one team and application. See {@link createAccessVerifier}. */
export interface AccessVerifier {
  /** The team domain, normalised: the exact `iss` accepted. */
  readonly teamDomain: string;
  /** The AUD tags accepted. */
  readonly audiences: readonly string[];
  /**
   * Verifies an assertion (the `Cf-Access-Jwt-Assertion` value, or the `CF_Authorization` cookie: see
   * {@link accessAssertionOf}) and says whose it is: a user or a service token. Rejects with a
   * `TokenError` (401-class: malformed, wrong key, issuer, audience, lifetime, `type`) or a `JwksError`
   * (`ERR_JWKS_UNAVAILABLE`, 503, when the certs cannot be fetched and no cached key serves).
   */
  verify(assertion: unknown): Promise<AccessAssertion>;
  /** Forgets every cached verification (for example after a key compromise). */
  clearCache(): void;
}

interface CacheEntry {
  result: AccessAssertion;
  /** The whole assertion: a hit must equal it, since the cache key is only its tail. */
  token: string;
  kid: string;
  /** `exp` in ms: an entry never outlives it. */
  expiresAt: number;
}

const FORBIDDEN_HEADERS = ['crit', 'jku', 'x5u', 'jwk'] as const;
const NONE = Object.freeze([]) as unknown as never[];
const NO_FIELDS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const ABSENT: GroupMembership = Object.freeze({ state: 'absent' });

/**
 * Creates a verifier of the application token Cloudflare Access sends to the origin
 * (Cloudflare's "Validate JWTs"): RS256 with a `kid`, keys from the team's
 * `/cdn-cgi/access/certs` (matched on `kid`, refetched on an unknown one with a single flight and a
 * cooldown, cached keys kept through an outage, a cold-cache outage a 503), `iss` exactly the team
 * domain, `aud` containing the application's AUD tag, `exp` / `nbf` / `iat` with the clock tolerance,
 * and `type: "app"` (a global-session `org` token is refused). The JWS is decoded strictly (the
 * project's `decodeJwt`): three canonical base64url segments, JSON objects. The signature is checked
 * with `node:crypto`, and verified assertions are cached (bounded LRU keyed by the signature, never
 * past `exp`, never once their key is withdrawn).
 *
 * A user's assertion becomes an {@link AccessIdentity} (membership `absent`: the token carries no
 * groups); a service token's (`common_name` set, `sub` empty) an {@link AccessServiceAssertion},
 * never a user. An assertion that names both, or neither, is refused.
 *
 * What it does NOT do: it does not read the request (see {@link accessAssertionOf}), look up groups
 * (see `createAccessIdentityGroupSource`), check revocations (the gate's list does) or re-check that
 * the user still passes the Access policies at the edge (Cloudflare did, when it issued the token).
 * Misconfiguration throws `ERR_CONFIG_INVALID` here, at construction.
 *
 * @example
 * ```ts
 * import { accessAssertionOf, createAccessVerifier } from 'entragate';
 * declare const headers: Record<string, string | string[] | undefined>;
 *
 * const access = createAccessVerifier({ teamDomain: 'https://contoso.cloudflareaccess.com', aud: process.env.ACCESS_AUD! });
 * const result = await access.verify(accessAssertionOf(headers));
 * if (result.kind === 'user') console.log(result.identity.email);
 * else console.log('service token', result.commonName);
 * ```
 */
export function createAccessVerifier(options: AccessVerifierOptions): AccessVerifier {
  const o = parseWith(optionsSchema, options, 'cloudflare access verifier');
  const teamDomain = normalizeTeamDomain(o.teamDomain, 'cloudflare access verifier');
  const audiences: readonly string[] = Object.freeze(typeof o.aud === 'string' ? [o.aud] : [...o.aud]);
  const accepted = new Set(audiences);
  const now = o.now ?? Date.now;
  const keys = new AccessKeyStore({
    teamDomain,
    fetch: o.fetch ?? globalThis.fetch,
    now,
    timeoutMs: o.timeoutMs,
    cooldownMs: o.cooldownMs,
    failureBackoffMs: o.failureBackoffMs,
    refreshIntervalMs: o.refreshIntervalMs,
  });
  const idp: Readonly<IdpRef> = Object.freeze({ id: o.idpId, type: 'azureAD' });
  const tid = o.tenantId?.toLowerCase() ?? '';
  const tolerance = o.clockToleranceSeconds;
  const maxBytes = o.maxTokenBytes;
  const cache = o.cacheMax > 0 ? new LRUCache<string, CacheEntry>({ max: o.cacheMax }) : undefined;

  function check(token: unknown): { token: string; decoded: DecodedJwt; kid: string } {
    if (typeof token !== 'string' || token.length === 0) {
      throw new TokenError('ERR_TOKEN_MISSING', 'no Cloudflare Access assertion was presented');
    }
    if (token.length > maxBytes) {
      throw new TokenError('ERR_TOKEN_TOO_LARGE', `the assertion is ${token.length} bytes, over the cap of ${maxBytes}`);
    }
    const decoded = decodeJwt(token);
    const header = decoded.header;
    // Header checks first: they need no key and refuse the classic attacks (`none`, HS256 keyed with the
    // public key, another algorithm family).
    if (header.alg !== 'RS256') {
      throw new TokenError('ERR_TOKEN_ALG_NOT_ALLOWED', `the assertion algorithm ${quote(header.alg)} is not allowed: only \`RS256\``);
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (name in header) throw new TokenError('ERR_TOKEN_HEADER_UNSUPPORTED', `the assertion header parameter \`${name}\` is not supported`);
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0) {
      throw new TokenError('ERR_TOKEN_MALFORMED', 'the assertion header has no `kid`');
    }
    return { token, decoded, kid: header.kid };
  }

  function finish(token: string, decoded: DecodedJwt, kid: string, key: KeyObject, nowMs: number, cacheKey: string | undefined): AccessAssertion {
    const { payload, signedLength, signature } = decoded;
    const holds = cryptoVerify('RSA-SHA256', Buffer.from(token.slice(0, signedLength), 'latin1'), key, signature);
    if (!holds) throw new TokenError('ERR_TOKEN_SIGNATURE_INVALID', 'the assertion signature does not verify');

    // Claims are read only after the signature holds.
    if (payload.iss !== teamDomain) {
      // The message names no configuration (a caller must not learn the team from a refusal).
      throw new TokenError('ERR_TOKEN_ISSUER_INVALID', `the assertion issuer ${quote(payload.iss)} is not this team's`);
    }
    // Cloudflare writes `aud` as an array of AUD tags; RFC 7519 §4.1.3 allows a single string too.
    const aud = payload.aud;
    const audOk = typeof aud === 'string' ? accepted.has(aud) : Array.isArray(aud) && aud.some((a) => typeof a === 'string' && accepted.has(a));
    if (!audOk) throw new TokenError('ERR_TOKEN_AUDIENCE_INVALID', 'the assertion audience is not the AUD tag of this application');

    const nowSec = nowMs / 1000;
    const exp = payload.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the assertion has no numeric `exp` claim');
    if (nowSec >= exp + tolerance) throw new TokenError('ERR_TOKEN_EXPIRED', `the assertion expired at ${new Date(exp * 1000).toISOString()}`);
    const nbf = payload.nbf;
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf)))
      throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the assertion `nbf` claim is not a number');
    if (typeof nbf === 'number' && nowSec + tolerance < nbf) {
      throw new TokenError('ERR_TOKEN_NOT_YET_VALID', `the assertion is not valid before ${new Date(nbf * 1000).toISOString()}`);
    }
    const iat = payload.iat;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the assertion has no numeric `iat` claim');
    if (nowSec + tolerance < iat)
      throw new TokenError('ERR_TOKEN_NOT_YET_VALID', `the assertion was issued in the future (${new Date(iat * 1000).toISOString()})`);

    // INVARIANT: only an application token passes: the global session token (`org`, the team domain's
    // cookie) is not meant for an origin, and a token without `type` is not one Cloudflare documents.
    if (payload.type !== 'app') {
      throw new TokenError(
        'ERR_ACCESS_ASSERTION_INVALID',
        payload.type === 'org'
          ? 'the assertion is a global session token (`type: "org"`), not an application token'
          : `the assertion \`type\` ${quote(payload.type)} is not \`app\``,
      );
    }

    const sub = payload.sub;
    const cn = payload.common_name;
    if (sub !== undefined && typeof sub !== 'string') throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the assertion `sub` claim is not a string');
    if (cn !== undefined && typeof cn !== 'string') throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the assertion `common_name` claim is not a string');
    const isService = typeof cn === 'string' && cn.length > 0;
    const isUser = typeof sub === 'string' && sub.length > 0;
    // INVARIANT: a service token is never a user, and an assertion that could be read as either is neither.
    if (isService === isUser) {
      throw new TokenError(
        'ERR_ACCESS_ASSERTION_INVALID',
        isService
          ? 'the assertion names both a user (`sub`) and a service token (`common_name`)'
          : 'the assertion names neither a user (`sub`) nor a service token (`common_name`)',
      );
    }

    let result: AccessAssertion;
    if (isService) {
      const service: AccessServiceAssertion = { kind: 'service', commonName: cn as string, iat, exp, claims: freezeClaims(payload, token) };
      result = Object.freeze(service);
    } else {
      result = Object.freeze(userAssertion(payload, sub as string, iat, exp, token));
    }
    if (cacheKey !== undefined) cache!.set(cacheKey, { result, token, kid, expiresAt: exp * 1000 });
    return result;
  }

  function userAssertion(payload: Record<string, unknown>, sub: string, iat: number, exp: number, token: string): AccessUserAssertion {
    const email = optionalString(payload, 'email');
    const nonce = optionalString(payload, 'identity_nonce');
    const country = optionalString(payload, 'country');
    const custom = payload.custom;
    let oidc_fields = NO_FIELDS;
    if (typeof custom === 'object' && custom !== null && !Array.isArray(custom)) {
      for (const name of Object.keys(custom)) {
        if (name === '__proto__') continue;
        if (oidc_fields === NO_FIELDS) oidc_fields = {};
        oidc_fields[name] = (custom as Record<string, unknown>)[name];
      }
    }
    const oidValue = o.oidClaim === undefined ? undefined : oidc_fields[o.oidClaim];
    const amr = Array.isArray(payload.amr) && payload.amr.every((v) => typeof v === 'string') ? (payload.amr as string[]) : NONE;
    const identity: AccessIdentity = {
      email,
      user_uuid: sub,
      idp: idp as IdpRef,
      amr,
      groups: NONE,
      membership: ABSENT,
      oidc_fields,
      oid: isGuid(oidValue) ? oidValue.toLowerCase() : '',
      tid,
      sub,
      iat,
      exp,
      ver: '2.0',
      identity_nonce: nonce,
      ...(country === '' ? {} : { country }),
    };
    const claims = freezeClaims(payload, token);
    // `custom`'s values are shared with the frozen claims; the copy itself is frozen here.
    if (!Object.isFrozen(oidc_fields)) Object.freeze(oidc_fields);
    return { kind: 'user', identity: Object.freeze(identity), claims };
  }

  function verifyNow(token: unknown): AccessAssertion | Promise<AccessAssertion> {
    const nowMs = now();
    // The last 32 characters of the signature are as unique as the whole and cost nothing to hash; the
    // full comparison below rules out any collision.
    const cacheKey = cache !== undefined && typeof token === 'string' && token.length > 32 && token.length <= maxBytes ? token.slice(-32) : undefined;
    if (cacheKey !== undefined) {
      const hit = cache!.get(cacheKey);
      if (hit !== undefined && hit.token === token) {
        // INVARIANT: a cached assertion is never honoured at or after its exp, nor once its key is withdrawn.
        if (nowMs < hit.expiresAt && keys.isPublished(hit.kid)) return hit.result;
        cache!.delete(cacheKey);
      }
    }
    if (channels.tokenCacheMiss.hasSubscribers) channels.tokenCacheMiss.publish({ source: 'cloudflare-access' });
    const { token: t, decoded, kid } = check(token);
    const key = keys.peek(kid);
    if (key !== undefined) return finish(t, decoded, kid, key, nowMs, cacheKey);
    return keys.getKey(kid).then((fetched) => finish(t, decoded, kid, fetched, nowMs, cacheKey));
  }

  return {
    teamDomain,
    audiences,
    verify(assertion: unknown): Promise<AccessAssertion> {
      try {
        return Promise.resolve(verifyNow(assertion));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    clearCache() {
      cache?.clear();
    },
  };
}

function optionalString(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (value === undefined) return '';
  if (typeof value !== 'string') throw new TokenError('ERR_TOKEN_CLAIM_INVALID', `the assertion \`${name}\` claim is not a string`);
  return value;
}

/**
 * Freezes the parsed claims and every object and array inside them, and attaches the assertion under
 * {@link ACCESS_ASSERTION} (non-enumerable) first: the claims are shared through the cache.
 */
function freezeClaims(decoded: Record<string, unknown>, token: string): Readonly<Record<string, unknown>> {
  // The strict decoder hands back frozen claims: the assertion goes on a shallow copy (once per fresh token).
  const payload = Object.isFrozen(decoded) ? { ...decoded } : decoded;
  Object.defineProperty(payload, ACCESS_ASSERTION, { value: token, enumerable: false, writable: false, configurable: false });
  const pending: object[] = [payload];
  while (pending.length > 0) {
    const current = pending.pop()!;
    Object.freeze(current);
    for (const value of Object.values(current)) {
      if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) pending.push(value);
    }
  }
  return payload;
}
