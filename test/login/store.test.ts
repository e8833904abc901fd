import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { dropSchema, nextChange, postgresUrl, startScimServer, uniqueSchema, type ScimServer } from '../scim/helpers.js';
import { browse, CookieJar, esKey, fetchWithJar, startApp, type App } from './harness.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const T0 = Date.UTC(2025, 0, 1);

let entra: MockEntra;
const closers: Array<() => Promise<void>> = [];
// One embedded store for the SCIM tests (opening PGlite takes seconds); each test has its own users.
let shared: DirectoryStore;
const clock = { t: T0 };
beforeAll(async () => {
  entra = await createMockEntra();
  shared = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', now: () => clock.t });
});
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
  entra.login.reset();
});
afterAll(async () => {
  await shared?.close();
  await entra.close();
});

async function me(jar: CookieJar, a: App): Promise<{ status: number; code?: string }> {
  const hop = await fetchWithJar(jar, a.url, `${a.url}/me`);
  const body = (await hop.response.json()) as { code?: string };
  return { status: hop.status, ...(body.code ? { code: body.code } : {}) };
}

async function signIn(a: App, oid: string, email: string): Promise<CookieJar> {
  entra.login.nextUser = { claims: { oid, email } };
  const jar = new CookieJar();
  const hops = await browse(jar, a.url, `${a.url}/auth/login`);
  expect(hops.at(-1)!.status).toBe(200);
  expect(jar.get('CF_Authorization')).toBeDefined();
  return jar;
}

/** A store, a SCIM endpoint on it, and an app whose sessions consult the store's revocations, all on one fake clock. */
async function setup(scimConfig: Record<string, unknown>): Promise<{ store: DirectoryStore; scim: ScimServer; app: App; clock: { t: number } }> {
  const store = shared;
  const scim = await startScimServer({ store, basePath: '/scim/v2', scimConfig });
  closers.push(() => scim.close());
  const app = await startApp(entra, { login: () => ({ now: () => clock.t }), gate: { revocations: store.revocations } });
  closers.push(() => app.close());
  return { store, scim, app, clock };
}

async function provisionUser(scim: ScimServer, oid: string, email: string): Promise<string> {
  const res = await scim.request('POST', '/Users', { userName: email, externalId: oid, active: true, emails: [{ type: 'work', value: email, primary: true }] });
  expect(res.status).toBe(201);
  return res.json.id as string;
}

describe('sessions and the directory store (SCIM events)', () => {
  it('a user deprovisioned over SCIM loses the session at the next request', async () => {
    const { scim, app, clock } = await setup({ user_deprovision: true });
    const oid = randomUUID();
    const email = `ada-${oid.slice(0, 6)}@contoso.com`;
    const id = await provisionUser(scim, oid, email);
    const jar = await signIn(app, oid, email);
    expect(await me(jar, app)).toEqual({ status: 200 });
    clock.t += 5_000;
    const res = await scim.request('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(res.status).toBe(200);
    expect(await me(jar, app)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
    // Another user's session is untouched.
    const other = randomUUID();
    await provisionUser(scim, other, `bob-${other.slice(0, 6)}@contoso.com`);
    clock.t += 1_000;
    const bob = await signIn(app, other, `bob-${other.slice(0, 6)}@contoso.com`);
    expect(await me(bob, app)).toEqual({ status: 200 });
  });

  it('a group change with identity_update_behavior reauth revokes the member at the next request', async () => {
    const { scim, app, clock } = await setup({ identity_update_behavior: 'reauth' });
    const oid = randomUUID();
    const email = `eve-${oid.slice(0, 6)}@contoso.com`;
    const id = await provisionUser(scim, oid, email);
    const group = (await scim.request('POST', '/Groups', { displayName: `g-${oid.slice(0, 6)}` })).json as { id: string };
    const jar = await signIn(app, oid, email);
    expect(await me(jar, app)).toEqual({ status: 200 });
    clock.t += 5_000;
    const res = await scim.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }] });
    expect(res.status).toBe(204);
    expect(await me(jar, app)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
    // A fresh login after the change (and past the clock tolerance, 60 s) gets a working session.
    clock.t += 61_000;
    const again = await signIn(app, oid, email);
    expect(await me(again, app)).toEqual({ status: 200 });
  });

  it('revokeUser on the login writes through to the store', async () => {
    const { store, app } = await setup({});
    const oid = randomUUID();
    const jar = await signIn(app, oid, 'cat@contoso.com');
    await app.login.revokeUser(oid);
    expect(store.revocations.isRevoked({ subjects: [oid], issuedAt: Math.floor(clock.t / 1000) })).toBe(true);
    expect(await me(jar, app)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
  });
});

