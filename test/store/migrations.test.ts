import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openDirectoryStore } from '../../src/store/index.js';
import { dropSchema, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/*
 * Migrations that recompute a column the store derives in code run that same code over the rows
 * already stored: a store written by an older version reads as a new one would have written it.
 */
describe('migrations over rows an older version wrote', () => {
  let url: string;
  const schema = uniqueSchema('migr');
  let raw: import('pg').Client;

  beforeAll(async () => {
    url = await postgresUrl();
    // Migrate fully once, then put the schema back to version 3 and write rows as version 3 did.
    await (await openDirectoryStore({ driver: 'postgres', connectionString: url, schema })).close();
    const pg = (await import('pg')).default;
    raw = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await raw.connect();
    await raw.query('ALTER TABLE scim_groups DROP COLUMN email');
    await raw.query('DELETE FROM schema_migrations WHERE version >= 4');
  });
  afterAll(async () => {
    await raw?.end();
    if (url) await dropSchema(url, schema);
  });

  it('migration 4 fills the group mail from the stored resource', async () => {
    const at = new Date().toISOString();
    const [mailed, plain] = [randomUUID(), randomUUID()];
    await raw.query(
      `INSERT INTO scim_groups (id, display_name, display_name_lc, external_id, resource, created_at, updated_at) VALUES
       ($1, 'Mailed', 'mailed', NULL, $2::jsonb, $5, $5), ($3, 'Plain', 'plain', NULL, $4::jsonb, $5, $5)`,
      [
        mailed,
        JSON.stringify({ displayName: 'Mailed', emails: [{ value: 'mailed@contoso.com', type: 'work' }] }),
        plain,
        JSON.stringify({ displayName: 'Plain' }),
        at,
      ],
    );
    const store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      expect(store.index.getGroup(mailed)).toEqual({ id: mailed, displayName: 'Mailed', email: 'mailed@contoso.com' });
      expect(store.index.getGroup(plain)).toEqual({ id: plain, displayName: 'Plain' });
      const { rows } = await raw.query('SELECT id, email FROM scim_groups ORDER BY display_name');
      expect(rows).toEqual([
        { id: mailed, email: 'mailed@contoso.com' },
        { id: plain, email: null },
      ]);
    } finally {
      await store.close();
    }
  });

  it('migration 5 recomputes the userName key under NFKC case folding; of two names that now fold together, the holder keeps the key', async () => {
    await raw.query('DELETE FROM schema_migrations WHERE version >= 5');
    const at = new Date().toISOString();
    const rows: [string, string, string][] = [
      // [id, userName, the key version 4 stored: toLowerCase]
      [randomUUID(), 'Admin@contoso.com', 'admin@contoso.com'],
      [randomUUID(), '\uff41dmin@contoso.com', '\uff41dmin@contoso.com'],
      [randomUUID(), 'Cafe\u0301@contoso.com', 'cafe\u0301@contoso.com'],
      [randomUUID(), 'Plain@contoso.com', 'plain@contoso.com'],
    ];
    for (const [id, userName, key] of rows) {
      await raw.query(`INSERT INTO scim_users (id, user_name, user_name_lc, resource, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $5)`, [
        id,
        userName,
        key,
        JSON.stringify({ userName }),
        at,
      ]);
    }
    const tomb = randomUUID();
    await raw.query(
      `INSERT INTO scim_user_tombstones (id, user_name, user_name_lc, deleted_at) VALUES ($1, 'Gone\uff21@contoso.com', 'gone\uff41@contoso.com', $2)`,
      [tomb, at],
    );
    const store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      const { rows: keys } = await raw.query('SELECT id, user_name_lc FROM scim_users');
      const keyOf = new Map(keys.map((r: { id: string; user_name_lc: string }) => [r.id, r.user_name_lc]));
      expect(keyOf.get(rows[0]![0])).toBe('admin@contoso.com');
      // Folds onto admin's key: keeps its old one (unique), and no folded look-up produces it.
      expect(keyOf.get(rows[1]![0])).toBe('\uff41dmin@contoso.com');
      expect(keyOf.get(rows[2]![0])).toBe('caf\u00e9@contoso.com');
      expect(keyOf.get(rows[3]![0])).toBe('plain@contoso.com');
      const { rows: t } = await raw.query('SELECT user_name_lc FROM scim_user_tombstones WHERE id = $1', [tomb]);
      expect(t).toEqual([{ user_name_lc: 'gonea@contoso.com' }]);
      const find = async (userName: string) =>
        (await store.users.query({ keys: [{ field: 'userName', value: userName }], startIndex: 1, count: 10 })).resources.map((r) => r.id);
      expect(await find('caf\u00e9@contoso.com')).toEqual([rows[2]![0]]);
      expect(await find('\uff41dmin@contoso.com')).toEqual([rows[0]![0]]);
      await expect(store.users.create({ userName: 'ADMIN@contoso.com' })).rejects.toMatchObject({ code: 'ERR_SCIM_UNIQUENESS' });
    } finally {
      await store.close();
    }
  });
});
