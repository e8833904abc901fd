import diagnostics from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { createGraphGroupSource, GRAPH_CHANNEL_NAMES, type GraphGroupSourceOptions } from '../../src/graph/index.js';
import { createGroupSourceChain, createTokenGroupSource } from '../../src/groups/index.js';
import { createMockGraph, type MockGraph } from '../../src/testing/mock-graph.js';
import { V1_OVERAGE_CLAIMS, identity } from '../groups/identity-fixtures.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OID = 'a62060da-1ae3-44eb-8988-1197a68ff41e';
const OTHER_OID = 'dda50086-5e3d-4a4b-b8bc-f54771104d89';
const CLIENT_ID = '535fb089-9ff3-47b6-9bfb-4f1264799865';
const CLIENT_SECRET = 'test-secret-value-not-real';
/** A complete Graph answer: ids, names and mails are known for every group. */
const COMPLETE = { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] };

function groupId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

/** Fake time: `sleep` records and advances the clock; nothing really waits. */
function fakeTime() {
  const clock = { t: 1_700_000_000_000, slept: [] as number[] };
  return {
    clock,
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.slept.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
  };
}

let graph: MockGraph;
let time: ReturnType<typeof fakeTime>;

beforeEach(async () => {
  graph = await createMockGraph({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  graph.addUser({ id: OID, userPrincipalName: 'suwatch@microsoft.com' });
  graph.addUser({ id: OTHER_OID });
  graph.addGroup({ id: groupId(1), displayName: 'Devs', mail: 'devs@contoso.com' });
  graph.addGroup({ id: groupId(2), displayName: 'US devs' });
  graph.addGroup({ id: groupId(3), displayName: 'Everyone' });
  graph.addMember(groupId(2), OID);
  graph.addMember(groupId(1), groupId(2)); // US devs nested in Devs
  graph.addMember(groupId(3), groupId(1));
  graph.addMember(groupId(2), groupId(3)); // a cycle
  time = fakeTime();
});

afterEach(async () => {
  await graph.close();
});

function source(overrides: Partial<GraphGroupSourceOptions> = {}) {
  return createGraphGroupSource({
    tenantId: TENANT,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    graphHost: graph.url,
    authorityHost: graph.url,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
    ...overrides,
  });
}

const graphRequests = () => graph.requests.filter((r) => r.kind === 'graph');
const tokenRequests = () => graph.requests.filter((r) => r.kind === 'token');

describe('createGraphGroupSource: resolution and paging', () => {
  it('gets the transitive groups with client credentials, nested and cyclic groups once each', async () => {
    const result = await source().resolve(identity(), { claims: {} });
    expect(result.membership).toEqual(COMPLETE);
    expect(result.groups).toEqual([
      { id: groupId(2), name: 'US devs' },
      { id: groupId(1), name: 'Devs', email: 'devs@contoso.com' },
      { id: groupId(3), name: 'Everyone' },
    ]);
    expect(tokenRequests()).toHaveLength(1);
    const [request] = graphRequests();
    expect(request?.path).toBe(`/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group`);
    expect(request?.query).toEqual({ $select: 'id,displayName,mail', $top: '999', $count: 'true' });
    expect(request?.consistencyLevel).toBe('eventual');
  });

  it('follows @odata.nextLink across 3 pages for 2,500 groups, with ConsistencyLevel on every page', async () => {
    for (let i = 100; i < 2_600; i++) {
      graph.addGroup({ id: groupId(i), displayName: `Group ${i}` });
      graph.addMember(groupId(i), OTHER_OID);
    }
    const result = await source().resolve(identity({ oid: OTHER_OID }), { claims: {} });
    expect(result.membership).toEqual(COMPLETE);
    expect(result.groups).toHaveLength(2_500);
    expect(new Set(result.groups.map((g) => g.id)).size).toBe(2_500);
    expect(result.groups[2_499]).toEqual({ id: groupId(2_599), name: 'Group 2599' });
    const pages = graphRequests();
    expect(pages).toHaveLength(3);
    expect(pages.every((p) => p.consistencyLevel === 'eventual')).toBe(true);
    expect(pages.slice(1).every((p) => typeof p.query.$skiptoken === 'string' && p.query.$select === 'id,displayName,mail')).toBe(true);
  });

  it('refuses a next link to another host and never sends the token there', async () => {
    const seen: string[] = [];
    const fetch = (input: string | URL | Request) => {
      const url = String(input);
      seen.push(url);
      if (url.includes('/oauth2/')) return Promise.resolve(Response.json({ token_type: 'Bearer', expires_in: 3599, access_token: 'app-token' }));
      return Promise.resolve(
        Response.json({
          value: [{ '@odata.type': '#microsoft.graph.group', id: groupId(1) }],
          '@odata.nextLink': 'https://evil.example/v1.0/users/x/transitiveMemberOf?$skiptoken=1',
        }),
      );
    };
    const result = await source({ fetch, graphHost: 'https://graph.microsoft.com', authorityHost: 'https://login.microsoftonline.com' }).resolve(identity(), {
      claims: {},
    });
    expect(result).toEqual({
      groups: [],
      membership: { state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link refused: not on the configured graph host' },
    });
    expect(seen.some((u) => u.includes('evil.example'))).toBe(false);
  });

  it('answers unknown for a page without a value array (never zero groups)', async () => {
    const fetch = (input: string | URL | Request) =>
      Promise.resolve(String(input).includes('/oauth2/') ? Response.json({ expires_in: 3599, access_token: 't' }) : Response.json({ groups: [] }));
    const result = await source({ fetch }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph response malformed: no `value` array' });
  });

  it('validates the oid before building a URL', async () => {
    const result = await source().resolve(identity({ oid: '../../groups?x=1' }), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GROUPS_UNAVAILABLE',
      reason: 'graph needs the user object id: oid (malformed) is not a guid',
    });
    expect(graph.requests).toHaveLength(0);
  });

  it('regression: a user Graph does not know is unknown membership with a 403-class code, not an outage', async () => {
    const result = await source().resolve(identity({ oid: '11111111-2222-3333-4444-555555555555' }), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_DIRECTORY_USER_UNKNOWN',
      reason: 'graph user not found: oid `11111111-2222-3333-4444-555555555555` is not in tenant `72f988bf-86f1-41af-91ab-2d7cd011db47`',
    });
    expect(graphRequests()).toHaveLength(1);
  });

  it('drops elements that are not groups (directory roles, administrative units)', async () => {
    const fetch = (input: string | URL | Request) =>
      Promise.resolve(
        String(input).includes('/oauth2/')
          ? Response.json({ expires_in: 3599, access_token: 't' })
          : Response.json({
              value: [
                { '@odata.type': '#microsoft.graph.directoryRole', id: groupId(7), displayName: 'Global Administrator' },
                { '@odata.type': '#microsoft.graph.administrativeUnit', id: groupId(8) },
                { '@odata.type': '#microsoft.graph.group', id: groupId(1), displayName: 'Devs' },
                { id: groupId(2) },
              ],
            }),
      );
    const result = await source({ fetch }).resolve(identity(), { claims: {} });
    expect(result).toEqual({ groups: [{ id: groupId(1), name: 'Devs' }, { id: groupId(2) }], membership: COMPLETE });
  });
});

describe('createGraphGroupSource: throttling and faults', () => {
  it('honours a fractional Retry-After (2.128 s → 2128 ms) on 429', async () => {
    const throttled: unknown[] = [];
    const listener = (message: unknown) => throttled.push(message);
    diagnostics.subscribe(GRAPH_CHANNEL_NAMES.throttled, listener);
    try {
      graph.failNext({ status: 429, retryAfter: '2.128' });
      const result = await source().resolve(identity(), { claims: {} });
      expect(result.membership).toEqual(COMPLETE);
      expect(time.clock.slept).toEqual([2128]);
      expect(graphRequests().map((r) => r.status)).toEqual([429, 200]);
      expect(throttled).toEqual([{ target: 'graph', status: 429, retryAfterMs: 2128, attempt: 0 }]);
    } finally {
      diagnostics.unsubscribe(GRAPH_CHANNEL_NAMES.throttled, listener);
    }
  });

  it('retries a 503 then succeeds (Retry-After in whole seconds)', async () => {
    graph.failNext({ status: 503, retryAfter: '10' });
    const result = await source().resolve(identity(), { claims: {} });
    expect(result.groups).toHaveLength(3);
    expect(time.clock.slept).toEqual([10_000]);
  });

  it('backs off exponentially with jitter when no Retry-After is given', async () => {
    graph.failNext({ status: 500, times: 3 });
    const result = await source({ backoffBaseMs: 400 }).resolve(identity(), { claims: {} });
    expect(result.membership.state).toBe('complete');
    // Equal jitter with random() = 0.5: 3/4 of 400, 800, 1600.
    expect(time.clock.slept).toEqual([300, 600, 1200]);
  });

  it('gives up after the bounded retries and answers unknown with the reason', async () => {
    graph.failNext({ status: 429, retryAfter: '1', times: 10 });
    const result = await source({ maxRetries: 2 }).resolve(identity(), { claims: {} });
    expect(result).toEqual({
      groups: [],
      membership: { state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph request failed: status `429` after 3 attempts' },
    });
    expect(graphRequests()).toHaveLength(3);
  });

  it('fails at once when Retry-After would pass the deadline', async () => {
    graph.failNext({ status: 429, retryAfter: '120' });
    const result = await source({ deadlineMs: 30_000 }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph request failed: status `429`: retry in 120000 ms would pass the deadline',
    });
    expect(time.clock.slept).toEqual([]);
  });

  it('answers unknown when Graph is down (connections dropped)', async () => {
    graph.down();
    const result = await source({ maxRetries: 2 }).resolve(identity(), { claims: {} });
    expect(result.groups).toEqual([]);
    expect(result.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    expect((result.membership as { reason: string }).reason).toMatch(/^graph request failed: network error `TypeError` after 3 attempts$/);
    expect(time.clock.slept).toHaveLength(2);
    // Up again: the failure was not cached.
    graph.up();
    await expect(source().resolve(identity(), { claims: {} })).resolves.toMatchObject({ membership: { state: 'complete' } });
  });

  it('gives up at the total deadline however many retries are left', async () => {
    graph.down();
    const result = await source({ deadlineMs: 1_000, backoffBaseMs: 400, maxRetries: 10 }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph request failed: deadline of 1000 ms exceeded: network error `TypeError`',
    });
    // Backoffs 300 and 600 ms, then only the 100 ms left of the budget.
    expect(time.clock.slept).toEqual([300, 600, 100]);
    expect(graph.requests).toHaveLength(3);
  });

  it('times out a slow call and answers unknown', async () => {
    graph.delayNext(5_000, 5);
    const result = await source({ timeoutMs: 30, maxRetries: 0 }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph request failed: timed out after 30 ms after 1 attempts',
    });
  });

  it('names the missing permission on 403 Authorization_RequestDenied, without retrying', async () => {
    graph.failNext({ status: 403 });
    const result = await source().resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_FORBIDDEN',
      reason:
        'graph forbidden: `Authorization_RequestDenied`: grant the application permission `GroupMember.Read.All` (or `Directory.Read.All`) with admin consent',
    });
    expect(graphRequests()).toHaveLength(1);
  });

  it('reports a refused client secret without repeating it', async () => {
    const result = await source({ clientSecret: 'wrong-secret-value' }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_FORBIDDEN',
      reason: 'graph token request refused: `401` `invalid_client`: check clientId, clientSecret and tenant',
    });
    expect(JSON.stringify(result)).not.toContain('wrong-secret-value');
  });
});

