import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GroupMembership, Identity } from '../../src/index.js';
import type { IdentityStore, SessionIdentity } from '../../src/login/index.js';
import type { SqlExecutor } from '../../src/store/driver.js';
import { createIdentities, readSessionIdentity } from '../../src/store/identities.js';
import { IDENTITY_CHANNEL, openDirectoryStore, type DirectoryChange, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

const T0 = Date.UTC(2025, 0, 1);
const S0 = T0 / 1000;

let serial = 0;
/** A fresh nonce like the login's (16 alphanumerics). */
function nonce(): string {
  return `N${String(++serial).padStart(6, '0')}${Math.random().toString(36).slice(2, 11)}`.slice(0, 16);
}

function sample(overrides: Partial<Identity> = {}, issuedAt = S0): SessionIdentity {
  return {
    identity: {
      email: 'ada@contoso.com',
      name: 'Ada Lovelace',
      user_uuid: 'oid-ada',
      idp: { id: 'idp-1', type: 'azureAD' },
      amr: ['pwd', 'mfa'],
      groups: [
        { id: 'g-eng', name: 'Engineering' },
        { id: 'g-ops', email: 'ops@contoso.com' },
      ],
      membership: { state: 'complete', source: 'graph' },
      oidc_fields: { department: 'R&D', nested: { list: [1, 'two', null] } },
      oid: 'oid-ada',
      tid: 'tenant-1',
      sub: 'sub-ada',
      iat: issuedAt,
      exp: issuedAt + 3600,
      ver: '2.0',
      ...overrides,
    },
    country: 'FR',
    issuedAt,
  };
}

/** Every object in `value` is frozen. */
function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

/** Records what is published on the identity channel while `fn` runs. */
async function published<T>(fn: () => Promise<T>): Promise<{ result: T; messages: object[] }> {
  const messages: object[] = [];
  const listener = (m: unknown): void => void messages.push(m as object);
  diagnostics.subscribe(IDENTITY_CHANNEL, listener);
  try {
    return { result: await fn(), messages };
  } finally {
    diagnostics.unsubscribe(IDENTITY_CHANNEL, listener);
  }
}

it('store.identities has the shape of the login identity store', () => {
  // Compile-time: a store's identities can be passed wherever the login takes an IdentityStore.
  const asLogin = (store: DirectoryStore): IdentityStore => store.identities;
  expect(asLogin).toBeTypeOf('function');
});

describe('readSessionIdentity (the guard every stored row passes)', () => {
  it('rebuilds a valid identity with only its fields, deeply frozen', () => {
    const value = JSON.parse(JSON.stringify({ ...sample(), extra: 'dropped', identity: { ...sample().identity, injected: true } }));
    const read = readSessionIdentity(value);
    expect(read).toEqual(sample());
    expect(deeplyFrozen(read)).toBe(true);
  });

  const broken: [string, (v: Record<string, any>) => unknown, string][] = [
    ['not an object', () => 'text', '(root)'],
    ['an array', () => [], '(root)'],
    ['no identity', (v) => ({ ...v, identity: undefined }), 'identity'],
    ['issuedAt not a number', (v) => ({ ...v, issuedAt: '1735689600' }), 'issuedAt'],
    ['country not a string', (v) => ({ ...v, country: 33 }), 'country'],
    ['email missing', (v) => ({ ...v, identity: { ...v.identity, email: undefined } }), 'identity.email'],
    ['name a number', (v) => ({ ...v, identity: { ...v.identity, name: 1 } }), 'identity.name'],
    ['another idp type', (v) => ({ ...v, identity: { ...v.identity, idp: { id: 'x', type: 'okta' } } }), 'identity.idp'],
    ['amr not strings', (v) => ({ ...v, identity: { ...v.identity, amr: ['pwd', 1] } }), 'identity.amr'],
    ['groups an object', (v) => ({ ...v, identity: { ...v.identity, groups: { id: 'g' } } }), 'identity.groups'],
    ['a group id a number', (v) => ({ ...v, identity: { ...v.identity, groups: [{ id: 'g' }, { id: 7 }] } }), 'identity.groups[1]'],
    ['a group name a number', (v) => ({ ...v, identity: { ...v.identity, groups: [{ id: 'g', name: 7 }] } }), 'identity.groups[0]'],
    ['membership state unknown to the type', (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'partial' } } }), 'identity.membership.state'],
    [
      'membership source unknown',
      (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'complete', source: 'ldap' } } }),
      'identity.membership.source',
    ],
    ['overage signal unknown', (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'overage', signal: 'x' } } }), 'identity.membership.signal'],
    ['unknown without code', (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'unknown', reason: 'r' } } }), 'identity.membership.code'],
    ['oidc_fields an array', (v) => ({ ...v, identity: { ...v.identity, oidc_fields: [] } }), 'identity.oidc_fields'],
    ['tid missing', (v) => ({ ...v, identity: { ...v.identity, tid: null } }), 'identity.tid'],
    ['exp not finite', (v) => ({ ...v, identity: { ...v.identity, exp: null } }), 'identity.exp'],
    ['ver unknown', (v) => ({ ...v, identity: { ...v.identity, ver: '3.0' } }), 'identity.ver'],
    [
      'membership fields not an array',
      (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'complete', source: 'graph', fields: 'id' } } }),
      'identity.membership.fields',
    ],
    [
      'a membership field unknown',
      (v) => ({ ...v, identity: { ...v.identity, membership: { state: 'complete', source: 'graph', fields: ['id', 'mail'] } } }),
      'identity.membership.fields[1]',
    ],
    ['claims an array', (v) => ({ ...v, claims: ['upn'] }), 'claims'],
    ['claims a string', (v) => ({ ...v, claims: 'upn' }), 'claims'],
    ['a claim null', (v) => ({ ...v, claims: { upn: null } }), 'claims.upn'],
    ['a claim array holding a number', (v) => ({ ...v, claims: { groups: ['g1', 2] } }), 'claims.groups'],
    ['a claim array holding an object', (v) => ({ ...v, claims: { groups: [{ id: 'g1' }] } }), 'claims.groups'],
    ['a nested claim null', (v) => ({ ...v, claims: { _claim_sources: { src1: { endpoint: null } } } }), 'claims._claim_sources.src1.endpoint'],
    ['claims nested too deep', (v) => ({ ...v, claims: { a: { b: { c: { d: { e: { f: { g: { h: { i: 'x' } } } } } } } } } }), 'claims.a.b.c.d.e.f.g.h'],
  ];
  it.each(broken)('refuses %s, naming the field', (_, mutate, field) => {
    expect(readSessionIdentity(mutate(JSON.parse(JSON.stringify(sample()))))).toBe(field);
  });

  it('keeps the claims the pipeline re-resolves groups from, and the fields a membership knows, deeply frozen', () => {
    const claims = {
      preferred_username: 'ada@contoso.com',
      groups: ['g-eng', 'g-ops'],
      hasgroups: true,
      ver: 2,
      _claim_names: { groups: 'src1' },
      _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/oid-ada/getMemberObjects' } },
    };
    const membership: GroupMembership = { state: 'complete', source: 'directory', fields: ['id', 'name'] };
    const value: SessionIdentity = { ...sample({ membership }), claims };
    const read = readSessionIdentity(JSON.parse(JSON.stringify(value)));
    expect(read).toEqual(value);
    expect(deeplyFrozen(read)).toBe(true);
    // Absent fields stay absent (ids only, as the type says), never defaulted to more.
    const idsOnly = readSessionIdentity(JSON.parse(JSON.stringify(sample({ membership: { state: 'complete', source: 'token' } }))));
    expect(typeof idsOnly !== 'string' && idsOnly.identity.membership).toEqual({ state: 'complete', source: 'token' });
    expect(readSessionIdentity(JSON.parse(JSON.stringify({ ...sample(), claims: {} })))).toEqual({ ...sample(), claims: {} });
  });

  it('keeps every membership state the type has', () => {
    const states: GroupMembership[] = [
      { state: 'complete', source: 'token' },
      { state: 'absent' },
      { state: 'overage', signal: 'hasgroups' },
      { state: 'unknown', reason: 'graph is throttling', code: 'ERR_GRAPH_REQUEST_FAILED' },
    ];
    for (const membership of states) expect(readSessionIdentity(sample({ membership }))).toEqual(sample({ membership }));
  });
});

