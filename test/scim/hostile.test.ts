import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScimHandler } from '../../src/scim/index.js';
import type { DirectoryStore } from '../../src/store/index.js';
import { PREVIOUS_SECRET, SECRET, pgliteFactory, scimGate, startScimServer, type ScimServer } from './helpers.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

describe('SCIM endpoint under hostile input', () => {
  let store: DirectoryStore;
  let cleanup: () => Promise<void>;
  let scim: ScimServer;
  let userId: string;
  let groupId: string;

  beforeAll(async () => {
    ({ store, cleanup } = await pgliteFactory());
    scim = await startScimServer({ store, secrets: [SECRET, PREVIOUS_SECRET], maxBodyBytes: 64 * 1024 });
    userId = (await scim.request('POST', '/Users', { userName: 'victim@contoso.com', emails: [{ type: 'work', value: 'victim@contoso.com' }] })).json.id;
    groupId = (await scim.request('POST', '/Groups', { displayName: 'victims' })).json.id;
  });
  afterAll(async () => {
    await scim?.close();
    await cleanup?.();
  });

  it('refuses a missing, wrong or non-bearer secret with 401 and WWW-Authenticate, and accepts the rotated one', async () => {
    for (const [secret, detail] of [
      [null, 'a bearer secret is required'],
      ['wrong-secret-0123456789abcdef', 'the bearer secret is not valid'],
      [`${SECRET}x`, 'the bearer secret is not valid'],
    ] as const) {
      const res = await scim.request('GET', '/Users', undefined, { secret });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="entragate-scim"');
      expect(res.json).toEqual({ schemas: [ERROR], status: '401', detail });
    }
    const basic = await scim.request('GET', '/Users', undefined, {
      secret: null,
      headers: { authorization: `Basic ${Buffer.from(`a:${SECRET}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    expect(basic.json.detail).toBe('authorization must be a bearer secret');
    expect((await scim.request('GET', '/Users', undefined, { secret: PREVIOUS_SECRET })).status).toBe(200);
    expect((await scim.request('GET', '/ServiceProviderConfig', undefined, { secret: null })).status).toBe(401);
  });

  it('refuses bad JSON with 400 invalidSyntax', async () => {
    for (const raw of ['{"userName": ', '{"userName": "x",}', '', '\u0000']) {
      const res = await scim.request('POST', '/Users', undefined, { raw });
      expect(res.status).toBe(400);
      expect(res.json.scimType).toBe('invalidSyntax');
      expect(res.json.status).toBe('400');
    }
    const patch = await scim.request('PATCH', `/Users/${userId}`, { Operations: 'nope' });
    expect(patch.json).toEqual({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax', detail: 'patch body must have an `Operations` array' });
    const op = await scim.request('PATCH', `/Users/${userId}`, { Operations: [{ op: 'merge', path: 'title', value: 'x' }] });
    expect(op.json.detail).toBe('patch operation 1 has op `merge`: expected add, replace or remove');
  });

  it('refuses wrong types with 400 invalidValue, ignores unknown attributes', async () => {
    const cases: [unknown, string][] = [
      [{ userName: 123 }, 'attribute `userName` must be a string'],
      [{ userName: 'typed@contoso.com', active: 'maybe' }, 'attribute `active` must be a boolean (`true`/`false`, or the strings `"True"`/`"False"`)'],
      [{ userName: 'typed@contoso.com', emails: 'a@b.c' }, 'attribute `emails` must be an object'],
      [{ userName: 'typed@contoso.com', name: 'Ada' }, 'attribute `name` must be an object'],
      [{ displayName: 'no user name' }, 'attribute `userName` is required and must be a non-empty string'],
      [[{ userName: 'array@contoso.com' }], 'request body must be a JSON object'],
    ];
    for (const [body, detail] of cases) {
      const res = await scim.request('POST', '/Users', body);
      expect(res.status).toBe(400);
      expect(res.json.detail).toBe(detail);
    }
    const unknown = await scim.request('POST', '/Users', {
      userName: 'unknown-attrs@contoso.com',
      favouriteColour: 'green',
      password: 'hunter2',
      id: 'mine',
      groups: [{ value: groupId }],
    });
    expect(unknown.status).toBe(201);
    expect(unknown.json).not.toHaveProperty('favouriteColour');
    expect(unknown.json).not.toHaveProperty('password');
    expect(unknown.json).not.toHaveProperty('groups');
    expect(unknown.json.id).not.toBe('mine');
    const patchType = await scim.request('PATCH', `/Users/${userId}`, { Operations: [{ op: 'replace', path: 'active', value: 42 }] });
    expect(patchType.status).toBe(400);
    expect(patchType.json.scimType).toBe('invalidValue');
    const member = await scim.request('PATCH', `/Groups/${groupId}`, { Operations: [{ op: 'add', path: 'members', value: [{ value: 'no-such-id' }] }] });
    expect(member.status).toBe(400);
    expect(member.json.detail).toBe('member `no-such-id` is not a known user or group');
  });

  it('refuses a body over the limit with 413, with or without Content-Length', async () => {
    const huge = JSON.stringify({ userName: 'huge@contoso.com', title: 'x'.repeat(70 * 1024) });
    const res = await scim.request('POST', '/Users', undefined, { raw: huge });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ schemas: [ERROR], status: '413', detail: 'request body is over the limit of `65536` bytes' });
    // Chunked: no Content-Length, so only the streaming cap can stop it.
    const url = new URL(`${scim.base}/Users`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'transfer-encoding': 'chunked' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = 'x'.repeat(16 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 40) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect((await scim.request('GET', '/Users?filter=userName+eq+%22huge%40contoso.com%22')).json.totalResults).toBe(0);
  });

  it('treats filter injection as data or as a syntax error, never a 500 or a leak', async () => {
    const parse = await scim.request('GET', `/Users?${new URLSearchParams({ filter: 'userName eq "x" or 1 eq 1' })}`);
    expect(parse.status).toBe(400);
    expect(parse.json).toEqual({ schemas: [ERROR], status: '400', scimType: 'invalidFilter', detail: '`1` is not an attribute path' });
    for (const filter of [
      `userName eq "x' OR '1'='1"`,
      `userName eq "victim@contoso.com\\"; DROP TABLE scim_users; --"`,
      `userName eq "%' OR user_name LIKE '%"`,
      `externalId eq 1);DELETE`,
      `displayName co "'"`,
    ]) {
      const res = await scim.request('GET', `/Users?${new URLSearchParams({ filter })}`);
      expect([200, 400]).toContain(res.status);
      if (res.status === 200) expect(res.json.totalResults).toBe(0);
      else expect(res.json.scimType).toBe('invalidFilter');
    }
    const deep = await scim.request('GET', `/Users?${new URLSearchParams({ filter: `${'('.repeat(40)}userName eq "x"${')'.repeat(40)}` })}`);
    expect(deep.status).toBe(400);
    expect(deep.json.detail).toBe('filter nests deeper than 16');
    const long = await scim.request('GET', `/Users?${new URLSearchParams({ filter: `userName eq "${'a'.repeat(5000)}"` })}`);
    expect(long.json.detail).toBe('filter is longer than 4096 characters');
    expect((await scim.request('GET', `/Users/${userId}`)).status).toBe(200);
  });

  it('refuses __proto__, constructor and prototype in PATCH paths and keys, and in bodies', async () => {
    const ops = [
      [{ op: 'add', path: '__proto__.polluted', value: 'yes' }, 'invalid patch path: `__proto__.polluted` is not a permitted attribute name'],
      [{ op: 'replace', path: 'name.constructor', value: 'yes' }, 'invalid patch path: `name.constructor` is not a permitted attribute name'],
      [
        { op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:x:2.0:User:prototype', value: 'yes' },
        'invalid patch path: `urn:ietf:params:scim:schemas:extension:x:2.0:User:prototype` is not a permitted attribute name',
      ],
      [{ op: 'replace', path: 'emails[__proto__ eq "x"].value', value: 'yes' }, 'invalid patch path: `__proto__` is not a permitted attribute name'],
    ] as const;
    for (const [op, detail] of ops) {
      const res = await scim.request('PATCH', `/Users/${userId}`, { Operations: [op] });
      expect(res.status).toBe(400);
      expect(res.json.detail).toBe(detail);
    }
    for (const raw of [
      `{"Operations":[{"op":"replace","value":{"__proto__":{"polluted":"yes"}}}]}`,
      `{"Operations":[{"op":"replace","value":{"constructor":{"prototype":{"polluted":"yes"}}}}]}`,
      `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:x:2.0:User:a","value":{"__proto__":{"polluted":"yes"}}}]}`,
    ]) {
      const res = await scim.request('PATCH', `/Users/${userId}`, undefined, { raw });
      expect(res.status).toBe(400);
      expect(res.json.scimType).toBe('invalidValue');
    }
    const post = await scim.request('POST', '/Users', undefined, { raw: '{"userName":"proto@contoso.com","__proto__":{"admin":true}}' });
    expect(post.status).toBe(400);
    expect(post.json.detail).toBe('attribute `__proto__` is not permitted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('refuses NUL characters and unpaired surrogates with 400 or 404, never a 503 from the store (regression)', async () => {
    for (const raw of [
      '{"userName":"nul\\u0000@contoso.com"}',
      '{"userName":"lone\\ud800@contoso.com"}',
      '{"userName":"ok@contoso.com","name":{"given\\u0000Name":"x"}}',
    ]) {
      const res = await scim.request('POST', '/Users', undefined, { raw });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        schemas: [ERROR],
        status: '400',
        scimType: 'invalidValue',
        detail: 'request body has a NUL character or an unpaired surrogate in a string',
      });
    }
    const patch = await scim.request('PATCH', `/Groups/${groupId}`, undefined, {
      raw: '{"Operations":[{"op":"remove","path":"members[value eq \\"x\\u0000\\"]"}]}',
    });
    expect(patch.status).toBe(400);
    for (const filter of ['userName eq "a\\u0000b"', 'userName eq "\\udc00"', 'userName eq a\u0000b']) {
      const res = await scim.request('GET', `/Users?${new URLSearchParams({ filter })}`);
      expect(res.status).toBe(400);
      expect(res.json.scimType).toBe('invalidFilter');
    }
    const id = await scim.request('GET', '/Users/abc%00def');
    expect(id.status).toBe(404);
    expect(id.json.detail).toBe('no SCIM resource at this path');
  });

  it('answers unknown paths with 404, wrong methods with 405, and serves discovery', async () => {
    expect((await scim.request('GET', '/Widgets')).status).toBe(404);
    const method = await scim.request('DELETE', '/Users');
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('GET, POST');
    const spc = await scim.request('GET', '/ServiceProviderConfig?aadOptscim062020');
    expect(spc.json.patch).toEqual({ supported: true });
    const schemas = await scim.request('GET', '/Schemas');
    expect(schemas.json.Resources.map((s: any) => s.id)).toEqual([
      'urn:ietf:params:scim:schemas:core:2.0:User',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      'urn:ietf:params:scim:schemas:core:2.0:Group',
    ]);
    const text = JSON.stringify(schemas.json);
    expect(text).not.toContain('"password"');
    const emails = schemas.json.Resources[0].attributes.find((a: any) => a.name === 'emails');
    expect(emails.subAttributes.map((a: any) => a.name)).toEqual(['value', 'type']);
    const types = await scim.request('GET', '/ResourceTypes');
    expect(types.json.Resources[0].endpoint).toBe('/Users');
    expect((await scim.request('GET', '/ResourceTypes/Group')).json.schema).toBe('urn:ietf:params:scim:schemas:core:2.0:Group');
  });

  it('mounts without basePath by stripping everything before the resource', async () => {
    const handler = createScimHandler({ store, gate: scimGate(), secrets: [SECRET] });
    const res = await handler(new Request(`http://h/tenant/abc/scim/Users/${userId}?aadOptscim062020`, { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).meta.location).toBe(`http://h/tenant/abc/scim/Users/${userId}`);
  });

  it('throws ERR_CONFIG_INVALID at construction for bad options', () => {
    const gate = scimGate();
    expect(() => createScimHandler({ store, gate, secrets: ['short'] })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => createScimHandler({ store, gate, secrets: [SECRET, SECRET, SECRET] })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => createScimHandler({ store, secrets: [SECRET] } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('expected the gate from createGate()') }),
    );
  });
});
