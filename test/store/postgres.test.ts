import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

// No skip: an unreachable PostgreSQL makes `postgresUrl` throw and these tests fail.
describe('two store instances on one PostgreSQL schema', () => {
  let url: string;
  const schema = uniqueSchema('store');
  let a: DirectoryStore;
  let b: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    [a, b] = await Promise.all([
      openDirectoryStore({ driver: 'postgres', connectionString: url, schema }),
      openDirectoryStore({ driver: 'postgres', connectionString: url, schema }),
    ]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  it('ran the migrations once, although both opened at the same time', async () => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(`SELECT version FROM ${schema}.schema_migrations`);
    await client.end();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
  });

  it("propagates a group change on A to B's index through LISTEN/NOTIFY", async () => {
    const user = (await a.users.create({ userName: 'ada@contoso.com', externalId: 'oid-ada', emails: [{ type: 'work', value: 'ada@contoso.com' }] })).resource!;
    const group = (await a.groups.create({ displayName: 'Devs', externalId: 'gid-devs' }, [])).resource!;
    const seen = nextChange(b, (c) => c.resourceId === group.id && c.members !== undefined);
    const write = await a.groups.update(group.id, { members: [{ op: 'add', ids: [user.id] }] });
    const change = await seen;
    expect(change).toMatchObject({ origin: 'remote', eventId: write.change!.eventId, members: { added: [user.id], removed: [] } });
    expect(write.change!.origin).toBe('local');
    expect(b.index.groupsOfUser(user.id)).toEqual([{ id: 'gid-devs', name: 'Devs' }]);
    expect(b.index.findUser({ oid: 'OID-ADA' })?.id).toBe(user.id);
  });

  it('propagates revocations and deletions to the other instance', async () => {
    const revoked = nextChange(b, (c) => c.resourceType === 'Revocation');
    await a.revocations.revokeUser(['Ada@Contoso.com'], 1_800_000_000);
    await revoked;
    expect(b.revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 1_800_000_000 })).toBe(true);
    const user = b.index.findUser({ email: 'ada@contoso.com' })!;
    const removed = nextChange(a, (c) => c.operation === 'delete' && c.resourceId === user.id);
    await b.users.delete(user.id);
    await removed;
    // What remains is the tombstone: a deleted user, in no group.
    expect(a.index.getUser(user.id)).toMatchObject({ id: user.id, active: false, deleted: true });
  });

  it('a third instance opened later loads the committed state', async () => {
    const c = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    try {
      expect(c.index.size.groups).toBe(1);
      expect(c.revocations.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 1_700_000_000 })).toBe(true);
    } finally {
      await c.close();
    }
  });

  /** A raw connection to the test schema, for holding locks the way a concurrent writer would. */
  async function raw(): Promise<import('pg').Client> {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    return client;
  }
  /** Resolves once `count` other backends wait for a lock this client holds (polled, no fixed sleep). */
  async function someoneWaitsOn(client: import('pg').Client, count = 1): Promise<void> {
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    await vi.waitFor(
      async () => {
        const blocked = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [rows[0].pid]);
        expect(blocked.rows[0].n).toBeGreaterThanOrEqual(count);
      },
      { timeout: 10_000, interval: 20 },
    );
  }

  it('a member added while its user is being deleted leaves no dangling membership (regression: the add did not lock the member)', async () => {
    const group = (await a.groups.create({ displayName: 'Race' }, [])).resource!;
    const user = (await a.users.create({ userName: 'doomed@contoso.com' })).resource!;
    const deleter = await raw();
    try {
      // A delete in progress: the user row is locked and its memberships are gone, the user row not yet.
      await deleter.query('BEGIN');
      await deleter.query('SELECT id FROM scim_users WHERE id = $1 FOR UPDATE', [user.id]);
      await deleter.query('DELETE FROM scim_memberships WHERE member_id = $1', [user.id]);
      const add = a.groups.update(group.id, { members: [{ op: 'add', ids: [user.id] }] }).then(
        () => 'added',
        (err: { code?: string; message?: string }) => `${err.code}: ${err.message}`,
      );
      // Either the add waits for the delete (fixed), or it commits first (the bug).
      await Promise.race([add, someoneWaitsOn(deleter)]);
      await deleter.query('DELETE FROM scim_users WHERE id = $1', [user.id]);
      await deleter.query('COMMIT');
      expect(await add).toBe(`ERR_SCIM_INVALID_VALUE: member \`${user.id}\` is not a known user or group`);
      const { rows } = await deleter.query('SELECT count(*)::int AS n FROM scim_memberships WHERE member_id = $1', [user.id]);
      expect(rows[0].n).toBe(0);
      expect(a.index.directMembers(group.id)).toEqual([]);
    } finally {
      await deleter.end();
    }
  });

  it('after its listener connection drops, B reconnects, reloads, and keeps a local write made during the reload (regression: the reload dropped it)', async () => {
    const admin = await raw();
    try {
      // Hold the reload at the memberships, after its snapshot is taken; the writes below do not touch them.
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE scim_memberships IN ACCESS EXCLUSIVE MODE');
      const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = $1`, [`LISTEN entragate_${schema}`]);
      expect(rows.length).toBeGreaterThanOrEqual(2);
      // Both A's and B's reloads: with only A's, B may not listen yet when the marker below commits,
      // and its reload then absorbs the marker's event without announcing it.
      await someoneWaitsOn(admin, 2);
      const local = (await b.users.create({ userName: 'during-reload@contoso.com' })).resource!;
      await b.revocations.revokeUser(['during-reload@contoso.com'], 1_900_000_000);
      expect(b.index.getUser(local.id)).toBeDefined();
      await admin.query('COMMIT');
      // A change from A reaches B through the new listener, after B's reload (notifications queue behind it).
      // Listen before writing: B can hear A's commit before A's own write resolves here (both live in this
      // process), and a listener attached after the write would then wait forever (it hung once in CI).
      const heard = nextChange(b, (c) => c.resourceType === 'Group' && c.operation === 'create' && c.origin === 'remote');
      const marker = (await a.groups.create({ displayName: 'after-reconnect' }, [])).resource!;
      expect((await heard).resourceId).toBe(marker.id);
      expect(b.index.getGroup(marker.id)).toBeDefined();
      expect(b.index.getUser(local.id)).toBeDefined();
      expect(b.revocations.isRevoked({ subjects: ['during-reload@contoso.com'], issuedAt: 1_900_000_000 })).toBe(true);
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.end();
    }
  });

  it('fails with ERR_STORE_UNAVAILABLE when the server is unreachable, and validates options synchronously', async () => {
    await expect(openDirectoryStore({ driver: 'postgres', connectionString: 'postgres://nobody@127.0.0.1:1/test', schema: 'x' })).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: 'postgresql is not reachable or schema `x` cannot be created',
    });
    expect(() => openDirectoryStore({ driver: 'postgres', connectionString: url, schema: 'Bad-Name; DROP' })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });
});
