/**
 * The building blocks of the directory index (`directory-index.ts`): the user and group slots, the
 * case-insensitive key index, the dedupe marks and the small array and map helpers. Pure, like the index.
 */
import type { GroupRef } from '../types.js';
import type { DirectoryGroup, DirectoryUser } from './types.js';

export interface UserSlot {
  user: DirectoryUser;
  /**
   * Direct groups: a plain array, not a Set. A user has a handful of direct groups, so a
   * linear scan beats hashing, and small arrays cost a fraction of Sets to build and to
   * keep (a bulk load of 1,000,000 memberships is dominated by this).
   */
  groups: number[];
  /** The cached answer (frozen); while set the user is on the LRU list and counted in `cachedRefs`. */
  answer: readonly GroupRef[] | undefined;
  /** The epoch `answer` was computed at; `STALE` after a change to the user's own memberships. */
  answerEpoch: number;
}

export interface GroupSlot {
  group: DirectoryGroup;
  parents: Set<number>;
  children: Set<number>;
  /** Direct user members: a Set, since a group may hold 100,000 users and removing one must not scan them. */
  users: Set<number>;
}

/** `answerEpoch` of an answer whose user's direct memberships changed: recomputed on the next ask. */
export const STALE = -1;
export const NONE = -1;
/** @see DirectoryIndexOptions.maxCachedRefs */
export const DEFAULT_MAX_CACHED_REFS = 2_000_000;

/**
 * A case-insensitive key → slot index. Keys are stored lowercase. A key shared
 * by several slots is ambiguous and answers no match, unless exactly one of
 * them is live (a user re-created over its own tombstone).
 */
export class KeyIndex {
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

  /**
   * The one slot holding `key`. INVARIANT: a key held by two live slots matches nothing, so a look-up never
   * picks a user at random; a tombstone never makes a live user's key ambiguous, and is found only when no
   * live slot holds the key.
   */
  find(key: string | undefined, live: (slot: number) => boolean): number | undefined {
    if (key === undefined || key === '') return undefined;
    // Stored keys are lowercase: a key without capitals (object ids, most UPNs) is looked up as given, with no new string.
    const cur = this.map.get(hasCapitals(key) ? key.toLowerCase() : key);
    if (cur === undefined || typeof cur === 'number') return cur;
    let only: number | undefined;
    for (const slot of cur) {
      if (!live(slot)) continue;
      if (only !== undefined) return undefined;
      only = slot;
    }
    return only;
  }

  clear(): void {
    this.map.clear();
  }
}

/** Whether `toLowerCase` could change `key`: an ASCII capital, or any non-ASCII character. */
function hasCapitals(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return true;
  }
  return false;
}

export const EMPTY_REFS: readonly GroupRef[] = Object.freeze([]);
export const EMPTY_IDS: readonly string[] = Object.freeze([]);
export const ALWAYS_LIVE = (): boolean => true;

export function toGroupRef(group: DirectoryGroup): GroupRef {
  const ref: GroupRef = { id: group.externalId || group.id, name: group.displayName };
  if (group.email) ref.email = group.email;
  return Object.freeze(ref);
}

export function copyUser(user: DirectoryUser): DirectoryUser {
  // INVARIANT: a tombstone is never active, whatever the caller sent.
  const deleted = user.deleted === true;
  const copy: DirectoryUser = {
    id: user.id,
    userName: user.userName,
    emails: Object.freeze([...user.emails]) as string[],
    active: deleted ? false : user.active,
  };
  if (user.externalId !== undefined) copy.externalId = user.externalId;
  if (user.displayName !== undefined) copy.displayName = user.displayName;
  if (deleted) copy.deleted = true;
  return Object.freeze(copy);
}

export function copyGroup(group: DirectoryGroup): DirectoryGroup {
  const copy: DirectoryGroup = { id: group.id, displayName: group.displayName };
  if (group.externalId !== undefined) copy.externalId = group.externalId;
  if (group.email !== undefined) copy.email = group.email;
  return Object.freeze(copy);
}

export function sameGroupRef(a: DirectoryGroup, b: DirectoryGroup): boolean {
  return (a.externalId || a.id) === (b.externalId || b.id) && a.displayName === b.displayName && (a.email || undefined) === (b.email || undefined);
}

/** A growable integer mark array: a slot is "seen" when it holds the current stamp. */
export class Marks {
  /** Read directly in hot loops; valid until the next `next()`. */
  marks = new Int32Array(1024);
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

export function grownInt32(array: Int32Array<ArrayBuffer>, size: number, fill: number): Int32Array<ArrayBuffer> {
  if (size <= array.length) return array;
  const grown = new Int32Array(Math.max(size, array.length * 2));
  grown.set(array);
  grown.fill(fill, array.length);
  return grown;
}

/**
 * Gathers the refs of the union of the closures of `direct` (ranges of `pool`: `closureAt[d]`, `closureLen[d]`
 * entries) into `out` from 0, each group once, in order of first appearance, and returns how many. `marks` are
 * the dedupe marks, indexed by group slot, `stamp` a value none of them holds yet.
 *
 * A user's first lookup is this loop. It is a standalone function over typed arrays on purpose: it is optimized
 * after a few calls on its own feedback, whatever the index's methods around it do, and stays optimized when one
 * of them is deoptimized (a branch taken for the first time, e.g. the first eviction from the answer cache);
 * inside `compute` such a deopt sent the loop back to baseline code (several times slower) for thousands of calls
 * until the method was optimized again, which was the tail of the first-lookup latency. One path for one direct
 * group or many: a single closure holds each ancestor once already, and the marks cost one store per entry.
 */
export function unionOfClosures(
  direct: readonly number[],
  pool: Int32Array,
  closureAt: Int32Array,
  closureLen: Int32Array,
  marks: Int32Array,
  stamp: number,
  refs: readonly (GroupRef | undefined)[],
  out: GroupRef[],
): number {
  let n = 0;
  for (let j = 0; j < direct.length; j++) {
    const d = direct[j] as number;
    const start = closureAt[d] as number;
    const end = start + (closureLen[d] as number);
    for (let i = start; i < end; i++) {
      const g = pool[i] as number;
      if (marks[g] === stamp) continue;
      marks[g] = stamp;
      out[n++] = refs[g] as GroupRef;
    }
  }
  return n;
}

/** Whether `answer` holds exactly the first `n` refs of `scratch`, in order. */
export function sameRefs(answer: readonly GroupRef[], scratch: readonly GroupRef[], n: number): boolean {
  if (answer.length !== n) return false;
  for (let i = 0; i < n; i++) if (answer[i] !== scratch[i]) return false;
  return true;
}

/** Removes one occurrence of `value` (order is not kept); returns whether it was there. */
export function removeItem(list: number[], value: number): boolean {
  const i = list.indexOf(value);
  if (i < 0) return false;
  list[i] = list[list.length - 1] as number;
  list.pop();
  return true;
}

export function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

export function removeFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
