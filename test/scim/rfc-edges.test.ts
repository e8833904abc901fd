import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryStore } from '../../src/store/index.js';
import { pgliteFactory, postgresFactory, startScimServer, type ScimServer, type StoreFactory } from './helpers.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

const mutability = (detail: string) => ({ schemas: [ERROR], status: '400', scimType: 'mutability', detail });

describe('SCIM RFC 7644 edges', () => {
  let store: DirectoryStore;
  let cleanup: () => Promise<void>;
  let scim: ScimServer;
  const patch = (path: string, ...ops: unknown[]) => scim.request('PATCH', path, { schemas: [PATCH], Operations: ops });
  const newUser = async (name: string, extra: Record<string, unknown> = {}): Promise<any> => {
    const res = await scim.request('POST', '/Users', { userName: `${name}@contoso.com`, externalId: `ext-${name}`, displayName: name, ...extra });
    expect(res.status).toBe(201);
    return res.json;
  };

  beforeAll(async () => {
    ({ store, cleanup } = await pgliteFactory());
    scim = await startScimServer({ store, basePath: '/scim/v2' });
    for (const n of ['page-a', 'page-b', 'page-c']) await newUser(n, { title: 'pager' });
  });
  afterAll(async () => {
    await scim?.close();
    await cleanup?.();
  });

  describe('startIndex past the results is an empty page (§3.4.2.4)', () => {
    const huge = ['9007199254740993', '18446744073709551617', '1'.padEnd(400, '0'), '1e400'];
    const filters = [
      ['no filter', ''],
      ['a unique key', 'userName eq "page-a@contoso.com"'],
      ['a non-unique key', 'externalId eq "ext-page-b"'],
      ['a residual filter', 'title eq "pager"'],
    ] as const;

    it.each(filters)(
      'with %s: startIndex above 2^53 answers no resources, the true total, and the first page still answers (regression)',
      async (_, filter) => {
        const q = (startIndex?: string) =>
          `/Users?${new URLSearchParams({ ...(filter ? { filter } : {}), ...(startIndex === undefined ? {} : { startIndex }), count: '10' })}`;
        const first = await scim.request('GET', q());
        expect(first.status).toBe(200);
        expect(first.json.Resources.length).toBeGreaterThan(0);
        for (const startIndex of huge) {
          const res = await scim.request('GET', q(startIndex));
          expect(res.status).toBe(200);
          expect(res.json).toEqual({
            schemas: [LIST],
            totalResults: first.json.totalResults,
            Resources: [],
            startIndex: Number.MAX_SAFE_INTEGER,
            itemsPerPage: 0,
          });
        }
        // Just past the end: empty, with the index echoed as sent.
        const past = await scim.request('GET', q(String(first.json.totalResults + 1)));
        expect(past.json).toMatchObject({ totalResults: first.json.totalResults, Resources: [], startIndex: first.json.totalResults + 1, itemsPerPage: 0 });
      },
    );

    it('reads startIndex below 1 as 1 and a negative count as 0; refuses a non-number', async () => {
      const all = await scim.request('GET', '/Users?filter=title+eq+%22pager%22');
      for (const startIndex of ['0', '-5', '-1e400']) {
        const res = await scim.request('GET', `/Users?filter=title+eq+%22pager%22&startIndex=${startIndex}`);
        expect(res.json).toMatchObject({ startIndex: 1, totalResults: 3, itemsPerPage: 3 });
        expect(res.json.Resources.map((r: any) => r.id)).toEqual(all.json.Resources.map((r: any) => r.id));
      }
      expect((await scim.request('GET', '/Users?filter=title+eq+%22pager%22&count=-3')).json).toMatchObject({
        totalResults: 3,
        Resources: [],
        itemsPerPage: 0,
      });
      const bad = await scim.request('GET', '/Users?startIndex=ten');
      expect(bad.status).toBe(400);
      expect(bad.json).toEqual({ schemas: [ERROR], status: '400', scimType: 'invalidValue', detail: 'paging parameter `ten` is not a number' });
    });
  });

  describe('attributes and excludedAttributes on writes (§3.9, §3.5.2)', () => {
    it('POST, PUT and PATCH of a user answer the projected resource; id and schemas always come back', async () => {
      const post = await scim.request('POST', '/Users?attributes=userName', { userName: 'proj@contoso.com', displayName: 'Proj', title: 'T' });
      expect(post.status).toBe(201);
      expect(post.json).toEqual({ schemas: [USER], id: expect.any(String), userName: 'proj@contoso.com' });
      expect(post.headers.get('location')).toBe(`${scim.base}/Users/${post.json.id}`);
      const id = post.json.id as string;
      const put = await scim.request('PUT', `/Users/${id}?excludedAttributes=meta,title`, { userName: 'proj@contoso.com', displayName: 'Proj 2', title: 'T2' });
      expect(put.status).toBe(200);
      expect(put.json).toEqual({ schemas: [USER], id, userName: 'proj@contoso.com', displayName: 'Proj 2' });
      const patched = await scim.request('PATCH', `/Users/${id}?attributes=displayName,name.givenName`, {
        schemas: [PATCH],
        Operations: [{ op: 'replace', value: { displayName: 'Proj 3', 'name.givenName': 'P', title: 'T3' } }],
      });
      expect(patched.status).toBe(200);
      expect(patched.json).toEqual({ schemas: [USER], id, displayName: 'Proj 3', name: { givenName: 'P' } });
      // Positive control: without the parameters, the whole resource, as before.
      const full = await patch(`/Users/${id}`, { op: 'replace', path: 'title', value: 'T4' });
      expect(full.status).toBe(200);
      expect(full.json).toMatchObject({ id, userName: 'proj@contoso.com', displayName: 'Proj 3', title: 'T4', meta: { resourceType: 'User' } });
    });

    it('a group PATCH answers 204 as Entra expects, and 200 with the projected group when either parameter is sent', async () => {
      const ada = await newUser('grp-ada');
      const bob = await newUser('grp-bob');
      const post = await scim.request('POST', '/Groups?excludedAttributes=members', { displayName: 'Projected', members: [{ value: ada.id }] });
      expect(post.status).toBe(201);
      expect(post.json).not.toHaveProperty('members');
      expect(post.json).toMatchObject({ schemas: [GROUP], displayName: 'Projected', meta: { resourceType: 'Group' } });
      const g = post.json.id as string;
      // Entra sends `?aadOptscim062020` and no attributes: 204, no body.
      const entra = await scim.request('PATCH', `/Groups/${g}?aadOptscim062020`, {
        schemas: [PATCH],
        Operations: [{ op: 'Add', path: 'members', value: [{ value: bob.id }] }],
      });
      expect(entra.status).toBe(204);
      expect(entra.json).toBeUndefined();
      const withAttrs = await scim.request('PATCH', `/Groups/${g}?attributes=displayName,members`, {
        schemas: [PATCH],
        Operations: [{ op: 'Replace', path: 'displayName', value: 'Projected 2' }],
      });
      expect(withAttrs.status).toBe(200);
      expect(withAttrs.json).toEqual({
        schemas: [GROUP],
        id: g,
        displayName: 'Projected 2',
        members: expect.arrayContaining([expect.objectContaining({ value: ada.id, type: 'User' }), expect.objectContaining({ value: bob.id, type: 'User' })]),
      });
      expect(withAttrs.json.members).toHaveLength(2);
      const excluded = await scim.request('PATCH', `/Groups/${g}?excludedAttributes=members`, {
        schemas: [PATCH],
        Operations: [{ op: 'Remove', path: 'members', value: [{ value: ada.id }] }],
      });
      expect(excluded.status).toBe(200);
      expect(excluded.json).not.toHaveProperty('members');
      expect(excluded.json).toMatchObject({ id: g, displayName: 'Projected 2', meta: { resourceType: 'Group' } });
      const put = await scim.request('PUT', `/Groups/${g}?attributes=members`, { displayName: 'Projected 3', members: [{ value: ada.id }] });
      expect(put.status).toBe(200);
      expect(put.json).toEqual({ schemas: [GROUP], id: g, members: [expect.objectContaining({ value: ada.id })] });
    });

    it('refuses a bad attribute list before writing anything', async () => {
      const res = await scim.request('POST', '/Users?attributes=1bad', { userName: 'never-written@contoso.com' });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ schemas: [ERROR], status: '400', scimType: 'invalidValue', detail: 'attribute list: `1bad` is not an attribute path' });
      expect((await scim.request('GET', '/Users?filter=userName+eq+%22never-written%40contoso.com%22')).json.totalResults).toBe(0);
    });
  });

  describe('read-only attributes (RFC 7643 §3.1, §7; RFC 7644 §3.5.1, §3.5.2)', () => {
    it('a PATCH that changes id, meta or groups is 400 mutability and changes nothing', async () => {
      const u = await newUser('ro-patch', { title: 'before' });
      const other = await newUser('ro-other');
      const cases: [unknown[], string][] = [
        [[{ op: 'replace', path: 'id', value: other.id }], 'attribute `id` is read-only: it cannot be changed'],
        [[{ op: 'remove', path: 'id' }], 'attribute `id` is read-only: it cannot be changed'],
        [[{ op: 'replace', path: 'meta.created', value: '2001-01-01T00:00:00Z' }], 'attribute `meta.created` is read-only: it cannot be changed'],
        [[{ op: 'add', path: 'meta.lastModified', value: '2001-01-01T00:00:00Z' }], 'attribute `meta.lastModified` is read-only: it cannot be changed'],
        [[{ op: 'remove', path: 'meta' }], 'attribute `meta` is read-only: it cannot be changed'],
        [[{ op: 'replace', path: 'meta', value: { created: '2001-01-01T00:00:00Z' } }], 'attribute `meta.created` is read-only: it cannot be changed'],
        [[{ op: 'replace', path: 'meta', value: 'x' }], 'attribute `meta` is read-only: it cannot be changed'],
        [[{ op: 'replace', path: 'meta.colour', value: 'x' }], 'attribute `meta.colour` is read-only: it cannot be changed'],
        [[{ op: 'add', path: 'groups', value: [{ value: 'g1' }] }], "attribute `groups` is read-only: change a user's groups through the group's `members`"],
        // Pathless, as Entra sends replaces: the title in the same operation is not applied either.
        [[{ op: 'replace', value: { title: 'after', id: other.id } }], 'attribute `id` is read-only: it cannot be changed'],
        [[{ op: 'replace', value: { title: 'after', 'meta.created': '2001-01-01T00:00:00Z' } }], 'attribute `meta.created` is read-only: it cannot be changed'],
        [
          [
            { op: 'replace', path: 'title', value: 'after' },
            { op: 'add', value: { 'urn:ietf:params:scim:schemas:core:2.0:User:id': 'x' } },
          ],
          'attribute `id` is read-only: it cannot be changed',
        ],
      ];
      for (const [ops, detail] of cases) {
        const res = await patch(`/Users/${u.id}`, ...ops);
        expect(res.status, JSON.stringify(ops)).toBe(400);
        expect(res.json).toEqual(mutability(detail));
      }
      const after = await scim.request('GET', `/Users/${u.id}`);
      expect(after.json).toMatchObject({ id: u.id, title: 'before', meta: { created: u.meta.created, version: u.meta.version } });
    });

    it('a PATCH that re-sends the current id and meta is not a change (positive control: Entra-style pathless replaces pass)', async () => {
      const u = await newUser('ro-echo');
      const echoed = await patch(
        `/Users/${u.id}`,
        {
          op: 'Replace',
          value: {
            id: u.id,
            active: 'False',
            displayName: 'Echo',
            'name.givenName': 'E',
            'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': 'D',
          },
        },
        // The same instant in another spelling is the same value.
        { op: 'replace', path: 'meta.created', value: u.meta.created.replace('.000Z', 'Z') },
        { op: 'replace', path: 'meta', value: { resourceType: 'User', location: u.meta.location, lastModified: null } },
        { op: 'add', path: 'groups', value: [] },
        { op: 'replace', path: 'id', value: null },
      );
      expect(echoed.status).toBe(200);
      expect(echoed.json).toMatchObject({ id: u.id, active: false, displayName: 'Echo', name: { givenName: 'E' } });
      // Without `.000Z` in the store's spelling, the replace above still compared instants.
      expect(u.meta.created).toMatch(/\.\d{3}Z$/);
    });

    it('a group PATCH that changes id is refused whole: its member operations are not applied', async () => {
      const ada = await newUser('ro-grp-ada');
      const g = (await scim.request('POST', '/Groups', { displayName: 'ro-group' })).json;
      const res = await patch(
        `/Groups/${g.id}`,
        { op: 'Add', path: 'members', value: [{ value: ada.id }] },
        { op: 'Replace', value: { id: 'another', displayName: 'renamed' } },
      );
      expect(res.status).toBe(400);
      expect(res.json).toEqual(mutability('attribute `id` is read-only: it cannot be changed'));
      const meta = await patch(`/Groups/${g.id}`, { op: 'replace', path: 'meta.version', value: 'W/"99"' });
      expect(meta.json).toEqual(mutability('attribute `meta.version` is read-only: it cannot be changed'));
      const read = await scim.request('GET', `/Groups/${g.id}`);
      expect(read.json).toMatchObject({ displayName: 'ro-group' });
      expect(read.json.members ?? []).toEqual([]);
      // Positive control: the same id echoed, with the member add, passes (204, as Entra expects).
      expect(
        (
          await patch(
            `/Groups/${g.id}`,
            { op: 'Add', path: 'members', value: [{ value: ada.id }] },
            { op: 'Replace', value: { id: g.id, displayName: 'renamed' } },
          )
        ).status,
      ).toBe(204);
      expect((await scim.request('GET', `/Groups/${g.id}`)).json).toMatchObject({
        displayName: 'renamed',
        members: [expect.objectContaining({ value: ada.id })],
      });
    });

    it('a PUT whose id names another resource, or whose meta.created differs, is 400 mutability; an echo of a GET passes', async () => {
      const u = await newUser('ro-put', { title: 'before' });
      const wrongId = await scim.request('PUT', `/Users/${u.id}`, { id: 'someone-else', userName: 'ro-put@contoso.com', title: 'after' });
      expect(wrongId.status).toBe(400);
      expect(wrongId.json).toEqual(mutability('attribute `id` is read-only: it cannot be changed, and must name the resource in the path'));
      const wrongCreated = await scim.request('PUT', `/Users/${u.id}`, {
        userName: 'ro-put@contoso.com',
        title: 'after',
        meta: { created: '2001-01-01T00:00:00Z' },
      });
      expect(wrongCreated.json).toEqual(mutability('attribute `meta.created` is read-only: it cannot be changed'));
      const notText = await scim.request('PUT', `/Users/${u.id}`, { userName: 'ro-put@contoso.com', meta: { created: 5 } });
      expect(notText.json.scimType).toBe('mutability');
      expect((await scim.request('GET', `/Users/${u.id}`)).json).toMatchObject({ title: 'before', meta: { version: u.meta.version } });
      // Positive control: a client PUTs back what it read, after another write made its meta stale.
      const read = (await scim.request('GET', `/Users/${u.id}`)).json;
      await patch(`/Users/${u.id}`, { op: 'replace', path: 'displayName', value: 'moved on' });
      const echo = await scim.request('PUT', `/Users/${u.id}`, { ...read, title: 'after', groups: [{ value: 'ignored' }] });
      expect(echo.status).toBe(200);
      expect(echo.json).toMatchObject({ id: u.id, title: 'after', meta: { created: u.meta.created } });
      expect(echo.json).not.toHaveProperty('groups');
      // PUT on a group: the same rule.
      const g = (await scim.request('POST', '/Groups', { displayName: 'ro-put-group' })).json;
      expect((await scim.request('PUT', `/Groups/${g.id}`, { id: u.id, displayName: 'x' })).json.scimType).toBe('mutability');
      expect((await scim.request('PUT', `/Groups/${g.id}`, { id: g.id, displayName: 'ro-put-group 2', meta: g.meta })).status).toBe(200);
      // An unknown id is still 404, whatever meta says.
      expect((await scim.request('PUT', '/Users/no-such-user', { userName: 'x@contoso.com', meta: { created: '2001-01-01T00:00:00Z' } })).status).toBe(404);
    });

    it('a POST still ignores read-only attributes (§3.3)', async () => {
      const res = await scim.request('POST', '/Users', {
        id: 'chosen',
        userName: 'ro-post@contoso.com',
        meta: { created: '2001-01-01T00:00:00Z' },
        groups: [{ value: 'g' }],
      });
      expect(res.status).toBe(201);
      expect(res.json.id).not.toBe('chosen');
      expect(res.json.meta.created).not.toBe('2001-01-01T00:00:00Z');
    });
  });
});

