import { ConfigError } from '../errors/index.js';
import type { GroupRef } from '../types.js';
import { userNameKey } from './user-name.js';
import type { DirectoryGroup, DirectoryIndex, DirectoryMembership, DirectorySnapshot, DirectoryUser, GroupLookup, UserLookup } from './types.js';
import {
  STALE,
  NONE,
  DEFAULT_MAX_CACHED_REFS,
  KeyIndex,
  EMPTY_REFS,
  EMPTY_IDS,
  ALWAYS_LIVE,
  toGroupRef,
  copyUser,
  copyGroup,
  sameGroupRef,
  Marks,
  grownInt32,
  sameRefs,
  unionOfClosures,
  removeItem,
  addTo,
  removeFrom,
  type UserSlot,
  type GroupSlot,
} from './index-parts.js';

/*
 * Layout: users and groups are interned to integer slots so that membership
 * sets, closures and the dedupe marks are integer arrays, not string maps.
 *
 * - Each group keeps its direct parents, children and users (both directions,
 *   so any change is local), and a lazily computed ancestor closure (itself
 *   included). What a user's answer reads of a group (its ref, closure and
 *   version) sits in dense arrays indexed by slot, and every closure is a range
 *   of one shared Int32Array pool, so computing an answer reads a few contiguous
 *   arrays rather than an object (and a separate buffer) per group: half the
 *   time of one typed array per closure on the benchmark's directory.
 * - Each user keeps its direct groups and, while cached, its answer: a frozen
 *   `GroupRef[]` stamped with the epoch it was computed at. A group→group edge
 *   change bumps the version of the child and its descendants and drops their
 *   closures; a cached answer is valid while each of the user's direct groups
 *   has `version <= answerEpoch`. A user edge change marks that user's answer
 *   stale. Nothing is ever rebuilt wholesale.
 * - A recomputed answer equal to the one it replaces (same refs, same order) is
 *   the old array again, so callers that key on the array's identity (the
 *   identity pipeline reuses identity objects) see no change where there is none.
 * - Answers are cached within a budget of group references (`maxCachedRefs`),
 *   least recently used first out: every user looked up no longer means every
 *   answer kept.
 */

class Index implements DirectoryIndex {
  private users: (UserSlot | undefined)[] = [];
  private groups: (GroupSlot | undefined)[] = [];
  /** Per group slot: the `GroupRef` answers carry. */
  private refs: (GroupRef | undefined)[] = [];
  /**
   * Per group slot: where its closure (ancestors, itself included, each once) starts in `pool`, or `NONE`
   * when invalidated; its length in `closureLen`. Invalidated ranges are garbage in the pool until it is
   * compacted (when more than half of it is garbage and it would otherwise grow).
   */
  private closureAt = new Int32Array(1024).fill(NONE);
  private closureLen = new Int32Array(1024);
  private pool = new Int32Array(16_384);
  private poolEnd = 0;
  private poolLive = 0;
  /** Reused BFS queue a closure is gathered in before it is copied into the pool. */
  private bfs = new Int32Array(1024);
  /** Per group slot: epoch of the last change to its closure or to the ref of one of its ancestors. */
  private versions = new Float64Array(1024);
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
  /** Reused buffer an answer is gathered in before it is copied out (or found equal to the cached one). */
  private scratch: GroupRef[] = [];
  /**
   * The answer cache's list, by user slot, newest at `lruHead`, with a second-chance bit: a hit only sets
   * `lruUsed` (one byte, no relinking on the hot path); eviction from the tail moves a used answer back to
   * the head and clears its bit, so the least recently used go first.
   */
  private lruPrev = new Int32Array(1024).fill(NONE);
  private lruNext = new Int32Array(1024).fill(NONE);
  private lruUsed = new Uint8Array(1024);
  private lruHead = NONE;
  private lruTail = NONE;
  private cachedRefs = 0;
  private epoch = 0;
  private userCount = 0;
  private groupCount = 0;
  private membershipCount = 0;
  private readonly isLiveUser = (u: number): boolean => (this.users[u] as UserSlot).user.deleted !== true;

