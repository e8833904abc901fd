import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMockGraph, type MockGraph } from '../../src/testing/index.js';

const OID = 'a62060da-1ae3-44eb-8988-1197a68ff41e';

function groupId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

let graph: MockGraph;
let token: string;

beforeEach(async () => {
  graph = await createMockGraph();
  graph.addUser({ id: OID, userPrincipalName: 'ada@contoso.com' });
  for (let i = 0; i < 250; i++) {
    graph.addGroup({ id: groupId(i), displayName: `G${i}` });
    graph.addMember(groupId(i), i === 0 ? OID : groupId(i - 1)); // a chain 250 deep
  }
  token = graph.issueToken();
});

afterEach(async () => {
  await graph.close();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${graph.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('createMockGraph', () => {
  it('pages with $top and @odata.nextLink, keeping the original parameters, and counts on the first page only', async () => {
    const first = await get(`/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group?$select=id&$top=100&$count=true`, { ConsistencyLevel: 'eventual' });
    expect(first.status).toBe(200);
    expect(first.body['@odata.count']).toBe(250);
    expect((first.body.value as unknown[]).length).toBe(100);
    expect((first.body.value as unknown[])[0]).toEqual({ '@odata.type': '#microsoft.graph.group', id: groupId(0) });
    const next = new URL(first.body['@odata.nextLink'] as string);
    expect(next.origin).toBe(graph.url);
    expect(next.searchParams.get('$select')).toBe('id');
    expect(next.searchParams.get('$top')).toBe('100');
    const ids: string[] = [];
    let link: string | undefined = `${next.pathname}${next.search}`;
    let pages = 1;
    while (link) {
      const page = await get(link, { ConsistencyLevel: 'eventual' });
      expect(page.body['@odata.count']).toBeUndefined();
      ids.push(...(page.body.value as { id: string }[]).map((g) => g.id));
      const nextLink = page.body['@odata.nextLink'] as string | undefined;
      link = nextLink ? nextLink.slice(graph.url.length) : undefined;
      pages++;
    }
    expect(pages).toBe(3);
    expect(ids).toHaveLength(150);
    expect(ids[149]).toBe(groupId(249));
  });

  it('defaults to 100 per page and caps $top at 999', async () => {
    const small = await get(`/v1.0/users/${OID}/transitiveMemberOf`);
    expect((small.body.value as unknown[]).length).toBe(100);
    const big = await get(`/v1.0/users/ada@contoso.com/transitiveMemberOf?$top=5000`);
    expect((big.body.value as unknown[]).length).toBe(250);
    expect(big.body['@odata.nextLink']).toBeUndefined();
  });

  it('refuses a cast or $count without ConsistencyLevel: eventual, like Graph', async () => {
    const cast = await get(`/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group`);
    expect(cast.status).toBe(400);
    expect(cast.body.error).toMatchObject({ code: 'Request_BadRequest', message: '$count is not currently supported.' });
    const count = await get(`/v1.0/users/${OID}/transitiveMemberOf?$count=true`);
    expect(count.status).toBe(400);
  });

  it('requires a bearer token it issued or accepts', async () => {
    const response = await fetch(`${graph.url}/v1.0/users/${OID}/transitiveMemberOf`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationToken');
    token = 'not-issued';
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(401);
  });

  it('serves /me for a delegated token and refuses it for an application token', async () => {
    const app = await get('/v1.0/me/transitiveMemberOf');
    expect(app.status).toBe(400);
    token = graph.issueToken(OID);
    const me = await get('/v1.0/me/transitiveMemberOf?$top=999');
    expect((me.body.value as unknown[]).length).toBe(250);
  });

  it('rejects a forged $skiptoken', async () => {
    const response = await get(`/v1.0/users/${OID}/transitiveMemberOf?$skiptoken=forged`);
    expect(response.status).toBe(400);
  });

  it('answers 404 Request_ResourceNotFound for an unknown user', async () => {
    const response = await get('/v1.0/users/11111111-2222-3333-4444-555555555555/transitiveMemberOf');
    expect(response.status).toBe(404);
    expect(response.body.error).toMatchObject({ code: 'Request_ResourceNotFound' });
  });

  it('regression: answers 400 to a malformed percent-encoded user id instead of crashing', async () => {
    const response = await get('/v1.0/users/%E0%A4%A/transitiveMemberOf');
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'Request_BadRequest' });
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(200);
  });

  it('injects faults with Retry-After, a number of times, and logs every request', async () => {
    graph.failNext({ status: 429, retryAfter: '2.128', times: 2 });
    const first = await fetch(`${graph.url}/v1.0/users/${OID}/transitiveMemberOf`, { headers: { authorization: `Bearer ${token}` } });
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('2.128');
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe('TooManyRequests');
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(429);
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(200);
    expect(graph.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    graph.reset();
    expect(graph.requests).toEqual([]);
  });

  it('drops connections while down', async () => {
    graph.down();
    await expect(fetch(`${graph.url}/v1.0/users/${OID}/transitiveMemberOf`)).rejects.toThrow(TypeError);
    graph.up();
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(200);
  });

  it('issues client-credentials tokens only for the configured client and secret', async () => {
    const post = (body: Record<string, string>) =>
      fetch(`${graph.url}/contoso.onmicrosoft.com/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams(body) });
    const ok = await post({
      grant_type: 'client_credentials',
      client_id: 'mock-graph-client',
      client_secret: 'mock-graph-secret',
      scope: 'https://graph.microsoft.com/.default',
    });
    const issued = (await ok.json()) as { access_token: string; expires_in: number; token_type: string };
    expect(issued.token_type).toBe('Bearer');
    expect(issued.expires_in).toBe(3599);
    token = issued.access_token;
    expect((await get(`/v1.0/users/${OID}/transitiveMemberOf`)).status).toBe(200);

    const bad = await post({
      grant_type: 'client_credentials',
      client_id: 'mock-graph-client',
      client_secret: 'nope',
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_client');
    const scope = await post({ grant_type: 'client_credentials', client_id: 'mock-graph-client', client_secret: 'mock-graph-secret', scope: 'User.Read' });
    expect(((await scope.json()) as { error: string }).error).toBe('invalid_scope');
  });
});

describe('createMockGraph mounted in another server', () => {
  let host: Server;
  let base: string;
  let mounted: MockGraph;

  beforeEach(async () => {
    mounted = await createMockGraph({ listen: false, acceptToken: (t) => (t === 'minted-elsewhere' ? { oid: OID } : false) });
    mounted.addUser({ id: OID });
    mounted.addGroup({ id: groupId(1), displayName: 'Devs' });
    mounted.addMember(groupId(1), OID);
    host = createServer((req, res) => {
      if (mounted.handle(req, res)) return;
      res.writeHead(418).end('host route');
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await mounted.close();
    host.closeAllConnections();
    await new Promise((resolve) => host.close(resolve));
  });

  it('serves Graph routes through handle() and leaves others to the host', async () => {
    expect(mounted.url).toBe('');
    const me = await fetch(`${base}/v1.0/me/transitiveMemberOf`, { headers: { authorization: 'Bearer minted-elsewhere' } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { value: { id: string }[] }).value.map((g) => g.id)).toEqual([groupId(1)]);
    const other = await fetch(`${base}/.well-known/openid-configuration`);
    expect(other.status).toBe(418);
    expect(mounted.requests).toHaveLength(1);
  });
});
