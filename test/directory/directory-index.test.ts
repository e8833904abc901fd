import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { userNameKey } from '../../src/directory/index.js';
import { createDirectoryIndex } from '../../src/directory/index.js';
import type { DirectoryGroup, DirectoryIndex, DirectoryUser } from '../../src/directory/index.js';

function user(id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser {
  return { id, userName: `${id}@contoso.com`, emails: [`${id}@contoso.com`], active: true, ...extra };
}

function group(id: string, extra: Partial<DirectoryGroup> = {}): DirectoryGroup {
  return { id, displayName: `Group ${id}`, ...extra };
}

const ids = (refs: readonly { id: string }[]) => refs.map((r) => r.id).sort();

describe('createDirectoryIndex', () => {
  it('expands nested groups transitively and names groups by their Entra object id', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1'));
    index.upsertGroup(group('devs', { externalId: 'oid-devs', displayName: 'Devs', email: 'devs@contoso.com' }));
    index.upsertGroup(group('us-devs', { displayName: 'US devs' }));
    index.addMember('devs', 'us-devs');
    index.addMember('us-devs', 'u1');

    const refs = index.groupsOfUser('u1');
    expect(ids(refs)).toEqual(['oid-devs', 'us-devs']);
    expect(refs.find((r) => r.id === 'oid-devs')).toEqual({ id: 'oid-devs', name: 'Devs', email: 'devs@contoso.com' });
    expect(refs.find((r) => r.id === 'us-devs')).toEqual({ id: 'us-devs', name: 'US devs' });
    expect(index.usersInGroup('devs')).toEqual(['u1']);
    expect(index.size).toEqual({ users: 1, groups: 2, memberships: 2 });
  });

  it('tolerates a cycle: each group appears once and every member of the cycle gets all of it', () => {
    const index = createDirectoryIndex();
    for (const id of ['a', 'b', 'c', 'top']) index.upsertGroup(group(id));
    index.upsertUser(user('u1'));
    index.upsertUser(user('u2'));
    index.addMember('a', 'b');
    index.addMember('b', 'c');
    index.addMember('c', 'a');
    index.addMember('top', 'a');
    index.addMember('c', 'c');
    index.addMember('c', 'u1');
    index.addMember('a', 'u2');

    expect(ids(index.groupsOfUser('u1'))).toEqual(['a', 'b', 'c', 'top']);
    expect(ids(index.groupsOfUser('u2'))).toEqual(['a', 'b', 'c', 'top']);
    expect([...index.usersInGroup('b')].sort()).toEqual(['u1', 'u2']);

    // Breaking the cycle (c is no longer in b): c only reaches itself, a loses b.
    index.removeMember('b', 'c');
    expect(ids(index.groupsOfUser('u1'))).toEqual(['c']);
    expect(ids(index.groupsOfUser('u2'))).toEqual(['a', 'c', 'top']);
  });

  it('answers from the cache until a change touches the user, then recomputes', () => {
    const index = createDirectoryIndex();
    index.upsertGroup(group('g1'));
    index.upsertGroup(group('g2'));
    index.upsertUser(user('u1'));
    index.addMember('g1', 'u1');
    const first = index.groupsOfUser('u1');
    expect(index.groupsOfUser('u1')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);

    index.addMember('g2', 'g1');
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1', 'g2']);
    index.upsertGroup(group('g2', { externalId: 'oid-2', displayName: 'Renamed' }));
    expect(index.groupsOfUser('u1')).toContainEqual({ id: 'oid-2', name: 'Renamed' });
    index.removeGroup('g2');
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1']);
    index.removeUser('u1');
    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(index.size).toEqual({ users: 0, groups: 1, memberships: 0 });
  });

  it('keeps every closure right while nesting changes churn them (the closure pool is compacted on the way)', () => {
    const index = createDirectoryIndex();
    const chain = 150;
    index.upsertGroup(group('top'));
    for (let i = 0; i < chain; i++) {
      index.upsertGroup(group(`c${i}`));
      if (i > 0) index.addMember(`c${i - 1}`, `c${i}`);
      index.upsertUser(user(`u${i}`));
      index.addMember(`c${i}`, `u${i}`);
    }
    for (let round = 0; round < 40; round++) {
      // Each toggle drops every closure of the chain: ~11,000 pool entries recomputed per round.
      if (round % 2 === 0) index.addMember('top', 'c0');
      else index.removeMember('top', 'c0');
      const extra = round % 2 === 0 ? 1 : 0;
      for (let i = 0; i < chain; i++) {
        const refs = index.groupsOfUser(`u${i}`);
        expect(refs).toHaveLength(i + 1 + extra);
        expect(refs[0]?.id).toBe(`c${i}`);
      }
    }
    expect(ids(index.groupsOfUser('u74'))).toEqual(Array.from({ length: 75 }, (_, i) => `c${i}`).sort());
  });

  it('keeps a membership that arrives before its user or group and applies it when both exist', () => {
    const index = createDirectoryIndex();
    index.addMember('g1', 'u1');
    index.addMember('g2', 'g1');
    expect(index.size.memberships).toBe(0);
    index.upsertUser(user('u1'));
    index.upsertGroup(group('g1'));
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1']);
    index.upsertGroup(group('g2'));
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1', 'g2']);
    expect(index.size.memberships).toBe(2);
  });

  it('replaces a group’s direct members with setMembers', () => {
    const index = createDirectoryIndex();
    for (const id of ['u1', 'u2', 'u3']) index.upsertUser(user(id));
    index.upsertGroup(group('g'));
    index.upsertGroup(group('child'));
    index.setMembers('g', ['u1', 'u2', 'child']);
    expect([...index.directMembers('g')].sort()).toEqual(['child', 'u1', 'u2']);
    index.setMembers('g', ['u2', 'u3']);
    expect([...index.directMembers('g')].sort()).toEqual(['u2', 'u3']);
    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(index.size.memberships).toBe(2);
  });

  it('looks users up by object id, userName and email, case-insensitively, in that order', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1', { externalId: 'A62060DA-1AE3-44EB-8988-1197A68FF41E', userName: 'Ada@Contoso.com', emails: ['ADA.Lovelace@contoso.com'] }));
    index.upsertUser(user('u2', { userName: 'grace@contoso.com', emails: ['grace@contoso.com'] }));

    expect(index.findUser({ oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e' })?.id).toBe('u1');
    expect(index.findUser({ userName: 'ada@CONTOSO.com' })?.id).toBe('u1');
    expect(index.findUser({ email: 'ada.lovelace@CONTOSO.COM' })?.id).toBe('u1');
    expect(index.findUser({ oid: 'unknown', userName: 'GRACE@contoso.com' })?.id).toBe('u2');
    expect(index.findUser({ oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e', userName: 'grace@contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ email: 'nobody@contoso.com' })).toBeUndefined();

    // Renaming moves the keys.
    index.upsertUser(user('u1', { userName: 'ada.l@contoso.com', emails: [] }));
    expect(index.findUser({ userName: 'ada@contoso.com' })).toBeUndefined();
    expect(index.findUser({ oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e' })).toBeUndefined();
    expect(index.findUser({ userName: 'ADA.L@contoso.com' })?.id).toBe('u1');
  });

  it('folds case beyond ASCII in both directions (a key without ASCII capitals is not assumed lowercase)', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1', { userName: 'ÖZLEM@contoso.com', emails: ['jürgen@contoso.com'] }));
    expect(index.findUser({ userName: 'özlem@contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ userName: 'Özlem@Contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ email: 'JÜRGEN@contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ email: 'jÜrgen@contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ email: 'jurgen@contoso.com' })).toBeUndefined();
  });

  it('answers no user for an email two users share (fail closed, never an arbitrary pick)', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1', { emails: ['team@contoso.com'] }));
    index.upsertUser(user('u2', { emails: ['Team@contoso.com'] }));
    expect(index.findUser({ email: 'team@contoso.com' })).toBeUndefined();
    index.removeUser('u2');
    expect(index.findUser({ email: 'TEAM@contoso.com' })?.id).toBe('u1');
  });

  it('finds a user who lists one address twice in different cases, and forgets it once on rename', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1', { emails: ['Ada@contoso.com', 'ada@CONTOSO.com'] }));
    expect(index.findUser({ email: 'ADA@contoso.com' })?.id).toBe('u1');
    index.upsertUser(user('u1', { emails: ['lovelace@contoso.com'] }));
    expect(index.findUser({ email: 'ada@contoso.com' })).toBeUndefined();
    expect(index.findUser({ email: 'Lovelace@contoso.com' })?.id).toBe('u1');
  });

  it('looks groups up by id, object id or display name, case-insensitively', () => {
    const index = createDirectoryIndex();
    index.upsertGroup(group('g1', { externalId: '5F1C0000-0000-0000-0000-000000000001', displayName: 'Devs' }));
    expect(index.findGroup({ id: 'g1' })?.displayName).toBe('Devs');
    expect(index.findGroup({ externalId: '5f1c0000-0000-0000-0000-000000000001' })?.id).toBe('g1');
    expect(index.findGroup({ displayName: 'DEVS' })?.id).toBe('g1');
    expect(index.findGroup({ displayName: 'ops' })).toBeUndefined();
    expect(index.getGroup('g1')?.externalId).toBe('5F1C0000-0000-0000-0000-000000000001');
    expect(index.getGroup('nope')).toBeUndefined();
  });

  it('bulk-loads a snapshot with the same answers as incremental adds', () => {
    const snapshot = {
      users: [user('u1'), user('u2')],
      groups: [group('a'), group('b'), group('c')],
      memberships: [
        { groupId: 'a', memberId: 'b' },
        { groupId: 'b', memberId: 'c' },
        { groupId: 'c', memberId: 'a' },
        { groupId: 'c', memberId: 'u1' },
        { groupId: 'b', memberId: 'u2' },
        { groupId: 'missing', memberId: 'u2' },
      ],
    };
    const loaded = createDirectoryIndex(snapshot);
    expect(ids(loaded.groupsOfUser('u1'))).toEqual(['a', 'b', 'c']);
    expect(loaded.size).toEqual({ users: 2, groups: 3, memberships: 5 });
    loaded.upsertGroup(group('missing'));
    expect(ids(loaded.groupsOfUser('u2'))).toEqual(['a', 'b', 'c', 'missing']);
  });
});

describe('tombstones (DirectoryUser.deleted)', () => {
  const ada = (extra: Partial<DirectoryUser> = {}) =>
    user('u1', {
      externalId: 'a62060da-1ae3-44eb-8988-1197a68ff41e',
      userName: 'ada@contoso.com',
      emails: ['ada@contoso.com', 'lovelace@contoso.com'],
      ...extra,
    });

  function withAdaInGroups(): DirectoryIndex {
    const index = createDirectoryIndex();
    index.upsertGroup(group('g1'));
    index.upsertGroup(group('g2'));
    index.addMember('g2', 'g1');
    index.upsertUser(ada());
    index.addMember('g1', 'u1');
    return index;
  }

  it('upserting a tombstone drops the user’s memberships and keeps the user findable as deleted and inactive', () => {
    const index = withAdaInGroups();
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1', 'g2']);
    index.upsertUser(ada({ deleted: true, active: true }));

    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(index.usersInGroup('g2')).toEqual([]);
    expect(index.directMembers('g1')).toEqual([]);
    expect(index.size).toEqual({ users: 1, groups: 2, memberships: 1 });
    for (const lookup of [{ oid: 'A62060DA-1AE3-44EB-8988-1197A68FF41E' }, { userName: 'Ada@Contoso.com' }, { email: 'lovelace@contoso.com' }]) {
      // INVARIANT: a tombstone is never active, whatever was sent.
      expect(index.findUser(lookup)).toMatchObject({ id: 'u1', deleted: true, active: false });
    }
    // A tombstone gains no membership, now or once its group exists.
    index.addMember('g1', 'u1');
    index.addMember('later', 'u1');
    index.upsertGroup(group('later'));
    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(index.size.memberships).toBe(1);
  });

  it('a pending membership of a user that arrives as a tombstone is dropped', () => {
    const index = createDirectoryIndex();
    index.addMember('g1', 'u1');
    index.upsertUser(ada({ deleted: true }));
    index.upsertGroup(group('g1'));
    expect(index.groupsOfUser('u1')).toEqual([]);
    // Re-created under the same id later, it does not inherit the membership sent before it was deleted.
    index.upsertUser(ada());
    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(index.size.memberships).toBe(0);
  });

  it('a user re-created under a new id with the same keys replaces the tombstone in every look-up', () => {
    const index = withAdaInGroups();
    index.upsertUser(ada({ deleted: true }));
    index.upsertUser(user('u2', { externalId: 'a62060da-1ae3-44eb-8988-1197a68ff41e', userName: 'ADA@contoso.com', emails: ['ada@contoso.com'] }));
    index.addMember('g1', 'u2');

    expect(index.findUser({ oid: 'a62060da-1ae3-44eb-8988-1197a68ff41e' })?.id).toBe('u2');
    expect(index.findUser({ userName: 'ada@contoso.com' })?.id).toBe('u2');
    expect(index.findUser({ email: 'ADA@contoso.com' })?.id).toBe('u2');
    expect(ids(index.groupsOfUser('u2'))).toEqual(['g1', 'g2']);
    // The address only the tombstone had still finds the tombstone (refused, not unknown).
    expect(index.findUser({ email: 'lovelace@contoso.com' })).toMatchObject({ id: 'u1', deleted: true });
    // Deleted again: the tombstones share the keys, and the one a key still names is found.
    index.removeUser('u2');
    expect(index.findUser({ userName: 'ada@contoso.com' })).toMatchObject({ id: 'u1', deleted: true });
  });

  it('positive control: two live users sharing a key still match nothing, a tombstone beside them changes nothing', () => {
    const index = createDirectoryIndex();
    index.upsertUser(user('u1', { emails: ['team@contoso.com'] }));
    index.upsertUser(user('u2', { emails: ['team@contoso.com'] }));
    index.upsertUser(user('u3', { emails: ['team@contoso.com'], deleted: true, active: false }));
    expect(index.findUser({ email: 'team@contoso.com' })).toBeUndefined();
    index.removeUser('u2');
    expect(index.findUser({ email: 'team@contoso.com' })?.id).toBe('u1');
  });

  it('a user re-created under the same id is live again, with no memberships until they are sent', () => {
    const index = withAdaInGroups();
    index.upsertUser(ada({ deleted: true }));
    index.upsertUser(ada());
    const found = index.findUser({ userName: 'ada@contoso.com' });
    expect(found).toEqual(ada());
    expect(found?.deleted).toBeUndefined();
    expect(index.groupsOfUser('u1')).toEqual([]);
    index.addMember('g1', 'u1');
    expect(ids(index.groupsOfUser('u1'))).toEqual(['g1', 'g2']);
  });

  it('bulk-loads tombstones beside their re-created users', () => {
    const index = createDirectoryIndex({
      users: [ada({ deleted: true, active: false }), user('u2', { userName: 'ada@contoso.com', emails: [] })],
      groups: [group('g1')],
      memberships: [
        { groupId: 'g1', memberId: 'u1' },
        { groupId: 'g1', memberId: 'u2' },
      ],
    });
    expect(index.findUser({ userName: 'ada@contoso.com' })?.id).toBe('u2');
    expect(index.groupsOfUser('u1')).toEqual([]);
    expect(ids(index.groupsOfUser('u2'))).toEqual(['g1']);
    expect(index.size).toEqual({ users: 2, groups: 1, memberships: 1 });
  });
});

describe('the answer cache: bounded, and the same frozen array while nothing changed', () => {
  /** Users u0…u{n-1}, each a direct member of g{i} nested in `top`: every answer holds two groups (cost 3). */
  function twoGroupsEach(n: number, maxCachedRefs: number): DirectoryIndex {
    const index = createDirectoryIndex(undefined, { maxCachedRefs });
    index.upsertGroup(group('top'));
    for (let i = 0; i < n; i++) {
      index.upsertGroup(group(`g${i}`));
      index.addMember('top', `g${i}`);
      index.upsertUser(user(`u${i}`));
      index.addMember(`g${i}`, `u${i}`);
    }
    return index;
  }

  it('keeps answers within maxCachedRefs, least recently used out first', () => {
    const index = twoGroupsEach(3, 6); // room for two answers
    const a0 = index.groupsOfUser('u0');
    const a1 = index.groupsOfUser('u1');
    expect(index.groupsOfUser('u0')).toBe(a0); // u0 is now the most recently used
    index.groupsOfUser('u2'); // evicts u1
    expect(index.groupsOfUser('u0')).toBe(a0);
    const again = index.groupsOfUser('u1');
    expect(again).not.toBe(a1);
    expect(again).toEqual(a1);
    expect(Object.isFrozen(again)).toBe(true);
  });

  it('maxCachedRefs: 0 keeps no answer, and every answer is still right', () => {
    const index = twoGroupsEach(2, 0);
    const first = index.groupsOfUser('u0');
    expect(ids(first)).toEqual(['g0', 'top']);
    expect(index.groupsOfUser('u0')).not.toBe(first);
    expect(index.groupsOfUser('u0')).toEqual(first);
  });

  it('the default budget keeps every answer of a small directory', () => {
    const index = twoGroupsEach(50, 2_000_000);
    const answers = Array.from({ length: 50 }, (_, i) => index.groupsOfUser(`u${i}`));
    expect(answers.every((a, i) => index.groupsOfUser(`u${i}`) === a)).toBe(true);
  });

  it('a change that nets out between two asks (a membership added and removed) gives back the same array', () => {
    const index = twoGroupsEach(2, 100);
    const before = index.groupsOfUser('u0');
    index.addMember('g1', 'u0');
    index.removeMember('g1', 'u0');
    const after = index.groupsOfUser('u0');
    expect(after).toEqual(before);
    expect(after).toBe(before);
  });

  it('a nesting that adds no group to the user (an ancestor already reached) gives back the same array', () => {
    const index = twoGroupsEach(2, 100);
    index.upsertGroup(group('mid'));
    index.addMember('top', 'mid');
    index.addMember('mid', 'g0');
    const before = index.groupsOfUser('u0');
    index.addMember('top', 'g1'); // already there: nothing changes for anyone
    index.upsertGroup(group('top')); // same ref: nothing changes
    expect(index.groupsOfUser('u0')).toBe(before);
  });

  it('positive control: a real change is a new frozen array with the change', () => {
    const index = twoGroupsEach(2, 100);
    const before = index.groupsOfUser('u0');
    index.upsertGroup(group('top', { displayName: 'Renamed' }));
    const renamed = index.groupsOfUser('u0');
    expect(renamed).not.toBe(before);
    expect(renamed).toContainEqual({ id: 'top', name: 'Renamed' });
    expect(Object.isFrozen(renamed)).toBe(true);
    index.removeMember('top', 'g0');
    expect(ids(index.groupsOfUser('u0'))).toEqual(['g0']);
  });

  it('rejects a bad maxCachedRefs at construction with ERR_CONFIG_INVALID', () => {
    for (const maxCachedRefs of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      expect(() => createDirectoryIndex(undefined, { maxCachedRefs })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/^invalid directory index configuration: `maxCachedRefs`/) }),
      );
    }
  });
});

