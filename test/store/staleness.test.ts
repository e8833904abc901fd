import diagnostics from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionIdentity } from '../../src/login/index.js';
import { openDirectoryStore, STALENESS_CHANNEL, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';
import { startPgProxy, type PgProxy } from './pg-proxy.js';

/*
 * Issue 11, "multi-instance never fails open": two real PostgreSQL-backed instances, A
 * connected directly and B through a TCP proxy that can freeze (half-open) or drop B's
 * LISTEN connection. Real sockets need real time, so the bounds are small options
 * (heartbeat 25 ms, staleness 300 ms) and every wait is a condition polled with
 * `vi.waitFor`, never an elapsed-time assertion.
 */

const SYNC = { heartbeatMs: 25, maxStalenessMs: 300 } as const;
const WAIT = { timeout: 15_000, interval: 10 } as const;

const identity = (): SessionIdentity => ({
  identity: {
    email: 'ada@contoso.com',
    user_uuid: 'oid-ada',
    idp: { id: 'idp-1', type: 'azureAD' },
    amr: ['pwd'],
    groups: [],
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
const unique = (prefix: string): string => `${prefix}${++serial}x${Math.random().toString(36).slice(2, 8)}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('a store instance that has not heard from PostgreSQL within maxStalenessMs answers unknown (issue 11 #9a)', () => {
  let url: string;
  const schema = uniqueSchema('stale');
  let proxy: PgProxy;
  let a: DirectoryStore;
  let b: DirectoryStore;
  const published: unknown[] = [];
  const onPublish = (m: unknown): void => void published.push(m);

  beforeAll(async () => {
    url = await postgresUrl();
    proxy = await startPgProxy(url);
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, ...SYNC });
    b = await openDirectoryStore({ driver: 'postgres', connectionString: proxy.url, schema, ...SYNC });
    diagnostics.subscribe(STALENESS_CHANNEL, onPublish);
  });
  afterEach(async () => {
    proxy.unfreeze();
    await vi.waitFor(() => expect(b.isFresh()).toBe(true), WAIT);
    published.length = 0;
  });
  afterAll(async () => {
    diagnostics.unsubscribe(STALENESS_CHANNEL, onPublish);
    await a?.close();
    await b?.close();
    await proxy?.close();
    if (url) await dropSchema(url, schema);
  });

  it('with its LISTEN connection frozen, B answers revocations `unknown` within the bound instead of a stale "not revoked", serves no cached identity, and recovers after a reload once the connection heals; A keeps answering', async () => {
    const ada = unique('ada');
    const subjects = [`${ada}@contoso.com`];
    const session = { subjects, issuedAt: nowSeconds() - 120 };
    const nonce = unique('N').slice(0, 16);
    await a.identities.set(nonce, identity(), nowSeconds() + 3600);
    // Positive control: both fresh, nobody revoked, and B serves the identity from its cache.
    expect(a.isFresh()).toBe(true);
    expect(b.isFresh()).toBe(true);
    expect(b.revocations.isRevoked(session)).toBe(false);
    expect(await b.identities.get(nonce)).toEqual(identity());
    expect(b.identities.get(nonce)).toEqual(identity());

    proxy.freezeListeners();
    expect(proxy.listeners()).toEqual({ open: 1, frozen: 1 });
    // Written on A while B is deaf: a revocation, a logout, a new user.
    await a.revocations.revokeUser(subjects, nowSeconds());
    await a.identities.delete(nonce);
    const late = (await a.users.create({ userName: `${ada}-late@contoso.com` })).resource!;

    // A, healthy, knows at once.
    expect(a.revocations.isRevoked(session)).toBe(true);
    expect(a.isFresh()).toBe(true);
    // B never answers the stale "no": within the bound it says it cannot know.
    await vi.waitFor(() => expect(b.isFresh()).toBe(false), WAIT);
    expect(b.revocations.isRevoked(session)).toBe('unknown');
    expect(b.revocations.isRevoked({ subjects: ['somebody-else@contoso.com'], issuedAt: nowSeconds() })).toBe('unknown');
    expect(() => b.assertFresh()).toThrow(expect.objectContaining({ code: 'ERR_STORE_STALE', status: 503, headers: { 'Retry-After': '1' } }));
    // Its index is behind (which is why callers must consult isFresh), and its identity cache is not served.
    expect(b.index.getUser(late.id)).toBeUndefined();
    const read = b.identities.get(nonce);
    expect(read).toBeInstanceOf(Promise);
    expect(await read).toBeUndefined();
    expect(a.revocations.isRevoked(session)).toBe(true);
    // B gave up on the frozen connection and keeps trying new ones (each frozen at its LISTEN).
    await vi.waitFor(() => expect(proxy.listeners().frozen).toBeGreaterThanOrEqual(1), WAIT);
    // The transition is published by the heartbeat tick, within `heartbeatMs` of the bound passing.
    await vi.waitFor(() => expect(published).toContainEqual({ state: 'stale', reason: 'heartbeat' }), WAIT);
    expect(b.isFresh()).toBe(false);

    proxy.unfreeze();
    await vi.waitFor(() => expect(b.isFresh()).toBe(true), WAIT);
    // Fresh only after a reload: everything A wrote is there.
    expect(b.revocations.isRevoked(session)).toBe(true);
    expect(b.index.getUser(late.id)).toBeDefined();
    expect(published.at(-1)).toEqual({ state: 'fresh' });
    // And B hears A again.
    const group = nextChange(b, (c) => c.resourceType === 'Group' && c.origin === 'remote');
    await a.groups.create({ displayName: unique('after-thaw') }, []);
    await group;
  });

  it('with its LISTEN connection dropped, B is stale at once, and stays stale while it cannot listen again; it reloads before it is fresh', async () => {
    const bob = unique('bob');
    const session = { subjects: [`${bob}@contoso.com`], issuedAt: nowSeconds() - 120 };
    expect(b.revocations.isRevoked(session)).toBe(false);
    // New listener connections freeze at their LISTEN, so B cannot listen again until unfrozen.
    proxy.freezeListeners();
    proxy.dropListeners();
    await vi.waitFor(() => expect(published).toContainEqual({ state: 'stale', reason: 'listener' }), WAIT);
    expect(b.isFresh()).toBe(false);
    await a.revocations.revokeUser(session.subjects, nowSeconds());
    expect(a.revocations.isRevoked(session)).toBe(true);
    expect(b.revocations.isRevoked(session)).toBe('unknown');

    proxy.unfreeze();
    await vi.waitFor(() => expect(b.isFresh()).toBe(true), WAIT);
    expect(b.revocations.isRevoked(session)).toBe(true);
  });

  it('a revocation B already holds is still `true` while stale (revocations only move forward)', async () => {
    const cy = unique('cy');
    const session = { subjects: [`${cy}@contoso.com`], issuedAt: nowSeconds() - 120 };
    const heard = nextChange(b, (c) => c.resourceType === 'Revocation' && c.revocation?.subjects.includes(session.subjects[0]!) === true);
    await a.revocations.revokeUser(session.subjects, nowSeconds());
    await heard;
    proxy.freezeListeners();
    await vi.waitFor(() => expect(b.isFresh()).toBe(false), WAIT);
    expect(b.revocations.isRevoked(session)).toBe(true);
    expect(b.revocations.isRevoked({ subjects: ['not-revoked@contoso.com'], issuedAt: nowSeconds() })).toBe('unknown');
  });
});

describe('freshness on an injected clock', () => {
  let url: string;
  const schema = uniqueSchema('stalefake');
  const clock = { t: Date.UTC(2025, 0, 1) };
  let store: DirectoryStore;

  beforeAll(async () => {
    url = await postgresUrl();
    store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, now: () => clock.t, ...SYNC });
  });
  afterAll(async () => {
    await store?.close();
    if (url) await dropSchema(url, schema);
  });

  it('is stale the moment its clock passes the bound without a heartbeat heard, and fresh again once it has reconnected and reloaded', async () => {
    const session = { subjects: ['ada@contoso.com'], issuedAt: Math.floor(clock.t / 1000) };
    expect(store.isFresh()).toBe(true);
    expect(store.revocations.isRevoked(session)).toBe(false);
    // The clock stands still: nothing is ever quiet for long, however much real time passes.
    clock.t += SYNC.maxStalenessMs;
    expect(store.isFresh()).toBe(true);
    clock.t += 1;
    expect(store.isFresh()).toBe(false);
    expect(store.revocations.isRevoked(session)).toBe('unknown');
    await vi.waitFor(() => expect(store.isFresh()).toBe(true), WAIT);
    expect(store.revocations.isRevoked(session)).toBe(false);
  });

  it('refuses a heartbeat that is not below the staleness bound, synchronously', () => {
    expect(() => openDirectoryStore({ driver: 'postgres', connectionString: url, heartbeatMs: 1000, maxStalenessMs: 1000 })).toThrow(
      expect.objectContaining({
        code: 'ERR_CONFIG_INVALID',
        message: expect.stringContaining('`heartbeatMs` (`1000`) must be below `maxStalenessMs` (`1000`)'),
      }),
    );
  });
});
