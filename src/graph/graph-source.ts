/** The Graph group source: the per-user cache, shared flights and credentials choice, composing the client, the walk and the outage windows. */
import { setTimeout as delay } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { cloudHosts } from '../config/clouds.js';
import { isGuid, parseWith } from '../config/idp.js';
import { quoteId, unknownResolution } from '../groups/resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from '../groups/types.js';
import type { GraphGroupSourceOptions } from './options.js';
import type { GroupRef, Identity } from '../types.js';
import { channels } from './graph-channels.js';
import { appCredentials, graphGroupSourceOptions } from './graph-config.js';
import { createGraphClient, type Auth, type Failure } from './graph-client.js';
import { createGraphMembership, GRAPH_FIELDS } from './graph-membership.js';
import { createOutageWindows } from './graph-outage.js';

export { GRAPH_CHANNEL_NAMES } from './graph-channels.js';

/** A Graph group source with its per-user cache exposed. */
export interface GraphGroupSource extends GroupSource {
  /** Drops one user's cached groups (after a membership change you learned of); a lookup already in flight is not reused nor cached. */
  invalidate(oid: string): void;
  /** Drops every cached answer and application token. */
  clear(): void;
}

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
  const outages = createOutageWindows(config.outageBackoffMs, now);
  /** Lookups in flight per user; `invalidate` drops the entry so a stale flight neither caches nor is joined. */
  const flights = new Map<string, { id: object; promise: Promise<GroupResolution> }>();
  const client = createGraphClient({ config, hosts, credentials, fetchFn, sleep, now, random });
  const fetchGroups = createGraphMembership({ config, hosts, client, now, hasCredentials: credentials !== undefined, applicationAuth });

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
        const left = outages.remaining(tenant);
        if (left !== undefined)
          return unknownResolution('ERR_GRAPH_REQUEST_FAILED', `graph is down for tenant ${quoteId(tenant)}: not retried for ${Math.ceil(left / 1000)} s`);
        const auth = authFor(identity, context);
        if ('code' in auth) return unknownResolution(auth.code, auth.reason);
        const id = {};
        const promise = fetchGroups(key, auth, identity.tid)
          .catch(
            (err: unknown): Failure => ({
              code: 'ERR_GRAPH_REQUEST_FAILED',
              reason: `graph lookup failed: \`${err instanceof Error ? err.name : 'unknown'}\``,
            }),
          )
          .then((found): GroupResolution => {
            const current = flights.get(key)?.id === id;
            if (current) flights.delete(key);
            if ('code' in found) {
              // Only an outage speaks for the tenant's other lookups; any other failure is this lookup's alone.
              if (found.outage === true) outages.open(tenant);
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
      client.clear();
      outages.clear();
    },
  };

  /** The tenant whose Graph a lookup reads: the configured one, else the token's (multi-tenant). Lowercase. */
  function tenantOf(identity: Identity): string {
    return (config.tenantId ?? identity.tid).toLowerCase();
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

function fail(failure: Failure): GroupResolution {
  return unknownResolution(failure.code, failure.reason);
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
