import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScimHandler, toNodeListener } from '../../src/scim/index.js';
import type { DirectoryStore } from '../../src/store/index.js';
import { SECRET, pgliteFactory, scimGate } from './helpers.js';

async function serve(listener: Parameters<typeof createServer>[1]): Promise<{ server: Server; base: string }> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A raw request, so the test controls every header and reads every one back. */
function send(
  base: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers: { authorization: `Bearer ${SECRET}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('toNodeListener', () => {
  let store: DirectoryStore;
  let cleanup: () => Promise<void>;
  let direct: { server: Server; base: string };
  let viaFetch: { server: Server; base: string };

  beforeAll(async () => {
    ({ store, cleanup } = await pgliteFactory());
    const scim = createScimHandler({ store, gate: scimGate(), secrets: [SECRET], basePath: '/scim/v2', maxBodyBytes: 2048 });
    direct = await serve(toNodeListener(scim));
    // A wrapper hides the handler's core, so this server takes the WHATWG Request/Response path.
    viaFetch = await serve(toNodeListener((request) => scim(request)));
  });
  afterAll(async () => {
    for (const s of [direct, viaFetch]) if (s) await new Promise((r) => s.server.close(r));
    await cleanup?.();
  });

  it('answers the same through the direct path and the WHATWG path', async () => {
    const strip = (r: { status: number; headers: Record<string, unknown>; body: string }) => ({
      status: r.status,
      type: r.headers['content-type'],
      auth: r.headers['www-authenticate'],
      allow: r.headers.allow,
      body: r.body.replace(/"(id|created|lastModified|location|version)":"[^"]*"/g, '"$1":"…"').replace(/Users\/[0-9a-f-]{36}/g, 'Users/…'),
    });
    let n = 0;
    const cases: [string, string, string | undefined, Record<string, string>?][] = [
      ['GET', '/scim/v2/Users?aadOptscim062020&filter=userName+eq+%22nobody%22', undefined],
      ['POST', '/scim/v2/Users', JSON.stringify({ userName: 'same-NAME@contoso.com', name: { givenName: 'A' } }), { 'content-type': 'application/scim+json' }],
      ['GET', '/scim/v2/Users?filter=userName+eq+%22SAME-name%40contoso.com%22', undefined],
      ['DELETE', '/scim/v2/Users', undefined],
      ['POST', '/scim/v2/Users', '{"userName": ', { 'content-type': 'application/json' }],
      ['POST', '/scim/v2/Users', JSON.stringify({ userName: 'big@contoso.com', title: 'x'.repeat(4096) }), {}],
      ['GET', '/scim/v2/ServiceProviderConfig', undefined, { authorization: 'Bearer wrong-secret-0123456789' }],
    ];
    for (const [method, path, body, headers] of cases) {
      const a = await send(direct.base, method, path, body, headers);
      if (method === 'POST' && a.status === 201) {
        // Create once per path: remove it, then let the WHATWG path create it again.
        const id = (JSON.parse(a.body) as { id: string }).id;
        expect((await send(direct.base, 'DELETE', `/scim/v2/Users/${id}`)).status).toBe(204);
      }
      const b = await send(viaFetch.base, method, path, body, headers);
      expect(strip(a), `${method} ${path}`).toEqual(strip(b));
      n++;
    }
    expect(n).toBe(cases.length);
    expect((await send(direct.base, 'POST', '/scim/v2/Users', 'x'.repeat(4096))).status).toBe(413);
  });

  it('builds meta.location from the Host header the client used', async () => {
    const res = await send(direct.base, 'POST', '/scim/v2/Groups', JSON.stringify({ displayName: 'located' }), { host: 'scim.example.test:8443' });
    expect(res.status).toBe(201);
    const group = JSON.parse(res.body) as { id: string; meta: { location: string } };
    expect(group.meta.location).toBe(`http://scim.example.test:8443/scim/v2/Groups/${group.id}`);
    expect(res.headers.location).toBe(group.meta.location);
  });
});
