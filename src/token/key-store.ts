import { createPublicKey, type KeyObject } from 'node:crypto';
import { JwksError } from '../errors/index.js';
import { publish, channels } from '../diagnostics.js';
import { quote } from './quote.js';
import { rejected } from './rejected.js';
import { readCapped } from './read-capped.js';
import { isSecureHost } from './secure-host.js';

/** A signing key from a JWKS, imported once. */
export interface SigningKey {
  kid: string;
  key: KeyObject;
  /** Entra's non-standard per-key `issuer` (may hold the `{tenantid}` template). */
  issuer?: string;
}

/** The keys and issuer of one tenant (or `organizations`) and token version. */
interface KeySet {
  /** `issuer` from the discovery document; a template (`{tenantid}`) for multi-tenant metadata. */
  issuer: string | undefined;
  jwksUri: string | undefined;
  /** When the discovery document was last read (ms): keys refresh hourly, metadata twice a day. */
  discoveredAt: number;
  /** The keys by `kid`, each with this set's issuer and handle (built once per fetch, shared by every lookup). */
  keys: Map<string, FoundKey>;
  /** When keys were last fetched successfully (ms); 0 when never. */
  fetchedAt: number;
  /** When the last fetch attempt started (ms), successful or not. */
  attemptedAt: number;
  /** The last attempt failed with this error (cleared on success). */
  failure: JwksError | undefined;
  /** The fetch in flight; every caller awaits this one (single flight). */
  inflight: Promise<void> | undefined;
  /** This set's handle for verified-token cache entries. */
  ref: InternalRef;
}

/** A signing key found for a token, with the issuer of its key set and the set's handle. */
export interface FoundKey {
  readonly key: SigningKey;
  /** The key set's issuer (from its discovery document; a `{tenantid}` template for multi-tenant metadata). */
  readonly issuer: string;
  readonly set: KeySetRef;
}

/** Which key set a verification used (opaque to callers). */
export interface KeySetRef {
  readonly tenant: string;
}

interface InternalRef extends KeySetRef {
  ver: '1.0' | '2.0';
  set: KeySet;
}

/** Options of the key store; all durations in milliseconds. */
export interface KeyStoreOptions {
  authorityHost: string;
  fetch: typeof fetch;
  now: () => number;
  /** Deadline of each HTTP fetch, body included; a refresh (discovery, then keys) settles within twice it, plus a second. */
  timeout: number;
  /** Minimum time between refetches triggered by an unknown `kid` (Microsoft: no more often than every 5 minutes). */
  cooldown: number;
  /** After a failed fetch, the time before another is tried (a cold cache fails fast meanwhile). */
  failureBackoff: number;
  /** Keys older than this are refreshed in the background on use (Microsoft: every hour). */
  refreshInterval: number;
}

const MAX_DOCUMENT_BYTES = 512 * 1024;
/** Discovery metadata is re-read at most this often (Microsoft suggests 12 h); keys hourly or on an unknown kid. */
const DISCOVERY_TTL = 12 * 3_600_000;

/**
 * Discovery and JWKS per tenant and token version, cached. An unknown `kid`
 * triggers one refetch at most per cooldown, shared by concurrent callers, so a
 * flood of bogus kids costs one fetch. When the endpoint is down, cached keys
 * keep working; a cold cache fails with `ERR_JWKS_UNAVAILABLE` (503), never a 401.
 */
export class KeyStore {
  /** Key sets by token version, then tenant. */
  readonly #sets = { '1.0': new Map<string, KeySet>(), '2.0': new Map<string, KeySet>() };
  readonly #options: KeyStoreOptions;

  constructor(options: KeyStoreOptions) {
    this.#options = options;
  }

