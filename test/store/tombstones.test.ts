import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, startScimServer, uniqueSchema, type ScimServer } from '../scim/helpers.js';

/*
 * A user the directory deletes is remembered as a tombstone (`active: false, deleted: true`, no
 * memberships) in every instance's index, so the identity pipeline can refuse a deleted user rather
 * than treat them as unknown. SCIM never sees tombstones.
 */
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('user tombstones', () => {
  let url: string;
  const schema = uniqueSchema('tomb');
  let a: DirectoryStore;
  let b: DirectoryStore;
  let scim: ScimServer;
  let seats: ScimServer;

  beforeAll(async () => {
    url = await postgresUrl();
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    scim = await startScimServer({ store: a, basePath: '/scim/v2', scimConfig: { user_deprovision: true } });
    seats = await startScimServer({ store: a, basePath: '/scim/v2', scimConfig: { user_deprovision: true, seat_deprovision: true } });
  });
  afterAll(async () => {
    await scim?.close();
    await seats?.close();
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  const person = (tag: string) => {
    const oid = randomUUID();
    const name = `${tag}-${oid.slice(0, 8)}`;
    return { oid, userName: `${name}@contoso.com`, mail: `${name}.mail@contoso.com` };
  };
  async function provision(s: ScimServer, p: ReturnType<typeof person>): Promise<string> {
    const res = await s.request('POST', '/Users', {
      userName: p.userName,
      externalId: p.oid,
      active: true,
      emails: [{ type: 'work', value: p.mail, primary: true }],
    });
    expect(res.status).toBe(201);
    return res.json.id as string;
  }

  it('SCIM DELETE leaves a tombstone in both indexes, with the keys and no memberships; SCIM answers 404 and counts it nowhere', async () => {
    const ada = person('ada');
    const keep = person('keep');
    const id = await provision(scim, ada);
    const kept = await provision(scim, keep);
    const group = (await scim.request('POST', '/Groups', { displayName: `g-${ada.oid.slice(0, 8)}` })).json.id as string;
    expect(
      (
        await scim.request('PATCH', `/Groups/${group}`, {
          schemas: [PATCH],
          Operations: [{ op: 'Add', path: 'members', value: [{ value: id }, { value: kept }] }],
        })
      ).status,
    ).toBe(204);
    const heard = nextChange(b, (c) => c.resourceId === id && c.operation === 'delete');
    expect((await scim.request('DELETE', `/Users/${id}`)).status).toBe(204);
    await heard;

    const tombstone = { id, userName: ada.userName, externalId: ada.oid, emails: [ada.mail], active: false, deleted: true };
    for (const store of [a, b]) {
      expect(store.index.getUser(id)).toEqual(tombstone);
      expect(store.index.findUser({ oid: ada.oid.toUpperCase() })).toEqual(tombstone);
      expect(store.index.findUser({ email: ada.mail })).toEqual(tombstone);
      expect(store.index.groupsOfUser(id)).toEqual([]);
      expect(store.index.directMembers(group)).toEqual([kept]);
      // Positive control: the user who stayed is untouched.
      expect(store.index.getUser(kept)).toMatchObject({ active: true });
      expect(store.index.getUser(kept)?.deleted).toBeUndefined();
    }
    expect((await scim.request('GET', `/Users/${id}`)).status).toBe(404);
    const byName = await scim.request('GET', `/Users?${new URLSearchParams({ filter: `userName eq "${ada.userName}"` })}`);
    expect(byName.json.totalResults).toBe(0);
    const byOid = await scim.request('GET', `/Users?${new URLSearchParams({ filter: `externalId eq "${ada.oid}"` })}`);
    expect(byOid.json.totalResults).toBe(0);
    const all = await scim.request('GET', '/Users?count=1000');
    expect(all.json.Resources.map((r: { id: string }) => r.id)).not.toContain(id);
    expect(all.json.totalResults).toBe(all.json.Resources.length);
    expect((await a.users.query({ keys: [{ field: 'email', value: ada.mail }], startIndex: 1, count: 10 })).totalResults).toBe(0);
  });

  it('creating a user again with a tombstone’s userName succeeds (uniqueness ignores tombstones) and removes the tombstone everywhere', async () => {
    const bob = person('bob');
    const old = await provision(scim, bob);
    expect((await scim.request('DELETE', `/Users/${old}`)).status).toBe(204);
    expect(a.index.getUser(old)?.deleted).toBe(true);
    const heard = nextChange(b, (c) => c.operation === 'create' && c.resourceType === 'User' && c.origin === 'remote');
    const again = await provision(scim, bob);
    const change = await heard;
    expect(change.resourceId).toBe(again);
    for (const store of [a, b]) {
      expect(store.index.getUser(old)).toBeUndefined();
      expect(store.index.findUser({ oid: bob.oid })).toMatchObject({ id: again, active: true });
      expect(store.index.findUser({ oid: bob.oid })?.deleted).toBeUndefined();
    }
  });

  it('a seat removed by seat_deprovision leaves a tombstone; an instance opened later loads it', async () => {
    const cy = person('cy');
    const id = await provision(seats, cy);
    const heard = nextChange(b, (c) => c.resourceId === id && c.seatRemoved === true);
    const res = await seats.request('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(res.status).toBeLessThan(300);
    await heard;
    const tombstone = { id, userName: cy.userName, externalId: cy.oid, emails: [cy.mail], active: false, deleted: true };
    expect(a.index.getUser(id)).toEqual(tombstone);
    expect(b.index.getUser(id)).toEqual(tombstone);
    expect((await seats.request('GET', `/Users/${id}`)).status).toBe(404);
    const c = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      expect(c.index.getUser(id)).toEqual(tombstone);
      expect(c.index.findUser({ oid: cy.oid })).toEqual(tombstone);
    } finally {
      await c.close();
    }
  });

  it('a PUT that brings a tombstone’s email removes it; a PATCH that brings no new key leaves it', async () => {
    const dee = person('dee');
    const other = person('other');
    const gone = await provision(scim, dee);
    expect((await scim.request('DELETE', `/Users/${gone}`)).status).toBe(204);
    const live = await provision(scim, other);
    // A change that does not touch the keys: the tombstone stays.
    await a.users.update(live, (current) => ({ ...current.attributes, displayName: 'Other' }));
    expect(a.index.getUser(gone)?.deleted).toBe(true);
    // A PUT that takes over the deleted user's mail: the directory holds that address again.
    const heard = nextChange(b, (c) => c.resourceId === live && c.operation === 'replace');
    const put = await scim.request('PUT', `/Users/${live}`, {
      userName: other.userName,
      externalId: other.oid,
      emails: [{ type: 'work', value: dee.mail, primary: true }],
    });
    expect(put.status).toBe(200);
    await heard;
    for (const store of [a, b]) {
      expect(store.index.getUser(gone)).toBeUndefined();
      expect(store.index.findUser({ email: dee.mail })?.id).toBe(live);
    }
  });
});