describe('createGraphGroupSource: tokens, cache and single flight', () => {
  it('caches the application token until shortly before it expires', async () => {
    const graphSource = source();
    await graphSource.resolve(identity(), { claims: {} });
    await graphSource.resolve(identity({ oid: OTHER_OID }), { claims: {} });
    expect(tokenRequests()).toHaveLength(1);
    time.clock.t += 3_599_000 - 300_000 + 1; // within the last 5 minutes of the token's life
    graphSource.clear();
    await graphSource.resolve(identity(), { claims: {} });
    expect(tokenRequests()).toHaveLength(2);
  });

  it('serves a user from the cache, and from Graph again after invalidate or TTL', async () => {
    const graphSource = source({ cache: { ttlMs: 60_000, max: 10 } });
    const first = await graphSource.resolve(identity(), { claims: {} });
    const second = await graphSource.resolve(identity({ oid: OID.toUpperCase() }), { claims: {} });
    expect(second).toEqual(first);
    expect(graphRequests()).toHaveLength(1);

    graphSource.invalidate(OID);
    graph.addGroup({ id: groupId(9), displayName: 'New' });
    graph.addMember(groupId(9), OID);
    const third = await graphSource.resolve(identity(), { claims: {} });
    expect(third.groups).toHaveLength(4);
    expect(graphRequests()).toHaveLength(2);

    time.clock.t += 60_001;
    await graphSource.resolve(identity(), { claims: {} });
    expect(graphRequests()).toHaveLength(3);
  });

  it('regression: invalidate during an in-flight lookup neither caches nor serves the stale answer', async () => {
    graph.delayNext(50);
    const graphSource = source({ cache: { ttlMs: 60_000, max: 10 } });
    const stale = graphSource.resolve(identity(), { claims: {} });
    // Wait until the (delayed) Graph page request has been received: the old membership is being read.
    while (graphRequests().length === 0) await new Promise((resolve) => setImmediate(resolve));
    graph.addGroup({ id: groupId(9), displayName: 'New' });
    graph.addMember(groupId(9), OID);
    graphSource.invalidate(OID);
    const fresh = await graphSource.resolve(identity(), { claims: {} });
    expect(fresh.groups).toHaveLength(4);
    expect((await stale).groups).toHaveLength(3);
    // The stale flight finished last: it must not have overwritten the cache.
    const again = await graphSource.resolve(identity(), { claims: {} });
    expect(again.groups).toHaveLength(4);
    expect(graphRequests()).toHaveLength(2);
  });

  it('bounds the cache to cache.max users (least recently used goes first)', async () => {
    const graphSource = source({ cache: { ttlMs: 60_000, max: 1 } });
    await graphSource.resolve(identity(), { claims: {} });
    await graphSource.resolve(identity({ oid: OTHER_OID }), { claims: {} });
    await graphSource.resolve(identity({ oid: OTHER_OID }), { claims: {} });
    expect(graphRequests()).toHaveLength(2);
    await graphSource.resolve(identity(), { claims: {} });
    expect(graphRequests()).toHaveLength(3);
  });

  it('makes one Graph call for N concurrent misses of the same user', async () => {
    const misses: unknown[] = [];
    const listener = (message: unknown) => misses.push(message);
    diagnostics.subscribe(GRAPH_CHANNEL_NAMES.cacheMiss, listener);
    try {
      const graphSource = source();
      const results = await Promise.all(Array.from({ length: 10 }, () => graphSource.resolve(identity(), { claims: {} })));
      expect(results.every((r) => r.membership.state === 'complete' && r.groups.length === 3)).toBe(true);
      expect(graphRequests()).toHaveLength(1);
      expect(tokenRequests()).toHaveLength(1);
      expect(misses).toHaveLength(10);
      expect(misses[0]).toEqual({ oid: OID });
    } finally {
      diagnostics.unsubscribe(GRAPH_CHANNEL_NAMES.cacheMiss, listener);
    }
  });

  it('fetches one application token for concurrent misses of different users', async () => {
    const graphSource = source();
    const [a, b] = await Promise.all([graphSource.resolve(identity(), { claims: {} }), graphSource.resolve(identity({ oid: OTHER_OID }), { claims: {} })]);
    expect(a.groups).toHaveLength(3);
    expect(b).toEqual({ groups: [], membership: COMPLETE });
    expect(tokenRequests()).toHaveLength(1);
    expect(graphRequests()).toHaveLength(2);
  });

  it('lets one caller abort without cancelling the shared lookup for the others', async () => {
    graph.delayNext(50);
    const graphSource = source();
    const controller = new AbortController();
    const aborted = graphSource.resolve(identity(), { claims: {}, signal: controller.signal });
    const patient = graphSource.resolve(identity(), { claims: {} });
    controller.abort();
    await expect(aborted).resolves.toEqual({
      groups: [],
      membership: { state: 'unknown', code: 'ERR_GROUPS_UNAVAILABLE', reason: 'graph lookup aborted' },
    });
    await expect(patient).resolves.toMatchObject({ membership: COMPLETE });
  });

  it('uses a delegated token when the request carries one (no client credentials needed)', async () => {
    const graphToken = graph.issueToken(OID);
    const delegated = createGraphGroupSource({ graphHost: graph.url, now: time.now, sleep: time.sleep });
    const result = await delegated.resolve(identity(), { claims: {}, graphToken });
    expect(result.groups).toHaveLength(3);
    expect(tokenRequests()).toHaveLength(0);
  });

  it('regression: an expired delegated token falls back to client credentials when they are configured', async () => {
    const result = await source().resolve(identity(), { claims: {}, graphToken: 'expired-user-token' });
    expect(result.membership).toEqual(COMPLETE);
    expect(result.groups).toHaveLength(3);
    expect(graphRequests().map((r) => r.status)).toEqual([401, 200]);
    expect(tokenRequests()).toHaveLength(1);
  });

  it('regression: a refused delegated token without client credentials names the token, not an outage of Graph', async () => {
    const delegated = createGraphGroupSource({ graphHost: graph.url, now: time.now, sleep: time.sleep });
    const result = await delegated.resolve(identity(), { claims: {}, graphToken: 'expired-user-token' });
    expect(result).toEqual({
      groups: [],
      membership: {
        state: 'unknown',
        code: 'ERR_GRAPH_FORBIDDEN',
        reason:
          'graph refused the delegated token: `401` `InvalidAuthenticationToken`: it expired or is not for Microsoft Graph; configure clientId and clientSecret to fall back to application permissions',
      },
    });
    expect(JSON.stringify(result)).not.toContain('expired-user-token');
  });

  it('answers unknown without credentials or a delegated token', async () => {
    const result = await createGraphGroupSource({ graphHost: graph.url }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GROUPS_UNAVAILABLE',
      reason: 'graph has no credentials: configure clientId and clientSecret, or pass a delegated graphToken',
    });
  });

  it('fetches a new application token once when Graph answers 401', async () => {
    graph.failNext({ status: 401 });
    const result = await source().resolve(identity(), { claims: {} });
    expect(result.membership.state).toBe('complete');
    expect(tokenRequests()).toHaveLength(2);
    expect(graphRequests().map((r) => r.status)).toEqual([401, 200]);
  });

  it('uses the token tenant when no tenantId is configured (multi-tenant)', async () => {
    const multi = source({ tenantId: undefined });
    const result = await multi.resolve(identity(), { claims: {} });
    expect(result.membership.state).toBe('complete');
    expect(tokenRequests()[0]?.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
  });

  it('publishes requests without tokens or secrets', async () => {
    const messages: unknown[] = [];
    const listener = (message: unknown) => messages.push(message);
    diagnostics.subscribe(GRAPH_CHANNEL_NAMES.request, listener);
    try {
      await source().resolve(identity(), { claims: {} });
    } finally {
      diagnostics.unsubscribe(GRAPH_CHANNEL_NAMES.request, listener);
    }
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ target: 'token', method: 'POST', status: 200, attempt: 0 });
    expect(messages[1]).toMatchObject({ target: 'graph', method: 'GET', path: `/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group`, status: 200 });
    const text = JSON.stringify(messages);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toContain('mock-graph.');
  });
});