  /**
   * The signing key `kid` of `tenant` for token version `ver`, with the issuer the
   * discovery document announces. `tenant` is a tenant GUID, or `organizations`
   * for multi-tenant metadata.
   */
  async getKey(tenant: string, ver: '1.0' | '2.0', kid: string): Promise<FoundKey> {
    const sets = this.#sets[ver];
    let set = sets.get(tenant);
    if (set === undefined) {
      const created: KeySet = {
        issuer: undefined,
        jwksUri: undefined,
        discoveredAt: 0,
        keys: new Map(),
        fetchedAt: 0,
        attemptedAt: 0,
        failure: undefined,
        inflight: undefined,
        ref: undefined as unknown as InternalRef,
      };
      created.ref = { tenant, ver, set: created };
      set = created;
      sets.set(tenant, set);
    }
    const now = this.#options.now();
    const cached = this.peek(tenant, ver, kid);
    if (cached !== undefined) return cached;

    if (set.inflight !== undefined) {
      await set.inflight.catch(() => undefined);
    } else if (set.fetchedAt === 0 ? this.#mayAttempt(set, now, this.#options.failureBackoff) : this.#mayAttempt(set, now, this.#options.cooldown)) {
      await this.#refresh(set, tenant, ver).catch(() => undefined);
    }

    const found = set.keys.get(kid);
    if (found !== undefined) return found;
    // The last attempt failed (cold, or a refresh): an unknown kid may be a key we could not
    // fetch, so this is an outage (503), not a bad token; it clears with the next success.
    if (set.fetchedAt === 0 || set.failure !== undefined) {
      throw new JwksError(
        'ERR_JWKS_UNAVAILABLE',
        `signing keys for tenant \`${tenant}\` (v${ver}) are unavailable: ${set.failure?.message ?? 'not fetched yet'}`,
        set.failure === undefined ? {} : { cause: set.failure },
      );
    }
    // The key set is named on the diagnostics channel only: for a multi-tenant gate it says so.
    throw rejected('ERR_TOKEN_KEY_NOT_FOUND', `no signing key ${quote(kid)} is published for the token`, { keySet: tenant, ver });
  }

  /**
   * Whether `kid` is still in the last key set fetched for the set a verification used: the
   * check of a verified-token cache hit (O(1)). Like `getKey`, it starts a background refresh
   * of keys older than the refresh interval, so a withdrawn key stops being honoured from the
   * cache too.
   */
  isPublished(ref: KeySetRef, kid: string): boolean {
    const set = (ref as InternalRef).set;
    const now = this.#options.now();
    if (now - set.fetchedAt >= this.#options.refreshInterval && this.#mayAttempt(set, now, this.#options.failureBackoff)) {
      this.#refresh(set, (ref as InternalRef).tenant, (ref as InternalRef).ver).catch(() => undefined);
    }
    return set.keys.has(kid);
  }

  /**
   * The cached key `kid`, synchronously, or `undefined` when it is not cached (then call
   * `getKey`). Keys older than the refresh interval are refreshed in the background: the
   * request goes on with the cached key, and a failed refresh keeps it.
   */
  peek(tenant: string, ver: '1.0' | '2.0', kid: string): FoundKey | undefined {
    const set = this.#sets[ver].get(tenant);
    const cached = set?.keys.get(kid);
    if (set === undefined || cached === undefined) return undefined;
    const now = this.#options.now();
    if (now - set.fetchedAt >= this.#options.refreshInterval && this.#mayAttempt(set, now, this.#options.failureBackoff)) {
      this.#refresh(set, tenant, ver).catch(() => undefined);
    }
    return cached;
  }

  /** Drops every cached key set (for example after a configuration change). */
  clear(): void {
    this.#sets['1.0'].clear();
    this.#sets['2.0'].clear();
  }

