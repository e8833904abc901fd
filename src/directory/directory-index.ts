import type { GroupRef } from '../types.js';
import type {
  DirectoryGroup,
  DirectoryIndex,
  DirectoryMembership,
  DirectorySnapshot,
  DirectoryUser,
  GroupLookup,
  UserLookup,
} from './types.js';

/*
 * Layout: users and groups are interned to integer slots so that membership
 * sets, closures and the dedupe marks are integer arrays, not string maps.
 *
 * - Each group keeps its direct parents, children and users (both directions,
 *   so any change is local), and a lazily computed ancestor closure (itself
 *   included) as an Int32Array.
 * - Each user keeps its direct groups and a cached `GroupRef[]`, stamped with the
 *   epoch it was computed at and the direct groups it was computed from.
 * - A group→group edge change bumps `version` and drops the closure of the
 *   child and its descendants only; a cached user answer is valid while every
 *   group it was computed from has `version <= cacheEpoch`. A user edge change
 *   drops that user's cache only. Nothing is ever rebuilt wholesale.
 */

interface UserSlot {
  user: DirectoryUser;
  /**
   * Direct groups: a plain array, not a Set. A user has a handful of direct groups, so a
   * linear scan beats hashing, and small arrays cost a fraction of Sets to build and to
   * keep (a bulk load of 1,000,000 memberships is dominated by this).
   */
  groups: number[];
  cache: readonly GroupRef[] | undefined;
  cacheEpoch: number;
  /** The direct groups the cache was computed from (checked against their versions). */
  cacheDeps: Int32Array | undefined;
}

interface GroupSlot {
  group: DirectoryGroup;
  ref: GroupRef;
  parents: Set<number>;
  children: Set<number>;
  /** Direct user members: a Set, since a group may hold 100,000 users and removing one must not scan them. */
  users: Set<number>;
  /** Ancestors including the group itself; `undefined` when invalidated. */
  closure: Int32Array | undefined;
  /** Epoch of the last change to this group's closure or to the metadata of one of its ancestors. */
  version: number;
}

/**
 * A case-insensitive key → slot index. A key shared by several slots is
 * ambiguous and answers no match.
 */
class KeyIndex {
  private readonly map = new Map<string, number | number[]>();

  add(key: string | undefined, slot: number): void {
    if (key === undefined || key === '') return;
    const k = key.toLowerCase();
    const cur = this.map.get(k);
    if (cur === undefined) this.map.set(k, slot);
    else if (typeof cur === 'number') {
      if (cur !== slot) this.map.set(k, [cur, slot]);
    } else if (!cur.includes(slot)) cur.push(slot);
  }

  delete(key: string | undefined, slot: number): void {
    if (key === undefined || key === '') return;
    const k = key.toLowerCase();
    const cur = this.map.get(k);
    if (cur === undefined) return;
    if (typeof cur === 'number') {
      if (cur === slot) this.map.delete(k);
      return;
    }
    const i = cur.indexOf(slot);
    if (i >= 0) cur.splice(i, 1);
    if (cur.length === 1) this.map.set(k, cur[0] as number);
  }

  /** INVARIANT: an ambiguous key (shared by two slots) matches nothing, so a look-up never picks a user at random. */
  unique(key: string | undefined): number | undefined {
    if (key === undefined || key === '') return undefined;
    const cur = this.map.get(key.toLowerCase());
    return typeof cur === 'number' ? cur : undefined;
  }

  clear(): void {
    this.map.clear();
  }
}

const EMPTY_REFS: readonly GroupRef[] = Object.freeze([]);
const EMPTY_IDS: readonly string[] = Object.freeze([]);

function toGroupRef(group: DirectoryGroup): GroupRef {
  const ref: GroupRef = { id: group.externalId || group.id, name: group.displayName };
  if (group.email) ref.email = group.email;
  return Object.freeze(ref);
}

function copyUser(user: DirectoryUser): DirectoryUser {
  const copy: DirectoryUser = { id: user.id, userName: user.userName, emails: Object.freeze([...user.emails]) as string[], active: user.active };
  if (user.externalId !== undefined) copy.externalId = user.externalId;
  if (user.displayName !== undefined) copy.displayName = user.displayName;
  if (user.deleted === true) copy.deleted = true;
  return Object.freeze(copy);
}

function copyGroup(group: DirectoryGroup): DirectoryGroup {
  const copy: DirectoryGroup = { id: group.id, displayName: group.displayName };
  if (group.externalId !== undefined) copy.externalId = group.externalId;
  if (group.email !== undefined) copy.email = group.email;
  return Object.freeze(copy);
}

