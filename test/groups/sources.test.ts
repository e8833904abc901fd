import { describe, expect, it } from 'vitest';
import { createDirectoryIndex } from '../../src/directory/index.js';
import { ConfigError, GroupsError } from '../../src/errors/index.js';
import {
  createDirectoryGroupSource,
  createGroupSourceChain,
  createTokenGroupSource,
  resolveGroups,
  type GroupResolution,
  type GroupSource,
} from '../../src/groups/index.js';
import { HASGROUPS_CLAIMS, V1_OVERAGE_CLAIMS, V2_OVERAGE_CLAIMS, identity } from './identity-fixtures.js';

const G1 = 'f448435d-3ca7-4073-8152-a1fd73c0fd09';
const G2 = '93670da6-d731-4366-94b5-abed40b6016b';

function fixed(name: string, resolution: GroupResolution): GroupSource & { calls: number } {
  const source = {
    name,
    calls: 0,
    resolve: () => {
      source.calls++;
      return Promise.resolve(resolution);
    },
  };
  return source;
}

describe('createTokenGroupSource', () => {
  const source = createTokenGroupSource();

  it('answers the v2 groups claim as is, complete, deduplicated', async () => {
    const claims = { oid: 'x', groups: [G1, G2, G1], ver: '2.0' };
    await expect(source.resolve(identity({ ver: '2.0' }), { claims })).resolves.toEqual({
      groups: [{ id: G1 }, { id: G2 }],
      membership: { state: 'complete', source: 'token', fields: ['id'] },
    });
  });

  it('answers the v1 groups claim as is', async () => {
    const claims = { ...V1_OVERAGE_CLAIMS, _claim_names: undefined, _claim_sources: undefined, groups: [G2] };
    const result = await source.resolve(identity(), { claims });
    expect(result).toEqual({ groups: [{ id: G2 }], membership: { state: 'complete', source: 'token', fields: ['id'] } });
  });

  it('answers an empty groups claim as complete with no groups (the user is in none)', async () => {
    await expect(source.resolve(identity(), { claims: { groups: [] } })).resolves.toEqual({
      groups: [],
      membership: { state: 'complete', source: 'token', fields: ['id'] },
    });
  });

  it('reports v1 overage (`_claim_names` with a graph.windows.net source) without calling it', async () => {
    const result = await source.resolve(identity(), { claims: V1_OVERAGE_CLAIMS });
    expect(result).toEqual({ groups: [], membership: { state: 'overage', signal: 'claim_names' } });
  });

  it('reports v2 overage (`_claim_names`)', async () => {
    const result = await source.resolve(identity({ ver: '2.0' }), { claims: V2_OVERAGE_CLAIMS });
    expect(result.membership).toEqual({ state: 'overage', signal: 'claim_names' });
  });

  it('reports implicit-flow overage (`hasgroups: true`)', async () => {
    const result = await source.resolve(identity(), { claims: HASGROUPS_CLAIMS });
    expect(result.membership).toEqual({ state: 'overage', signal: 'hasgroups' });
  });

  it('reports absent when the token carries no group claim and the identity knows nothing', async () => {
    const result = await source.resolve(identity(), { claims: { oid: 'x', ver: '2.0' } });
    expect(result).toEqual({ groups: [], membership: { state: 'absent' } });
  });

  it('falls back to the identity when the claims hold nothing about groups', async () => {
    const id = identity({ groups: [{ id: G1 }], membership: { state: 'complete', source: 'token' } });
    const result = await source.resolve(id, { claims: {} });
    expect(result).toEqual({ groups: [{ id: G1 }], membership: { state: 'complete', source: 'token' } });
  });

  it('reads `roles` when groups are emitted as roles', async () => {
    const roles = createTokenGroupSource({ claim: 'roles' });
    const result = await roles.resolve(identity(), { claims: { roles: [G1] } });
    expect(result).toEqual({ groups: [{ id: G1 }], membership: { state: 'complete', source: 'token', fields: ['id'] } });
  });

  it('rejects an unknown option at construction', () => {
    expect(() => createTokenGroupSource({ claim: 'wids' } as never)).toThrow(ConfigError);
    try {
      createTokenGroupSource({ extra: true } as never);
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
      expect((err as ConfigError).message).toMatch(/^invalid token group source configuration/);
    }
  });
});