// ---- property: incremental index == from-scratch closure --------------------

const USERS = ['u0', 'u1', 'u2', 'u3'];
const GROUPS = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
const MEMBERS = [...USERS, ...GROUPS];

type Op =
  | { op: 'upsertUser'; id: string }
  | { op: 'entombUser'; id: string }
  | { op: 'removeUser'; id: string }
  | { op: 'upsertGroup'; id: string; ext: boolean; name: number }
  | { op: 'removeGroup'; id: string }
  | { op: 'addMember'; group: string; member: string }
  | { op: 'removeMember'; group: string; member: string }
  | { op: 'setMembers'; group: string; members: string[] }
  | { op: 'query'; id: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('upsertUser' as const), id: fc.constantFrom(...USERS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('entombUser' as const), id: fc.constantFrom(...USERS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeUser' as const), id: fc.constantFrom(...USERS) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('upsertGroup' as const), id: fc.constantFrom(...GROUPS), ext: fc.boolean(), name: fc.nat(2) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeGroup' as const), id: fc.constantFrom(...GROUPS) }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('addMember' as const), group: fc.constantFrom(...GROUPS), member: fc.constantFrom(...MEMBERS) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('removeMember' as const), group: fc.constantFrom(...GROUPS), member: fc.constantFrom(...MEMBERS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('setMembers' as const),
      group: fc.constantFrom(...GROUPS),
      members: fc.uniqueArray(fc.constantFrom(...MEMBERS), { maxLength: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('query' as const), id: fc.constantFrom(...USERS) }) },
);

