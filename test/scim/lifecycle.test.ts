import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirectoryStore, SCIM_CHANGE_CHANNEL, type DirectoryChange, type DirectoryStore } from '../../src/store/index.js';
import { SECRET, startScimServer, type ScimServer } from './helpers.js';

const T0 = Date.UTC(2025, 0, 1) / 1000;
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('provisioning lifecycle (Cloudflare scim_config)', () => {
  let clock = T0 * 1000;
  let store: DirectoryStore;
  const servers: ScimServer[] = [];
  const events: DirectoryChange[] = [];
  const published: unknown[] = [];
  const onPublish = (m: unknown): void => void published.push(m);

  const server = async (scimConfig: Record<string, unknown>): Promise<ScimServer> => {
    const s = await startScimServer({ store, basePath: '/scim/v2', scimConfig, onEvent: (e) => events.push(e) });
    servers.push(s);
    return s;
  };
  const user = async (s: ScimServer, name: string): Promise<any> =>
    (
      await s.request('POST', '/Users', {
        userName: `${name}@contoso.com`,
        externalId: `OID-${name}`,
        emails: [{ type: 'work', value: `${name}.mail@contoso.com` }],
      })
    ).json;
  const subjects = (name: string): string[] => [`${name}@contoso.com`, `oid-${name}`, `${name}.mail@contoso.com`];
  // Exact seconds (no clock tolerance): the boundary of a revocation, as the store keeps it.
  const revokedAt = (name: string, issuedAt: number): boolean | 'unknown' =>
    store.revocations.isRevoked({ subjects: [`OID-${name}`], issuedAt, toleranceSeconds: 0 });

  beforeAll(async () => {
    store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://', now: () => clock });
    diagnostics.subscribe(SCIM_CHANGE_CHANNEL, onPublish);
  });
  afterAll(async () => {
    diagnostics.unsubscribe(SCIM_CHANGE_CHANNEL, onPublish);
    for (const s of servers) await s.close();
    await store?.close();
  });

  it('user_deprovision: disabling with "False" revokes sessions issued at or before now, under externalId, userName and emails', async () => {
    const s = await server({ user_deprovision: true });
    const ada = await user(s, 'ada');
    clock += 5000;
    const res = await s.request('PATCH', `/Users/${ada.id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(res.status).toBe(200);
    const now = T0 + 5;
    for (const subject of subjects('ada')) {
      expect(store.revocations.isRevoked({ subjects: [subject.toUpperCase()], issuedAt: now - 60, toleranceSeconds: 0 })).toBe(true);
      expect(store.revocations.isRevoked({ subjects: [subject], issuedAt: now, toleranceSeconds: 0 })).toBe(true);
      expect(store.revocations.isRevoked({ subjects: [subject], issuedAt: now + 1, toleranceSeconds: 0 })).toBe(false);
    }
    const change = events.at(-1)!;
    expect(change).toMatchObject({ resourceType: 'User', resourceId: ada.id, operation: 'patch', origin: 'local', changedAttributes: ['active'] });
    expect(change.revocation).toEqual({ subjects: expect.arrayContaining(subjects('ada')), notBefore: now, reason: 'user_deprovision' });
    expect(published).toContainEqual(change);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect(JSON.stringify(events)).not.toContain('"value"'); // attribute names, never the body
    // Re-enabling does not lift the revocation of old sessions; new logins pass.
    await s.request('PATCH', `/Users/${ada.id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect(revokedAt('ada', now - 1)).toBe(true);
    expect(revokedAt('ada', now + 10)).toBe(false);
  });

  it('user_deprovision: deleting a user revokes; without it nothing is revoked', async () => {
    const on = await server({ user_deprovision: true });
    const off = await server({});
    const bob = await user(on, 'bob');
    const cat = await user(off, 'cat');
    clock += 1000;
    expect((await on.request('DELETE', `/Users/${bob.id}`)).status).toBe(204);
    expect((await off.request('PATCH', `/Users/${cat.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(
      200,
    );
    expect((await off.request('DELETE', `/Users/${cat.id}`)).status).toBe(204);
    expect(revokedAt('bob', clock / 1000 - 1)).toBe(true);
    expect(revokedAt('cat', clock / 1000 - 1)).toBe(false);
  });

  it('seat_deprovision: deactivation also removes the record', async () => {
    const s = await server({ user_deprovision: true, seat_deprovision: true });
    const dan = await user(s, 'dan');
    const res = await s.request('PATCH', `/Users/${dan.id}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'active', value: 'False' }] });
    expect(res.status).toBe(204);
    expect((await s.request('GET', `/Users/${dan.id}`)).status).toBe(404);
    // The directory remembers the seat it removed (a tombstone): the identity pipeline refuses Dan, not "unknown".
    expect(store.index.getUser(dan.id)).toMatchObject({ active: false, deleted: true });
    expect(events.at(-1)).toMatchObject({ seatRemoved: true, revocation: { reason: 'user_deprovision' } });
    expect(revokedAt('dan', clock / 1000)).toBe(true);
  });

  it('reauth: a direct or nested membership change revokes the affected users only; no_action revokes nobody', async () => {
    const s = await server({ identity_update_behavior: 'reauth' });
    const quiet = await server({ identity_update_behavior: 'no_action' });
    const eve = await user(s, 'eve');
    const fay = await user(s, 'fay');
    const gus = await user(s, 'gus');
    const parent = (await s.request('POST', '/Groups', { displayName: 'parent' })).json;
    const child = (await s.request('POST', '/Groups', { displayName: 'child' })).json;
    const add = (srv: ScimServer, g: string, id: string) =>
      srv.request('PATCH', `/Groups/${g}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }] });
    clock += 10_000;
    const t1 = clock / 1000;
    expect((await add(s, child.id, eve.id)).status).toBe(204);
    expect(revokedAt('eve', t1)).toBe(true);
    expect(revokedAt('fay', t1)).toBe(false);
    expect(events.at(-1)).toMatchObject({ members: { added: [eve.id], removed: [] }, revocation: { reason: 'reauth' } });
    clock += 10_000;
    const t2 = clock / 1000;
    // Nested: eve gains `parent` through `child`, so her sessions are revoked too.
    expect((await add(s, parent.id, child.id)).status).toBe(204);
    expect(revokedAt('eve', t2)).toBe(true);
    expect(revokedAt('gus', t2)).toBe(false);
    clock += 10_000;
    expect((await add(quiet, child.id, fay.id)).status).toBe(204);
    expect(revokedAt('fay', clock / 1000)).toBe(false);
    expect(
      store.index
        .groupsOfUser(fay.id)
        .map((g) => g.name)
        .sort(),
    ).toEqual(['child', 'parent']);
    clock += 10_000;
    expect(
      (await s.request('PATCH', `/Groups/${child.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${fay.id}"]` }] })).status,
    ).toBe(204);
    expect(revokedAt('fay', clock / 1000)).toBe(true);
    expect(revokedAt('gus', clock / 1000)).toBe(false);
  });

  it("the gate's deprecated group_member_deprovision: true revokes as reauth does; identity_update_behavior wins when it says more", async () => {
    const legacy = await server({ group_member_deprovision: true });
    const explicit = await server({ group_member_deprovision: true, identity_update_behavior: 'automatic' });
    const hal = await user(legacy, 'hal');
    const ivy = await user(legacy, 'ivy');
    const g = (await legacy.request('POST', '/Groups', { displayName: 'legacy' })).json;
    clock += 10_000;
    expect(
      (await legacy.request('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: hal.id }] }] })).status,
    ).toBe(204);
    expect(revokedAt('hal', clock / 1000)).toBe(true);
    clock += 10_000;
    expect(
      (await explicit.request('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: ivy.id }] }] }))
        .status,
    ).toBe(204);
    expect(revokedAt('ivy', clock / 1000)).toBe(false);
  });

  it('revokeUser, revokeApp and isRevoked with the >= boundary', async () => {
    await store.revocations.revokeUser(['Zed@Contoso.com'], T0 + 100);
    await store.revocations.revokeApp('App-1', T0 + 200);
    expect(store.revocations.isRevoked({ subjects: ['zed@contoso.com'], issuedAt: T0 + 100, toleranceSeconds: 0 })).toBe(true);
    expect(store.revocations.isRevoked({ subjects: ['zed@contoso.com'], issuedAt: T0 + 101, toleranceSeconds: 0 })).toBe(false);
    expect(store.revocations.isRevoked({ subjects: ['someone'], appId: 'app-1', issuedAt: T0 + 200, toleranceSeconds: 0 })).toBe(true);
    expect(store.revocations.isRevoked({ subjects: ['someone'], appId: 'app-1', issuedAt: T0 + 201, toleranceSeconds: 0 })).toBe(false);
    expect(store.revocations.isRevoked({ subjects: ['someone'], issuedAt: Number.NaN, toleranceSeconds: 0 })).toBe(true);
    await store.revocations.revokeUser(['zed@contoso.com'], T0 + 50);
    expect(store.revocations.isRevoked({ subjects: ['zed@contoso.com'], issuedAt: T0 + 100, toleranceSeconds: 0 })).toBe(true);
    await expect(store.revocations.revokeUser(['x'], 1.5)).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'revocation `notBefore` must be Unix seconds, got `1.5`',
    });
    expect(events.filter((e) => e.resourceType === 'Revocation')).toHaveLength(0);
    expect(published.filter((e) => (e as DirectoryChange).resourceType === 'Revocation')).toHaveLength(3);
  });
});