describe('sessions across instances (PostgreSQL)', () => {
  /**
   * Two app instances as behind a load balancer: same signing key and audience, each with
   * its own store connection to one schema, sessions kept in the store (identities and revocations).
   */
  async function twoInstances(): Promise<{ a: DirectoryStore; b: DirectoryStore; one: App; two: App }> {
    const url = await postgresUrl();
    const schema = uniqueSchema('login');
    const a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    const b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
    closers.push(async () => {
      await a.close();
      await b.close();
      await dropSchema(url, schema);
    });
    const key = esKey();
    const common = {
      keys: { signing: { kid: 'shared', alg: 'ES256' as const, privateKey: key.privateKey } },
      audience: 'shared-app',
      issuer: 'https://app.example.com',
    };
    const one = await startApp(entra, { login: () => ({ ...common, identities: a.identities }), gate: { revocations: a.revocations } });
    const two = await startApp(entra, { login: () => ({ ...common, identities: b.identities }), gate: { revocations: b.revocations } });
    closers.push(
      () => one.close(),
      () => two.close(),
    );
    return { a, b, one, two };
  }

  /** The session cookie of `jar`, presented to another instance. */
  function carry(jar: CookieJar): CookieJar {
    const other = new CookieJar();
    other.cookies.set('CF_Authorization', { value: jar.get('CF_Authorization')!, path: '/' });
    return other;
  }

  it('a login on one instance is honoured by another with its groups, and a logout there is refused by the other once the event arrives', async () => {
    const { b, one, two } = await twoInstances();
    const oid = randomUUID();
    const group = randomUUID();
    entra.login.nextUser = { claims: { oid, email: 'fay@contoso.com', name: 'Fay', groups: [group] } };
    const jar = new CookieJar();
    await browse(jar, one.url, `${one.url}/auth/login`);
    const toTwo = carry(jar);
    // Instance two never saw this login: it reads the identity from the store (groups, country and all).
    const there = await fetchWithJar(toTwo, two.url, `${two.url}/cdn-cgi/access/get-identity`);
    expect(there.status).toBe(200);
    const here = await fetchWithJar(jar, one.url, `${one.url}/cdn-cgi/access/get-identity`);
    const body = (await there.response.json()) as Record<string, unknown>;
    expect(body).toEqual(await here.response.json());
    expect(body).toMatchObject({ email: 'fay@contoso.com', name: 'Fay', groups: [{ id: group }], geo: { country: 'FR' } });
    expect(await me(toTwo, two)).toEqual({ status: 200 });

    const heard = nextChange(b, (c) => c.resourceType === 'Identity' && c.origin === 'remote');
    const out = await fetchWithJar(jar, one.url, `${one.url}/auth/logout`, { 'sec-fetch-site': 'same-origin' });
    expect(out.status).toBe(302);
    await heard;
    expect(await me(toTwo, two)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
  });

  it('a revocation made on one instance is honoured by another', async () => {
    const { a, b, one, two } = await twoInstances();
    const oid = randomUUID();
    const jar = await signIn(one, oid, 'dan@contoso.com');
    // The cookie from instance one works on instance two.
    const toTwo = carry(jar);
    expect(await me(toTwo, two)).toEqual({ status: 200 });

    const seen = nextChange(b, (c) => c.resourceType === 'Revocation' && c.origin === 'remote');
    await one.login.revokeUser(oid);
    const change = await seen;
    expect(change.revocation).toMatchObject({ subjects: [oid] });
    expect(await me(toTwo, two)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });

    // Per app, too.
    const pid = randomUUID();
    const later = await signIn(two, pid, 'eli@contoso.com');
    const toOne = carry(later);
    expect(await me(toOne, one)).toEqual({ status: 200 });
    const appSeen = nextChange(a, (c) => c.resourceType === 'Revocation' && c.origin === 'remote');
    await two.login.revokeApp();
    await appSeen;
    expect(await me(toOne, one)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
  });
});
