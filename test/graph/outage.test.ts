import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGraphGroupSource, type GraphGroupSourceOptions } from '../../src/graph/index.js';
import { createMockGraph, type MockGraph } from '../../src/testing/mock-graph.js';
import { identity } from '../groups/identity-fixtures.js';

/*
 * Issue 11 #8: the fail-fast window opens only for an outage of Graph (timeouts, network errors, 5xx,
 * throttling past the retries), and only for the tenant whose Graph failed. Any other failure makes that one
 * lookup unknown and nothing else. Every test has its positive control: another user of the same tenant
 * (after a non-outage) or a user of another tenant (after an outage) still resolves.
 */

const T1 = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const T2 = '0b7c3e2a-4d51-4f7e-9a61-3c2f5e8d9b10';
/** The user whose lookup fails. */
const A = 'a62060da-1ae3-44eb-8988-1197a68ff41e';
/** Another user of A's tenant. */
const B = 'dda50086-5e3d-4a4b-b8bc-f54771104d89';
const CLIENT_ID = '535fb089-9ff3-47b6-9bfb-4f1264799865';
const CLIENT_SECRET = 'test-secret-value-not-real';
const COMPLETE = { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] };
const DOWN_T1 = `graph is down for tenant \`${T1}\`: not retried for 5 s`;

function groupId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

let graph: MockGraph;
const clock = { t: 1_700_000_000_000 };

beforeEach(async () => {
  // No tenantId: the mock's token endpoint serves every tenant, as Entra does for a multi-tenant app.
  graph = await createMockGraph({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  graph.addUser({ id: A });
  graph.addUser({ id: B });
  for (let i = 1; i <= 3; i++) {
    graph.addGroup({ id: groupId(i), displayName: `Group ${i}` });
    graph.addMember(groupId(i), A);
    graph.addMember(groupId(i), B);
  }
  clock.t = 1_700_000_000_000;
});

afterEach(async () => {
  await graph.close();
});

/** A multi-tenant source (the token's `tid` picks the tenant) on fake time. */
function source(overrides: Partial<GraphGroupSourceOptions> = {}) {
  return createGraphGroupSource({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    graphHost: graph.url,
    authorityHost: graph.url,
    maxRetries: 1,
    outageBackoffMs: 5_000,
    now: () => clock.t,
    sleep: (ms) => {
      clock.t += ms;
      return Promise.resolve();
    },
    random: () => 0.5,
    ...overrides,
  });
}

/** Wraps the real fetch: requests for user A's groups get `answer(url)` instead of the mock's page. */
function spoilUserA(answer: (url: string) => Response): typeof fetch {
  return (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.includes(`/users/${A}/`)) return Promise.resolve(answer(url));
    return globalThis.fetch(input, init);
  };
}

const user = (oid: string, tid = T1) => identity({ oid, tid });
const requests = () => graph.requests.length;

describe('graph fail-fast: a failure that is not an outage is one lookup’s alone', () => {
  const page = (extra: Record<string, unknown>) => Response.json({ value: [{ '@odata.type': '#microsoft.graph.group', id: groupId(1) }], ...extra });
  const cases: [string, () => Partial<GraphGroupSourceOptions>, string][] = [
    [
      'more pages than maxPages',
      () => {
        for (let i = 100; i < 1_100; i++) {
          graph.addGroup({ id: groupId(i) });
          graph.addMember(groupId(i), A);
        }
        return { maxPages: 1 };
      },
      'graph paging exceeded 1 pages',
    ],
    ['a page without a value array', () => ({ fetch: spoilUserA(() => Response.json({ groups: [] })) }), 'graph response malformed: no `value` array'],
    [
      'a next link to another host',
      () => ({ fetch: spoilUserA(() => page({ '@odata.nextLink': 'https://evil.example/v1.0/users/x/transitiveMemberOf?$skiptoken=1' })) }),
      'graph next link refused: not on the configured graph host',
    ],
    ['a next link that repeats the page', () => ({ fetch: spoilUserA((url) => page({ '@odata.nextLink': url })) }), 'graph next link repeats a page'],
    [
      'a page that is not JSON',
      () => ({ fetch: spoilUserA(() => new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } })) }),
      'graph response malformed: no `value` array',
    ],
    [
      'a 400 from Graph',
      () => ({ fetch: spoilUserA(() => Response.json({ error: { code: 'Request_BadRequest' } }, { status: 400 })) }),
      'graph request failed: status `400` `Request_BadRequest`',
    ],
  ];

  it.each(cases)('%s: that user is unknown, another user of the tenant still resolves, and the user is retried', async (_, setup, reason) => {
    const src = source(setup());
    const failed = await src.resolve(user(A), { claims: {} });
    expect(failed).toEqual({ groups: [], membership: { state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason } });

    // Positive control: the tenant's Graph is fine, so the next user is asked, not failed fast.
    const before = requests();
    const other = await src.resolve(user(B), { claims: {} });
    expect(other.membership).toEqual(COMPLETE);
    expect(other.groups.map((g) => g.id)).toEqual([groupId(1), groupId(2), groupId(3)]);
    expect(requests()).toBeGreaterThan(before);

    // The failing user is looked up again (the failure was not cached and opened no window).
    const again = await src.resolve(user(A), { claims: {} });
    expect(again.membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason });
  });

  it('a malformed token response is that lookup’s failure: the next lookup fetches a token again and resolves', async () => {
    let spoiled = false;
    const fetch: typeof globalThis.fetch = (input, init) => {
      if (!spoiled && String(input).includes('/oauth2/')) {
        spoiled = true;
        return Promise.resolve(Response.json({ token_type: 'Bearer' }));
      }
      return globalThis.fetch(input, init);
    };
    const src = source({ fetch });
    expect((await src.resolve(user(A), { claims: {} })).membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph token response malformed: no `access_token` or `expires_in`',
    });
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual(COMPLETE);
  });
});

