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
import type { Gate } from '../gate.js';
import type { Assert, Equal } from '../config/type-equal.js';
import type { GraphGateConfig, GraphGroupSourceOptions } from './options.js';
import type { GroupField, GroupRef, Identity } from '../types.js';
import {
  addClientAssertion,
  createClientAssertionSigner,
  isAccessTokenCredential,
  isClientCertificate,
  type AccessTokenCredential,
  type ClientAssertionSigner,
  type ClientCertificate,
} from '../credentials/client-credential.js';

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

// What the source reads of a gate, checked again here since a plain `{ idp, hosts }` has not been through
// the gate's validation. Loose objects: a gate has many more members, and only these are read.
const gateShape = z.object({
  idp: z.object({
    config: z.object({
      client_id: z.string().min(1),
      client_secret: z.string().min(1).optional(),
    }),
  }),
  hosts: z.object({ authorityHost: hostSchema, graphHost: hostSchema }),
});

// A gate must always fit: this line fails to compile the day `Gate` drifts from what is read here.
const gateFits = (gate: Gate): GraphGateConfig => gate;
void gateFits;

/** The group fields a Graph answer supplies for every group (`$select=id,displayName,mail`). */
const GRAPH_FIELDS: readonly GroupField[] = Object.freeze(['id', 'name', 'email'] as const);
/** Outage windows remembered at most (one per tenant); beyond it the oldest is forgotten (it only fails fast less). */
const MAX_OUTAGE_TENANTS = 1_000;

const graphGroupSourceOptions = z
  .strictObject({
    tenantId: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'must be a tenant id or domain' })
      .optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    clientCertificate: z.custom<ClientCertificate>(isClientCertificate, { message: 'must be `{ privateKey, certificate, algorithm? }`' }).optional(),
    credential: z.custom<AccessTokenCredential>(isAccessTokenCredential, { message: 'must have a `getToken(scopes)` method' }).optional(),
    cloud: z.enum(CLOUDS).optional(),
    graphHost: hostSchema.optional(),
    authorityHost: hostSchema.optional(),
    gate: gateShape.optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    deadlineMs: z.number().int().positive().default(30_000),
    maxRetries: z.number().int().min(0).max(10).default(4),
    backoffBaseMs: z.number().int().positive().default(500),
    backoffMaxMs: z.number().int().positive().default(8_000),
    maxPages: z.number().int().positive().default(100),
    outageBackoffMs: z.number().int().min(0).default(5_000),
    cache: z
      .strictObject({
        ttlMs: z.number().int().min(0).default(300_000),
        max: z.number().int().positive().default(10_000),
      })
      .default({ ttlMs: 300_000, max: 10_000 }),
    fetch: fn<typeof fetch>('a fetch function').optional(),
    sleep: fn<(ms: number) => Promise<void>>('a sleep function').optional(),
    now: fn<() => number>('a clock function').optional(),
    random: fn<() => number>('a random function').optional(),
  })
  // With a gate, `clientSecret` alone is the secret of the gate's `client_id` (Cloudflare's API never
  // returns `client_secret`, so it often comes separately); a `clientId` never borrows another app's secret.
  .refine(
    (o) =>
      (o.clientId === undefined || o.clientSecret !== undefined || o.clientCertificate !== undefined) &&
      ((o.clientSecret === undefined && o.clientCertificate === undefined) || o.clientId !== undefined || o.gate !== undefined),
    { message: 'clientId and clientSecret (or clientCertificate) go together', path: ['clientSecret'] },
  )
  .refine((o) => [o.clientSecret, o.clientCertificate, o.credential].filter((c) => c !== undefined).length <= 1, {
    message: 'set one of clientSecret, clientCertificate and credential',
    path: ['credential'],
  })
  .refine((o) => o.credential === undefined || o.clientId === undefined, { message: 'a credential brings its own identity: clientId goes with clientSecret or clientCertificate', path: ['clientId'] });