describe('createGroupSourceChain', () => {
  it('returns the first complete answer and does not ask further sources', async () => {
    const second = fixed('directory', { groups: [{ id: G2 }], membership: { state: 'complete', source: 'directory' } });
    const chain = createGroupSourceChain([createTokenGroupSource(), second]);
    const result = await chain.resolve(identity(), { claims: { groups: [G1] } });
    expect(result.groups).toEqual([{ id: G1 }]);
    expect(second.calls).toBe(0);
    expect(chain.name).toBe('token>directory');
  });

  it('hands an overage token to the next source', async () => {
    const second = fixed('graph', { groups: [{ id: G2, name: 'Devs' }], membership: { state: 'complete', source: 'graph' } });
    const chain = createGroupSourceChain([createTokenGroupSource(), second]);
    const result = await chain.resolve(identity(), { claims: V1_OVERAGE_CLAIMS });
    expect(result).toEqual({ groups: [{ id: G2, name: 'Devs' }], membership: { state: 'complete', source: 'graph' } });
    expect(second.calls).toBe(1);
  });

  it('answers unknown with every reason joined when no source completes (never zero groups)', async () => {
    const failing = fixed('graph', {
      groups: [],
      membership: { state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph: 503 after 4 attempts' },
    });
    const throwing: GroupSource = {
      name: 'directory',
      resolve: () => Promise.reject(new GroupsError('ERR_GROUPS_UNAVAILABLE', 'directory offline')),
    };
    const chain = createGroupSourceChain([createTokenGroupSource(), failing, throwing]);
    const result = await chain.resolve(identity(), { claims: HASGROUPS_CLAIMS });
    expect(result.groups).toEqual([]);
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GROUPS_UNAVAILABLE',
      reason: 'token: groups overage (`hasgroups`); graph: graph: 503 after 4 attempts; directory: directory offline',
    });
  });

  it('keeps the code of the last failing source', async () => {
    const failing = fixed('graph', { groups: [], membership: { state: 'unknown', code: 'ERR_GRAPH_FORBIDDEN', reason: 'forbidden' } });
    const chain = createGroupSourceChain([createTokenGroupSource(), failing]);
    const result = await chain.resolve(identity(), { claims: V2_OVERAGE_CLAIMS });
    expect(result.membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_FORBIDDEN', reason: 'token: groups overage (`_claim_names`); graph: forbidden' });
  });

  it('does not repeat a foreign error message (it might hold a secret)', async () => {
    const throwing: GroupSource = { name: 'custom', resolve: () => Promise.reject(new TypeError('token eyJhbGciOi… leaked')) };
    const result = await createGroupSourceChain([throwing]).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({ state: 'unknown', code: 'ERR_GROUPS_UNAVAILABLE', reason: 'custom: source threw `TypeError`' });
  });

  it('treats a malformed answer as a failure', async () => {
    const broken = { name: 'broken', resolve: () => Promise.resolve({ groups: 'all' }) } as unknown as GroupSource;
    const result = await createGroupSourceChain([broken]).resolve(identity(), { claims: {} });
    expect(result.membership).toMatchObject({ state: 'unknown', reason: 'broken: returned no group resolution' });
  });

  it('checks a mutable answer again on every call, and a frozen one once (it cannot change after the check)', async () => {
    const refs: { id: unknown }[] = [{ id: G1 }];
    const mutable = fixed('mutable', { groups: refs as GroupResolution['groups'], membership: { state: 'complete', source: 'directory' } });
    const chain = createGroupSourceChain([mutable]);
    // Positive control: well formed, it is the membership.
    expect((await chain.resolve(identity(), { claims: {} })).groups).toEqual([{ id: G1 }]);
    refs.push({ id: 42 });
    expect((await chain.resolve(identity(), { claims: {} })).membership).toMatchObject({ state: 'unknown', reason: 'mutable: returned no group resolution' });
    const frozenRefs = Object.freeze([Object.freeze({ id: G1 }), Object.freeze({ id: G2 })]) as unknown as GroupResolution['groups'];
    const frozen = createGroupSourceChain([fixed('frozen', { groups: frozenRefs, membership: { state: 'complete', source: 'directory' } })]);
    for (let i = 0; i < 3; i++) expect((await frozen.resolve(identity(), { claims: {} })).groups).toBe(frozenRefs);
  });

  it('refuses an empty chain at construction', () => {
    expect(() => createGroupSourceChain([])).toThrow(/a chain needs at least one source/);
    expect(() => createGroupSourceChain([{ name: 'x' } as never])).toThrow(ConfigError);
  });
});

