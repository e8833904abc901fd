import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userNameKey } from '../../src/store/columns.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/*
 * Issue 12 #10 (hardening): `userName` uniqueness and look-ups under NFKC case folding, so a
 * fullwidth `ａdmin` or a decomposed `café` is not a second user beside `admin` and `café`.
 */
const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';

describe('userNameKey', () => {
  it.each([
    ['fullwidth', '\uff41dmin', 'admin'],
    ['upper case', 'ADMIN', 'admin'],
    ['NFD to NFC', NFD, NFC],
    ['a ligature', '\ufb01nance', 'finance'],
    ['the long s', '\u017fam', 'sam'],
    ['ß stays (no full case folding)', 'Stra\u00dfe', 'stra\u00dfe'],
  ])('%s', (_, input, key) => {
    expect(userNameKey(input)).toBe(key);
  });

  it('is a fixed point, and agrees for NFC and NFD forms of any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), (s) => {
        expect(userNameKey(userNameKey(s))).toBe(userNameKey(s));
        expect(userNameKey(s.normalize('NFD'))).toBe(userNameKey(s.normalize('NFC')));
      }),
    );
  });
});

describe('userName uniqueness and look-ups in the store (PostgreSQL)', () => {
  let url: string;
  const schema = uniqueSchema('uname');
  let store: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  });
  afterAll(async () => {
    await store?.close();
    if (url) await dropSchema(url, schema);
  });
  const find = async (userName: string): Promise<string[]> =>
    (await store.users.query({ keys: [{ field: 'userName', value: userName }], startIndex: 1, count: 10 })).resources.map((r) => r.id);

  it('refuses a user whose name folds onto a taken one (fullwidth, NFD), and finds the user by any spelling', async () => {
    const admin = (await store.users.create({ userName: 'admin@contoso.com' })).resource!;
    await expect(store.users.create({ userName: '\uff41dmin@contoso.com' })).rejects.toMatchObject({ code: 'ERR_SCIM_UNIQUENESS', status: 409 });
    await expect(store.users.create({ userName: 'ADMIN@CONTOSO.COM' })).rejects.toMatchObject({ code: 'ERR_SCIM_UNIQUENESS' });
    const cafe = (await store.users.create({ userName: `${NFC}@contoso.com` })).resource!;
    await expect(store.users.create({ userName: `${NFD}@contoso.com` })).rejects.toMatchObject({ code: 'ERR_SCIM_UNIQUENESS' });
    expect(await find('\uff21\uff24\uff2d\uff29\uff2e@contoso.com')).toEqual([admin.id]);
    expect(await find(`${NFD}@contoso.com`)).toEqual([cafe.id]);
    // Positive control: distinct names are distinct users, and a rename onto a folded twin is refused too.
    const other = (await store.users.create({ userName: 'admin2@contoso.com' })).resource!;
    expect(await find('admin2@contoso.com')).toEqual([other.id]);
    await expect(store.users.replace(other.id, { userName: '\uff41dmin@contoso.com' })).rejects.toMatchObject({ code: 'ERR_SCIM_UNIQUENESS' });
  });

  it('a tombstone is matched by the folded name too', async () => {
    const gone = (await store.users.create({ userName: `${NFC}-gone@contoso.com` })).resource!;
    await store.users.delete(gone.id);
    expect(store.index.getUser(gone.id)?.deleted).toBe(true);
    await store.users.create({ userName: `${NFD.toUpperCase()}-GONE@contoso.com` });
    expect(store.index.getUser(gone.id)).toBeUndefined();
  });
});