/** The obvious model: sets of ids and requested edges, closures by plain BFS. */
class Model {
  users = new Set<string>();
  /** Users the directory deleted: they hold no membership, and gain none until re-created. */
  tombs = new Set<string>();
  groups = new Map<string, DirectoryGroup>();
  edges = new Set<string>();

  apply(op: Op): void {
    switch (op.op) {
      case 'upsertUser':
        this.users.add(op.id);
        this.tombs.delete(op.id);
        break;
      case 'entombUser':
        this.users.add(op.id);
        this.tombs.add(op.id);
        for (const e of [...this.edges]) if (e.endsWith(`|${op.id}`)) this.edges.delete(e);
        break;
      case 'removeUser':
        this.users.delete(op.id);
        this.tombs.delete(op.id);
        for (const e of [...this.edges]) if (e.endsWith(`|${op.id}`)) this.edges.delete(e);
        break;
      case 'upsertGroup':
        this.groups.set(op.id, modelGroup(op));
        break;
      case 'removeGroup':
        this.groups.delete(op.id);
        for (const e of [...this.edges]) if (e.startsWith(`${op.id}|`) || e.endsWith(`|${op.id}`)) this.edges.delete(e);
        break;
      case 'addMember':
        if (!this.tombs.has(op.member)) this.edges.add(`${op.group}|${op.member}`);
        break;
      case 'removeMember':
        this.edges.delete(`${op.group}|${op.member}`);
        break;
      case 'setMembers':
        for (const e of [...this.edges]) if (e.startsWith(`${op.group}|`)) this.edges.delete(e);
        for (const m of op.members) if (!this.tombs.has(m)) this.edges.add(`${op.group}|${m}`);
        break;
      case 'query':
        break;
    }
  }

