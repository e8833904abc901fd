import { isSecureHost } from '../token/secure-host.js';
import diagnostics from 'node:diagnostics_channel';
import { setTimeout as delay } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { cloudHosts, type AzureCloud } from '../config/clouds.js';
import { isGuid, parseWith } from '../config/idp.js';
import type { ErrorCode } from '../errors/index.js';
import { quoteId, unknownResolution } from '../groups/resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from '../groups/types.js';
import type { GroupRef, Identity } from '../types.js';

/**
 * The `node:diagnostics_channel` channels the Graph source publishes on. Messages never hold a token or a secret.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { GRAPH_CHANNEL_NAMES } from 'entragate/graph';
 *
 * diagnostics.subscribe(GRAPH_CHANNEL_NAMES.throttled, (m) => console.warn('graph throttled', m));
 * ```
 */
export const GRAPH_CHANNEL_NAMES = {
  /** Every HTTP attempt: `{ target: 'graph' | 'token', method, host, path, status, attempt, durationMs }` (`status` 0 = no response). */
  request: 'entragate:graph:request',
  /** A 429/503 that will be retried: `{ target, status, retryAfterMs, attempt }`. */
  throttled: 'entragate:graph:throttled',
  /** A per-user cache miss: `{ oid }`. */
  cacheMiss: 'entragate:graph:cache-miss',
} as const;

const channels = {
  request: diagnostics.channel(GRAPH_CHANNEL_NAMES.request),
  throttled: diagnostics.channel(GRAPH_CHANNEL_NAMES.throttled),
  cacheMiss: diagnostics.channel(GRAPH_CHANNEL_NAMES.cacheMiss),
};

const CLOUDS = ['default', 'public', 'usgov', 'usgov_dod', 'china'] as const satisfies readonly AzureCloud[];

const hostSchema = z.string().refine((v) => isSecureHost(v), { message: 'must be an https URL without query (http only for localhost)' });
const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `expected ${what}` });

const graphGroupSourceOptions = z
  .strictObject({
    /**
     * Tenant for client credentials (GUID or verified domain). When omitted,
     * the token's `tid` is used per request (multi-tenant apps).
     */
    tenantId: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'must be a tenant id or domain' })
      .optional(),
    /** Application (client) id for client credentials; with `clientSecret`. */
    clientId: z.string().min(1).optional(),
    /** Client secret for client credentials; never logged. */
    clientSecret: z.string().min(1).optional(),
    /** National cloud, as Cloudflare's `azure_cloud`. @defaultValue `'default'` */
    cloud: z.enum(CLOUDS).default('default'),
    /** Overrides the Microsoft Graph host of `cloud`. */
    graphHost: hostSchema.optional(),
    /** Overrides the login authority host of `cloud`. */
    authorityHost: hostSchema.optional(),
    /** Timeout of one HTTP call. @defaultValue `10000` */
    timeoutMs: z.number().int().positive().default(10_000),
    /** Budget for one user's resolution: token, every page, every retry. @defaultValue `30000` */
    deadlineMs: z.number().int().positive().default(30_000),
    /** Retries per call after the first attempt (429, 503, 5xx, network errors, timeouts). @defaultValue `4` */
    maxRetries: z.number().int().min(0).max(10).default(4),
    /** First backoff when no `Retry-After` is given; doubles per retry, with jitter. @defaultValue `500` */
    backoffBaseMs: z.number().int().positive().default(500),
    /** Longest backoff. @defaultValue `8000` */
    backoffMaxMs: z.number().int().positive().default(8_000),
    /** Pages followed at most (999 groups each); more is an error, never a truncated list. @defaultValue `100` */
    maxPages: z.number().int().positive().default(100),
    /**
     * After a lookup fails for an outage (timeouts, 5xx, throttling past the retries), other
     * cache misses fail fast for this long instead of each waiting out `deadlineMs` against a
     * Graph that is down; cached answers keep serving. `0` turns it off. @defaultValue `5000`
     */
    outageBackoffMs: z.number().int().min(0).default(5_000),
    /** Per-user cache of complete answers. `ttlMs: 0` disables it. */
    cache: z
      .strictObject({
        /** @defaultValue `300000` (5 min) */
        ttlMs: z.number().int().min(0).default(300_000),
        /** @defaultValue `10000` users */
        max: z.number().int().positive().default(10_000),
      })
      .default({ ttlMs: 300_000, max: 10_000 }),
    /** Injected `fetch` (tests, proxies). @defaultValue `globalThis.fetch` */
    fetch: fn<typeof fetch>('a fetch function').optional(),
    /** Injected sleep for retries (tests use a fake that records). */
    sleep: fn<(ms: number) => Promise<void>>('a sleep function').optional(),
    /** Injected clock in ms (deadlines, token expiry, cache TTL, `Retry-After` dates). @defaultValue `Date.now` */
    now: fn<() => number>('a clock function').optional(),
    /** Injected randomness in [0, 1) for backoff jitter. @defaultValue `Math.random` */
    random: fn<() => number>('a random function').optional(),
  })
  .refine((o) => (o.clientId === undefined) === (o.clientSecret === undefined), {
    message: 'clientId and clientSecret go together',
    path: ['clientSecret'],
  });

