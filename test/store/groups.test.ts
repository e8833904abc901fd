import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { groupEmail } from '../../src/store/columns.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/*
 * Issue 12 #4: "the directory source never fills group emails". A group's mail, when SCIM sends
 * one (Entra does with a custom mapping of the group's `mail` to `emails`), is kept in the group's
 * columns and every instance's index, so `groupsOfUser` carries it.
 */

describe('groupEmail: the primary value, else the work one, else the first', () => {
  it.each([
    [
      'primary wins over work',
      [
        { value: 'w@contoso.com', type: 'work' },
        { value: 'p@contoso.com', type: 'other', primary: true },
      ],
      'p@contoso.com',
    ],
    [
      'work wins over the first',
      [
        { value: 'o@contoso.com', type: 'other' },
        { value: 'w@contoso.com', type: 'Work' },
      ],
      'w@contoso.com',
    ],
    ['else the first', [{ value: 'a@contoso.com' }, { value: 'b@contoso.com' }], 'a@contoso.com'],
    ['blank and non-string values are skipped', [{ value: ' ' }, { value: 7 }, null, 'x', { value: 'c@contoso.com' }], 'c@contoso.com'],
    ['none', [], undefined],
    ['not an array', 'team@contoso.com', undefined],
  ])('%s', (_, emails, expected) => {
    expect(groupEmail(emails as never)).toBe(expected);
  });
});

describe('group emails in the store (PostgreSQL, two instances)', () => {
  let url: string;
  const schema = uniqueSchema('gmail');
  let a: DirectoryStore;
  let b: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  it('a group created with emails carries its mail in every index; one without has none; a change of the mail follows', async () => {
    const user = (await a.users.create({ userName: `ada-${randomUUID()}@contoso.com` })).resource!;
    const gid = randomUUID();
    const heard = nextChange(b, (c) => c.resourceType === 'Group' && c.operation === 'create' && c.origin === 'remote');
    const group = (
      await a.groups.create(
        {
          displayName: `Team-${gid.slice(0, 8)}`,
          externalId: gid,
          emails: [
            { value: 'other@contoso.com', type: 'other' },
            { value: 'Team@contoso.com', type: 'work' },
          ],
        },
        [user.id],
      )
    ).resource!;
    const plain = (await a.groups.create({ displayName: `Plain-${gid.slice(0, 8)}` }, [user.id])).resource!;
    await heard;
    for (const store of [a, b]) {
      await expect.poll(() => store.index.groupsOfUser(user.id).length).toBe(2);
      const refs = store.index.groupsOfUser(user.id);
      expect(refs).toContainEqual({ id: gid, name: `Team-${gid.slice(0, 8)}`, email: 'Team@contoso.com' });
      expect(refs).toContainEqual({ id: plain.id, name: `Plain-${gid.slice(0, 8)}` });
    }
    const changed = nextChange(b, (c) => c.resourceId === group.id && c.operation === 'patch');
    await a.groups.update(group.id, { attributes: (current) => ({ ...current.attributes, emails: [{ value: 'team-new@contoso.com', primary: true }] }) });
    await changed;
    for (const store of [a, b]) expect(store.index.getGroup(group.id)?.email).toBe('team-new@contoso.com');
    const cleared = nextChange(b, (c) => c.resourceId === group.id && c.operation === 'patch');
    await a.groups.update(group.id, { attributes: (current) => ({ displayName: current.attributes.displayName!, externalId: gid }) });
    await cleared;
    for (const store of [a, b]) {
      expect(store.index.getGroup(group.id)?.email).toBeUndefined();
      expect(store.index.groupsOfUser(user.id)).toContainEqual({ id: gid, name: `Team-${gid.slice(0, 8)}` });
    }
  });

  it('an instance opened later loads group mails from the snapshot', async () => {
    const gid = randomUUID();
    const group = (await a.groups.create({ displayName: `Snap-${gid.slice(0, 8)}`, emails: [{ value: 'snap@contoso.com', type: 'work' }] }, [])).resource!;
    const c = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      expect(c.index.getGroup(group.id)).toMatchObject({ email: 'snap@contoso.com' });
    } finally {
      await c.close();
    }
  });
});