  live(): [string, string][] {
    return [...this.edges].map((e) => e.split('|') as [string, string]).filter(([g, m]) => this.groups.has(g) && (this.users.has(m) || this.groups.has(m)));
  }

  groupsOf(userId: string): string[] {
    if (!this.users.has(userId)) return [];
    const live = this.live();
    const seen = new Set<string>();
    const queue = live.filter(([, m]) => m === userId).map(([g]) => g);
    while (queue.length > 0) {
      const g = queue.shift() as string;
      if (seen.has(g)) continue;
      seen.add(g);
      for (const [parent, member] of live) if (member === g) queue.push(parent);
    }
    return [...seen].map((g) => refLabel(this.groups.get(g) as DirectoryGroup)).sort();
  }

  usersIn(groupId: string): string[] {
    if (!this.groups.has(groupId)) return [];
    const live = this.live();
    const seen = new Set<string>();
    const found = new Set<string>();
    const queue = [groupId];
    while (queue.length > 0) {
      const g = queue.shift() as string;
      if (seen.has(g)) continue;
      seen.add(g);
      for (const [parent, member] of live) {
        if (parent !== g) continue;
        if (this.users.has(member)) found.add(member);
        else queue.push(member);
      }
    }
    return [...found].sort();
  }
}

function modelGroup(op: { id: string; ext: boolean; name: number }): DirectoryGroup {
  return group(op.id, { displayName: `${op.id}-v${op.name}`, ...(op.ext ? { externalId: `oid-${op.id}` } : {}) });
}

