/**
 * Renewal with two instances (two logins, each on its own directory store instance, on one PostgreSQL
 * schema): a refresh token instance A already redeemed (the mock Entra spends it, as Entra rotates
 * them) must not end the session on instance B, which still holds the record A replaced.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { SqlDriver } from '../../src/store/driver.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';
import { browse, CookieJar, esKey, fakeClock, fetchWithJar, mockEntraSuite, type App } from './harness.js';

/** B's store: its event notifications can be held (B has not heard of A's writes yet), then delivered. */
const seams = vi.hoisted(() => ({
  armed: false,
  deaf: false,
  held: [] as Array<() => void>,
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
        query: (sql, params) => real.query(sql, params),
        transaction: (fn) => real.transaction(fn),
        listen: (channel, onNotify, onResync, onLost) =>
          real.listen!(
            channel,
            (payload) => {
              // Heartbeats pass (B stays fresh); events wait while B is deaf.
              if (seams.deaf && !payload.startsWith('hb:')) seams.held.push(() => onNotify(payload));
              else onNotify(payload);
            },
            onResync,
            onLost,
          ),
      };
    },
  };
});

function hear(): void {
  seams.deaf = false;
  for (const deliver of seams.held.splice(0)) deliver();
}

const suite = mockEntraSuite();
const key = esKey();
const clock = fakeClock();

/** Entra's token endpoint as one instance reaches it: `down` answers 503. */
function endpoint(): { fetch: typeof fetch; down: boolean } {
  const control = {
    down: false,
    fetch: (async (input, init) => {
      if (control.down && String(input).endsWith('/oauth2/v2.0/token')) return Response.json({ error: 'temporarily_unavailable' }, { status: 503 });
      return fetch(input, init);
    }) as typeof fetch,
  };
  return control;
}

let url: string;
const schema = uniqueSchema('renewinst');
let storeA: DirectoryStore;
let storeB: DirectoryStore;

beforeAll(async () => {
  url = await postgresUrl();
  storeA = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  seams.armed = true;
  storeB = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
});
afterEach(() => hear());
afterAll(async () => {
  await storeA?.close();
  await storeB?.close();
  if (url) await dropSchema(url, schema);
});

/** One instance: the same keys, issuer and audience as the other (one app behind a load balancer). */
async function instance(store: DirectoryStore, extra: Record<string, unknown> = {}): Promise<{ app: App; entra: ReturnType<typeof endpoint> }> {
  const entra = endpoint();
  const app = await suite.app({
    login: () => ({
      now: clock.now,
      renewAfterSeconds: 600,
      fetch: entra.fetch,
      identities: store.identities,
      keys: { signing: { kid: 'k1', alg: 'ES256', privateKey: key.privateKey } },
      issuer: 'https://app.example.com',
      audience: 'renewal-instances',
      ...extra,
    }),
  });
  return { app, entra };
}

async function signIn(app: App): Promise<{ jar: CookieJar; oid: string; nonce: string }> {
  const oid = randomUUID();
  suite.entra.login.nextUser = { claims: { oid, email: `i${oid.slice(0, 6)}@contoso.com` } };
  const jar = new CookieJar();
  const hops = await browse(jar, app.url, `${app.url}/auth/login`);
  expect(hops.at(-1)!.status).toBe(200);
  const session = await app.login.authenticate({ headers: { cookie: jar.header('/') } });
  return { jar, oid, nonce: session.session.identity_nonce };
}

/** `/me` on an instance, with the session cookie the browser got from either. */
async function me(app: App, jar: CookieJar): Promise<{ status: number; code?: string }> {
  const hop = await fetchWithJar(jar, app.url, `${app.url}/me`);
  const body = (await hop.response.json()) as { code?: string };
  return { status: hop.status, ...(body.code ? { code: body.code } : {}) };
}

const refreshes = () => suite.entra.login.tokenRequests.filter((r) => r.grant_type === 'refresh_token').map((r) => r.outcome);

describe('renewal across two instances on one directory store', () => {
  it('B honours the record A renewed when Entra refuses B the refresh token A spent (regression: B ended the session A had just renewed)', async () => {
    const a = await instance(storeA);
    const b = await instance(storeB);
    const user = await signIn(a.app);
    // B serves the session too, and caches its record.
    expect(await me(b.app, user.jar)).toEqual({ status: 200 });
    expect(storeB.identities.get(user.nonce)).not.toBeInstanceOf(Promise);

    // Due. A renews first (Entra rotates the refresh token); B has not heard of it yet.
    clock.advance(601_000);
    seams.deaf = true;
    expect(await me(a.app, user.jar)).toEqual({ status: 200 });
    expect(refreshes()).toEqual(['ok']);
    // B still holds the old record: it redeems the spent token, is refused, and finds A's renewal.
    expect(await me(b.app, user.jar)).toEqual({ status: 200 });
    expect(refreshes()).toEqual(['ok', 'invalid_grant']);
    hear();
    // The session stands on both instances; the next renewal uses A's rotated token.
    expect(await me(a.app, user.jar)).toEqual({ status: 200 });
    expect(await me(b.app, user.jar)).toEqual({ status: 200 });
    clock.advance(601_000);
    expect(await me(b.app, user.jar)).toEqual({ status: 200 });
    expect(refreshes()).toEqual(['ok', 'invalid_grant', 'ok']);
  });

  it('fails closed: a user Entra disabled is signed out on B though B has not heard of anything (the record was not renewed)', async () => {
    const a = await instance(storeA);
    const b = await instance(storeB);
    const disabled = await signIn(a.app);
    const kept = await signIn(a.app);
    expect(await me(b.app, disabled.jar)).toEqual({ status: 200 });
    expect(await me(b.app, kept.jar)).toEqual({ status: 200 });
    suite.entra.login.disabledUsers.add(disabled.oid);
    clock.advance(601_000);
    seams.deaf = true;
    const ended = nextChange(storeA, (c) => c.resourceType === 'Identity' && c.operation === 'delete' && c.origin === 'remote');
    expect(await me(b.app, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_RENEWAL_FAILED' });
    hear();
    // Ended for every instance: once A has heard of it, A refuses the cookie without asking Entra.
    await ended;
    expect(await me(a.app, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
    // Positive control: another user is renewed on B.
    expect(await me(b.app, kept.jar)).toEqual({ status: 200 });
    expect(refreshes()).toEqual(['invalid_grant', 'ok']);
  });

  it('an Entra outage on B still answers 503 and keeps the session', async () => {
    const a = await instance(storeA);
    const b = await instance(storeB);
    const user = await signIn(a.app);
    clock.advance(601_000);
    b.entra.down = true;
    expect(await me(b.app, user.jar)).toEqual({ status: 503, code: 'ERR_SESSION_RENEWAL_UNAVAILABLE' });
    expect(await me(a.app, user.jar)).toEqual({ status: 200 });
    expect(refreshes()).toEqual(['ok']);
  });

  it('without a shared transactionSecret, B cannot open the refresh token A sealed: the session is ended when due on B (fail closed), served while not due', async () => {
    const a = await instance(storeA);
    const b = await instance(storeB, { transactionSecret: 'another-transaction-secret-0123456789abcdef' });
    const user = await signIn(a.app);
    expect(await me(b.app, user.jar)).toEqual({ status: 200 });
    clock.advance(601_000);
    expect(await me(b.app, user.jar)).toEqual({ status: 401, code: 'ERR_SESSION_RENEWAL_FAILED' });
    expect(refreshes()).toEqual([]);
    expect(await me(a.app, user.jar)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
  });
});