  constructor(private readonly maxCachedRefs: number) {}

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
      if (stored.deleted === true) this.entomb(existing, slot);
      return;
    }
    const u = this.freeUsers.pop() ?? this.users.length;
    const slot: UserSlot = { user: stored, groups: [], answer: undefined, answerEpoch: STALE };
    this.users[u] = slot;
    if (u >= this.lruPrev.length) {
      this.lruPrev = grownInt32(this.lruPrev, u + 1, NONE);
      this.lruNext = grownInt32(this.lruNext, u + 1, NONE);
      const used = new Uint8Array(this.lruPrev.length);
      used.set(this.lruUsed);
      this.lruUsed = used;
    }
    this.userById.set(stored.id, u);
    this.indexUser(stored, u);
    this.userCount++;
    if (stored.deleted === true) this.entomb(u, slot);
    else this.applyPendingMember(stored.id);
  }

  /** INVARIANT: a tombstone holds no memberships, pending ones included, and gains none (see `link`). */
  private entomb(u: number, slot: UserSlot): void {
    for (const g of slot.groups) (this.groups[g] as GroupSlot).users.delete(u);
    this.membershipCount -= slot.groups.length;
    slot.groups = [];
    this.uncache(u, slot);
    this.dropPendingMember(slot.user.id);
  }

  removeUser(id: string): void {
    const u = this.userById.get(id);
    this.dropPendingMember(id);
    if (u === undefined) return;
    const slot = this.users[u] as UserSlot;
    for (const g of slot.groups) (this.groups[g] as GroupSlot).users.delete(u);
    this.membershipCount -= slot.groups.length;
    this.uncache(u, slot);
    this.unindexUser(slot.user, u);
    this.userById.delete(id);
    this.users[u] = undefined;
    this.freeUsers.push(u);
    this.userCount--;
  }

  private indexUser(user: DirectoryUser, u: number): void {
    this.userByExternalId.add(user.externalId, u);
    this.userByUserName.add(userNameKey(user.userName), u);
    // A user listing the same address twice (in any case) is still one user: `add` ignores a slot it already holds.
    for (const email of user.emails) this.userByEmail.add(email, u);
  }

  private unindexUser(user: DirectoryUser, u: number): void {
    this.userByExternalId.delete(user.externalId, u);
    this.userByUserName.delete(userNameKey(user.userName), u);
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
        this.refs[existing] = toGroupRef(stored);
        // Cached user answers carry the old ref: every user below this group must recompute.
        this.bumpDescendants(existing, false);
      }
      return;
    }
    const g = this.freeGroups.pop() ?? this.groups.length;
    this.groups[g] = { group: stored, parents: new Set(), children: new Set(), users: new Set() };
    this.refs[g] = toGroupRef(stored);
    if (g >= this.versions.length) {
      const grown = new Float64Array(Math.max(g + 1, this.versions.length * 2));
      grown.set(this.versions);
      this.versions = grown;
      this.closureAt = grownInt32(this.closureAt, grown.length, NONE);
      this.closureLen = grownInt32(this.closureLen, grown.length, 0);
    }
    this.dropClosure(g);
    this.versions[g] = ++this.epoch;
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
      user.answerEpoch = STALE;
    }
    // Counted before unlinking: a self-membership sits in both `parents` and `children` and is one edge.
    const selfEdge = slot.parents.has(g) ? 1 : 0;
    this.membershipCount -= slot.users.size + slot.parents.size + slot.children.size - selfEdge;
    for (const p of slot.parents) if (p !== g) (this.groups[p] as GroupSlot).children.delete(g);
    for (const c of slot.children) if (c !== g) (this.groups[c] as GroupSlot).parents.delete(g);
    this.unindexGroup(slot.group, g);
    this.groupById.delete(id);
    this.groups[g] = undefined;
    this.refs[g] = undefined;
    this.dropClosure(g);
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
      user.answerEpoch = STALE;
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
      // INVARIANT: a tombstone gains no membership (nor keeps one pending for a later re-creation).
      if (user.user.deleted === true) return true;
      if (user.groups.includes(g)) return true;
      user.groups.push(g);
      group.users.add(u);
      user.answerEpoch = STALE;
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
      const g = queue[i] as number;
      this.versions[g] = version;
      if (dropClosure) this.dropClosure(g);
      for (const c of (this.groups[g] as GroupSlot).children) if (this.groupMarks.visit(c, stamp)) queue.push(c);
    }
  }

  private dropClosure(g: number): void {
    if (this.closureAt[g] === NONE) return;
    this.poolLive -= this.closureLen[g] as number;
    this.closureAt[g] = NONE;
  }

  /**
   * Makes sure `g`'s closure (its ancestors, itself included, each once even through cycles) is in the
   * pool. INVARIANT: it may move other closures (compaction), never drop a valid one: read `closureAt`
   * after every call.
   */
  private ensureClosure(g: number): void {
    if (this.closureAt[g] !== NONE) return;
    const stamp = this.groupMarks.next(this.groups.length);
    let queue = this.bfs;
    let length = 1;
    queue[0] = g;
    this.groupMarks.visit(g, stamp);
    for (let i = 0; i < length; i++) {
      for (const p of (this.groups[queue[i] as number] as GroupSlot).parents) {
        if (!this.groupMarks.visit(p, stamp)) continue;
        if (length === queue.length) queue = this.bfs = grownInt32(queue, length + 1, 0);
        queue[length++] = p;
      }
    }
    this.reserve(length);
    this.pool.set(queue.subarray(0, length), this.poolEnd);
    this.closureAt[g] = this.poolEnd;
    this.closureLen[g] = length;
    this.poolEnd += length;
    this.poolLive += length;
  }

  /** Room for `length` more entries at `poolEnd`: compacts when more than half the pool is garbage, else grows. */
  private reserve(length: number): void {
    if (this.poolEnd + length <= this.pool.length) return;
    const needed = this.poolLive + length;
    const size = needed * 2 > this.pool.length ? Math.max(needed * 2, this.pool.length * 2) : this.pool.length;
    const pool = new Int32Array(size);
    let end = 0;
    for (let g = 0; g < this.groups.length; g++) {
      const at = this.closureAt[g] as number;
      if (at === NONE) continue;
      const len = this.closureLen[g] as number;
      pool.set(this.pool.subarray(at, at + len), end);
      this.closureAt[g] = end;
      end += len;
    }
    this.pool = pool;
    this.poolEnd = end;
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
    const live = this.isLiveUser;
    const u =
      this.userByExternalId.find(lookup.oid, live) ??
      this.userByUserName.find(lookup.userName === undefined ? undefined : userNameKey(lookup.userName), live) ??
      this.userByEmail.find(lookup.email, live);
    return u === undefined ? undefined : (this.users[u] as UserSlot).user;
  }

  findGroup(lookup: GroupLookup): DirectoryGroup | undefined {
    const g =
      (lookup.id === undefined ? undefined : this.groupById.get(lookup.id)) ??
      this.groupByExternalId.find(lookup.externalId, ALWAYS_LIVE) ??
      this.groupByName.find(lookup.displayName, ALWAYS_LIVE);
    return g === undefined ? undefined : (this.groups[g] as GroupSlot).group;
  }

  groupsOfUser(userId: string): readonly GroupRef[] {
    const u = this.userById.get(userId);
    if (u === undefined) return EMPTY_REFS;
    const user = this.users[u] as UserSlot;
    const answer = user.answer;
    if (answer !== undefined && user.answerEpoch !== STALE) {
      // No group changed anywhere since the answer (the steady state): valid without looking further.
      if (user.answerEpoch === this.epoch) {
        this.lruUsed[u] = 1;
        return answer;
      }
      if (this.fresh(user.groups, user.answerEpoch)) {
        // Nothing below the user's groups changed: valid as of now, so the next ask takes the short way.
        user.answerEpoch = this.epoch;
        this.lruUsed[u] = 1;
        return answer;
      }
    }
    return this.compute(u, user);
  }

  /** Whether no direct group of the user changed (closure or an ancestor's ref) since `epoch`. */
  private fresh(direct: readonly number[], epoch: number): boolean {
    const versions = this.versions;
    for (let i = 0; i < direct.length; i++) if ((versions[direct[i] as number] as number) > epoch) return false;
    return true;
  }

  private compute(u: number, user: UserSlot): readonly GroupRef[] {
    const direct = user.groups;
    if (direct.length === 0) {
      this.uncache(u, user);
      return EMPTY_REFS;
    }
    const epoch = this.epoch;
    for (let j = 0; j < direct.length; j++) this.ensureClosure(direct[j] as number);
    // Read after every ensureClosure: a compaction moves ranges.
    const stamp = this.unionMarks.next(this.groups.length);
    const scratch = this.scratch;
    const n = unionOfClosures(direct, this.pool, this.closureAt, this.closureLen, this.unionMarks.marks, stamp, this.refs, scratch);
    const previous = user.answer;
    const answer = previous !== undefined && sameRefs(previous, scratch, n) ? previous : Object.freeze(scratch.slice(0, n));
    this.cache(u, user, answer, epoch);
    return answer;
  }

  // ---- the answer cache (LRU within maxCachedRefs) ---------------------

  private cache(u: number, user: UserSlot, answer: readonly GroupRef[], epoch: number): void {
    const cost = answer.length + 1;
    if (user.answer !== undefined) {
      this.cachedRefs -= user.answer.length + 1;
      this.unlink(u);
      user.answer = undefined;
    }
    if (cost > this.maxCachedRefs) return;
    user.answer = answer;
    user.answerEpoch = epoch;
    this.cachedRefs += cost;
    this.pushFront(u);
    while (this.cachedRefs > this.maxCachedRefs) {
      const last = this.lruTail;
      if (this.lruUsed[last] === 1) {
        this.lruUsed[last] = 0;
        this.toFront(last);
      } else this.uncache(last, this.users[last] as UserSlot);
    }
  }

  private uncache(u: number, user: UserSlot): void {
    if (user.answer === undefined) return;
    this.cachedRefs -= user.answer.length + 1;
    this.unlink(u);
    user.answer = undefined;
    user.answerEpoch = STALE;
  }

  private pushFront(u: number): void {
    this.lruUsed[u] = 0;
    this.lruPrev[u] = NONE;
    this.lruNext[u] = this.lruHead;
    if (this.lruHead !== NONE) this.lruPrev[this.lruHead] = u;
    this.lruHead = u;
    if (this.lruTail === NONE) this.lruTail = u;
  }

  private unlink(u: number): void {
    const prev = this.lruPrev[u] as number;
    const next = this.lruNext[u] as number;
    if (prev === NONE) this.lruHead = next;
    else this.lruNext[prev] = next;
    if (next === NONE) this.lruTail = prev;
    else this.lruPrev[next] = prev;
    this.lruPrev[u] = NONE;
    this.lruNext[u] = NONE;
  }

  private toFront(u: number): void {
    this.unlink(u);
    this.pushFront(u);
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
    for (let g = 0; g < this.groups.length; g++) if (this.groups[g] !== undefined) this.ensureClosure(g);
  }

  private loadMembership(m: DirectoryMembership): void {
    // No invalidation while loading: closures are computed once at the end.
    if (!this.link(m.groupId, m.memberId, false)) this.keepPending(m.groupId, m.memberId);
  }

  private reset(): void {
    this.users = [];
    this.groups = [];
    this.refs = [];
    this.closureAt.fill(NONE);
    this.poolEnd = 0;
    this.poolLive = 0;
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
    this.scratch = [];
    this.lruPrev.fill(NONE);
    this.lruNext.fill(NONE);
    this.lruUsed.fill(0);
    this.lruHead = NONE;
    this.lruTail = NONE;
    this.cachedRefs = 0;
    this.userCount = 0;
    this.groupCount = 0;
    this.membershipCount = 0;
  }
}

