import { createPublicKey, type KeyObject } from 'node:crypto';
import { JwksError, TokenError } from '../errors/index.js';
import { channels, publish } from '../diagnostics.js';
import { quote } from '../token/quote.js';
import { fetchJson, settleWithin } from './fetch-json.js';

/** Options of the Access key store; all durations in milliseconds. */
export interface AccessKeyStoreOptions {
  /** The team domain (`https://<team>.cloudflareaccess.com`, normalised). */
  teamDomain: string;
  fetch: typeof fetch;
  now: () => number;
  /** Deadline of each certs fetch, body included. */
  timeoutMs: number;
  /** Minimum time between refetches triggered by an unknown `kid`. */
  cooldownMs: number;
  /** After a failed fetch, the time before another is tried (a cold cache fails fast meanwhile). */
  failureBackoffMs: number;
  /** Keys older than this are refreshed in the background on use. */
  refreshIntervalMs: number;
}

/** The certs document is a few kilobytes (two keys, twice). */
const MAX_CERTS_BYTES = 256 * 1024;
/** Slack on top of the fetch deadline before the single flight gives up on its own. */
const FLIGHT_SLACK_MS = 1_000;

/**
 * The signing keys of one Cloudflare Access team, from `<team domain>/cdn-cgi/access/certs`, cached.
 * The same rules as the Entra key store: an unknown `kid` triggers one refetch at most per cooldown,
 * shared by concurrent callers (single flight), so a flood of bogus kids costs one fetch; when the
 * endpoint is down, cached keys keep working; a cold cache fails with `ERR_JWKS_UNAVAILABLE` (503),
 * never a 401.
 *
 * Cloudflare publishes two keys: the current one, which signs every new token at once, and the
 * previous one, valid for 7 days after a rotation (every 6 weeks by default, or by hand through the
 * API). Keys are read from `keys` (JWK) and matched on `kid` only; `public_cert` / `public_certs`
 * (the same keys as PEM certificates) are not read.
 */
export class AccessKeyStore {
  readonly #o: AccessKeyStoreOptions;
  readonly #url: string;
  #keys = new Map<string, KeyObject>();
  /** When keys were last fetched successfully (ms); 0 when never. */
  #fetchedAt = 0;
  /** When the last fetch attempt started (ms), successful or not; 0 when never. */
  #attemptedAt = 0;
  /** The last attempt failed with this error (cleared on success). */
  #failure: JwksError | undefined;
  /** The fetch in flight; every caller awaits this one. */
  #inflight: Promise<void> | undefined;

  constructor(options: AccessKeyStoreOptions) {
    this.#o = options;
    this.#url = `${options.teamDomain}/cdn-cgi/access/certs`;
  }

  /**
   * The cached key `kid`, synchronously, or `undefined` when it is not cached (then call `getKey`).
   * Keys older than the refresh interval are refreshed in the background: the request goes on with
   * the cached key, and a failed refresh keeps it.
   */
  peek(kid: string): KeyObject | undefined {
    const key = this.#keys.get(kid);
    if (key !== undefined) this.#refreshIfStale();
    return key;
  }

  /** The key `kid`, fetching the certs when it is not cached (within the cooldown rules). */
  async getKey(kid: string): Promise<KeyObject> {
    const cached = this.peek(kid);
    if (cached !== undefined) return cached;
    const now = this.#o.now();
    if (this.#inflight !== undefined) {
      await this.#inflight.catch(() => undefined);
    } else if (this.#mayAttempt(now, this.#fetchedAt === 0 ? this.#o.failureBackoffMs : this.#o.cooldownMs)) {
      await this.#refresh().catch(() => undefined);
    }
    const found = this.#keys.get(kid);
    if (found !== undefined) return found;
    // INVARIANT: when the last attempt failed (cold, or a refresh), an unknown kid may be a key we could
    // not fetch: an outage (503), not a bad token; it clears with the next success.
    if (this.#fetchedAt === 0 || this.#failure !== undefined) {
      throw new JwksError(
        'ERR_JWKS_UNAVAILABLE',
        `the signing keys of the Cloudflare Access team \`${this.#o.teamDomain}\` are unavailable: ${this.#failure?.message ?? 'not fetched yet'}`,
        this.#failure === undefined ? {} : { cause: this.#failure },
      );
    }
    // A 401 reaches the caller: it names the kid they sent, not the team.
    throw new TokenError('ERR_TOKEN_KEY_NOT_FOUND', `no signing key ${quote(kid)} of this Cloudflare Access team`);
  }

