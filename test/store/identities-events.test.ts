import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionIdentity } from '../../src/login/index.js';
import type { SqlDriver } from '../../src/store/driver.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/**
 * The PostgreSQL driver of the instance under test ("B"), with its seams exposed: the
 * listener's callbacks (so a reconnect is played exactly, without killing connections),
 * reload transactions that can be held, and event reads that can be made to fail.
 */
const seams = vi.hoisted(() => ({
  armed: false,
  onResync: undefined as (() => void) | undefined,
  onLost: undefined as (() => void) | undefined,
  notified: 0,
  holdTransactions: undefined as Promise<void> | undefined,
  transactionsHeld: 0,
  transactionsDone: 0,
  failEventReads: false,
  eventReads: 0,
  failTransactions: 0,
  transactionsFailed: 0,
}));

vi.mock('../../src/store/driver.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/store/driver.js')>();
  return {
    ...actual,
    async openPostgresDriver(...args: Parameters<typeof actual.openPostgresDriver>): Promise<SqlDriver> {
      const real = await actual.openPostgresDriver(...args);
      if (!seams.armed) return real;
      seams.armed = false;
      return {
        kind: real.kind,
        close: () => real.close(),
        async query<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]> {
          if (sql.includes('FROM scim_events WHERE id = $1')) {
            seams.eventReads++;
            if (seams.failEventReads) throw new Error('connection terminated');
          }
          return real.query<T>(sql, params);
        },
        async transaction(fn) {
          if (seams.failTransactions > 0) {
            seams.failTransactions--;
            seams.transactionsFailed++;
            throw new Error('connection terminated');
          }
          if (seams.holdTransactions !== undefined) {
            seams.transactionsHeld++;
            await seams.holdTransactions;
          }
          try {
            return await real.transaction(fn);
          } finally {
            seams.transactionsDone++;
          }
        },
        listen: (channel, onNotify, onResync, onLost) => {
          seams.onResync = onResync;
          seams.onLost = onLost;
          return real.listen!(
            channel,
            (payload) => {
              seams.notified++;
              onNotify(payload);
            },
            onResync,
            onLost,
          );
        },
      };
    },
  };
});

const sample = (): SessionIdentity => ({
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
  issuedAt: 1_700_000_000,
});

let serial = 0;
const nonce = (): string => `E${String(++serial).padStart(5, '0')}${Math.random().toString(36).slice(2, 12)}`.slice(0, 16);
const far = (): number => Math.floor(Date.now() / 1000) + 3600;

describe('store.identities: a logout event is never lost to this instance', () => {
  let url: string;
  const schema = uniqueSchema('idevents');
  let a: DirectoryStore;
  let b: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    seams.armed = true;
    b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    expect(seams.onResync).toBeTypeOf('function');
  });
  afterEach(() => {
    seams.holdTransactions = undefined;
    seams.failEventReads = false;
    seams.failTransactions = 0;
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  /** Waits until B has applied every event committed so far (its notifications are handled in order). */
  async function drained(): Promise<void> {
    const marker = nonce();
    await a.identities.set(marker, sample(), far());
    const heard = nextChange(b, (c) => c.resourceType === 'Identity' && c.origin === 'remote');
    await a.identities.delete(marker);
    await heard;
  }

  it('a logout that commits while B reloads after a reconnect is applied, though the reload already counts its event', async () => {
    const n = nonce();
    await a.identities.set(n, sample(), far());

    // B's listener is lost and comes back; the reload it queues is held before its snapshot.
    let release!: () => void;
    seams.holdTransactions = new Promise<void>((resolve) => (release = resolve));
    seams.transactionsHeld = 0;
    seams.onLost!();
    seams.onResync!();
    await vi.waitFor(() => expect(seams.transactionsHeld).toBe(1));

    // Listening again, but stale until the reload has finished: B reads the identity from the
    // database and does not cache it (a deletion it missed while deaf could name it).
    expect(b.isFresh()).toBe(false);
    expect(await b.identities.get(n)).toEqual(sample());
    expect(b.identities.get(n)).toBeInstanceOf(Promise);

    // A logs the user out; B hears it, but the event is queued behind the reload.
    const before = seams.notified;
    await a.identities.delete(n);
    await vi.waitFor(() => expect(seams.notified).toBeGreaterThan(before));

    // The reload's snapshot now includes the event (it marks it applied).
    const done = seams.transactionsDone;
    seams.holdTransactions = undefined;
    release();
    // Let the reload finish before draining: an event committed before its snapshot is absorbed, not heard.
    await vi.waitFor(() => expect(seams.transactionsDone).toBe(done + 1));
    await drained();

    const after = b.identities.get(n);
    expect(after).toBeInstanceOf(Promise);
    expect(await after).toBeUndefined();
  });

  it('a logout event B is told of but cannot read drops its cache (it cannot know which identity it named)', async () => {
    const n = nonce();
    await a.identities.set(n, sample(), far());
    expect(await b.identities.get(n)).toEqual(sample());
    expect(b.identities.get(n)).toEqual(sample());

    seams.failEventReads = true;
    const reads = seams.eventReads;
    await a.identities.delete(n);
    await vi.waitFor(() => expect(seams.eventReads).toBeGreaterThan(reads));
    // The failed read settles on B's queue: the next event is handled after it.
    seams.failEventReads = false;
    await drained();

    const after = b.identities.get(n);
    expect(after).toBeInstanceOf(Promise);
    expect(await after).toBeUndefined();
  });

  it('a revocation event B is told of but cannot read is recovered by a reload, retried until it succeeds (regression: the revocation was missed until the next reconnect)', async () => {
    const subject = `revoked-${nonce()}@contoso.com`;
    const at = Math.floor(Date.now() / 1000);
    const session = { subjects: [subject], issuedAt: at - 10 };
    expect(b.revocations.isRevoked(session)).toBe(false);
    // The event read fails, and so does the first reload: B must keep trying.
    seams.failEventReads = true;
    seams.failTransactions = 1;
    const failed = seams.transactionsFailed;
    const reads = seams.eventReads;
    await a.revocations.revokeUser([subject], at);
    expect(a.revocations.isRevoked(session)).toBe(true);
    await vi.waitFor(() => expect(seams.eventReads).toBeGreaterThan(reads));
    // Until the reload succeeds, B cannot say "not revoked": the unread event may be this revocation.
    await vi.waitFor(() => expect(b.revocations.isRevoked(session)).toBe('unknown'));
    expect(b.isFresh()).toBe(false);
    seams.failEventReads = false;
    await vi.waitFor(() => expect(seams.transactionsFailed).toBe(failed + 1));
    await vi.waitFor(() => expect(b.revocations.isRevoked(session)).toBe(true), { timeout: 10_000, interval: 20 });
  });
});