function sameGroupRef(a: DirectoryGroup, b: DirectoryGroup): boolean {
  return (a.externalId || a.id) === (b.externalId || b.id) && a.displayName === b.displayName && (a.email || undefined) === (b.email || undefined);
}

/** A growable integer mark array: a slot is "seen" when it holds the current stamp. */
class Marks {
  private marks = new Int32Array(1024);
  private stamp = 0;

  next(size: number): number {
    if (size > this.marks.length) {
      const grown = new Int32Array(Math.max(size, this.marks.length * 2));
      grown.set(this.marks);
      this.marks = grown;
    }
    if (this.stamp === 0x7fffffff) {
      this.marks.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }

  /** Marks `slot` with `stamp`; returns false when it already was. */
  visit(slot: number, stamp: number): boolean {
    if (this.marks[slot] === stamp) return false;
    this.marks[slot] = stamp;
    return true;
  }
}

class Index implements DirectoryIndex {
  private users: (UserSlot | undefined)[] = [];
  private groups: (GroupSlot | undefined)[] = [];
  private freeUsers: number[] = [];
  private freeGroups: number[] = [];
  private readonly userById = new Map<string, number>();
  private readonly groupById = new Map<string, number>();
  private readonly userByExternalId = new KeyIndex();
  private readonly userByUserName = new KeyIndex();
  private readonly userByEmail = new KeyIndex();
  private readonly groupByExternalId = new KeyIndex();
  private readonly groupByName = new KeyIndex();
  /** Memberships whose group or member is not (yet) in the index: applied when both exist. */
  private readonly pendingByGroup = new Map<string, Set<string>>();
  private readonly pendingByMember = new Map<string, Set<string>>();
  private readonly groupMarks = new Marks();
  private readonly unionMarks = new Marks();
  private readonly userMarks = new Marks();
  private epoch = 0;
  private userCount = 0;
  private groupCount = 0;
  private membershipCount = 0;

  get size(): { users: number; groups: number; memberships: number } {
    return { users: this.userCount, groups: this.groupCount, memberships: this.membershipCount };
  }

  // ---- users ------------------------------------------------------------

  upsertUser(user: DirectoryUser): void {
    const stored = copyUser(user);
    const existing = this.userById.get(user.id);
    if (existing !== undefined) {
      const slot = this.users[existing] as UserSlot;
      this.unindexUser(slot.user, existing);
      slot.user = stored;
      this.indexUser(stored, existing);
      return;
    }
    const u = this.freeUsers.pop() ?? this.users.length;
    this.users[u] = { user: stored, groups: [], cache: undefined, cacheEpoch: 0, cacheDeps: undefined };
    this.userById.set(stored.id, u);
    this.indexUser(stored, u);
    this.userCount++;
    this.applyPendingMember(stored.id);
  }

  removeUser(id: string): void {
    const u = this.userById.get(id);
    this.dropPendingMember(id);
    if (u === undefined) return;
    const slot = this.users[u] as UserSlot;
    for (const g of slot.groups) (this.groups[g] as GroupSlot).users.delete(u);
    this.membershipCount -= slot.groups.length;
    this.unindexUser(slot.user, u);
    this.userById.delete(id);
    this.users[u] = undefined;
    this.freeUsers.push(u);
    this.userCount--;
  }

  private indexUser(user: DirectoryUser, u: number): void {
    this.userByExternalId.add(user.externalId, u);
    this.userByUserName.add(user.userName, u);
    // A user listing the same address twice (in any case) is still one user: `add` ignores a slot it already holds.
    for (const email of user.emails) this.userByEmail.add(email, u);
  }

  private unindexUser(user: DirectoryUser, u: number): void {
    this.userByExternalId.delete(user.externalId, u);
    this.userByUserName.delete(user.userName, u);
    for (const email of user.emails) this.userByEmail.delete(email, u);
  }

  // ---- groups -----------------------------------------------------------

  upsertGroup(group: DirectoryGroup): void {
    const stored = copyGroup(group);
    const existing = this.groupById.get(group.id);
    if (existing !== undefined) {
      const slot = this.groups[existing] as GroupSlot;
      this.unindexGroup(slot.group, existing);
      const refChanged = !sameGroupRef(slot.group, stored);
      slot.group = stored;
      this.indexGroup(stored, existing);
      if (refChanged) {
        slot.ref = toGroupRef(stored);
        // Cached user answers carry the old ref: every user below this group must recompute.
        this.bumpDescendants(existing, false);
      }
      return;
    }
    const g = this.freeGroups.pop() ?? this.groups.length;
    this.groups[g] = {
      group: stored,
      ref: toGroupRef(stored),
      parents: new Set(),
      children: new Set(),
      users: new Set(),
      closure: undefined,
      version: ++this.epoch,
    };
    this.groupById.set(stored.id, g);
    this.indexGroup(stored, g);
    this.groupCount++;
    this.applyPendingGroup(stored.id);
    this.applyPendingMember(stored.id);
  }