// The same paging edge on PostgreSQL, whose OFFSET is a bigint bind parameter.
describe.each([['PostgreSQL', postgresFactory]] as [string, StoreFactory][])('startIndex past the results on %s', (_, factory) => {
  let cleanup: () => Promise<void>;
  let scim: ScimServer;
  beforeAll(async () => {
    const opened = await factory();
    cleanup = opened.cleanup;
    scim = await startScimServer({ store: opened.store, basePath: '/scim/v2' });
    for (const n of ['pg-a', 'pg-b']) expect((await scim.request('POST', '/Users', { userName: `${n}@contoso.com`, title: 'pager' })).status).toBe(201);
  });
  afterAll(async () => {
    await scim?.close();
    await cleanup?.();
  });

  it('answers an empty page with the true total for startIndex above 2^53, with and without a filter', async () => {
    for (const filter of ['', 'userName eq "pg-a@contoso.com"', 'title eq "pager"']) {
      const q = (startIndex: string) => `/Users?${new URLSearchParams({ ...(filter ? { filter } : {}), startIndex })}`;
      const first = await scim.request('GET', q('1'));
      expect(first.json.Resources.length).toBeGreaterThan(0);
      const res = await scim.request('GET', q('9007199254740993'));
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ totalResults: first.json.totalResults, Resources: [], itemsPerPage: 0 });
    }
  });
});