describe('createDirectoryGroupSource', () => {
  function directory() {
    const index = createDirectoryIndex();
    index.upsertUser({
      id: 'u1',
      externalId: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
      userName: 'suwatch@microsoft.com',
      emails: ['suwatch@microsoft.com'],
      active: true,
    });
    index.upsertUser({ id: 'u2', externalId: 'suwatch2', userName: 'Other@Microsoft.com', emails: ['alias@microsoft.com'], active: true });
    index.upsertUser({ id: 'u3', userName: 'gone@microsoft.com', emails: [], active: false });
    index.upsertGroup({ id: 'g1', externalId: G1, displayName: 'Devs' });
    index.upsertGroup({ id: 'g2', externalId: G2, displayName: 'US devs' });
    index.addMember('g1', 'g2');
    index.addMember('g2', 'g1'); // a cycle
    index.addMember('g2', 'u1');
    index.addMember('g2', 'u2');
    index.addMember('g1', 'u3');
    return index;
  }

  const HOME = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const OTHER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
  /** What the gate passes: the claims and its home tenant. */
  const home = (claims: Record<string, unknown> = {}) => ({ claims, homeTenant: HOME });

  it('answers the user’s nested groups by Entra object id, matched by oid, with ids and names known', async () => {
    const source = createDirectoryGroupSource({ index: directory() });
    const result = await source.resolve(identity(), home());
    expect(result.membership).toEqual({ state: 'complete', source: 'directory', fields: ['id', 'name'] });
    expect(source.fields).toEqual(['id', 'name']);
    expect(result.groups.map((g) => g.id).sort()).toEqual([G1, G2].sort());
    expect(result.groups).toContainEqual({ id: G1, name: 'Devs' });
    // The index's shared answer: the same frozen array while nothing changed (the pipeline reuses identities on it).
    expect((await source.resolve(identity(), home())).groups).toBe(result.groups);
    expect(Object.isFrozen(result.groups)).toBe(true);
  });

  it('falls back to the UPN claim against userName, case-insensitively, for a user of its own tenant', async () => {
    const source = createDirectoryGroupSource({ index: directory() });
    const id = identity({ oid: '00000000-0000-0000-0000-000000000001', email: 'x@y.z' });
    const result = await source.resolve(id, home({ preferred_username: 'OTHER@microsoft.com' }));
    expect(result.membership.state).toBe('complete');
    expect(result.groups).toHaveLength(2);
  });

  it('falls back to the email, unless told not to', async () => {
    const id = identity({ oid: '00000000-0000-0000-0000-000000000001', email: 'ALIAS@microsoft.com' });
    const both = await createDirectoryGroupSource({ index: directory() }).resolve(id, home());
    expect(both.membership.state).toBe('complete');
    const noEmail = await createDirectoryGroupSource({ index: directory(), match: ['oid', 'userName'] }).resolve(id, home());
    expect(noEmail.membership).toEqual({
      state: 'unknown',
      code: 'ERR_DIRECTORY_USER_UNKNOWN',
      reason: 'user not in directory: oid `00000000-0000-0000-0000-000000000001`',
    });
  });

  it('regression: another tenant’s user carrying the victim’s email or UPN gets nothing, even without `tenantId` (multi-tenant gate)', async () => {
    // u2 (`Other@Microsoft.com`, alias@microsoft.com) was provisioned with Entra's default mapping: its
    // externalId is the mailNickname, not a GUID, so the nOAuth object-id check cannot catch the impostor.
    const source = createDirectoryGroupSource({ index: directory() });
    const impostor = identity({ tid: OTHER_TENANT, oid: '0b0b0b0b-0000-4000-8000-000000000009', email: 'alias@microsoft.com' });
    const result = await source.resolve(impostor, home({ preferred_username: 'other@microsoft.com' }));
    expect(result.groups).toEqual([]);
    expect(result.membership).toMatchObject({ state: 'unknown', code: 'ERR_DIRECTORY_USER_UNKNOWN' });
    expect(source.standing!(impostor, home())).toEqual({ state: 'unheld' });
    // Without a known tenant at all (no `tenantId`, no gate), mutable attributes never match.
    const victim = identity({ oid: '00000000-0000-0000-0000-000000000001', email: 'alias@microsoft.com' });
    expect((await source.resolve(victim, { claims: {} })).membership.state).toBe('unknown');
    // Positive controls: the victim of its own tenant matches by email; the object id matches from anywhere.
    expect((await source.resolve(victim, home())).membership.state).toBe('complete');
    const byOid = identity({ tid: OTHER_TENANT, email: 'whoever@fabrikam.com' });
    expect((await source.resolve(byOid, { claims: {} })).membership.state).toBe('complete');
  });

  it('answers unknown (not "no groups") for a user the directory does not hold', async () => {
    const id = identity({ oid: '11111111-2222-3333-4444-555555555555', email: 'stranger@contoso.com' });
    const result = await createDirectoryGroupSource({ index: directory() }).resolve(id, home());
    expect(result.groups).toEqual([]);
    expect(result.membership).toMatchObject({ state: 'unknown', code: 'ERR_DIRECTORY_USER_UNKNOWN' });
  });

  it('answers unknown for an inactive user, and refuses them in its standing', async () => {
    const source = createDirectoryGroupSource({ index: directory() });
    const id = identity({ oid: '', email: 'gone@microsoft.com' });
    const result = await source.resolve(id, home());
    expect(result).toEqual({ groups: [], membership: { state: 'unknown', code: 'ERR_DIRECTORY_USER_INACTIVE', reason: 'user inactive: directory user `u3`' } });
    expect(source.standing!(id, home())).toEqual({
      state: 'refused',
      code: 'ERR_DIRECTORY_USER_INACTIVE',
      reason: 'the directory holds this user as inactive (directory user `u3`)',
    });
    expect(source.standing!(identity(), home())).toEqual({ state: 'active' });
  });

  it('refuses a user the directory remembers as deleted (a tombstone)', async () => {
    const index = directory();
    index.upsertUser({
      id: 't1',
      externalId: '7e1c0a55-0000-4000-8000-00000000dead',
      userName: 'left@microsoft.com',
      emails: [],
      active: false,
      deleted: true,
    });
    const source = createDirectoryGroupSource({ index });
    const leaver = identity({ oid: '7e1c0a55-0000-4000-8000-00000000dead', email: 'left@microsoft.com' });
    expect(source.standing!(leaver, home())).toMatchObject({
      state: 'refused',
      code: 'ERR_DIRECTORY_USER_INACTIVE',
      reason: expect.stringContaining('deleted'),
    });
    expect((await source.resolve(leaver, home())).membership).toMatchObject({ state: 'unknown', reason: 'user deleted: directory user `t1`' });
  });

  it('answers unknown with a 503 code, and an unknown standing, while the store may be stale', async () => {
    let fresh = false;
    const source = createDirectoryGroupSource({ store: { index: directory(), isFresh: () => fresh } });
    expect((await source.resolve(identity(), home())).membership).toMatchObject({ state: 'unknown', code: 'ERR_STORE_STALE' });
    expect(source.standing!(identity(), home())).toMatchObject({ state: 'unknown', code: 'ERR_STORE_STALE' });
    fresh = true;
    expect((await source.resolve(identity(), home())).membership.state).toBe('complete');
    expect(source.standing!(identity(), home())).toEqual({ state: 'active' });
  });

  it('regression: a user matched by email or UPN whose directory object id is another Entra object is refused (nOAuth)', async () => {
    // u1 is provisioned with its Entra object id; a token of another object claims u1's email and UPN.
    const attacker = identity({ oid: '0b0b0b0b-0000-4000-8000-000000000001', email: 'suwatch@microsoft.com' });
    const result = await createDirectoryGroupSource({ index: directory() }).resolve(attacker, home({ preferred_username: 'suwatch@microsoft.com' }));
    expect(result).toEqual({
      groups: [],
      membership: {
        state: 'unknown',
        code: 'ERR_DIRECTORY_USER_UNKNOWN',
        reason: 'directory user `u1` is another entra object: oid `0b0b0b0b-0000-4000-8000-000000000001`',
      },
    });
  });

  it('with tenantId, a token of another tenant is matched by object id only', async () => {
    const source = createDirectoryGroupSource({ index: directory(), tenantId: '72F988BF-86F1-41AF-91AB-2D7CD011DB47' });
    await expect(source.resolve(identity(), { claims: {} })).resolves.toMatchObject({ membership: { state: 'complete', source: 'directory' } });
    const foreign = identity({ tid: OTHER_TENANT, oid: '0b0b0b0b-0000-4000-8000-000000000002', email: 'alias@microsoft.com' });
    await expect(source.resolve(foreign, { claims: {}, homeTenant: OTHER_TENANT })).resolves.toEqual({
      groups: [],
      membership: {
        state: 'unknown',
        code: 'ERR_DIRECTORY_USER_UNKNOWN',
        reason:
          'user not in directory: oid `0b0b0b0b-0000-4000-8000-000000000002` of tenant `9188040d-6c67-4c5b-b112-36a304b66dad` matches no directory object id',
      },
    });
    expect(() => createDirectoryGroupSource({ index: directory(), tenantId: 'contoso' })).toThrow(/invalid directory group source configuration/);
  });

  it('refuses a missing index at construction', () => {
    expect(() => createDirectoryGroupSource({} as never)).toThrow(ConfigError);
    expect(() => createDirectoryGroupSource({ index: directory(), store: { index: directory() } })).toThrow('give exactly one of `store` and `index`');
    expect(() => createDirectoryGroupSource({ index: directory(), match: [] })).toThrow(/invalid directory group source configuration/);
  });
});

describe('resolveGroups', () => {
  it('returns a new identity with groups and membership filled', async () => {
    const before = identity({ membership: { state: 'overage', signal: 'claim_names' } });
    const source = fixed('graph', { groups: [{ id: G1 }], membership: { state: 'complete', source: 'graph' } });
    const after = await resolveGroups(before, source, { claims: V1_OVERAGE_CLAIMS });
    expect(after).not.toBe(before);
    expect(after.groups).toEqual([{ id: G1 }]);
    expect(after.membership).toEqual({ state: 'complete', source: 'graph' });
    expect(after.email).toBe(before.email);
    expect(before.membership).toEqual({ state: 'overage', signal: 'claim_names' });
  });

  it('turns a throwing source into unknown with the reason', async () => {
    const throwing: GroupSource = { name: 'graph', resolve: () => Promise.reject(new GroupsError('ERR_GRAPH_REQUEST_FAILED', 'graph down')) };
    const after = await resolveGroups(identity(), throwing);
    expect(after.membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph: graph down' });
    expect(after.groups).toEqual([]);
  });
});
