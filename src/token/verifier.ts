import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ConfigError } from '../errors/index.js';
import type { Identity } from '../types.js';
import { channels } from '../diagnostics.js';
import { isGuid } from '../config/idp.js';
import { decodeJwt, type DecodedJwt } from './jwt.js';
import { identityFromClaims, type IdentityMapping } from './identity.js';
import type { FoundKey, KeySetRef, KeyStore } from './key-store.js';
import { quote } from './quote.js';
import { rejected } from './rejected.js';

/** Microsoft Graph's application id and resource URIs: tokens for Graph are not for this app. */
const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://graph.microsoft.com/',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);

const FORBIDDEN_HEADERS = ['crit', 'jku', 'x5u', 'jwk'] as const;

/** The normalised options the verifier runs with (built once by `createGate`). */
export interface VerifierSettings {
  keys: KeyStore;
  /** Allowed tenants, or `*` for any tenant (multi-tenant metadata). */
  tenants: ReadonlySet<string> | '*';
  audiences: ReadonlySet<string>;
  versions: ReadonlySet<'1.0' | '2.0'>;
  /** Seconds. */
  clockTolerance: number;
  maxTokenBytes: number;
  mapping: IdentityMapping;
  /** The login authority (for the v2 issuer a v1 token's key may name). */
  authorityHost: string;
  /** Accept app-only tokens (client credentials: no user). */
  allowAppTokens: boolean;
  cacheMax: number;
  now: () => number;
}

/** Per-call options of `verify`. */
export interface VerifyOptions {
  /**
   * For ID tokens from a login: the `nonce` sent to `/authorize`; the token's `nonce` must equal
   * it. Bypasses the verified-token cache.
   */
  nonce?: string;
  /**
   * The token is an ID token from the login callback, not a bearer token. `nonce` is then
   * required (a `ConfigError` otherwise: an ID token is only ever checked against its login).
   * App-only detection does not apply: the client credentials grant never yields an ID token, and
   * an ID token may name its client in `azp` (OpenID Connect Core §2) without any `scp`.
   * @defaultValue false
   */
  idToken?: boolean;
}

/** A verified token: the identity and the (frozen) claims it came from. */
export interface VerifiedToken {
  /** The token's user, with `membership` as the token alone states it (complete from a `groups` claim, absent, or overage): no group source, revocation or standing has been consulted. */
  identity: Identity;
  /** Every claim of the token's payload, frozen all the way down, decoded strictly (no member twice, valid UTF-8). */
  claims: Readonly<Record<string, unknown>>;
  /** The token's protected header (frozen). */
  header?: Readonly<Record<string, unknown>>;
}

/** What `#precheck` learnt, for `#finish`. */
interface Precheck {
  decoded: DecodedJwt;
  ver: '1.0' | '2.0';
  tid: string;
  keyTenant: string;
  kid: string;
}

const identityOf = (verified: VerifiedToken): Identity => verified.identity;

interface CacheEntry {
  verified: VerifiedToken;
  /** The key set and kid it was verified with: a hit needs the key still published. */
  keySet: KeySetRef;
  kid: string;
  /** The whole token: a hit must equal it, since the cache key is only its tail. */
  token: string;
  /** Token `exp` in ms: a cached entry never outlives it. */
  expiresAt: number;
}

/**
 * Verifies Entra ID tokens (v1 and v2, ID and access tokens) with Microsoft's rules:
 * RS256 only; issuer from the tenant's discovery document (the `{tenantid}` template
 * checked against `tid` for multi-tenant); the signing key's own `issuer` checked;
 * audience = client id or `api://` client id; lifetime with a clock tolerance.
 *
 * Verification uses `node:crypto` directly on a key imported once, and verified
 * identities are cached (bounded LRU) until their `exp`, so a repeated token costs
 * no signature check.
 *
 * It verifies ID tokens as well as access tokens (the login callback's, with `idToken: true`, and a
 * renewal's refreshed one). A bearer credential must be an access token: the gate's request path
 * (`identifyToken`) applies `assertAccessToken` to every token this verifies for it, which refuses a
 * user's token without `scp` (`ERR_TOKEN_NOT_ACCESS_TOKEN`) and one with a `nonce`.
 */