function refLabel(g: DirectoryGroup): string {
  return `${g.externalId ?? g.id}:${g.displayName}`;
}

function applyTo(index: DirectoryIndex, op: Op): void {
  switch (op.op) {
    case 'upsertUser':
      index.upsertUser(user(op.id));
      break;
    case 'entombUser':
      index.upsertUser(user(op.id, { deleted: true, active: false }));
      break;
    case 'removeUser':
      index.removeUser(op.id);
      break;
    case 'upsertGroup':
      index.upsertGroup(modelGroup(op));
      break;
    case 'removeGroup':
      index.removeGroup(op.id);
      break;
    case 'addMember':
      index.addMember(op.group, op.member);
      break;
    case 'removeMember':
      index.removeMember(op.group, op.member);
      break;
    case 'setMembers':
      index.setMembers(op.group, op.members);
      break;
    case 'query':
      index.groupsOfUser(op.id);
      break;
  }
}

function answers(index: DirectoryIndex) {
  return {
    groups: USERS.map((u) => {
      const refs = index.groupsOfUser(u);
      return refs.map((r) => `${r.id}:${r.name ?? ''}`).sort();
    }),
    users: GROUPS.map((g) => [...index.usersInGroup(g)].sort()),
    memberships: index.size.memberships,
  };
}

