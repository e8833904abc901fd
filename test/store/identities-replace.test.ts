/**
 * `store.identities.replace` (a renewal) seen by a read in flight: on the instance that replaces and
 * on another instance on the same PostgreSQL schema. A reader gets the old record or the new one,
 * never "no record" (which the login answers with a 401); a logout still answers nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionIdentity } from '../../src/login/index.js';
import type { SqlDriver } from '../../src/store/driver.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/** The driver of the armed instance, whose identity reads can be held before they reach the database. */
const seams = vi.hoisted(() => ({
  armed: false,
  hold: undefined as { reached(): void; released: Promise<void> } | undefined,
}));

vi.mock('../../src/store/driver.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/store/driver.js')>();
  const wrap = (real: SqlDriver): SqlDriver => ({
    kind: real.kind,
    close: () => real.close(),
    async query<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]> {
      const held = seams.hold;
      if (held !== undefined && sql.startsWith('SELECT identity, expires_at FROM session_identities')) {
        seams.hold = undefined;
        held.reached();
        await held.released;
      }
      return real.query<T>(sql, params);
    },
    transaction: (fn) => real.transaction(fn),
    ...(real.listen ? { listen: real.listen.bind(real) } : {}),
  });
  return {
    ...actual,
    async openPostgresDriver(...args: Parameters<typeof actual.openPostgresDriver>): Promise<SqlDriver> {
      const real = await actual.openPostgresDriver(...args);
      if (!seams.armed) return real;
      seams.armed = false;
      return wrap(real);
    },
    async openPgliteDriver(...args: Parameters<typeof actual.openPgliteDriver>): Promise<SqlDriver> {
      const real = await actual.openPgliteDriver(...args);
      if (!seams.armed) return real;
      seams.armed = false;
      return wrap(real);
    },
  };
});

/** Holds the armed instance's next identity read before it is sent; `reached` once it waits. */
function holdNextRead(): { reached: Promise<void>; release(): void } {
  let reached!: () => void;
  let release!: () => void;
  const out = { reached: new Promise<void>((resolve) => (reached = resolve)), release: () => release() };
  seams.hold = { reached, released: new Promise<void>((resolve) => (release = resolve)) };
  return out;
}

const sample = (country: string): SessionIdentity => ({
  identity: {
    email: 'ada@contoso.com',
    user_uuid: 'oid-ada',
    idp: { id: 'idp-1', type: 'azureAD' },
    amr: ['pwd'],
    groups: [{ id: 'g-eng' }],
    membership: { state: 'complete', source: 'graph' },
    oidc_fields: {},
    oid: 'oid-ada',
    tid: 'tenant-1',
    sub: 'sub-ada',
    iat: 1_700_000_000,
    exp: 1_700_003_600,
    ver: '2.0',
  },
  country,
  issuedAt: 1_700_000_000,
});

let serial = 0;
const nonce = (): string => `R${String(++serial).padStart(5, '0')}${Math.random().toString(36).slice(2, 12)}`.slice(0, 16);
const far = (): number => Math.floor(Date.now() / 1000) + 3600;

afterEach(() => {
  seams.hold = undefined;
});

describe('store.identities on two PostgreSQL instances: a read in flight during a replace on the other one', () => {
  let url: string;
  const schema = uniqueSchema('idreplace');
  let a: DirectoryStore;
  let b: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    seams.armed = true;
    b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  it('answers the renewed record, not "no record" (regression: the replace event marked the read as a logout, a spurious 401)', async () => {
    const n = nonce();
    await a.identities.set(n, sample('FR'), far());
    const held = holdNextRead();
    const reading = b.identities.get(n);
    await held.reached;
    const heard = nextChange(b, (c) => c.resourceType === 'Identity' && c.operation === 'replace');
    expect(await a.identities.replace(n, sample('NZ'), far())).toBe(true);
    await heard;
    held.release();
    expect(await reading).toEqual(sample('NZ'));
    // And B caches what the database holds now.
    expect(await b.identities.get(n)).toEqual(sample('NZ'));
  });

  it('positive control: a logout heard during the read still answers nothing, and nothing is cached', async () => {
    const n = nonce();
    await a.identities.set(n, sample('FR'), far());
    const held = holdNextRead();
    const reading = b.identities.get(n);
    await held.reached;
    const heard = nextChange(b, (c) => c.resourceType === 'Identity' && c.operation === 'delete');
    await a.identities.delete(n);
    await heard;
    held.release();
    expect(await reading).toBeUndefined();
    const again = b.identities.get(n);
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBeUndefined();
  });

  it('positive control: with no change in flight, B reads and caches the record A stored', async () => {
    const n = nonce();
    await a.identities.set(n, sample('FR'), far());
    const value = await b.identities.get(n);
    expect(value).toEqual(sample('FR'));
    expect(b.identities.get(n)).toBe(value);
  });
});

describe('store.identities on one PGlite instance: a read in flight during its own replace', () => {
  let store: DirectoryStore;
  beforeAll(async () => {
    seams.armed = true;
    // No cache: every check reads the row (what a check on a cold entry does).
    store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', identities: { cacheMax: 0 } });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('answers the old or the new record, never none (regression: the local replace marked the read as a logout)', async () => {
    const n = nonce();
    await store.identities.set(n, sample('FR'), far());
    const held = holdNextRead();
    const reading = store.identities.get(n);
    await held.reached;
    expect(await store.identities.replace(n, sample('NZ'), far())).toBe(true);
    held.release();
    expect(await reading).toEqual(sample('NZ'));
  });

  it('positive control: a logout during the read answers nothing', async () => {
    const n = nonce();
    await store.identities.set(n, sample('FR'), far());
    const held = holdNextRead();
    const reading = store.identities.get(n);
    await held.reached;
    await store.identities.delete(n);
    held.release();
    expect(await reading).toBeUndefined();
  });
});