  removeGroup(id: string): void {
    const g = this.groupById.get(id);
    this.pendingByGroup.get(id)?.forEach((m) => this.pendingByMember.get(m)?.delete(id));
    this.pendingByGroup.delete(id);
    this.dropPendingMember(id);
    if (g === undefined) return;
    const slot = this.groups[g] as GroupSlot;
    // Everything below loses this group (and whatever only it led to).
    this.bumpDescendants(g, true);
    for (const u of slot.users) {
      const user = this.users[u] as UserSlot;
      removeItem(user.groups, g);
      user.cache = undefined;
    }
    // Counted before unlinking: a self-membership sits in both `parents` and `children` and is one edge.
    const selfEdge = slot.parents.has(g) ? 1 : 0;
    this.membershipCount -= slot.users.size + slot.parents.size + slot.children.size - selfEdge;
    for (const p of slot.parents) if (p !== g) (this.groups[p] as GroupSlot).children.delete(g);
    for (const c of slot.children) if (c !== g) (this.groups[c] as GroupSlot).parents.delete(g);
    this.unindexGroup(slot.group, g);
    this.groupById.delete(id);
    this.groups[g] = undefined;
    this.freeGroups.push(g);
    this.groupCount--;
  }

  private indexGroup(group: DirectoryGroup, g: number): void {
    this.groupByExternalId.add(group.externalId, g);
    this.groupByName.add(group.displayName, g);
  }

  private unindexGroup(group: DirectoryGroup, g: number): void {
    this.groupByExternalId.delete(group.externalId, g);
    this.groupByName.delete(group.displayName, g);
  }

  // ---- memberships ------------------------------------------------------

  addMember(groupId: string, memberId: string): void {
    if (!this.link(groupId, memberId, true)) this.keepPending(groupId, memberId);
  }

  private keepPending(groupId: string, memberId: string): void {
    addTo(this.pendingByGroup, groupId, memberId);
    addTo(this.pendingByMember, memberId, groupId);
  }

  removeMember(groupId: string, memberId: string): void {
    removeFrom(this.pendingByGroup, groupId, memberId);
    removeFrom(this.pendingByMember, memberId, groupId);
    const g = this.groupById.get(groupId);
    if (g === undefined) return;
    const group = this.groups[g] as GroupSlot;
    const u = this.userById.get(memberId);
    if (u !== undefined) {
      const user = this.users[u] as UserSlot;
      if (!removeItem(user.groups, g)) return;
      group.users.delete(u);
      user.cache = undefined;
      this.membershipCount--;
      return;
    }
    const c = this.groupById.get(memberId);
    if (c === undefined || !group.children.delete(c)) return;
    (this.groups[c] as GroupSlot).parents.delete(g);
    this.membershipCount--;
    this.bumpDescendants(c, true);
  }

  setMembers(groupId: string, memberIds: readonly string[]): void {
    const wanted = new Set(memberIds);
    const pending = this.pendingByGroup.get(groupId);
    for (const current of [...this.directMembers(groupId), ...(pending ?? [])]) {
      if (!wanted.has(current)) this.removeMember(groupId, current);
    }
    for (const id of wanted) this.addMember(groupId, id);
  }

  /**
   * Links `memberId` into `groupId` when both exist. Returns false when one is
   * missing (the caller keeps the membership pending).
   */
  private link(groupId: string, memberId: string, invalidate: boolean): boolean {
    const g = this.groupById.get(groupId);
    if (g === undefined) return false;
    const group = this.groups[g] as GroupSlot;
    // A directory id names a user first: SCIM ids are unique per resource type, and users are the common case.
    const u = this.userById.get(memberId);
    if (u !== undefined) {
      const user = this.users[u] as UserSlot;
      if (user.groups.includes(g)) return true;
      user.groups.push(g);
      group.users.add(u);
      user.cache = undefined;
      this.membershipCount++;
      return true;
    }
    const c = this.groupById.get(memberId);
    if (c === undefined) return false;
    if (group.children.has(c)) return true;
    group.children.add(c);
    (this.groups[c] as GroupSlot).parents.add(g);
    this.membershipCount++;
    if (invalidate) this.bumpDescendants(c, true);
    return true;
  }