describe('createGraphGroupSource: clouds and options', () => {
  function recordingFetch() {
    const urls: { url: string; body: string }[] = [];
    const fetch = (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      urls.push({ url, body: typeof init?.body === 'string' ? init.body : '' });
      return Promise.resolve(
        url.includes('/oauth2/') ? Response.json({ token_type: 'Bearer', expires_in: 3599, access_token: 't' }) : Response.json({ value: [] }),
      );
    };
    return { urls, fetch };
  }

  it.each([
    ['default', 'https://login.microsoftonline.com', 'https://graph.microsoft.com'],
    ['usgov', 'https://login.microsoftonline.us', 'https://graph.microsoft.us'],
    ['usgov_dod', 'https://login.microsoftonline.us', 'https://dod-graph.microsoft.us'],
    ['china', 'https://login.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn'],
  ] as const)('calls the %s cloud hosts', async (cloud, authority, graphHost) => {
    const { urls, fetch } = recordingFetch();
    const result = await createGraphGroupSource({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, cloud, fetch }).resolve(identity(), {
      claims: {},
    });
    expect(result).toEqual({ groups: [], membership: COMPLETE });
    expect(urls[0]?.url).toBe(`${authority}/${TENANT}/oauth2/v2.0/token`);
    expect(new URLSearchParams(urls[0]?.body).get('scope')).toBe(`${graphHost}/.default`);
    expect(urls[1]?.url).toBe(`${graphHost}/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName,mail&$top=999&$count=true`);
  });

  it('rejects bad options at construction with ERR_CONFIG_INVALID', () => {
    const attempts: unknown[] = [
      { clientId: CLIENT_ID },
      { graphHost: 'http://graph.example.com' },
      { cloud: 'mars' },
      { cache: { ttlMs: -1 } },
      { unknown: true },
    ];
    for (const options of attempts) {
      try {
        createGraphGroupSource(options as GraphGroupSourceOptions);
        expect.unreachable(JSON.stringify(options));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
        expect((err as ConfigError).message).toMatch(/^invalid graph group source configuration/);
      }
    }
  });
});

