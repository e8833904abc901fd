import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
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
    expect(rows).toEqual([{ version: 1 }]);
  });

  it("propagates a group change on A to B's index through LISTEN/NOTIFY", async () => {
    const user = (await a.users.create({ userName: 'ada@contoso.com', externalId: 'oid-ada', emails: [{ type: 'work', value: 'ada@contoso.com' }] })).resource!;
    const group = (await a.groups.create({ displayName: 'Devs', externalId: 'gid-devs' }, [])).resource!;
    const seen = nextChange(b, (c) => c.resourceId === group.id && c.members !== undefined);
    const write = await a.groups.update(group.id, { members: [{ op: 'add', ids: [user.id] }] });
    const change = await seen;
    expect(change).toMatchObject({ origin: 'remote', eventId: write.change.eventId, members: { added: [user.id], removed: [] } });
    expect(write.change.origin).toBe('local');
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
    expect(a.index.getUser(user.id)).toBeUndefined();
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

  it('fails with ERR_STORE_UNAVAILABLE when the server is unreachable, and validates options synchronously', async () => {
    await expect(openDirectoryStore({ driver: 'postgres', connectionString: 'postgres://nobody@127.0.0.1:1/test', schema: 'x' })).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: 'postgresql is not reachable or schema `x` cannot be created',
    });
    expect(() => openDirectoryStore({ driver: 'postgres', connectionString: url, schema: 'Bad-Name; DROP' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });
});