export class TokenVerifier {
  readonly #s: VerifierSettings;
  readonly #cache: LRUCache<string, CacheEntry> | undefined;
  /** Scratch space for the signature check (grown up to the token size cap). */
  #scratch: Buffer = Buffer.allocUnsafeSlow(4096);

  constructor(settings: VerifierSettings) {
    this.#s = settings;
    this.#cache = settings.cacheMax > 0 ? new LRUCache<string, CacheEntry>({ max: settings.cacheMax }) : undefined;
  }

  /** Verifies `token` and returns the identity it carries. Rejects with a `TokenError` or `JwksError`. */
  verify(token: unknown, options: VerifyOptions = {}): Promise<Identity> {
    try {
      const result = this.#verify(token, options);
      return result instanceof Promise ? result.then(identityOf) : Promise.resolve(result.identity);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Like `verify`, and also returns the verified claims. */
  verifyToken(token: unknown, options: VerifyOptions = {}): Promise<VerifiedToken> {
    try {
      return Promise.resolve(this.#verify(token, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The verification itself, synchronous whenever the key is cached (a promise only when a
   * key must be fetched), so the public methods make just the one promise they return.
   */
  #verify(token: unknown, options: VerifyOptions): VerifiedToken | Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0) {
      throw rejected('ERR_TOKEN_MISSING', 'no bearer token was presented');
    }
    if (token.length > this.#s.maxTokenBytes) {
      throw rejected('ERR_TOKEN_TOO_LARGE', `the token is over the size cap (${token.length} bytes)`, { maxTokenBytes: this.#s.maxTokenBytes });
    }
    if (options.idToken === true && options.nonce === undefined) {
      throw new ConfigError('ERR_CONFIG_INVALID', 'invalid verify options: `idToken: true` needs the `nonce` sent to `/authorize`');
    }
    const now = this.#s.now();
    // Each request brings a new header string, and V8 hashes a string key in full the first
    // time (~1 µs for a 1.5 KB token). The last 32 characters of the signature are as unique
    // and cost nothing to hash; the full comparison below rules out any collision.
    const key = this.#cache !== undefined && options.nonce === undefined ? token.slice(-32) : undefined;
    if (key !== undefined) {
      const hit = this.#cache!.get(key);
      if (hit !== undefined && hit.token === token) {
        // INVARIANT: a cached identity is never returned at or after the token exp, nor once its
        // signing key is withdrawn (an emergency rollover); then the token is verified afresh.
        if (now < hit.expiresAt && this.#s.keys.isPublished(hit.keySet, hit.kid)) return hit.verified;
        this.#cache!.delete(key);
      }
    }
    if (channels.tokenCacheMiss.hasSubscribers) channels.tokenCacheMiss.publish({});
    const pre = this.#precheck(token);
    const found = this.#s.keys.peek(pre.keyTenant, pre.ver, pre.kid);
    if (found !== undefined) return this.#complete(token, pre, found, now, options, key);
    return this.#s.keys.getKey(pre.keyTenant, pre.ver, pre.kid).then((fetched) => this.#complete(token, pre, fetched, now, options, key));
  }

  /** Finishes a verification and remembers it under `cacheKey` (when caching). */
  #complete(token: string, pre: Precheck, found: FoundKey, now: number, options: VerifyOptions, cacheKey: string | undefined): VerifiedToken {
    const verified = this.#finish(token, pre, found, now, options);
    if (cacheKey !== undefined) {
      this.#cache!.set(cacheKey, { verified, token, keySet: found.set, kid: pre.kid, expiresAt: verified.identity.exp * 1000 });
    }
    return verified;
  }

  /** Forgets every cached verification (for example after a key compromise). */
  clearCache(): void {
    this.#cache?.clear();
  }

  /**
   * RS256 over the signing input. The input is copied into a scratch buffer the verifier keeps,
   * instead of a new buffer per token: the check is synchronous, so nothing else can touch the
   * scratch between the write and the verify. The signature was decoded into its own buffer.
   */
  #signatureHolds(token: string, signedLength: number, signature: Buffer, key: KeyObject): boolean {
    // The token passed the size cap, and the signing input is no longer in bytes than in characters.
    if (this.#scratch.length < signedLength) this.#scratch = Buffer.allocUnsafeSlow(token.length);
    const scratch = this.#scratch;
    // The signing input passed the base64url check: latin1 copies it byte for byte.
    scratch.write(token, 0, signedLength, 'latin1');
    return cryptoVerify('RSA-SHA256', scratch.subarray(0, signedLength), key, signature);
  }

  /** Everything that needs no key: shape, header, version and tenant (before any key is fetched). */
  #precheck(token: string): Precheck {
    const s = this.#s;
    const decoded = decodeJwt(token);
    const { header, payload } = decoded;

    // Header checks come first: they need no key and refuse the classic attacks.
    if (typeof header.nonce === 'string') {
      throw rejected(
        'ERR_TOKEN_GRAPH_TOKEN',
        'this is a Microsoft Graph access token (its header has `nonce`): only Graph can verify it; request a token for your own API scope',
      );
    }
    if (header.alg !== 'RS256') {
      throw rejected('ERR_TOKEN_ALG_NOT_ALLOWED', `the token algorithm ${quote(header.alg)} is not allowed: only \`RS256\``);
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (Object.hasOwn(header, name)) throw rejected('ERR_TOKEN_HEADER_UNSUPPORTED', `the token header parameter \`${name}\` is not supported`);
    }
    if (typeof header.kid !== 'string' || header.kid.length === 0) {
      throw rejected('ERR_TOKEN_MALFORMED', 'the token header has no `kid`');
    }
    if (typeof payload.aud === 'string' && GRAPH_AUDIENCES.has(payload.aud)) {
      throw rejected(
        'ERR_TOKEN_GRAPH_TOKEN',
        `the token audience ${quote(payload.aud)} is Microsoft Graph: only Graph can verify it; request a token for your own API scope`,
      );
    }

    const ver = tokenVersion(payload);
    if (ver === undefined) throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token has no valid `ver` claim (1.0 or 2.0)');
    if (!s.versions.has(ver)) throw rejected('ERR_TOKEN_VERSION_NOT_ALLOWED', `v${ver} tokens are not accepted`, { accepted: [...s.versions] });

    const tid = payload.tid;
    // The allow-list holds lowercase GUIDs, and Entra writes `tid` so: a hit needs no other check.
    let tenant = tid as string;
    if (s.tenants === '*' || !s.tenants.has(tenant)) {
      if (!isGuid(tid)) throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token `tid` claim is missing or not a GUID');
      tenant = tid.toLowerCase();
      // INVARIANT: keys are only ever fetched for allowed tenants, so a forged tid cannot make us fetch anything else.
      if (s.tenants !== '*' && !s.tenants.has(tenant)) {
        throw rejected('ERR_TOKEN_TENANT_NOT_ALLOWED', `the tenant \`${tenant}\` is not allowed`);
      }
    }

    // Multi-tenant apps use the tenant-independent metadata, whose issuer is the `{tenantid}` template.
    const keyTenant = s.tenants !== '*' ? tenant : ver === '2.0' ? 'organizations' : 'common';
    return { decoded, ver, tid: tid as string, keyTenant, kid: header.kid };
  }

  /** The signature, then the claims; runs once the key is at hand. */
  #finish(token: string, pre: Precheck, found: FoundKey, now: number, options: VerifyOptions): VerifiedToken {
    const s = this.#s;
    const { payload, signedLength, signature } = pre.decoded;
    const { ver, tid } = pre;
    const { key, issuer } = found;
    if (!this.#signatureHolds(token, signedLength, signature, key.key)) {
      throw rejected('ERR_TOKEN_SIGNATURE_INVALID', 'the token signature does not verify');
    }

    // Claims are read only after the signature holds. What this gate expected (its issuer, its
    // home tenant) goes to the diagnostics channel, never into the caller's error.
    const iss = payload.iss;
    if (typeof iss !== 'string') throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token has no `iss` claim');
    const expected = substituteTenant(issuer, tid);
    if (iss !== expected) {
      throw rejected('ERR_TOKEN_ISSUER_INVALID', `the token issuer ${quote(iss)} is not accepted`, { expected });
    }
    if (key.issuer !== undefined) {
      const keyIssuer = substituteTenant(key.issuer, tid);
      // Entra's per-key issuer is a v2 issuer; a v1 token from the same tenant names the v1 one.
      const sameTenantV2 = ver === '1.0' && keyIssuer === `${s.authorityHost}/${tid}/v2.0`;
      if (keyIssuer !== iss && !sameTenantV2) {
        throw rejected('ERR_TOKEN_ISSUER_INVALID', `the token issuer ${quote(iss)} is not the issuer of its signing key`, {
          kid: key.kid,
          keyIssuer: key.issuer,
        });
      }
    }

    const aud = payload.aud;
    if (typeof aud !== 'string' || !s.audiences.has(aud)) {
      throw rejected('ERR_TOKEN_AUDIENCE_INVALID', `the audience ${quote(aud)} is not accepted`);
    }
    // INVARIANT: a bearer token with no user (an app-only token, from the client credentials
    // grant) is refused unless asked for. See `isAppOnly` for the rule; an ID token from the login
    // (`idToken: true`) is never app-only.
    if (!s.allowAppTokens && options.idToken !== true && isAppOnly(payload)) {
      throw rejected('ERR_TOKEN_CLAIM_INVALID', 'an app-only token carries no user', { allowAppTokens: false });
    }

    const nowSec = now / 1000;
    const exp = payload.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token has no numeric `exp` claim');
    if (nowSec >= exp + s.clockTolerance) throw rejected('ERR_TOKEN_EXPIRED', `the token expired at ${new Date(exp * 1000).toISOString()}`);
    const nbf = payload.nbf;
    if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf)))
      throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token `nbf` claim is not a number');
    if (typeof nbf === 'number' && nowSec + s.clockTolerance < nbf) {
      throw rejected('ERR_TOKEN_NOT_YET_VALID', `the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
    }
    const iat = payload.iat;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token has no numeric `iat` claim');
    if (nowSec + s.clockTolerance < iat)
      throw rejected('ERR_TOKEN_NOT_YET_VALID', `the token was issued in the future (${new Date(iat * 1000).toISOString()})`);

    if (options.nonce !== undefined && payload.nonce !== options.nonce) {
      throw rejected('ERR_TOKEN_NONCE_MISMATCH', 'the ID token `nonce` does not match the login request');
    }
    // The claims came frozen all the way down from `decodeJwt`: `oidc_fields` shares their values,
    // and the cache shares both.
    return { identity: freezeIdentity(identityFromClaims(payload, ver, s.mapping)), claims: payload, header: pre.decoded.header };
  }
}

/**
 * Refuses a verified token that is not an access token, where one is presented as a bearer credential
 * (`Authorization: Bearer`, the gate's request path; the login callback verifies its ID token with
 * `idToken: true` and never comes here). An ID token is for the client, not for an API (OpenID Connect
 * Core §2), and the login hands one to the browser in the sign-out's `id_token_hint`. Two rules:
 *
 * - A token with a `nonce` is a login's ID token (OpenID Connect Core §3.1.2.1; an access token never
 *   carries one): `ERR_TOKEN_CLAIM_INVALID`.
 * - A token for a user must carry a non-empty `scp`: Microsoft's access token claims reference gives every
 *   delegated (user) access token the scopes the client was granted, and its ID token claims reference has
 *   no `scp` at all. `roles` cannot tell them apart, since an ID token carries the user's app roles too.
 *   Otherwise `ERR_TOKEN_NOT_ACCESS_TOKEN`; an `scp` that is not a string is `ERR_TOKEN_CLAIM_INVALID`. An app-only token (see `isAppOnly`: `idtyp: "app"`, or no
 *   `scp` and no user) has no `scp` by nature and carries `roles` or nothing; the verifier already refused
 *   it unless `allowAppTokens` is set, so it passes here.
 *
 * The checks read a few claims: nothing measurable beside the signature.
 */
export function assertAccessToken(claims: Readonly<Record<string, unknown>>): void {
  if (claims.nonce !== undefined) {
    throw rejected('ERR_TOKEN_CLAIM_INVALID', 'this is an ID token (it carries a `nonce`), not an access token: send an access token for the API');
  }
  const scp = claims.scp;
  if (typeof scp === 'string') {
    if (NON_SPACE.test(scp)) return;
  } else if (scp !== undefined) {
    // Entra writes `scp` as one space-separated string (v1 and v2): anything else is a broken token.
    throw rejected('ERR_TOKEN_CLAIM_INVALID', 'the token `scp` claim is not a string');
  }
  if (isAppOnly(claims)) return;
  throw rejected(
    'ERR_TOKEN_NOT_ACCESS_TOKEN',
    'this token for a user carries no `scp`: it is not an access token (an ID token?): send an access token for the API',
  );
}

const NON_SPACE = /[^ ]/;

/**
 * Whether a bearer token is app-only: a service principal's token from the client credentials
 * grant, with no user behind it. Entra says so outright with the optional claim `idtyp: "app"`;
 * without it, an app-only token is one with no `scp` (delegated tokens always carry their scopes)
 * and no user. "No user" is Microsoft's own description of app-only tokens: their `sub` and `oid`
 * are the same (both the service principal's object id), where a user's `sub` is a pairwise id
 * per application that never equals the directory `oid`; and a token without a `sub` names no
 * user at all. The client's id in `azp` or `appid` says nothing either way: delegated tokens and
 * ID tokens carry it too. (Microsoft identity platform access tokens, "User and application
 * tokens"; the access token claims reference for `scp`, `oid`, `sub` and `idtyp`.)
 */
function isAppOnly(payload: Readonly<Record<string, unknown>>): boolean {
  if (payload.idtyp === 'app') return true;
  if (typeof payload.scp === 'string' && payload.scp.length > 0) return false;
  const sub = payload.sub;
  return typeof sub !== 'string' || sub.length === 0 || sub === payload.oid;
}

/** The token version from `ver`, or from the issuer shape when `ver` is absent. */
function tokenVersion(payload: Record<string, unknown>): '1.0' | '2.0' | undefined {
  if (payload.ver === '2.0' || payload.ver === '1.0') return payload.ver;
  if (payload.ver !== undefined) return undefined;
  const iss = payload.iss;
  if (typeof iss !== 'string') return undefined;
  return iss.endsWith('/v2.0') ? '2.0' : '1.0';
}

/** Replaces Entra's `{tenantid}` template (any case) with the tenant id. */
function substituteTenant(issuer: string, tid: string): string {
  return issuer.includes('{') ? issuer.replace(/\{tenantid\}/i, tid) : issuer;
}

/**
 * Identities are shared through the cache: freeze them so no caller can change another's.
 * The shared parts (`idp`, the empty lists, the usual membership states) are frozen already.
 */
function freezeIdentity(identity: Identity): Identity {
  if (!Object.isFrozen(identity.amr)) Object.freeze(identity.amr);
  if (!Object.isFrozen(identity.groups)) {
    for (const g of identity.groups) Object.freeze(g);
    Object.freeze(identity.groups);
  }
  if (!Object.isFrozen(identity.oidc_fields)) Object.freeze(identity.oidc_fields);
  if (!Object.isFrozen(identity.membership)) Object.freeze(identity.membership);
  return Object.freeze(identity);
}
