import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';

const DAY = 86_400;
const T0 = Date.UTC(2025, 0, 1);

describe('directory store (PGlite)', () => {
  let clock = T0;
  let store: DirectoryStore;
  let keeper: DirectoryStore;

  beforeAll(async () => {
    [store, keeper] = await Promise.all([
      openDirectoryStore({
        driver: 'pglite',
        dataDir: 'memory://',
        now: () => clock,
        retention: { eventsMaxAgeSeconds: DAY, revocationsMaxAgeSeconds: 2 * DAY },
      }),
      openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', now: () => clock }),
    ]);
  });
  afterAll(async () => {
    await store?.close();
    await keeper?.close();
  });

  it('prune deletes events older than eventsMaxAgeSeconds and revocations older than revocationsMaxAgeSeconds, in the store and in memory', async () => {
    clock = T0;
    await store.users.create({ userName: 'old@contoso.com' });
    await store.revocations.revokeUser(['old@contoso.com'], T0 / 1000);
    clock = T0 + 1.5 * DAY * 1000;
    await store.users.create({ userName: 'new@contoso.com' });
    await store.revocations.revokeUser(['new@contoso.com'], clock / 1000);
    // The two writes at T0 are older than a day; the revocations are younger than two days.
    expect(await store.prune()).toEqual({ events: 2, revocations: 0, identities: 0 });
    expect(store.revocations.isRevoked({ subjects: ['old@contoso.com'], issuedAt: T0 / 1000 - 60 })).toBe(true);
    clock = T0 + 2.6 * DAY * 1000;
    expect(await store.prune()).toEqual({ events: 2, revocations: 1, identities: 0 });
    expect(store.revocations.isRevoked({ subjects: ['old@contoso.com'], issuedAt: T0 / 1000 - 60 })).toBe(false);
    expect(store.revocations.isRevoked({ subjects: ['new@contoso.com'], issuedAt: T0 / 1000 + 1.5 * DAY })).toBe(true);
    expect(await store.prune()).toEqual({ events: 0, revocations: 0, identities: 0 });
    // The directory itself is untouched.
    expect(store.index.size.users).toBe(2);
  });

  it('prune keeps revocations when revocationsMaxAgeSeconds is not set (fail closed)', async () => {
    clock = T0;
    await keeper.revocations.revokeUser(['kept@contoso.com'], T0 / 1000);
    clock = T0 + 400 * DAY * 1000;
    expect(await keeper.prune()).toEqual({ events: 1, revocations: 0, identities: 0 });
    expect(keeper.revocations.isRevoked({ subjects: ['kept@contoso.com'], issuedAt: T0 / 1000 - 60 })).toBe(true);
  });

  it('PGlite has no other instance: always fresh, whatever the clock says', () => {
    clock = T0 + 1000 * DAY * 1000;
    expect(keeper.isFresh()).toBe(true);
    expect(() => keeper.assertFresh()).not.toThrow();
    expect(keeper.revocations.isRevoked({ subjects: ['nobody@contoso.com'], issuedAt: 0 })).toBe(false);
  });

  it('refuses a retention shorter than an hour at construction', () => {
    expect(() => openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', retention: { revocationsMaxAgeSeconds: 60 } })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('revocationsMaxAgeSeconds') }),
    );
  });

  it('answers a unique-key query with its total even past the page', async () => {
    clock = T0;
    await store.users.create({ userName: 'Paged@contoso.com' });
    const first = await store.users.query({ keys: [{ field: 'userName', value: 'PAGED@contoso.com' }], startIndex: 1, count: 10 });
    expect(first.totalResults).toBe(1);
    expect(first.resources.map((r) => r.attributes.userName)).toEqual(['Paged@contoso.com']);
    expect(await store.users.query({ keys: [{ field: 'userName', value: 'paged@contoso.com' }], startIndex: 2, count: 10 })).toEqual({
      totalResults: 1,
      resources: [],
    });
    expect(await store.users.query({ keys: [{ field: 'userName', value: 'paged@contoso.com' }], startIndex: 1, count: 0 })).toEqual({
      totalResults: 1,
      resources: [],
    });
    expect(await store.users.query({ keys: [{ field: 'userName', value: 'nobody@contoso.com' }], startIndex: 1, count: 10 })).toEqual({
      totalResults: 0,
      resources: [],
    });
  });

  it('returns what it stored from writes, without reading back: create, group create with members, patch', async () => {
    clock = T0 + 10_000;
    const user = (await store.users.create({ userName: 'written@contoso.com', title: 'a' })).resource!;
    expect(user).toEqual({
      id: expect.any(String),
      attributes: { userName: 'written@contoso.com', title: 'a' },
      created: new Date(clock).toISOString(),
      lastModified: new Date(clock).toISOString(),
      version: 1,
    });
    const group = (await store.groups.create({ displayName: 'written' }, [user.id])).resource!;
    expect(group.members).toEqual([{ value: user.id, type: 'User' }]);
    clock += 1000;
    const patched = (await store.users.update(user.id, (c) => ({ ...c.attributes, title: 'b' }))).resource!;
    expect(patched).toMatchObject({
      attributes: { userName: 'written@contoso.com', title: 'b' },
      created: user.created,
      lastModified: new Date(clock).toISOString(),
      version: 2,
    });
    expect(await store.users.get(user.id)).toEqual(patched);
    const touched = (await store.groups.update(group.id, { members: [{ op: 'remove', ids: [user.id] }] })).resource!;
    expect(touched).toMatchObject({ version: 2, lastModified: new Date(clock).toISOString() });
    expect(await store.groups.get(group.id)).toEqual(touched);
  });

  it('a write that changes nothing writes and publishes nothing (regression: every re-sent PATCH bumped the version and published an event)', async () => {
    const seen: string[] = [];
    const off = store.onChange((c) => seen.push(`${c.resourceType}:${c.operation}:${c.changedAttributes.join(',')}`));
    try {
      const user = (await store.users.create({ userName: 'idempotent@contoso.com', title: 't' })).resource!;
      const group = (await store.groups.create({ displayName: 'idempotent' }, [user.id])).resource!;
      seen.length = 0;
      const again = await store.users.update(user.id, (c) => ({ ...c.attributes, title: 't' }));
      expect(again.change).toBeUndefined();
      expect(again.resource).toEqual(user);
      const readd = await store.groups.update(group.id, { members: [{ op: 'add', ids: [user.id] }] });
      expect(readd.change).toBeUndefined();
      expect(readd.resource).toMatchObject({ version: 1, lastModified: group.lastModified });
      const rename = await store.groups.update(group.id, { attributes: (c) => ({ ...c.attributes }) });
      expect(rename.change).toBeUndefined();
      expect(seen).toEqual([]);
      expect((await store.groups.get(group.id))?.version).toBe(1);
      // A real change still publishes.
      const added = await store.groups.update(group.id, {
        members: [{ op: 'add', ids: [(await store.users.create({ userName: 'second@contoso.com' })).resource!.id] }],
      });
      expect(added.change).toMatchObject({ operation: 'patch', changedAttributes: ['members'], members: { removed: [] } });
      expect(added.resource?.version).toBe(2);
      expect(seen).toEqual(['User:create:userName', 'Group:patch:members']);
    } finally {
      off();
    }
  });

  it('refuses a member that does not exist and keeps the group unchanged', async () => {
    const group = (await store.groups.create({ displayName: 'strict' }, [])).resource!;
    const user = (await store.users.create({ userName: 'member@contoso.com' })).resource!;
    await expect(store.groups.update(group.id, { members: [{ op: 'add', ids: [user.id, 'missing-id'] }] })).rejects.toMatchObject({
      code: 'ERR_SCIM_INVALID_VALUE',
      message: 'member `missing-id` is not a known user or group',
    });
    expect((await store.groups.get(group.id, { members: true }))?.members).toEqual([]);
    expect(store.index.directMembers(group.id)).toEqual([]);
  });
});