/** A scripted SQL executor: rows by nonce, reads that can be held open, a count of reads. */
function fakeSql() {
  const rows = new Map<string, { identity: unknown; expires_at: number }>();
  const held: Array<() => void> = [];
  const state = { reads: 0, hold: false, fail: false };
  const sql: SqlExecutor = {
    async query<T extends object>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      const key = params[0] as string;
      if (text.startsWith('SELECT')) {
        state.reads++;
        // The statement's snapshot is taken when it starts; its answer may come back later.
        const row = rows.get(key);
        if (state.hold) await new Promise<void>((resolve) => held.push(resolve));
        if (state.fail) throw new Error('connection refused');
        return (row ? [row] : []) as T[];
      }
      if (text.startsWith('INSERT')) rows.set(key, { identity: JSON.parse(params[1] as string), expires_at: params[2] as number });
      return [];
    },
  };
  const release = (): void => {
    state.hold = false;
    for (const r of held.splice(0)) r();
  };
  return { sql, rows, state, release };
}

describe('the identity cache (scripted SQL)', () => {
  const clock = { t: T0 };
  afterEach(() => {
    clock.t = T0;
  });
  function setup(cacheMax = 100) {
    const db = fakeSql();
    const { identities, control } = createIdentities({
      sql: db.sql,
      now: () => clock.t,
      cacheMax,
      assertOpen: () => undefined,
      remove: async (n) => void db.rows.delete(n),
      replace: async (n, json, expiresAt) => db.rows.has(n) && (db.rows.set(n, { identity: JSON.parse(json) as unknown, expires_at: expiresAt }), true),
      isFresh: () => true,
    });
    return { db, identities, control };
  }

  it('answers a hit synchronously with the same frozen object, and a miss with one shared read', async () => {
    const { db, identities } = setup();
    const n = nonce();
    db.rows.set(n, { identity: JSON.parse(JSON.stringify(sample())), expires_at: S0 + 60 });
    const first = identities.get(n);
    const second = identities.get(n);
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    const value = await first;
    expect(value).toEqual(sample());
    expect(db.state.reads).toBe(1);
    expect(identities.get(n)).toBe(value);
    expect(db.state.reads).toBe(1);
  });

  it('a deletion heard while the row is being read wins: the read answers nothing and caches nothing', async () => {
    const { db, identities, control } = setup();
    const n = nonce();
    db.rows.set(n, { identity: sample(), expires_at: S0 + 60 });
    db.state.hold = true;
    const reading = identities.get(n);
    // The logout commits, then is heard: the read in flight reads the row again.
    db.rows.delete(n);
    control.forget(n);
    db.release();
    expect(await reading).toBeUndefined();
    expect(db.state.reads).toBe(2);
    expect(identities.get(n)).toBeInstanceOf(Promise);
  });

  it('a replacement heard while the row is being read answers the new record (regression: it answered none, a spurious 401)', async () => {
    const { db, identities, control } = setup();
    const n = nonce();
    db.rows.set(n, { identity: sample(), expires_at: S0 + 60 });
    db.state.hold = true;
    const reading = identities.get(n);
    const joined = identities.get(n);
    db.rows.set(n, { identity: { ...sample(), country: 'NZ' }, expires_at: S0 + 60 });
    control.forget(n);
    db.release();
    expect(await reading).toEqual({ ...sample(), country: 'NZ' });
    expect(await joined).toEqual({ ...sample(), country: 'NZ' });
    expect(db.state.reads).toBe(2);
    // What the second read answered is cached.
    expect(identities.get(n)).toEqual({ ...sample(), country: 'NZ' });
  });

  it('a read that hears a change on every attempt gives up with ERR_STORE_UNAVAILABLE, never an answer', async () => {
    const { db, identities, control } = setup();
    const n = nonce();
    db.rows.set(n, { identity: sample(), expires_at: S0 + 60 });
    db.state.hold = true;
    const reading = identities.get(n);
    for (let i = 1; i <= 4; i++) {
      await vi.waitFor(() => expect(db.state.reads).toBe(i));
      control.forget(n);
      db.release();
      db.state.hold = i < 4;
    }
    await expect(reading).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: 'the session identity changed while it was being read: try again' });
    // Positive control: the next check reads it.
    expect(await identities.get(n)).toEqual(sample());
  });

  it('a fresh read passes the cache and joins no read in flight, and an older read never overwrites what it cached', async () => {
    const { db, identities } = setup();
    const n = nonce();
    await identities.set(n, sample(), S0 + 60);
    // Another instance replaced the row; this one has not heard of it yet.
    db.rows.set(n, { identity: { ...sample(), country: 'NZ' }, expires_at: S0 + 60 });
    expect(identities.get(n)).toEqual(sample());
    expect(await identities.get(n, { fresh: true })).toEqual({ ...sample(), country: 'NZ' });
    expect(identities.get(n)).toEqual({ ...sample(), country: 'NZ' });

    const m = nonce();
    db.rows.set(m, { identity: sample(), expires_at: S0 + 60 });
    db.state.hold = true;
    const older = identities.get(m);
    db.state.hold = false;
    db.rows.set(m, { identity: { ...sample(), country: 'NZ' }, expires_at: S0 + 60 });
    const fresh = identities.get(m, { fresh: true });
    expect(fresh).not.toBe(older);
    expect(await fresh).toEqual({ ...sample(), country: 'NZ' });
    db.release();
    // The older read answers what it read (the row as it was), and leaves the newer copy cached.
    expect(await older).toEqual(sample());
    expect(identities.get(m)).toEqual({ ...sample(), country: 'NZ' });
  });

  it('while deletions cannot be heard nothing is cached, and hearing them again starts from an empty cache', async () => {
    const { db, identities, control } = setup();
    const n = nonce();
    await identities.set(n, sample(), S0 + 60);
    expect(identities.get(n)).toEqual(sample());
    control.reset(false);
    expect(await identities.get(n)).toEqual(sample());
    expect(await identities.get(n)).toEqual(sample());
    expect(db.state.reads).toBe(2);
    // Stored while not listening: not cached either.
    const m = nonce();
    await identities.set(m, sample(), S0 + 60);
    expect(identities.get(m)).toBeInstanceOf(Promise);
    control.reset(true);
    expect(identities.get(n)).toBeInstanceOf(Promise);
    await vi.waitFor(() => expect(identities.get(n)).toEqual(sample()));
  });

  it('a read that started before a reset answers but is not cached', async () => {
    const { db, identities, control } = setup();
    const n = nonce();
    db.rows.set(n, { identity: sample(), expires_at: S0 + 60 });
    db.state.hold = true;
    const reading = identities.get(n);
    control.reset(true);
    db.release();
    expect(await reading).toEqual(sample());
    expect(identities.get(n)).toBeInstanceOf(Promise);
  });

  it('never serves an identity at or after its expiry, cached or read', async () => {
    clock.t = T0;
    const { db, identities } = setup();
    const n = nonce();
    await identities.set(n, sample(), S0 + 60);
    clock.t = T0 + 59_999;
    expect(identities.get(n)).toEqual(sample());
    clock.t = T0 + 60_000;
    expect(identities.get(n)).toBeUndefined();
    const m = nonce();
    db.rows.set(m, { identity: sample(), expires_at: S0 + 60 });
    expect(await identities.get(m)).toBeUndefined();
    clock.t = T0;
    expect(await identities.get(m)).toEqual(sample());
  });

  it('with cacheMax 0 every check reads the database', async () => {
    const { db, identities } = setup(0);
    const n = nonce();
    await identities.set(n, sample(), S0 + 60);
    expect(await identities.get(n)).toEqual(sample());
    expect(await identities.get(n)).toEqual(sample());
    expect(db.state.reads).toBe(2);
  });

  it('a database that cannot answer is ERR_STORE_UNAVAILABLE, and the next check tries again', async () => {
    const { db, identities } = setup();
    const n = nonce();
    db.rows.set(n, { identity: sample(), expires_at: S0 + 60 });
    db.state.fail = true;
    await expect(identities.get(n)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: 'the session identity could not be read' });
    db.state.fail = false;
    expect(await identities.get(n)).toEqual(sample());
  });

  it('refuses to store what it could not serve back: a bad nonce, expiry or identity', async () => {
    const { identities } = setup();
    await expect(identities.set('', sample(), S0 + 60)).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'an identity nonce must be a string of 1 to 256 characters',
    });
    await expect(identities.set(nonce(), sample(), S0 + 0.5)).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: "an identity's `expiresAt` must be Unix seconds, got `1735689600.5`",
    });
    const bad = { ...sample(), identity: { ...sample().identity, groups: [{ id: 42 }] } } as unknown as SessionIdentity;
    await expect(identities.set(nonce(), bad, S0 + 60)).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'the session identity to store is invalid at `identity.groups[0]`',
    });
    const cyclic = sample();
    (cyclic.identity.oidc_fields as Record<string, unknown>).self = cyclic.identity.oidc_fields;
    await expect(identities.set(nonce(), cyclic, S0 + 60)).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'the session identity to store is not JSON-serialisable',
    });
  });
});