/** Options of {@link createGraphGroupSource}. */
export type GraphGroupSourceOptions = z.input<typeof graphGroupSourceOptions>;

/** A Graph group source with its per-user cache exposed. */
export interface GraphGroupSource extends GroupSource {
  /** Drops one user's cached groups (after a membership change you learned of); a lookup already in flight is not reused nor cached. */
  invalidate(oid: string): void;
  /** Drops every cached answer and application token. */
  clear(): void;
}

interface Failure {
  code: ErrorCode;
  reason: string;
}

type Auth = { kind: 'delegated'; token: string } | { kind: 'application'; tenant: string };

const GROUP_TYPE = '#microsoft.graph.group';
const SAFE_CODE = /^[A-Za-z0-9_.]{1,64}$/;

/**
 * A group source that asks Microsoft Graph for the user's groups, nested ones
 * included: `GET /v1.0/users/{oid}/transitiveMemberOf/microsoft.graph.group`
 * with `$select=id,displayName,mail`, `$top=999`, `$count=true` and
 * `ConsistencyLevel: eventual` on every page, following `@odata.nextLink` to
 * the end.
 *
 * Credentials: a delegated Graph token passed per request (`context.graphToken`,
 * the user's token from the login flow) is used when present (when Graph refuses
 * it with 401, as once it expires, client credentials take over if configured);
 * otherwise client
 * credentials (`clientId`/`clientSecret`, application permission
 * `GroupMember.Read.All` or `Directory.Read.All` with admin consent), the token
 * cached until shortly before it expires and fetched once for concurrent callers.
 *
 * Safety:
 * - The URL is built from the identity's `oid` (checked to be a GUID) and the
 *   configured cloud; an overage token's `_claim_sources` endpoint is never used.
 * - A next link to any other origin or path than the configured Graph host is
 *   refused (the answer is `unknown`), so a hostile page cannot redirect the
 *   bearer token elsewhere.
 * - 429 and 503 wait for `Retry-After` (fractional seconds or a date); other
 *   faults back off exponentially with jitter; each call has a timeout, the
 *   whole resolution a deadline.
 *
 * INVARIANT: when Graph cannot answer in full, the result is `membership:
 * unknown` (`ERR_GRAPH_REQUEST_FAILED`, `ERR_GRAPH_FORBIDDEN`, or
 * `ERR_DIRECTORY_USER_UNKNOWN` for a user Graph does not hold) with the reason,
 * never a partial or empty list presented as complete.
 *
 * Complete answers are cached per user (`cache.ttlMs`, `cache.max`); concurrent
 * misses for one user share one Graph call. Failures are not cached, but after an
 * outage other misses fail fast for `outageBackoffMs` (still `unknown`, never zero groups).
 *
 * @example
 * ```ts
 * import { createGroupSourceChain, createTokenGroupSource } from 'entragate';
 * import { createGraphGroupSource } from 'entragate/graph';
 *
 * const graph = createGraphGroupSource({
 *   tenantId: process.env.ENTRA_TENANT_ID,
 *   clientId: process.env.ENTRA_CLIENT_ID,
 *   clientSecret: process.env.ENTRA_CLIENT_SECRET,
 *   cloud: 'default',
 * });
 * const groups = createGroupSourceChain([createTokenGroupSource(), graph]);
 * graph.invalidate('a62060da-1ae3-44eb-8988-1197a68ff41e');
 * ```
 */