  /**
   * Whether `kid` is still in the last certs fetched: the check of a verified-assertion cache hit
   * (O(1)), so a withdrawn key stops being honoured from the cache too. Starts a background refresh
   * of keys older than the refresh interval, as `peek` does.
   */
  isPublished(kid: string): boolean {
    this.#refreshIfStale();
    return this.#keys.has(kid);
  }

  /** How many keys are cached (diagnostics, tests). */
  get size(): number {
    return this.#keys.size;
  }

  /** Drops the cached keys (for example after a configuration change); the next use fetches them. */
  clear(): void {
    this.#keys = new Map();
    this.#fetchedAt = 0;
    this.#attemptedAt = 0;
    this.#failure = undefined;
  }

  #refreshIfStale(): void {
    const now = this.#o.now();
    if (now - this.#fetchedAt >= this.#o.refreshIntervalMs && this.#mayAttempt(now, this.#o.failureBackoffMs)) {
      this.#refresh().catch(() => undefined);
    }
  }

  #mayAttempt(now: number, wait: number): boolean {
    return this.#inflight === undefined && (this.#attemptedAt === 0 || now - this.#attemptedAt >= wait);
  }

  #refresh(): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    const started = this.#o.now();
    this.#attemptedAt = started;
    const team = this.#o.teamDomain;
    const fail = (message: string, info: { cause?: unknown } = {}): JwksError =>
      new JwksError('ERR_JWKS_UNAVAILABLE', message, info.cause === undefined ? {} : { cause: info.cause });
    const run = async (): Promise<void> => {
      const document = await fetchJson({
        fetch: this.#o.fetch,
        url: this.#url,
        timeoutMs: this.#o.timeoutMs,
        maxBytes: MAX_CERTS_BYTES,
        what: 'the Cloudflare Access certs',
        fail,
      });
      const keys = importCerts(document, fail);
      this.#keys = keys;
      this.#fetchedAt = this.#o.now();
      this.#failure = undefined;
      publish(channels.jwks, { source: 'cloudflare-access', team, ok: true, keys: keys.size, ms: this.#fetchedAt - started });
    };
    // INVARIANT: the single flight settles and clears within its own deadline, whatever the fetch does:
    // a stuck attempt can never hold back the verifications that wait on it, nor later attempts.
    const flight = settleWithin(run(), this.#o.timeoutMs + FLIGHT_SLACK_MS, () => fail('the Cloudflare Access certs refresh timed out'))
      .catch((cause: unknown) => {
        const error = cause instanceof JwksError ? cause : fail('fetching the Cloudflare Access certs failed', { cause });
        // A failed refresh keeps the keys it had: the endpoint being down is no reason to forget them.
        this.#failure = error;
        publish(channels.jwks, { source: 'cloudflare-access', team, ok: false, code: error.code, message: error.message });
        throw error;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    this.#inflight = flight;
    return flight;
  }
}

/**
 * The RS256 signing keys of a certs document (`{ keys, public_cert, public_certs }`), by `kid`. A key
 * that is not RSA, not for signatures, declares another algorithm, is under 2048 bits, or does not
 * import is skipped; a `kid` given twice is dropped altogether (which of the two would be meant?).
 * A document with no usable key at all is a failed fetch, not an empty key set: Cloudflare always
 * publishes its current key, so an empty answer says the endpoint is broken, and the keys cached
 * before it stay in use.
 */
function importCerts(document: unknown, fail: (message: string) => JwksError): Map<string, KeyObject> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw fail('the Cloudflare Access certs are not a JSON object');
  const list = (document as { keys?: unknown }).keys;
  if (!Array.isArray(list)) throw fail('the Cloudflare Access certs have no `keys` array');
  const keys = new Map<string, KeyObject>();
  const repeated = new Set<string>();
  for (const jwk of list as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const k = jwk as Record<string, unknown>;
    if (k.kty !== 'RSA' || typeof k.kid !== 'string' || k.kid.length === 0 || typeof k.n !== 'string' || typeof k.e !== 'string') continue;
    if (k.use !== undefined && k.use !== 'sig') continue;
    if (k.alg !== undefined && k.alg !== 'RS256') continue;
    if (keys.has(k.kid) || repeated.has(k.kid)) {
      keys.delete(k.kid);
      repeated.add(k.kid);
      continue;
    }
    try {
      const key = createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
      keys.set(k.kid, key);
    } catch {
      // An unparseable key is skipped; the others stay usable.
    }
  }
  if (keys.size === 0) throw fail('the Cloudflare Access certs hold no usable RS256 key');
  return keys;
}