// The hand-written interfaces (`options.ts`) and the schema cannot drift: these fail to compile if they do.
type _GraphOptionsMatch = Assert<Equal<z.input<typeof graphGroupSourceOptions>, GraphGroupSourceOptions>>;
type _GraphGateMatch = Assert<Equal<z.input<typeof gateShape>, GraphGateConfig>>;

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
  /**
   * Graph (or its token endpoint) is down or overloaded: timeouts, network errors, 5xx, throttling
   * past the retries. Only an outage opens the tenant's fail-fast window; anything else (a malformed
   * page, a refused next link, too many pages, a 4xx) is this one lookup's failure.
   */
  outage?: true;
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
 * Complete answers state their fields: `membership: { state: 'complete', source:
 * 'graph', fields: ['id', 'name', 'email'] }` (every group's id, display name and
 * mail, a missing mail meaning the group has none). They are cached per user
 * (`cache.ttlMs`, `cache.max`); concurrent misses for one user share one Graph call.
 * Failures are not cached. After an outage of one tenant's Graph (timeouts,
 * network errors, 5xx, throttling past the retries), that tenant's other misses
 * fail fast for `outageBackoffMs` (still `unknown`, never zero groups); other
 * failures, and other tenants, are not affected.
 *
 * Configuration is read from the gate (`gate`): the client id and secret from its
 * identity provider's `config`, the authority and Graph hosts from `gate.hosts`.
 * Explicit options override each. Instead of a secret, a certificate (`clientCertificate`,
 * `private_key_jwt`) or a token getter (`credential`, shaped like `@azure/identity`'s `TokenCredential`)
 * may authenticate the application.
 *
 * @example
 * ```ts
 * import { createGate, createGroupSourceChain, createTokenGroupSource } from 'entragate';
 * import { createGraphGroupSource } from 'entragate/graph';
 *
 * const gate = createGate({
 *   idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: process.env.ENTRA_CLIENT_ID!, directory_id: process.env.ENTRA_TENANT_ID! } },
 * });
 * // The client id, the tenant and the hosts come from the gate; Cloudflare's API never returns the secret.
 * const graph = createGraphGroupSource({ gate, clientSecret: process.env.ENTRA_CLIENT_SECRET });
 * const groups = createGroupSourceChain([createTokenGroupSource(), graph]);
 * graph.invalidate('a62060da-1ae3-44eb-8988-1197a68ff41e');
 * ```
 */
export function createGraphGroupSource(options: GraphGroupSourceOptions = {}): GraphGroupSource {
  const config = parseWith(graphGroupSourceOptions, options, 'graph group source');
  const gate = config.gate;
  // Precedence per host: the explicit host, then an explicit cloud, then the gate's hosts, then the public cloud.
  const base = config.cloud === undefined && gate !== undefined ? gate.hosts : cloudHosts(config.cloud ?? 'default');
  const hosts = cloudHosts('default', {
    graphHost: config.graphHost ?? base.graphHost,
    authorityHost: config.authorityHost ?? base.authorityHost,
  });
  const graphBase = new URL(hosts.graphHost);
  const graphPathPrefix = `${graphBase.pathname.replace(/\/$/, '')}/v1.0/`;
  const fetchFn = config.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
  const sleep = config.sleep ?? ((ms: number) => delay(ms));
  const now = config.now ?? Date.now;
  const random = config.random ?? Math.random;
  const clientId = config.clientId ?? gate?.idp.config.client_id;
  const credentials = appCredentials(config, clientId);

  const cache =
    config.cache.ttlMs > 0
      ? new LRUCache<string, readonly GroupRef[]>({ max: config.cache.max, ttl: config.cache.ttlMs, ttlResolution: 0, perf: { now } })
      : undefined;
  /**
   * Per tenant (lowercase): while `now()` is before the value, that tenant's cache misses fail fast
   * (see `outageBackoffMs`). Per tenant, since Graph throttles per app and tenant and each tenant has
   * its own token endpoint: in a multi-tenant gate one tenant's outage must not make another's users unknown.
   */
  const outages = new Map<string, number>();
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
      if (remaining <= 0) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: deadline of ${config.deadlineMs} ms exceeded: ${last}`, outage: true };
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
        return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last}: retry in ${wait} ms would pass the deadline`, outage: true };
      }
      if (throttled && channels.throttled.hasSubscribers) channels.throttled.publish({ target, status, retryAfterMs: wait, attempt });
      await sleep(wait);
    }
    return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last} after ${config.maxRetries + 1} attempts`, outage: true };
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
    const creds = credentials as AppCredentials;
    const scope = `${hosts.graphHost}/.default`;
    if (creds.kind === 'credential') return credentialToken(creds.credential, scope, tenant, deadline);
    const url = `${hosts.authorityHost}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
    const init = () => {
      const body = new URLSearchParams({ client_id: creds.id, scope, grant_type: 'client_credentials' });
      // A fresh assertion per attempt: Entra refuses a replayed `jti` (AADSTS700025).
      if (creds.kind === 'certificate') addClientAssertion(body, creds.id, creds.signer, url, now());
      else body.set('client_secret', creds.secret);
      return Promise.resolve<RequestInit>({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: body.toString() });
    };
    const response = await send('token', url, init, deadline);
    if (!(response instanceof Response)) return response;
    const json = await readJson(response);
    if (response.status !== 200) {
      const error = isRecord(json) && typeof json.error === 'string' && SAFE_CODE.test(json.error) ? json.error : 'unknown';
      const code: ErrorCode = response.status === 400 || response.status === 401 || response.status === 403 ? 'ERR_GRAPH_FORBIDDEN' : 'ERR_GRAPH_REQUEST_FAILED';
      const what = creds.kind === 'certificate' ? 'clientCertificate (registered on the app?)' : 'clientSecret';
      const refused: Failure = { code, reason: `graph token request refused: \`${response.status}\` \`${error}\`: check clientId, ${what} and tenant` };
      if (response.status >= 500) refused.outage = true;
      return refused;
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

  /** A token from the `credential` hook, cached like a client-credentials token; bounded by the call timeout and the deadline. */
  async function credentialToken(credential: AccessTokenCredential, scope: string, tenant: string, deadline: number): Promise<string | Failure> {
    const budget = Math.min(config.timeoutMs, deadline - now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, budget));
    });
    let answer: Awaited<ReturnType<AccessTokenCredential['getToken']>> | 'timeout';
    try {
      answer = await Promise.race([credential.getToken(scope), timedOut]);
    } catch (err) {
      // The error's message may describe the credential's environment: only its name is kept.
      return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph credential failed: \`${err instanceof Error ? err.name : 'unknown'}\``, outage: true };
    } finally {
      clearTimeout(timer);
    }
    if (answer === 'timeout') return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph credential timed out after ${budget} ms`, outage: true };
    if (answer === null || typeof answer !== 'object' || typeof answer.token !== 'string' || answer.token === '' || !Number.isFinite(answer.expiresOnTimestamp)) {
      return { code: 'ERR_GRAPH_FORBIDDEN', reason: 'graph credential returned no token: check the managed identity or federated credential' };
    }
    const lifetime = answer.expiresOnTimestamp - now();
    if (lifetime > 0) appTokens.set(tenant, { token: answer.token, expiresAt: now() + lifetime - Math.min(300_000, lifetime / 10) });
    return answer.token;
  }

  function forbidden(auth: Auth, graphCode: string): Failure {
    const permission =
      auth.kind === 'application'
        ? 'grant the application permission `GroupMember.Read.All` (or `Directory.Read.All`) with admin consent'
        : 'the delegated token needs `GroupMember.Read.All` (or `Directory.Read.All`) with consent';
    return { code: 'ERR_GRAPH_FORBIDDEN', reason: `graph forbidden: \`${graphCode}\`: ${permission}` };
  }

  /** The user's groups, or why not (a `Failure`, which says whether it was an outage). */
  async function fetchGroups(oid: string, initialAuth: Auth, tid: string): Promise<GroupResolution | Failure> {
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
      if (++pages > config.maxPages) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph paging exceeded ${config.maxPages} pages` };
      visited.add(url);
      const response = await send('graph', url, authorization, deadline);
      if (!(response instanceof Response)) return response;
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
          return { code: 'ERR_GRAPH_FORBIDDEN', reason: `graph refused the delegated token: \`401\` \`${graphCode}\`: it expired or is not for Microsoft Graph; ${hint}` };
        }
        auth = fallback;
        pages--;
        continue;
      }
      if (response.status === 403) return forbidden(auth, graphCode);
      if (response.status === 404) {
        // INVARIANT: a user Graph does not hold is unknown membership (fail closed), reported as a 403-class answer, not an outage.
        const where = auth.kind === 'application' ? ` is not in tenant ${quoteId(auth.tenant)}` : '';
        return { code: 'ERR_DIRECTORY_USER_UNKNOWN', reason: `graph user not found: oid \`${oid}\`${where}` };
      }
      if (response.status !== 200) {
        const failure: Failure = { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: status \`${response.status}\` \`${graphCode}\`` };
        // 500, 502, 503 and 504 were retried by `send`; any other 5xx is Graph failing too, a 4xx is this request.
        if (response.status >= 500) failure.outage = true;
        return failure;
      }
      if (!isRecord(json) || !Array.isArray(json.value)) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph response malformed: no `value` array' };
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
        if (checked === undefined) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link refused: not on the configured graph host' };
        if (visited.has(checked)) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link repeats a page' };
        url = checked;
      }
    }
    return { groups, membership: { state: 'complete', source: 'graph', fields: GRAPH_FIELDS } };
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
      if (cached !== undefined) return { groups: [...cached], membership: { state: 'complete', source: 'graph', fields: GRAPH_FIELDS } };
      if (channels.cacheMiss.hasSubscribers) channels.cacheMiss.publish({ oid: key });

      let flight = flights.get(key);
      if (flight === undefined) {
        const tenant = tenantOf(identity);
        // INVARIANT: still fail closed while this tenant's Graph is known to be down, only sooner.
        const until = outages.get(tenant);
        if (until !== undefined) {
          const left = until - now();
          if (left > 0) return unknownResolution('ERR_GRAPH_REQUEST_FAILED', `graph is down for tenant ${quoteId(tenant)}: not retried for ${Math.ceil(left / 1000)} s`);
          outages.delete(tenant);
        }
        const auth = authFor(identity, context);
        if ('code' in auth) return unknownResolution(auth.code, auth.reason);
        const id = {};
        const promise = fetchGroups(key, auth, identity.tid)
          .catch((err: unknown): Failure => ({ code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph lookup failed: \`${err instanceof Error ? err.name : 'unknown'}\`` }))
          .then((found): GroupResolution => {
            const current = flights.get(key)?.id === id;
            if (current) flights.delete(key);
            if ('code' in found) {
              // Only an outage speaks for the tenant's other lookups; any other failure is this lookup's alone.
              if (found.outage === true) openOutage(tenant);
              return fail(found);
            }
            // INVARIANT: an answer whose lookup was invalidated meanwhile is never cached (it may predate the change).
            if (current) cache?.set(key, Object.freeze(found.groups.map((g) => Object.freeze(g))));
            return found;
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
      outages.clear();
    },
  };

  /** The tenant whose Graph a lookup reads: the configured one, else the token's (multi-tenant). Lowercase. */
  function tenantOf(identity: Identity): string {
    return (config.tenantId ?? identity.tid).toLowerCase();
  }

  function openOutage(tenant: string): void {
    if (config.outageBackoffMs === 0) return;
    // Re-inserted so the map's order is the order windows opened in: the oldest goes first when full.
    outages.delete(tenant);
    if (outages.size >= MAX_OUTAGE_TENANTS) {
      const t = now();
      for (const [other, until] of outages) if (until <= t) outages.delete(other);
      if (outages.size >= MAX_OUTAGE_TENANTS) outages.delete(outages.keys().next().value as string);
    }
    outages.set(tenant, now() + config.outageBackoffMs);
  }

  function authFor(identity: Identity, context: GroupSourceContext): Auth | Failure {
    if (typeof context.graphToken === 'string' && context.graphToken !== '') return { kind: 'delegated', token: context.graphToken };
    return applicationAuth(identity.tid);
  }

  function applicationAuth(tid: string): Auth | Failure {
    if (credentials === undefined) {
      return { code: 'ERR_GROUPS_UNAVAILABLE', reason: 'graph has no credentials: configure clientId and clientSecret, or pass a delegated graphToken' };
    }
    // A credential's token is of its own tenant: one cache slot, whatever the user's `tid`.
    if (credentials.kind === 'credential') return { kind: 'application', tenant: config.tenantId ?? 'credential' };
    const tenant = config.tenantId ?? tid;
    if (config.tenantId === undefined && !isGuid(tenant)) {
      return { code: 'ERR_GROUPS_UNAVAILABLE', reason: `graph needs a tenant: tid ${quoteId(tenant)} is not a guid and no tenantId is configured` };
    }
    return { kind: 'application', tenant };
  }
}

/** How the source gets application tokens: a secret, a certificate (`private_key_jwt`) or a token getter. */
type AppCredentials =
  | { kind: 'secret'; id: string; secret: string }
  | { kind: 'certificate'; id: string; signer: ClientAssertionSigner }
  | { kind: 'credential'; credential: AccessTokenCredential };

/**
 * The application credentials of the options: an explicit credential wins; a gate's secret is borrowed
 * only for the gate's own `client_id` and only when no other credential is configured.
 */
function appCredentials(config: z.output<typeof graphGroupSourceOptions>, clientId: string | undefined): AppCredentials | undefined {
  if (config.credential !== undefined) return { kind: 'credential', credential: config.credential };
  if (clientId === undefined) return undefined;
  if (config.clientCertificate !== undefined) return { kind: 'certificate', id: clientId, signer: createClientAssertionSigner(clientId, config.clientCertificate, 'graph group source') };
  const secret = config.clientSecret ?? (config.clientId === undefined ? config.gate?.idp.config.client_secret : undefined);
  return secret === undefined ? undefined : { kind: 'secret', id: clientId, secret };
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