describe('overage never calls the _claim_sources endpoint', () => {
  it('rebuilds the Graph call from oid and the configured cloud (the claimed endpoint gets no request)', async () => {
    const claimed = await createMockGraph();
    try {
      claimed.addUser({ id: OID });
      const claims = {
        ...V1_OVERAGE_CLAIMS,
        _claim_sources: { src1: { endpoint: `${claimed.url}/v1.0/users/${OID}/transitiveMemberOf` } },
      };
      const chain = createGroupSourceChain([createTokenGroupSource(), source()]);
      const result = await chain.resolve(identity(), { claims });
      expect(result.membership).toEqual(COMPLETE);
      expect(result.groups).toHaveLength(3);
      expect(claimed.requests).toHaveLength(0);
      expect(graphRequests()).toHaveLength(1);
    } finally {
      await claimed.close();
    }
  });

  it('never contacts graph.windows.net for the real v1 overage token', async () => {
    const seen: string[] = [];
    const fetch = (input: string | URL | Request, init?: RequestInit) => {
      seen.push(String(input));
      return globalThis.fetch(input, init);
    };
    const chain = createGroupSourceChain([createTokenGroupSource(), source({ fetch })]);
    const result = await chain.resolve(identity(), { claims: V1_OVERAGE_CLAIMS });
    expect(result.membership.state).toBe('complete');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((u) => u.includes('graph.windows.net'))).toEqual([]);
    expect(seen.every((u) => u.startsWith(graph.url))).toBe(true);
  });

  it('fails closed when the token overflows and Graph is down', async () => {
    graph.down();
    const chain = createGroupSourceChain([createTokenGroupSource(), source({ maxRetries: 1 })]);
    const result = await chain.resolve(identity(), { claims: V1_OVERAGE_CLAIMS });
    expect(result.groups).toEqual([]);
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'token: groups overage (`_claim_names`); graph: graph request failed: network error `TypeError` after 2 attempts',
    });
  });
});

describe('outage backoff', () => {
  it('after an outage, other misses fail fast (still unknown) until the backoff passes; cached answers keep serving', async () => {
    const src = source({ maxRetries: 0, outageBackoffMs: 5_000 });
    const cachedUser = identity({ oid: OTHER_OID });
    graph.addMember(groupId(3), OTHER_OID);
    expect((await src.resolve(cachedUser, { claims: {} })).membership.state).toBe('complete');
    graph.down();
    const first = await src.resolve(identity({ oid: OID }), { claims: {} });
    expect(first.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    graph.up();
    const before = graph.requests.length;
    const fast = await src.resolve(identity({ oid: OID }), { claims: {} });
    expect(fast.membership).toMatchObject({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: `graph is down for tenant \`${TENANT}\`: not retried for 5 s`,
    });
    expect(graph.requests.length).toBe(before);
    expect((await src.resolve(cachedUser, { claims: {} })).membership.state).toBe('complete');
    time.clock.t += 5_000;
    expect((await src.resolve(identity({ oid: OID }), { claims: {} })).membership).toEqual(COMPLETE);
  });
});
