import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirectoryStore } from '../../src/store/index.js';
import { fixture, startScimServer, type ScimServer, type StoreFactory } from './helpers.js';

const FLAG = '?aadOptscim062020';
const q = (filter: string, extra = ''): string => `/Users${FLAG}&${new URLSearchParams({ filter }).toString()}${extra}`;

interface PatchPair {
  name: string;
  expect: Record<string, unknown>;
  without: unknown;
  with: unknown;
}

/** Replays a whole Entra provisioning session over real HTTP against a store made by `factory`. */
export function describeEntraSession(label: string, factory: StoreFactory): void {
  describe(`Entra provisioning session over HTTP (${label})`, () => {
    let store: DirectoryStore;
    let cleanup: () => Promise<void>;
    let scim: ScimServer;
    let n = 0;
    const createUser = async (extra: Record<string, unknown> = {}): Promise<any> => {
      n++;
      const res = await scim.request('POST', `/Users${FLAG}`, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `user${n}-${randomUUID()}@contoso.com`,
        externalId: randomUUID(),
        active: true,
        emails: [{ type: 'work', value: `user${n}@contoso.com`, primary: true }],
        ...extra,
      });
      expect(res.status).toBe(201);
      return res.json;
    };
    const createGroup = async (displayName: string): Promise<any> => {
      const res = await scim.request('POST', `/Groups${FLAG}`, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        displayName,
        externalId: randomUUID(),
      });
      expect(res.status).toBe(201);
      return res.json;
    };

    beforeAll(async () => {
      ({ store, cleanup } = await factory());
      scim = await startScimServer({ store, basePath: '/scim/v2' });
    });
    afterAll(async () => {
      await scim?.close();
      await cleanup?.();
    });

    it('answers Test Connection (a random GUID userName) with 200 and an empty ListResponse', async () => {
      const res = await scim.request('GET', q(`userName eq "${randomUUID()}"`), undefined, { headers: {} });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/scim+json');
      expect(res.json).toEqual({
        schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
        totalResults: 0,
        Resources: [],
        startIndex: 1,
        itemsPerPage: 0,
      });
    });

    it('creates, finds (userName, externalId unquoted, work email), gets and refuses a duplicate userName', async () => {
      const body = fixture('create-user.json');
      const created = await scim.request('POST', `/Users${FLAG}`, body);
      expect(created.status).toBe(201);
      const user = created.json;
      expect(user.id).toEqual(expect.any(String));
      expect(user.userName).toBe(body.userName);
      expect(user.externalId).toBe(body.externalId);
      expect(user.emails).toEqual(body.emails);
      expect(user.name).toEqual(body.name);
      expect(user.meta.resourceType).toBe('User');
      expect(user.meta.location).toBe(`${scim.base}/Users/${user.id}`);
      expect(created.headers.get('location')).toBe(user.meta.location);

      const byName = await scim.request('GET', q(`userName eq "${String(body.userName).toUpperCase()}"`));
      expect(byName.json.totalResults).toBe(1);
      expect(byName.json.Resources[0]).toEqual(user);
      const byExternal = await scim.request('GET', `/Users${FLAG}&filter=externalId+eq+${body.externalId}`);
      expect(byExternal.json.Resources.map((r: any) => r.id)).toEqual([user.id]);
      const byMail = await scim.request('GET', q(`emails[type eq "work"].value eq "${(body.emails as any)[0].value}"`));
      expect(byMail.json.Resources.map((r: any) => r.id)).toEqual([user.id]);
      const byId = await scim.request('GET', `/Users/${user.id}${FLAG}`);
      expect(byId.status).toBe(200);
      expect(byId.json).toEqual(user);

      const dup = await scim.request('POST', `/Users${FLAG}`, { ...body, userName: String(body.userName).toLowerCase() });
      expect(dup.status).toBe(409);
      expect(dup.json).toEqual({
        schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
        status: '409',
        scimType: 'uniqueness',
        detail: `a user with userName \`${String(body.userName).toLowerCase()}\` exists`,
      });
      const missing = await scim.request('GET', `/Users/${randomUUID()}`);
      expect(missing.status).toBe(404);
      expect(missing.json.status).toBe('404');
    });

    it('keeps the enterprise and custom extensions, ignores nulls and the typo URN', async () => {
      const res = await scim.request('POST', '/Users', fixture('enterprise-user.json'));
      expect(res.status).toBe(201);
      expect(res.json.id).not.toBe('48af03ac28ad4fb88478');
      expect(res.json.schemas).toContain('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
      expect(res.json['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].manager).toEqual({
        value: '26118915-6090-4610-87e4-49d8ca9f808d',
        displayName: 'John Smith',
      });
      expect(res.json['urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User']).toEqual({ CustomAttribute: '701984' });
      const joy = await scim.request('POST', '/Users', fixture('create-user-example2-nulls.json'));
      expect(joy.status).toBe(201);
      expect(joy.json).not.toHaveProperty('addresses');
      expect(joy.json).not.toHaveProperty('title');
      expect(joy.json.displayName).toBe('Joy Young');
    });

    const pairs = fixture<{ user: PatchPair[] }>('patch-pairs.json').user;
    for (const pair of pairs) {
      it(`PATCH "${pair.name}" gives the same user with and without aadOptscim062020`, async () => {
        const results: any[] = [];
        for (const mode of ['without', 'with'] as const) {
          const user = await createUser({ name: { givenName: 'g', familyName: 'f' }, displayName: 'before' });
          const res = await scim.request('PATCH', `/Users/${user.id}${mode === 'with' ? FLAG : ''}`, pair[mode]);
          expect(res.status).toBe(200);
          const got = await scim.request('GET', `/Users/${user.id}`);
          expect(res.json).toEqual(got.json);
          results.push(got.json);
        }
        for (const r of results) expect(r).toMatchObject(pair.expect);
        const strip = ({ id, meta, userName, externalId, emails, ...rest }: any) => {
          void id, meta, userName, externalId;
          return { ...rest, emails: emails?.map((e: any) => ({ ...e, value: /Test/.test(e.value) ? e.value : 'own' })) };
        };
        expect(strip(results[0])).toEqual(strip(results[1]));
      });
    }

    it('disables with "False" (and Add), keeps the inactive user visible, re-enables with "True", sets and clears the manager', async () => {
      const user = await createUser();
      const manager = await createUser();
      const patch = (op: string, path: string, value: unknown) =>
        scim.request('PATCH', `/Users/${user.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op, path, value }] });
      expect((await patch('Replace', 'active', 'False')).json.active).toBe(false);
      const visible = await scim.request('GET', q(`userName eq "${user.userName}"`));
      expect(visible.json.Resources[0].active).toBe(false);
      expect(store.index.getUser(user.id)?.active).toBe(false);
      expect((await patch('Replace', 'active', 'True')).json.active).toBe(true);
      expect((await patch('Add', 'active', 'false')).json.active).toBe(false);
      expect((await patch('replace', 'active', true)).json.active).toBe(true);
      const ext = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
      expect((await patch('Add', `${ext}:manager`, manager.id)).json[ext].manager).toEqual({ value: manager.id });
      expect((await patch('replace', `${ext}:manager`, user.id)).json[ext].manager).toEqual({ value: user.id });
      const cleared = await patch('replace', `${ext}:manager`, '');
      expect(cleared.json).not.toHaveProperty(ext);
    });

    it('deletes a user (204) and then answers 404', async () => {
      const user = await createUser();
      expect((await scim.request('DELETE', `/Users/${user.id}`)).status).toBe(204);
      expect((await scim.request('GET', `/Users/${user.id}`)).status).toBe(404);
      // A tombstone: the directory remembers whom it deleted (the identity pipeline refuses them).
      expect(store.index.getUser(user.id)).toMatchObject({ active: false, deleted: true });
    });

    it('creates a group with empty members, honours excludedAttributes=members, adds and removes many members without wiping', async () => {
      const body = fixture('create-group.json');
      const created = await scim.request('POST', `/Groups${FLAG}`, body);
      expect(created.status).toBe(201);
      expect(created.json.members).toEqual([]);
      expect(created.json.displayName).toBe('displayName');
      const group = created.json;
      const noMembers = await scim.request('GET', `/Groups/${group.id}${FLAG}&excludedAttributes=members`);
      expect(noMembers.json).not.toHaveProperty('members');
      expect(noMembers.json.displayName).toBe('displayName');
      const found = await scim.request('GET', `/Groups${FLAG}&excludedAttributes=members&filter=${encodeURIComponent('displayName eq "DISPLAYNAME"')}`);
      expect(found.json.totalResults).toBe(1);
      expect(found.json.Resources[0]).not.toHaveProperty('members');

      const users = [];
      for (let i = 0; i < 24; i++) users.push(await createUser());
      const add = await scim.request('PATCH', `/Groups/${group.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [
          { op: 'Add', path: 'members', value: users.slice(0, 12).map((u) => ({ $ref: null, value: u.id })) },
          { op: 'Add', path: 'members', value: users.slice(12).map((u) => ({ $ref: null, value: u.id })) },
        ],
      });
      expect(add.status).toBe(204);
      expect(add.json).toBeUndefined();
      const pairs = fixture<{ groupRemoveMember: { without: unknown; with: unknown } }>('patch-pairs.json').groupRemoveMember;
      const withoutFlag = JSON.parse(JSON.stringify(pairs.without).replace('MEMBER_ID', users[0].id));
      const withFlag = JSON.parse(JSON.stringify(pairs.with).replace('MEMBER_ID', users[1].id));
      expect((await scim.request('PATCH', `/Groups/${group.id}`, withoutFlag)).status).toBe(204);
      expect((await scim.request('PATCH', `/Groups/${group.id}${FLAG}`, withFlag)).status).toBe(204);
      const multi = await scim.request('PATCH', `/Groups/${group.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Remove', path: 'members', value: users.slice(2, 4).map((u) => ({ value: u.id })) }],
      });
      expect(multi.status).toBe(204);
      const after = await scim.request('GET', `/Groups/${group.id}`);
      const expected = users
        .slice(4)
        .map((u) => u.id)
        .sort();
      expect(after.json.members.map((m: any) => m.value).sort()).toEqual(expected);
      expect(after.json.members[0]).toMatchObject({ type: 'User', $ref: expect.stringContaining('/scim/v2/Users/') });
      expect([...store.index.directMembers(group.id)].sort()).toEqual(expected);

      const rename = await scim.request('PATCH', `/Groups/${group.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Replace', path: 'displayName', value: 'renamed' }],
      });
      expect(rename.status).toBe(204);
      const renamed = await scim.request('GET', `/Groups/${group.id}`);
      expect(renamed.json.displayName).toBe('renamed');
      expect(renamed.json.members).toHaveLength(expected.length);
    });

    it('keeps a nested group as an edge: index.groupsOfUser shows the parent', async () => {
      const parent = await createGroup(`parent-${randomUUID()}`);
      const child = await createGroup(`child-${randomUUID()}`);
      const user = await createUser();
      const add = (groupId: string, id: string) =>
        scim.request('PATCH', `/Groups/${groupId}`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }],
        });
      expect((await add(child.id, user.id)).status).toBe(204);
      expect((await add(parent.id, child.id)).status).toBe(204);
      const groups = store.index
        .groupsOfUser(user.id)
        .map((g) => g.id)
        .sort();
      expect(groups).toEqual([parent.externalId, child.externalId].sort());
      const got = await scim.request('GET', `/Groups/${parent.id}`);
      expect(got.json.members).toEqual([{ value: child.id, type: 'Group', $ref: `${scim.base}/Groups/${child.id}` }]);
      expect((await scim.request('DELETE', `/Groups/${child.id}`)).status).toBe(204);
      expect(store.index.groupsOfUser(user.id)).toEqual([]);
    });

    it('finds a group by a members filter (regression: members were not loaded before the filter ran)', async () => {
      const group = await createGroup(`filtered-${randomUUID()}`);
      const [member, other] = [await createUser(), await createUser()];
      await scim.request('PATCH', `/Groups/${group.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'add', path: 'members', value: [{ value: member.id }] }],
      });
      for (const filter of [`members[value eq "${member.id}"]`, `members.value eq "${member.id}"`, `members eq "${member.id}"`]) {
        const found = await scim.request('GET', `/Groups?excludedAttributes=members&${new URLSearchParams({ filter })}`);
        expect(found.status).toBe(200);
        expect(found.json.Resources.map((r: any) => r.id)).toEqual([group.id]);
        expect(found.json.Resources[0]).not.toHaveProperty('members');
      }
      const none = await scim.request('GET', `/Groups?${new URLSearchParams({ filter: `members[value eq "${other.id}"]` })}`);
      expect(none.json.totalResults).toBe(0);
    });

    it('stores roles as Entra sends them, JSON-in-string values included, and returns them unchanged', async () => {
      const user = await createUser({ roles: [{ primary: true, type: 'WindowsAzureActiveDirectoryRole', value: 'Admin' }] });
      expect(user.roles).toEqual([{ primary: true, type: 'WindowsAzureActiveDirectoryRole', value: 'Admin' }]);
      const single = '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}';
      const added = await scim.request('PATCH', `/Users/${user.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Add', path: 'roles', value: [{ value: single }] }],
      });
      expect(added.json.roles).toEqual([{ primary: true, type: 'WindowsAzureActiveDirectoryRole', value: 'Admin' }, { value: single }]);
      const assertive = [
        { primary: false, type: 'WindowsAzureActiveDirectoryRole', display: 'User', value: 'User' },
        { primary: false, type: 'WindowsAzureActiveDirectoryRole', display: 'Test', value: 'Test' },
      ];
      const replaced = await scim.request('PATCH', `/Users/${user.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'roles', value: assertive }],
      });
      expect(replaced.json.roles).toEqual(assertive);
      expect((await scim.request('GET', `/Users/${user.id}`)).json.roles).toEqual(assertive);
    });

    it('accepts application/json bodies and clears a single-valued attribute replaced with ""', async () => {
      const res = await scim.request('POST', '/Users', undefined, {
        raw: JSON.stringify({ userName: `plain-json-${randomUUID()}@contoso.com`, title: 'Engineer' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toBe('application/scim+json');
      const cleared = await scim.request('PATCH', `/Users/${res.json.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Replace', path: 'title', value: '' }],
      });
      expect(cleared.status).toBe(200);
      expect(cleared.json).not.toHaveProperty('title');
    });

    it('loses no member under 20 concurrent PATCH add-member requests on one group', async () => {
      const group = await createGroup(`busy-${randomUUID()}`);
      const users = await Promise.all(Array.from({ length: 20 }, () => createUser()));
      const results = await Promise.all(
        users.map((u) =>
          scim.request('PATCH', `/Groups/${group.id}`, {
            schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
            Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: u.id }] }],
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(204));
      const got = await scim.request('GET', `/Groups/${group.id}`);
      expect(got.json.members.map((m: any) => m.value).sort()).toEqual(users.map((u) => u.id).sort());
      expect(store.index.directMembers(group.id)).toHaveLength(20);
    });

    it('pages lists with startIndex and count', async () => {
      const all = await scim.request('GET', '/Users?count=1000');
      const total = all.json.totalResults;
      expect(total).toBeGreaterThan(5);
      const page = await scim.request('GET', '/Users?startIndex=3&count=2');
      expect(page.json.totalResults).toBe(total);
      expect(page.json.itemsPerPage).toBe(2);
      expect(page.json.Resources.map((r: any) => r.id)).toEqual(all.json.Resources.slice(2, 4).map((r: any) => r.id));
      const filtered = await scim.request(
        'GET',
        `/Users?count=1000&${new URLSearchParams({ filter: 'userName sw "USER1" and active eq true', attributes: 'userName' })}`,
      );
      expect(filtered.json.totalResults).toBeGreaterThan(0);
      for (const r of filtered.json.Resources) {
        expect(r.userName.startsWith('user1')).toBe(true);
        expect(Object.keys(r).sort()).toEqual(['id', 'schemas', 'userName']);
      }
    });
  });
}
