import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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

// ---- property: incremental index == from-scratch closure --------------------

const USERS = ['u0', 'u1', 'u2', 'u3'];
const GROUPS = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
const MEMBERS = [...USERS, ...GROUPS];

type Op =
  | { op: 'upsertUser'; id: string }
  | { op: 'removeUser'; id: string }
  | { op: 'upsertGroup'; id: string; ext: boolean; name: number }
  | { op: 'removeGroup'; id: string }
  | { op: 'addMember'; group: string; member: string }
  | { op: 'removeMember'; group: string; member: string }
  | { op: 'setMembers'; group: string; members: string[] }
  | { op: 'query'; id: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('upsertUser' as const), id: fc.constantFrom(...USERS) }) },
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
  groups = new Map<string, DirectoryGroup>();
  edges = new Set<string>();

  apply(op: Op): void {
    switch (op.op) {
      case 'upsertUser':
        this.users.add(op.id);
        break;
      case 'removeUser':
        this.users.delete(op.id);
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
        this.edges.add(`${op.group}|${op.member}`);
        break;
      case 'removeMember':
        this.edges.delete(`${op.group}|${op.member}`);
        break;
      case 'setMembers':
        for (const e of [...this.edges]) if (e.startsWith(`${op.group}|`)) this.edges.delete(e);
        for (const m of op.members) this.edges.add(`${op.group}|${m}`);
        break;
      case 'query':
        break;
    }
  }

  live(): [string, string][] {
    return [...this.edges]
      .map((e) => e.split('|') as [string, string])
      .filter(([g, m]) => this.groups.has(g) && (this.users.has(m) || this.groups.has(m)));
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
  it('the incremental index equals a from-scratch closure after any sequence of adds and removes (cycles included)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const index = createDirectoryIndex();
        const model = new Model();
        for (const op of ops) {
          applyTo(index, op);
          model.apply(op);
        }
        const expected = {
          groups: USERS.map((u) => model.groupsOf(u)),
          users: GROUPS.map((g) => model.usersIn(g)),
          memberships: model.live().length,
        };
        expect(answers(index)).toEqual(expected);

        // A fresh bulk load of the same state agrees too.
        const rebuilt = createDirectoryIndex({
          users: [...model.users].map((id) => user(id)),
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