  private applyPendingMember(memberId: string): void {
    const groupIds = this.pendingByMember.get(memberId);
    if (groupIds === undefined) return;
    for (const groupId of groupIds) {
      if (this.link(groupId, memberId, true)) {
        groupIds.delete(groupId);
        removeFrom(this.pendingByGroup, groupId, memberId);
      }
    }
    if (groupIds.size === 0) this.pendingByMember.delete(memberId);
  }

  private applyPendingGroup(groupId: string): void {
    const memberIds = this.pendingByGroup.get(groupId);
    if (memberIds === undefined) return;
    for (const memberId of memberIds) {
      if (this.link(groupId, memberId, true)) {
        memberIds.delete(memberId);
        removeFrom(this.pendingByMember, memberId, groupId);
      }
    }
    if (memberIds.size === 0) this.pendingByGroup.delete(groupId);
  }

  private dropPendingMember(memberId: string): void {
    this.pendingByMember.get(memberId)?.forEach((g) => this.pendingByGroup.get(g)?.delete(memberId));
    this.pendingByMember.delete(memberId);
  }

  // ---- closures ---------------------------------------------------------

  /**
   * Marks `start` and every group below it as changed; with `dropClosure`
   * their ancestor closures are recomputed on next use. Cost: the number of
   * descendants, nothing else.
   */
  private bumpDescendants(start: number, dropClosure: boolean): void {
    const version = ++this.epoch;
    const stamp = this.groupMarks.next(this.groups.length);
    const queue = [start];
    this.groupMarks.visit(start, stamp);
    for (let i = 0; i < queue.length; i++) {
      const slot = this.groups[queue[i] as number] as GroupSlot;
      slot.version = version;
      if (dropClosure) slot.closure = undefined;
      for (const c of slot.children) if (this.groupMarks.visit(c, stamp)) queue.push(c);
    }
  }

  /** Ancestors of `g`, itself included; each once even through cycles. */
  private closureOf(g: number): Int32Array {
    const slot = this.groups[g] as GroupSlot;
    if (slot.closure !== undefined) return slot.closure;
    const stamp = this.groupMarks.next(this.groups.length);
    const queue = [g];
    this.groupMarks.visit(g, stamp);
    for (let i = 0; i < queue.length; i++) {
      for (const p of (this.groups[queue[i] as number] as GroupSlot).parents) if (this.groupMarks.visit(p, stamp)) queue.push(p);
    }
    slot.closure = Int32Array.from(queue);
    return slot.closure;
  }

  // ---- reads ------------------------------------------------------------

  getUser(id: string): DirectoryUser | undefined {
    const u = this.userById.get(id);
    return u === undefined ? undefined : (this.users[u] as UserSlot).user;
  }

  getGroup(id: string): DirectoryGroup | undefined {
    const g = this.groupById.get(id);
    return g === undefined ? undefined : (this.groups[g] as GroupSlot).group;
  }

  findUser(lookup: UserLookup): DirectoryUser | undefined {
    const u = this.userByExternalId.unique(lookup.oid) ?? this.userByUserName.unique(lookup.userName) ?? this.userByEmail.unique(lookup.email);
    return u === undefined ? undefined : (this.users[u] as UserSlot).user;
  }

  findGroup(lookup: GroupLookup): DirectoryGroup | undefined {
    const g =
      (lookup.id === undefined ? undefined : this.groupById.get(lookup.id)) ??
      this.groupByExternalId.unique(lookup.externalId) ??
      this.groupByName.unique(lookup.displayName);
    return g === undefined ? undefined : (this.groups[g] as GroupSlot).group;
  }

  groupsOfUser(userId: string): readonly GroupRef[] {
    const u = this.userById.get(userId);
    if (u === undefined) return EMPTY_REFS;
    const user = this.users[u] as UserSlot;
    if (user.cache !== undefined && this.cacheValid(user)) return user.cache;
    const epoch = this.epoch;
    const deps = Int32Array.from(user.groups);
    const closures = Array.from(deps, (g) => this.closureOf(g));
    const stamp = this.unionMarks.next(this.groups.length);
    const refs: GroupRef[] = [];
    for (const closure of closures) {
      for (let i = 0; i < closure.length; i++) {
        const g = closure[i] as number;
        if (this.unionMarks.visit(g, stamp)) refs.push((this.groups[g] as GroupSlot).ref);
      }
    }
    user.cache = Object.freeze(refs);
    user.cacheEpoch = epoch;
    user.cacheDeps = deps;
    return user.cache;
  }

  private cacheValid(user: UserSlot): boolean {
    const deps = user.cacheDeps as Int32Array;
    for (let i = 0; i < deps.length; i++) {
      if ((this.groups[deps[i] as number] as GroupSlot).version > user.cacheEpoch) return false;
    }
    return true;
  }