describe('store.identities on PGlite', () => {
  const clock = { t: T0 };
  let store: DirectoryStore;
  let uncached: DirectoryStore;
  beforeAll(async () => {
    [store, uncached] = await Promise.all([
      openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', now: () => clock.t }),
      openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', now: () => clock.t, identities: { cacheMax: 0 } }),
    ]);
  });
  afterAll(async () => {
    await store?.close();
    await uncached?.close();
  });
  afterEach(() => {
    clock.t = T0;
  });

  it('set, get, delete: a logout is one Identity event that never carries the nonce', async () => {
    const n = nonce();
    await store.identities.set(n, sample(), S0 + 3600);
    const hit = store.identities.get(n);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toEqual(sample());
    expect(deeplyFrozen(hit)).toBe(true);
    expect(store.identities.get(n)).toBe(hit);

    const changes: DirectoryChange[] = [];
    const off = store.onChange((c) => changes.push(c));
    try {
      await store.identities.delete(n);
      expect(store.identities.get(n)).toBeInstanceOf(Promise);
      expect(await store.identities.get(n)).toBeUndefined();
      // Deleting again, or a nonce never stored, changes nothing and publishes nothing.
      await store.identities.delete(n);
      await store.identities.delete(nonce());
    } finally {
      off();
    }
    expect(changes).toEqual([
      { eventId: expect.any(String), origin: 'local', at: new Date(T0).toISOString(), resourceType: 'Identity', operation: 'delete', changedAttributes: [] },
    ]);
    expect(JSON.stringify(changes)).not.toContain(n);
  });

  it('replace: only a nonce that still has an identity, never creating one (a renewal after a logout stores nothing)', async () => {
    for (const s of [store, uncached]) {
      const n = nonce();
      // Positive control: a stored identity is replaced, and the cache and the database serve the new one.
      await s.identities.set(n, sample(), S0 + 3600);
      const renewed = { ...sample(), country: 'NZ' };
      const changes: DirectoryChange[] = [];
      const off = s.onChange((c) => changes.push(c));
      try {
        expect(await s.identities.replace(n, renewed, S0 + 3600)).toBe(true);
        expect(await s.identities.get(n)).toEqual(renewed);
        // Signed out: a replace finds nothing, creates nothing and publishes nothing.
        await s.identities.delete(n);
        expect(await s.identities.replace(n, renewed, S0 + 3600)).toBe(false);
        expect(await s.identities.get(n)).toBeUndefined();
        expect(await s.identities.replace(nonce(), renewed, S0 + 3600)).toBe(false);
      } finally {
        off();
      }
      expect(changes.map((c) => c.operation)).toEqual(['replace', 'delete']);
      expect(JSON.stringify(changes)).not.toContain(n);
    }
  });

  it('reads back from the database what it stored, deeply frozen, whatever the claims hold (NUL, lone surrogates)', async () => {
    const odd = sample({ name: 'nul\u0000 and lone \ud800', oidc_fields: { 'k\u0000': ['\udfff'] } });
    const n0 = nonce();
    await uncached.identities.set(n0, odd, S0 + 60);
    expect(await uncached.identities.get(n0)).toEqual(odd);
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const group = fc.record({ id: text, name: fc.option(text, { nil: undefined }), email: fc.option(text, { nil: undefined }) }, { requiredKeys: ['id'] });
    const membership: fc.Arbitrary<GroupMembership> = fc.oneof(
      fc.constantFrom<GroupMembership>({ state: 'absent' }, { state: 'complete', source: 'directory' }, { state: 'overage', signal: 'claim_names' }),
      fc.record({ state: fc.constant('unknown' as const), reason: text, code: text }),
    );
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.array(group, { maxLength: 4 }),
        membership,
        fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        fc.option(text, { nil: undefined }),
        async (email, groups, m, fields, country) => {
          const value: SessionIdentity = { ...sample({ email, groups, membership: m, oidc_fields: fields }), ...(country === undefined ? {} : { country }) };
          if (country === undefined) delete value.country;
          const n = nonce();
          await uncached.identities.set(n, value, S0 + 60);
          const read = await uncached.identities.get(n);
          expect(read).toEqual(JSON.parse(JSON.stringify(value)));
          expect(deeplyFrozen(read)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('prune deletes expired identities and reports how many; the live ones stay', async () => {
    // Whatever earlier tests left behind expired long ago by then.
    clock.t = T0 + 10 * 86_400_000;
    await store.prune();
    const live = nonce();
    const dead = nonce();
    const edge = nonce();
    const now = S0 + 10 * 86_400;
    await store.identities.set(live, sample(), now + 60);
    await store.identities.set(dead, sample(), now - 1);
    await store.identities.set(edge, sample(), now);
    expect(await store.prune()).toEqual({ events: 0, revocations: 0, identities: 2 });
    expect(await store.prune()).toMatchObject({ identities: 0 });
    expect(store.identities.get(live)).toEqual(sample());
  });

  it('refuses a second identity under a nonce already stored (never overwrites), without naming the nonce anywhere in the error', async () => {
    const n = nonce();
    await store.identities.set(n, sample(), S0 + 60);
    const err: unknown = await store.identities.set(n, sample({ email: 'mallory@contoso.com' }), S0 + 60).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ERR_STORE_CONFLICT', message: 'an identity is already stored under this nonce' });
    // The database's own error says `Key (nonce)=(…) already exists`: it is not kept as the cause.
    expect(inspect(err, { depth: 10 })).not.toContain(n);
    expect(store.identities.get(n)).toEqual(sample());
  });
});

describe('store.identities across a restart (PGlite in a folder)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'entragate-identities-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps an identity, and a logout, across close and reopen', async () => {
    const kept = nonce();
    const ended = nonce();
    const first = await openDirectoryStore({ driver: 'pglite', dataDir: dir, now: () => T0 });
    try {
      await first.identities.set(kept, sample(), S0 + 3600);
      await first.identities.set(ended, sample(), S0 + 3600);
      await first.identities.delete(ended);
    } finally {
      await first.close();
    }
    expect(() => first.identities.get(kept)).toThrow(expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE', message: 'directory store is closed' }));
    const second = await openDirectoryStore({ driver: 'pglite', dataDir: dir, now: () => T0 });
    try {
      const read = second.identities.get(kept);
      expect(read).toBeInstanceOf(Promise);
      expect(await read).toEqual(sample());
      expect(await second.identities.get(ended)).toBeUndefined();
    } finally {
      await second.close();
    }
  });
});

describe('store.identities on two PostgreSQL instances', () => {
  let url: string;
  const schema = uniqueSchema('identities');
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
    vi.useRealTimers();
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  async function raw(): Promise<import('pg').Client> {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    return client;
  }

  const far = (): number => Math.floor(Date.now() / 1000) + 3600;

  it('the claims and membership fields a session keeps travel through the database to the other instance', async () => {
    const n = nonce();
    const value: SessionIdentity = {
      ...sample({ membership: { state: 'complete', source: 'directory', fields: ['id', 'name'] } }),
      claims: { upn: 'ada@contoso.com', groups: ['g-eng'], _claim_names: { groups: 'src1' }, amr_count: 2, mfa: true },
    };
    await a.identities.set(n, value, far());
    const read = await b.identities.get(n);
    expect(read).toEqual(value);
    expect(deeplyFrozen(read)).toBe(true);
  });

  it('an identity stored on A is served by B; a delete on A reaches B with the event, and B refuses it', async () => {
    const n = nonce();
    await a.identities.set(n, sample(), far());
    const read = b.identities.get(n);
    expect(read).toBeInstanceOf(Promise);
    const value = await read;
    expect(value).toEqual(sample());
    // Now cached on B: no round trip.
    expect(b.identities.get(n)).toBe(value);

    const heard = nextChange(b, (c) => c.resourceType === 'Identity');
    await a.identities.delete(n);
    const change = await heard;
    expect(change).toMatchObject({ origin: 'remote', resourceType: 'Identity', operation: 'delete', changedAttributes: [] });
    expect(JSON.stringify(change)).not.toContain(n);
    expect(b.identities.get(n)).toBeInstanceOf(Promise);
    expect(await b.identities.get(n)).toBeUndefined();
  });

  it('treats a malformed row as missing (the user logs in again) and says which field was bad', async () => {
    const client = await raw();
    const good = nonce();
    const bad = nonce();
    const worse = nonce();
    try {
      const valid = JSON.parse(JSON.stringify(sample()));
      const broken = { ...valid, identity: { ...valid.identity, groups: [{ id: 'g' }, { name: 'no id' }] } };
      await client.query('INSERT INTO session_identities (nonce, identity, expires_at) VALUES ($1, $2, $3), ($4, $5, $3), ($6, $7, $3)', [
        good,
        JSON.stringify(valid),
        far(),
        bad,
        JSON.stringify(broken),
        worse,
        '"just a string"',
      ]);
    } finally {
      await client.end();
    }
    const { result, messages } = await published(async () => [await b.identities.get(good), await b.identities.get(bad), await b.identities.get(worse)]);
    expect(result).toEqual([sample(), undefined, undefined]);
    expect(messages).toEqual([
      { event: 'miss' },
      { event: 'miss' },
      { event: 'malformed', field: 'identity.groups[1]' },
      { event: 'miss' },
      { event: 'malformed', field: '(root)' },
    ]);
    expect(JSON.stringify(messages)).not.toContain(bad);
  });

  it('prune on one instance deletes the expired rows for all', async () => {
    const client = await raw();
    try {
      const expired = nonce();
      await a.identities.set(expired, sample(), Math.floor(Date.now() / 1000) - 1);
      expect(await a.prune()).toMatchObject({ identities: 1 });
      const { rows } = await client.query('SELECT count(*)::int AS n FROM session_identities WHERE nonce = $1', [expired]);
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('while its notification connection is down, B caches nothing, so a logout it cannot hear is still refused', async () => {
    const n = nonce();
    await a.identities.set(n, sample(), far());
    expect(await b.identities.get(n)).toEqual(sample());
    expect(b.identities.get(n)).toEqual(sample());
    // Hold the reconnect (it waits on a timer) so B stays deaf while A logs the user out.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const admin = await raw();
    try {
      const { rows } = await admin.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query = $1', [`LISTEN entragate_${schema}`]);
      expect(rows.length).toBe(2);
      // B noticed the loss: its cache is gone (a check reads the database again). Polled on
      // setImmediate: vi.waitFor would advance the fake clock and let B reconnect.
      const deadline = Date.now() + 10_000;
      let pending = b.identities.get(n);
      while (!(pending instanceof Promise) && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
        pending = b.identities.get(n);
      }
      expect(pending).toBeInstanceOf(Promise);
      // Let that read finish first: a read already in flight when the delete commits may still see the
      // row (it started before the delete), and later reads share it while it runs.
      await pending;
      await a.identities.delete(n);
      expect(await b.identities.get(n)).toBeUndefined();
      // Another identity is read, but not cached while B is deaf.
      const m = nonce();
      await a.identities.set(m, sample(), far());
      expect(await b.identities.get(m)).toEqual(sample());
      expect(b.identities.get(m)).toBeInstanceOf(Promise);
      // Let both reconnect: once B listens again it caches again.
      vi.advanceTimersByTime(10_000);
      vi.useRealTimers();
      await vi.waitFor(
        async () => {
          await b.identities.get(m);
          expect(b.identities.get(m)).toEqual(sample());
        },
        { timeout: 10_000, interval: 20 },
      );
    } finally {
      vi.useRealTimers();
      await admin.end();
    }
  });
});