describe('directory index property', () => {
  it('the incremental index equals a from-scratch closure after any sequence of adds and removes (cycles and tombstones included, any cache budget)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.constantFrom(0, 4, 12, 2_000_000), (ops, maxCachedRefs) => {
        const index = createDirectoryIndex(undefined, { maxCachedRefs });
        const model = new Model();
        for (const op of ops) {
          applyTo(index, op);
          model.apply(op);
          if (op.op === 'query') {
            const answer = index.groupsOfUser(op.id);
            expect(Object.isFrozen(answer)).toBe(true);
            expect(answer.map((r) => `${r.id}:${r.name ?? ''}`).sort()).toEqual(model.groupsOf(op.id));
            // Asked again with nothing changed in between: the same array while the budget keeps it.
            if (maxCachedRefs === 2_000_000) expect(index.groupsOfUser(op.id)).toBe(answer);
          }
        }
        const expected = {
          groups: USERS.map((u) => model.groupsOf(u)),
          users: GROUPS.map((g) => model.usersIn(g)),
          memberships: model.live().length,
        };
        expect(answers(index)).toEqual(expected);

        // A fresh bulk load of the same state agrees too.
        const rebuilt = createDirectoryIndex({
          users: [...model.users].map((id) => user(id, model.tombs.has(id) ? { deleted: true, active: false } : {})),
          groups: [...model.groups.values()],
          memberships: [...model.edges].map((e) => {
            const [groupId, memberId] = e.split('|') as [string, string];
            return { groupId, memberId };
          }),
        });
        expect(answers(rebuilt)).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('each group appears once in a user’s groups, whatever the graph', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const index = createDirectoryIndex();
        for (const op of ops) applyTo(index, op);
        for (const u of USERS) {
          const got = index.groupsOfUser(u).map((r) => r.id);
          expect(new Set(got).size).toBe(got.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('userName look-ups under NFKC case folding (as the store keys them)', () => {
  it('finds a user by a fullwidth or decomposed spelling of its userName, as SCIM uniqueness does', () => {
    const index = createDirectoryIndex();
    index.upsertUser({ id: 'u1', userName: 'Admin@Contoso.com', emails: [], active: true });
    index.upsertUser({ id: 'u2', userName: 'caf\u00e9@contoso.com', emails: [], active: true });
    expect(index.findUser({ userName: '\uff41dmin@contoso.com' })?.id).toBe('u1');
    expect(index.findUser({ userName: 'cafe\u0301@CONTOSO.com' })?.id).toBe('u2');
    expect(userNameKey('\uff21DMIN')).toBe('admin');
    // Control: another name is not found.
    expect(index.findUser({ userName: 'admin2@contoso.com' })).toBeUndefined();
  });
});
