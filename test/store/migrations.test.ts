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
      [mailed, JSON.stringify({ displayName: 'Mailed', emails: [{ value: 'mailed@contoso.com', type: 'work' }] }), plain, JSON.stringify({ displayName: 'Plain' }), at],
    );
    const store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      expect(store.index.getGroup(mailed)).toEqual({ id: mailed, displayName: 'Mailed', email: 'mailed@contoso.com' });
      expect(store.index.getGroup(plain)).toEqual({ id: plain, displayName: 'Plain' });
      const { rows } = await raw.query('SELECT id, email FROM scim_groups ORDER BY display_name');
      expect(rows).toEqual([{ id: mailed, email: 'mailed@contoso.com' }, { id: plain, email: null }]);
    } finally {
      await store.close();
    }
  });
});