/** Options of {@link createDirectoryIndex}. */
export interface DirectoryIndexOptions {
  /**
   * The bound of the per-user answer cache, in group references summed over the cached answers (an answer
   * of n groups counts n + 1): the least recently used answers go first, and an answer bigger than the
   * whole budget is not kept. A dropped answer is computed again on the next ask (a few µs). `0` keeps none.
   * @defaultValue `2000000` (about 16 MiB of references: 10,000 users of 200 groups)
   */
  maxCachedRefs?: number;
}

/**
 * Creates the in-memory directory index: users, groups and direct memberships,
 * with transitive answers (nested groups, cycles tolerated, any depth) that stay
 * correct under incremental changes without a rebuild.
 *
 * Pass a snapshot to bulk-load at creation (the same as calling `load`), and
 * options to bound the answer cache.
 *
 * Behaviour worth knowing:
 * - A membership whose group or member is not in the index yet is kept pending
 *   and applied when both exist (SCIM may send them in any order); pending
 *   memberships are not counted in `size` nor listed by `directMembers`.
 * - Look-ups are case-insensitive; a key shared by two users (or two groups)
 *   matches nothing rather than an arbitrary one.
 * - Tombstones (`deleted: true`, a user the directory deleted) are kept and
 *   counted in `size.users`; they are always `active: false`, hold no
 *   membership (upserting one drops its memberships, pending ones included) and
 *   gain none. A live user sharing a key with a tombstone (the same person
 *   re-created) wins that key; a tombstone is found only when no live user
 *   holds the key, so a deleted user is refused rather than unknown.
 * - `groupsOfUser` answers are frozen and shared: copy before changing. While a
 *   user's groups have not changed and the answer is cached, it is the same
 *   array, and a recomputed answer equal to the previous one is the previous
 *   array. The cache is bounded (`maxCachedRefs`); an evicted answer is
 *   recomputed on the next ask.
 * - It does not check `active`: `groupsOfUser` answers for an inactive user too;
 *   the directory group source decides what an inactive user means.
 *
 * @example
 * ```ts
 * import { createDirectoryIndex } from 'entragate';
 *
 * const index = createDirectoryIndex(undefined, { maxCachedRefs: 1_000_000 });
 * index.upsertUser({ id: 'u1', externalId: '1b3e…', userName: 'ada@contoso.com', emails: ['ada@contoso.com'], active: true });
 * index.upsertGroup({ id: 'g1', externalId: '5f1c…', displayName: 'Devs' });
 * index.upsertGroup({ id: 'g2', externalId: '9a7d…', displayName: 'US devs' });
 * index.addMember('g1', 'g2'); // US devs is nested in Devs
 * index.addMember('g2', 'u1');
 * index.groupsOfUser('u1'); // [{ id: '9a7d…', name: 'US devs' }, { id: '5f1c…', name: 'Devs' }]
 * ```
 */
export function createDirectoryIndex(snapshot?: DirectorySnapshot, options: DirectoryIndexOptions = {}): DirectoryIndex {
  const max = options.maxCachedRefs ?? DEFAULT_MAX_CACHED_REFS;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid directory index configuration: \`maxCachedRefs\` must be a whole number >= 0, got \`${String(max)}\``);
  }
  const index = new Index(max);
  if (snapshot !== undefined) index.load(snapshot);
  return index;
}