  usersInGroup(groupId: string): readonly string[] {
    const g = this.groupById.get(groupId);
    if (g === undefined) return EMPTY_IDS;
    const gStamp = this.groupMarks.next(this.groups.length);
    const uStamp = this.userMarks.next(this.users.length);
    const queue = [g];
    this.groupMarks.visit(g, gStamp);
    const ids: string[] = [];
    for (let i = 0; i < queue.length; i++) {
      const slot = this.groups[queue[i] as number] as GroupSlot;
      for (const u of slot.users) if (this.userMarks.visit(u, uStamp)) ids.push((this.users[u] as UserSlot).user.id);
      for (const c of slot.children) if (this.groupMarks.visit(c, gStamp)) queue.push(c);
    }
    return ids;
  }

  directMembers(groupId: string): readonly string[] {
    const g = this.groupById.get(groupId);
    if (g === undefined) return EMPTY_IDS;
    const slot = this.groups[g] as GroupSlot;
    const ids: string[] = [];
    for (const u of slot.users) ids.push((this.users[u] as UserSlot).user.id);
    for (const c of slot.children) ids.push((this.groups[c] as GroupSlot).group.id);
    return ids;
  }

  // ---- bulk -------------------------------------------------------------

  load(snapshot: DirectorySnapshot): void {
    this.reset();
    for (const user of snapshot.users ?? []) this.upsertUser(user);
    for (const group of snapshot.groups ?? []) this.upsertGroup(group);
    for (const m of snapshot.memberships ?? []) this.loadMembership(m);
    for (let g = 0; g < this.groups.length; g++) if (this.groups[g] !== undefined) this.closureOf(g);
  }

  private loadMembership(m: DirectoryMembership): void {
    // No invalidation while loading: closures are computed once at the end.
    if (!this.link(m.groupId, m.memberId, false)) this.keepPending(m.groupId, m.memberId);
  }

  private reset(): void {
    this.users = [];
    this.groups = [];
    this.freeUsers = [];
    this.freeGroups = [];
    this.userById.clear();
    this.groupById.clear();
    this.userByExternalId.clear();
    this.userByUserName.clear();
    this.userByEmail.clear();
    this.groupByExternalId.clear();
    this.groupByName.clear();
    this.pendingByGroup.clear();
    this.pendingByMember.clear();
    this.userCount = 0;
    this.groupCount = 0;
    this.membershipCount = 0;
  }
}

/** Removes one occurrence of `value` (order is not kept); returns whether it was there. */
function removeItem(list: number[], value: number): boolean {
  const i = list.indexOf(value);
  if (i < 0) return false;
  list[i] = list[list.length - 1] as number;
  list.pop();
  return true;
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

function removeFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/**
 * Creates the in-memory directory index: users, groups and direct memberships,
 * with transitive answers (nested groups, cycles tolerated, any depth) that stay
 * correct under incremental changes without a rebuild.
 *
 * Pass a snapshot to bulk-load at creation (the same as calling `load`).
 *
 * Behaviour worth knowing:
 * - A membership whose group or member is not in the index yet is kept pending
 *   and applied when both exist (SCIM may send them in any order); pending
 *   memberships are not counted in `size` nor listed by `directMembers`.
 * - Look-ups are case-insensitive; a key shared by two users (or two groups)
 *   matches nothing rather than an arbitrary one.
 * - Returned objects and arrays are frozen and shared: copy before changing.
 * - It does not check `active`: `groupsOfUser` answers for an inactive user too;
 *   the directory group source decides what an inactive user means.
 *
 * @example
 * ```ts
 * import { createDirectoryIndex } from 'entragate';
 *
 * const index = createDirectoryIndex();
 * index.upsertUser({ id: 'u1', externalId: '1b3e…', userName: 'ada@contoso.com', emails: ['ada@contoso.com'], active: true });
 * index.upsertGroup({ id: 'g1', externalId: '5f1c…', displayName: 'Devs' });
 * index.upsertGroup({ id: 'g2', externalId: '9a7d…', displayName: 'US devs' });
 * index.addMember('g1', 'g2'); // US devs is nested in Devs
 * index.addMember('g2', 'u1');
 * index.groupsOfUser('u1'); // [{ id: '9a7d…', name: 'US devs' }, { id: '5f1c…', name: 'Devs' }]
 * ```
 */
export function createDirectoryIndex(snapshot?: DirectorySnapshot): DirectoryIndex {
  const index = new Index();
  if (snapshot !== undefined) index.load(snapshot);
  return index;
}