export function createGraphGroupSource(options: GraphGroupSourceOptions = {}): GraphGroupSource {
  const config = parseWith(graphGroupSourceOptions, options, 'graph group source');
  const hosts = cloudHosts(config.cloud, {
    ...(config.graphHost === undefined ? {} : { graphHost: config.graphHost }),
    ...(config.authorityHost === undefined ? {} : { authorityHost: config.authorityHost }),
  });
  const graphBase = new URL(hosts.graphHost);
  const graphPathPrefix = `${graphBase.pathname.replace(/\/$/, '')}/v1.0/`;
  const fetchFn = config.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
  const sleep = config.sleep ?? ((ms: number) => delay(ms));
  const now = config.now ?? Date.now;
  const random = config.random ?? Math.random;
  const credentials = config.clientId !== undefined && config.clientSecret !== undefined ? { id: config.clientId, secret: config.clientSecret } : undefined;

  const cache =
    config.cache.ttlMs > 0
      ? new LRUCache<string, readonly GroupRef[]>({ max: config.cache.max, ttl: config.cache.ttlMs, ttlResolution: 0, perf: { now } })
      : undefined;
  /** While `now() < outageUntil`, cache misses fail fast (see `outageBackoffMs`). */
  let outageUntil = 0;
  /** Lookups in flight per user; `invalidate` drops the entry so a stale flight neither caches nor is joined. */
  const flights = new Map<string, { id: object; promise: Promise<GroupResolution> }>();
  const appTokens = new Map<string, { token: string; expiresAt: number }>();
  const tokenFlights = new Map<string, Promise<string | Failure>>();

  function backoff(attempt: number): number {
    const ceiling = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** attempt);
    // Equal jitter: at least half the step, so retries never bunch at zero.
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  }

  function retryAfterMs(header: string | null): number | undefined {
    if (header === null) return undefined;
    const text = header.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
    const date = Date.parse(text);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now());
  }

  /**
   * One HTTP call with timeout and retries. Returns the response of the first
   * attempt that is not retryable (any status), or a failure.
   */
  async function send(target: 'graph' | 'token', url: string, init: () => Promise<RequestInit | Failure>, deadline: number): Promise<Response | Failure> {
    const parsed = new URL(url);
    let last = 'no attempt';
    for (let attempt = 0; attempt <= config.maxRetries; attempt++) {
      const remaining = deadline - now();
      if (remaining <= 0) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: deadline of ${config.deadlineMs} ms exceeded: ${last}` };
      const request = await init();
      if ('code' in request) return request;
      const timeout = Math.min(config.timeoutMs, remaining);
      const started = now();
      let response: Response;
      try {
        response = await fetchFn(url, { ...request, signal: AbortSignal.timeout(timeout) });
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        last = timedOut ? `timed out after ${timeout} ms` : `network error \`${err instanceof Error ? err.name : 'unknown'}\``;
        publishRequest(target, request.method ?? 'GET', parsed, 0, attempt, now() - started);
        if (attempt < config.maxRetries) await sleep(Math.min(backoff(attempt), Math.max(0, deadline - now())));
        continue;
      }
      publishRequest(target, request.method ?? 'GET', parsed, response.status, attempt, now() - started);
      const status = response.status;
      if (status !== 429 && status !== 503 && status !== 500 && status !== 502 && status !== 504) return response;
      last = `status \`${status}\``;
      await response.body?.cancel().catch(() => undefined);
      if (attempt === config.maxRetries) break;
      const throttled = status === 429 || status === 503;
      const advised = throttled ? retryAfterMs(response.headers.get('retry-after')) : undefined;
      const wait = advised ?? backoff(attempt);
      if (wait > deadline - now()) {
        return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last}: retry in ${wait} ms would pass the deadline` };
      }
      if (throttled && channels.throttled.hasSubscribers) channels.throttled.publish({ target, status, retryAfterMs: wait, attempt });
      await sleep(wait);
    }
    return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last} after ${config.maxRetries + 1} attempts` };
  }

  function publishRequest(target: string, method: string, url: URL, status: number, attempt: number, durationMs: number): void {
    if (channels.request.hasSubscribers) channels.request.publish({ target, method, host: url.host, path: url.pathname, status, attempt, durationMs });
  }

  async function appToken(tenant: string, deadline: number): Promise<string | Failure> {
    const cached = appTokens.get(tenant);
    if (cached !== undefined && now() < cached.expiresAt) return cached.token;
    let flight = tokenFlights.get(tenant);
    if (flight === undefined) {
      flight = fetchAppToken(tenant, deadline).finally(() => tokenFlights.delete(tenant));
      tokenFlights.set(tenant, flight);
    }
    return flight;
  }

  async function fetchAppToken(tenant: string, deadline: number): Promise<string | Failure> {
    const creds = credentials as { id: string; secret: string };
    const body = new URLSearchParams({
      client_id: creds.id,
      client_secret: creds.secret,
      scope: `${hosts.graphHost}/.default`,
      grant_type: 'client_credentials',
    }).toString();
    const url = `${hosts.authorityHost}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
    const init = () =>
      Promise.resolve<RequestInit>({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
    const response = await send('token', url, init, deadline);
    if (!(response instanceof Response)) return response;
    const json = await readJson(response);
    if (response.status !== 200) {
      const error = isRecord(json) && typeof json.error === 'string' && SAFE_CODE.test(json.error) ? json.error : 'unknown';
      const code: ErrorCode = response.status === 400 || response.status === 401 || response.status === 403 ? 'ERR_GRAPH_FORBIDDEN' : 'ERR_GRAPH_REQUEST_FAILED';
      return { code, reason: `graph token request refused: \`${response.status}\` \`${error}\`: check clientId, clientSecret and tenant` };
    }
    const expiresIn = isRecord(json) ? Number(json.expires_in) : Number.NaN;
    if (!isRecord(json) || typeof json.access_token !== 'string' || json.access_token === '' || !(expiresIn > 0)) {
      return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph token response malformed: no `access_token` or `expires_in`' };
    }
    // Renew shortly before expiry: 5 min, or a tenth of a short lifetime.
    const lifetime = expiresIn * 1000;
    appTokens.set(tenant, { token: json.access_token, expiresAt: now() + lifetime - Math.min(300_000, lifetime / 10) });
    return json.access_token;
  }

  function forbidden(auth: Auth, graphCode: string): Failure {
    const permission =
      auth.kind === 'application'
        ? 'grant the application permission `GroupMember.Read.All` (or `Directory.Read.All`) with admin consent'
        : 'the delegated token needs `GroupMember.Read.All` (or `Directory.Read.All`) with consent';
    return { code: 'ERR_GRAPH_FORBIDDEN', reason: `graph forbidden: \`${graphCode}\`: ${permission}` };
  }

  async function fetchGroups(oid: string, initialAuth: Auth, tid: string): Promise<GroupResolution> {
    const deadline = now() + config.deadlineMs;
    let auth = initialAuth;
    const authorization = async (): Promise<RequestInit | Failure> => {
      const token = auth.kind === 'delegated' ? auth.token : await appToken(auth.tenant, deadline);
      if (typeof token !== 'string') return token;
      return { method: 'GET', headers: { authorization: `Bearer ${token}`, consistencylevel: 'eventual', accept: 'application/json' } };
    };
    const groups: GroupRef[] = [];
    const seen = new Set<string>();
    const visited = new Set<string>();
    let url: string | undefined =
      `${hosts.graphHost}/v1.0/users/${oid}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName,mail&$top=999&$count=true`;
    let refreshed = false;
    let pages = 0;
    while (url !== undefined) {
      if (++pages > config.maxPages) return fail({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph paging exceeded ${config.maxPages} pages` });
      visited.add(url);
      const response = await send('graph', url, authorization, deadline);
      if (!(response instanceof Response)) return fail(response);
      const json = await readJson(response);
      const graphCode = isRecord(json) && isRecord(json.error) && typeof json.error.code === 'string' && SAFE_CODE.test(json.error.code) ? json.error.code : 'unknown';
      if (response.status === 401 && auth.kind === 'application' && !refreshed) {
        // A revoked or rotated app token: fetch a new one once, then retry this page.
        appTokens.delete(auth.tenant);
        refreshed = true;
        pages--;
        continue;
      }
      if (response.status === 401 && auth.kind === 'delegated') {
        // A login's Graph token lives about an hour, a session much longer: application permissions, when configured, take over.
        const fallback = applicationAuth(tid);
        if ('code' in fallback) {
          const hint = credentials === undefined ? 'configure clientId and clientSecret to fall back to application permissions' : fallback.reason;
          return fail({ code: 'ERR_GRAPH_FORBIDDEN', reason: `graph refused the delegated token: \`401\` \`${graphCode}\`: it expired or is not for Microsoft Graph; ${hint}` });
        }
        auth = fallback;
        pages--;
        continue;
      }
      if (response.status === 403) return fail(forbidden(auth, graphCode));
      if (response.status === 404) {
        // INVARIANT: a user Graph does not hold is unknown membership (fail closed), reported as a 403-class answer, not an outage.
        const where = auth.kind === 'application' ? ` is not in tenant ${quoteId(auth.tenant)}` : '';
        return fail({ code: 'ERR_DIRECTORY_USER_UNKNOWN', reason: `graph user not found: oid \`${oid}\`${where}` });
      }
      if (response.status !== 200) return fail({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: status \`${response.status}\` \`${graphCode}\`` });
      if (!isRecord(json) || !Array.isArray(json.value)) return fail({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph response malformed: no `value` array' });
      for (const item of json.value) {
        if (!isRecord(item) || typeof item.id !== 'string' || item.id === '') continue;
        // The cast should return groups only; roles and administrative units are not groups.
        if (item['@odata.type'] !== undefined && item['@odata.type'] !== GROUP_TYPE) continue;
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        const ref: GroupRef = { id: item.id };
        if (typeof item.displayName === 'string') ref.name = item.displayName;
        if (typeof item.mail === 'string' && item.mail !== '') ref.email = item.mail;
        groups.push(ref);
      }
      const next = json['@odata.nextLink'];
      if (next === undefined || next === null) url = undefined;
      else {
        const checked = checkNextLink(next);
        if (checked === undefined) return fail({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link refused: not on the configured graph host' });
        if (visited.has(checked)) return fail({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link repeats a page' });
        url = checked;
      }
    }
    return { groups, membership: { state: 'complete', source: 'graph' } };
  }

  function checkNextLink(link: unknown): string | undefined {
    if (typeof link !== 'string' || link.length > 16_384) return undefined;
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      return undefined;
    }
    // INVARIANT: the bearer token only ever goes to the configured Graph origin and API path.
    if (url.origin !== graphBase.origin || url.username || url.password || !url.pathname.startsWith(graphPathPrefix)) return undefined;
    return url.href;
  }

  return {
    name: 'graph',
    async resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      const oid = identity.oid;
      // INVARIANT: only a GUID reaches the URL path, so a claim can never reshape the request.
      if (!isGuid(oid)) return unknownResolution('ERR_GROUPS_UNAVAILABLE', `graph needs the user object id: oid ${quoteId(oid)} is not a guid`);
      const key = oid.toLowerCase();
      const cached = cache?.get(key);
      if (cached !== undefined) return { groups: [...cached], membership: { state: 'complete', source: 'graph' } };
      if (channels.cacheMiss.hasSubscribers) channels.cacheMiss.publish({ oid: key });

      let flight = flights.get(key);
      if (flight === undefined) {
        // INVARIANT: still fail closed while Graph is known to be down, only sooner.
        if (now() < outageUntil) {
          return unknownResolution('ERR_GRAPH_REQUEST_FAILED', `graph failed moments ago: not retried for ${Math.ceil((outageUntil - now()) / 1000)} s`);
        }
        const auth = authFor(identity, context);
        if ('code' in auth) return unknownResolution(auth.code, auth.reason);
        const id = {};
        const promise = fetchGroups(key, auth, identity.tid)
          .catch((err: unknown) => unknownResolution('ERR_GRAPH_REQUEST_FAILED', `graph lookup failed: \`${err instanceof Error ? err.name : 'unknown'}\``))
          .then((result) => {
            // INVARIANT: an answer whose lookup was invalidated meanwhile is never cached (it may predate the change).
            if (result.membership.state === 'unknown' && result.membership.code === 'ERR_GRAPH_REQUEST_FAILED') {
              outageUntil = now() + config.outageBackoffMs;
            }
            if (flights.get(key)?.id === id) {
              flights.delete(key);
              if (result.membership.state === 'complete') cache?.set(key, Object.freeze(result.groups.map((g) => Object.freeze(g))));
            }
            return result;
          });
        flight = { id, promise };
        flights.set(key, flight);
      }
      const result = await abortable(flight.promise, context.signal);
      return { groups: [...result.groups], membership: result.membership };
    },
    invalidate(oid: string): void {
      const key = oid.toLowerCase();
      cache?.delete(key);
      flights.delete(key);
    },
    clear(): void {
      cache?.clear();
      flights.clear();
      appTokens.clear();
      outageUntil = 0;
    },
  };

  function authFor(identity: Identity, context: GroupSourceContext): Auth | Failure {
    if (typeof context.graphToken === 'string' && context.graphToken !== '') return { kind: 'delegated', token: context.graphToken };
    return applicationAuth(identity.tid);
  }

  function applicationAuth(tid: string): Auth | Failure {
    if (credentials === undefined) {
      return { code: 'ERR_GROUPS_UNAVAILABLE', reason: 'graph has no credentials: configure clientId and clientSecret, or pass a delegated graphToken' };
    }
    const tenant = config.tenantId ?? tid;
    if (config.tenantId === undefined && !isGuid(tenant)) {
      return { code: 'ERR_GROUPS_UNAVAILABLE', reason: `graph needs a tenant: tid ${quoteId(tenant)} is not a guid and no tenantId is configured` };
    }
    return { kind: 'application', tenant };
  }
}

function fail(failure: Failure): GroupResolution {
  return unknownResolution(failure.code, failure.reason);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return undefined;
  }
}

/** Waits for a shared flight, but lets one caller give up without cancelling it for the others. */
function abortable(flight: Promise<GroupResolution>, signal: AbortSignal | undefined): Promise<GroupResolution> {
  if (signal === undefined) return flight;
  if (signal.aborted) return Promise.resolve(unknownResolution('ERR_GROUPS_UNAVAILABLE', 'graph lookup aborted'));
  return new Promise((resolve) => {
    const onAbort = () => resolve(unknownResolution('ERR_GROUPS_UNAVAILABLE', 'graph lookup aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    void flight.then((result) => {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    });
  });
}