  #mayAttempt(set: KeySet, now: number, wait: number): boolean {
    return set.inflight === undefined && (set.attemptedAt === 0 || now - set.attemptedAt >= wait);
  }

  #refresh(set: KeySet, tenant: string, ver: '1.0' | '2.0'): Promise<void> {
    if (set.inflight !== undefined) return set.inflight;
    set.attemptedAt = this.#options.now();
    const started = set.attemptedAt;
    const run = async (): Promise<void> => {
      let { issuer, jwksUri } = set;
      if (jwksUri === undefined || issuer === undefined || started - set.discoveredAt >= DISCOVERY_TTL) {
        const discoveryUrl =
          ver === '2.0'
            ? `${this.#options.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`
            : `${this.#options.authorityHost}/${tenant}/.well-known/openid-configuration`;
        const discovery = await this.#getJson(discoveryUrl, 'discovery document');
        if (typeof discovery.jwks_uri !== 'string' || !isSecureHost(discovery.jwks_uri, { allowQuery: true })) {
          throw new JwksError('ERR_JWKS_UNAVAILABLE', `the discovery document of tenant \`${tenant}\` has no https \`jwks_uri\``);
        }
        if (typeof discovery.issuer !== 'string') {
          throw new JwksError('ERR_JWKS_UNAVAILABLE', `the discovery document of tenant \`${tenant}\` has no \`issuer\``);
        }
        jwksUri = discovery.jwks_uri;
        issuer = discovery.issuer;
      }
      const jwks = await this.#getJson(jwksUri, 'JWKS');
      const keys = new Map<string, FoundKey>();
      for (const [kid, key] of importKeys(jwks)) keys.set(kid, Object.freeze({ key, issuer, set: set.ref }));
      if (set.jwksUri !== jwksUri || set.issuer !== issuer) set.discoveredAt = started;
      set.issuer = issuer;
      set.jwksUri = jwksUri;
      set.keys = keys;
      set.fetchedAt = this.#options.now();
      set.failure = undefined;
      publish(channels.jwks, { tenant, ver, ok: true, keys: keys.size, ms: set.fetchedAt - started });
    };
    const fail = (cause: unknown): never => {
      const error =
        cause instanceof JwksError
          ? cause
          : new JwksError('ERR_JWKS_UNAVAILABLE', `fetching keys for tenant \`${tenant}\` failed: ${describe(cause)}`, { cause });
      set.failure = error;
      publish(channels.jwks, { tenant, ver, ok: false, code: error.code, message: error.message });
      throw error;
    };
    // INVARIANT: the single flight settles and clears within its own deadline, whatever the fetches
    // do: a stuck attempt can never hold back the verifications that wait on it, nor later attempts.
    // Each fetch has its own deadline already (discovery, then keys: two at most), and this one does
    // not rely on them.
    const flight = settleWithin(run(), 2 * this.#options.timeout + FLIGHT_SLACK_MS, () => new JwksError('ERR_JWKS_UNAVAILABLE', 'the key refresh timed out'))
      .catch(fail)
      .finally(() => {
        set.inflight = undefined;
      });
    set.inflight = flight;
    return flight;
  }

  /**
   * Fetches a JSON object. The whole exchange — connection, headers and body — settles within the
   * timeout: the deadline is a timer of our own that rejects, and it also aborts the request and
   * cancels the body, so a server that sends its headers and then dribbles the body cannot hold a
   * fetch open. It does not rely on `AbortSignal.timeout` alone: Node 20's bundled undici lets a
   * collected `Request` drop its abort listener when `redirect: 'error'` is set (nodejs/undici#4627,
   * fixed by nodejs/undici#4750), after which the signal no longer stops the read. So redirects are
   * not followed (`redirect: 'manual'`) and a 3xx answer, or a response that says it was
   * redirected, is a failed fetch: keys come from the URL asked for, not from where it points.
   */
  async #getJson(url: string, what: string): Promise<Record<string, unknown>> {
    const controller = new AbortController();
    let body: ReadableStreamDefaultReader<Uint8Array> | ReadableStream<Uint8Array> | undefined;
    const timedOut = (): JwksError => new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} timed out after ${this.#options.timeout} ms`);
    const exchange = async (): Promise<Record<string, unknown>> => {
      const response = await this.#options.fetch(url, { signal: controller.signal, headers: { accept: 'application/json' }, redirect: 'manual' });
      body = response.body ?? undefined;
      if (response.redirected || (response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
        throw new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} answered with a redirect (HTTP ${response.status}): redirects are not followed`);
      }
      if (!response.ok) throw new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} answered HTTP ${response.status}`);
      const text = await readCapped(
        response,
        MAX_DOCUMENT_BYTES,
        () => new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} is over ${MAX_DOCUMENT_BYTES} bytes`),
        (reader) => {
          body = reader;
        },
      );
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        throw new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} is not JSON`, { cause });
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new JwksError('ERR_JWKS_UNAVAILABLE', `the ${what} is not a JSON object`);
      }
      return value as Record<string, unknown>;
    };
    try {
      return await settleWithin(exchange(), this.#options.timeout, timedOut);
    } catch (error) {
      // Whatever ended the exchange (the deadline, a bad answer), the connection is let go.
      controller.abort();
      void Promise.resolve(body?.cancel()).catch(() => undefined);
      throw error;
    }
  }
}

/** Slack on top of the two fetch deadlines before the single flight gives up on its own. */
const FLIGHT_SLACK_MS = 1_000;

/**
 * `promise`, or a rejection with `timeout()` once `ms` have passed, whichever comes first. The
 * timer is our own, so the deadline holds even when the promise never settles.
 */
function settleWithin<T>(promise: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  // The loser of the race must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Imports the RSA signing keys of a JWKS; keys of other types or uses are skipped. */
function importKeys(jwks: Record<string, unknown>): Map<string, SigningKey> {
  const keys = new Map<string, SigningKey>();
  if (!Array.isArray(jwks.keys)) throw new JwksError('ERR_JWKS_UNAVAILABLE', 'the JWKS has no `keys` array');
  for (const jwk of jwks.keys as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const k = jwk as Record<string, unknown>;
    if (k.kty !== 'RSA' || typeof k.kid !== 'string' || typeof k.n !== 'string' || typeof k.e !== 'string') continue;
    if (k.use !== undefined && k.use !== 'sig') continue;
    if (keys.has(k.kid)) continue;
    try {
      const key = createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
      keys.set(k.kid, typeof k.issuer === 'string' ? { kid: k.kid, key, issuer: k.issuer } : { kid: k.kid, key });
    } catch {
      // An unparseable key is skipped; the others stay usable.
    }
  }
  return keys;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