describe('graph fail-fast: an outage fails fast for its tenant only', () => {
  const outages: [string, () => Partial<GraphGroupSourceOptions>, string][] = [
    ['503 past the retries', () => (graph.failNext({ status: 503, times: 10, tenant: T1 }), {}), 'graph request failed: status `503` after 2 attempts'],
    ['500 past the retries', () => (graph.failNext({ status: 500, times: 10, tenant: T1 }), {}), 'graph request failed: status `500` after 2 attempts'],
    [
      '429 whose Retry-After passes the deadline',
      () => (graph.failNext({ status: 429, retryAfter: '120', tenant: T1 }), {}),
      'graph request failed: status `429`: retry in 120000 ms would pass the deadline',
    ],
    ['a 5xx that is not retried (501)', () => (graph.failNext({ status: 501, tenant: T1 }), {}), 'graph request failed: status `501` `NotImplemented`'],
    [
      'the token endpoint answering 503 past the retries',
      () => (graph.failNext({ status: 503, route: 'token', times: 10, tenant: T1 }), {}),
      'graph request failed: status `503` after 2 attempts',
    ],
  ];

  it.each(outages)('%s: the tenant’s other users fail fast, another tenant’s user resolves', async (_, setup, reason) => {
    const src = source(setup());
    expect((await src.resolve(user(A), { claims: {} })).membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason });

    // The same tenant: failed fast, without a request.
    const before = requests();
    expect(await src.resolve(user(B), { claims: {} })).toEqual({
      groups: [],
      membership: { state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: DOWN_T1 },
    });
    expect(requests()).toBe(before);

    // Positive control: another tenant's user (the same Graph host, another tenant's token) resolves.
    const elsewhere = await src.resolve(user(B, T2), { claims: {} });
    expect(elsewhere.membership).toEqual(COMPLETE);
    expect(elsewhere.groups).toHaveLength(3);

    // After the window the tenant is asked again.
    graph.reset();
    clock.t += 5_000;
    src.invalidate(B);
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual(COMPLETE);
  });

  it('network errors: the tenant fails fast, another tenant resolves', async () => {
    const src = source();
    graph.down();
    const failed = await src.resolve(user(A), { claims: {} });
    expect(failed.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph request failed: network error `TypeError` after 2 attempts',
    });
    graph.up();
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: DOWN_T1 });
    expect((await src.resolve(user(B, T2), { claims: {} })).membership).toEqual(COMPLETE);
  });

  it('a timeout: the tenant fails fast, another tenant resolves', async () => {
    // The abort a real timeout raises, without waiting for one (a short real timeout would also hit the controls on a busy machine).
    const fetch: typeof globalThis.fetch = (input, init) =>
      String(input).includes(`/${T1}/oauth2/`)
        ? Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
        : globalThis.fetch(input, init);
    const src = source({ maxRetries: 0, fetch });
    const failed = await src.resolve(user(A), { claims: {} });
    expect(failed.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_REQUEST_FAILED',
      reason: 'graph request failed: timed out after 10000 ms after 1 attempts',
    });
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: DOWN_T1 });
    expect((await src.resolve(user(B, T2), { claims: {} })).membership).toEqual(COMPLETE);
  });

  it('the window is the configured tenant’s when tenantId is set: every lookup reads that tenant', async () => {
    const src = source({ tenantId: T1 });
    graph.failNext({ status: 503, times: 10, tenant: T1 });
    expect((await src.resolve(user(A), { claims: {} })).membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    // A token of another tid is still looked up in T1, whose Graph is down.
    const before = requests();
    expect((await src.resolve(user(B, T2), { claims: {} })).membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: DOWN_T1 });
    expect(requests()).toBe(before);
  });

  it('a cached answer of the tenant keeps serving during its window; clear() closes the window', async () => {
    const src = source();
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual(COMPLETE);
    graph.failNext({ status: 503, times: 10, tenant: T1 });
    expect((await src.resolve(user(A), { claims: {} })).membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    expect(await src.resolve(user(B), { claims: {} })).toMatchObject({ membership: COMPLETE });
    graph.reset();
    src.clear();
    expect((await src.resolve(user(A), { claims: {} })).membership).toEqual(COMPLETE);
  });

  it('outageBackoffMs: 0 never fails fast', async () => {
    const src = source({ outageBackoffMs: 0 });
    graph.failNext({ status: 503, times: 2, tenant: T1 });
    expect((await src.resolve(user(A), { claims: {} })).membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    expect((await src.resolve(user(B), { claims: {} })).membership).toEqual(COMPLETE);
  });
});
