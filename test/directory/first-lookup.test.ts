/**
 * A user's first lookup: the union of the closures of its direct groups (`unionOfClosures`), one code path
 * for one direct group or many. Each group once, whatever the number of paths to it, cycles and depth.
 */
import { describe, expect, it } from 'vitest';
import type { DirectoryGroup, DirectoryUser } from '../../src/directory/index.js';
import { createDirectoryIndex } from '../../src/directory/index.js';
import { unionOfClosures } from '../../src/directory/index-parts.js';
import type { GroupRef } from '../../src/types.js';

function user(id: string): DirectoryUser {
  return { id, userName: `${id}@contoso.com`, emails: [`${id}@contoso.com`], active: true };
}

function group(id: string): DirectoryGroup {
  return { id, displayName: `Group ${id}` };
}

const ids = (refs: readonly GroupRef[]) => refs.map((r) => r.id);

describe('unionOfClosures', () => {
  const refs = ['a', 'b', 'c', 'd'].map((id) => Object.freeze({ id, name: id }));
  // Closures in one pool: 0 → [0, 1, 2], 1 → [1, 2], 3 → [3, 2].
  const pool = Int32Array.from([0, 1, 2, 1, 2, 3, 2]);
  const closureAt = Int32Array.from([0, 3, -1, 5]);
  const closureLen = Int32Array.from([3, 2, 0, 2]);

  it('gathers each group once, in order of first appearance, from overlapping closures', () => {
    const out: GroupRef[] = [];
    const n = unionOfClosures([1, 3, 0], pool, closureAt, closureLen, new Int32Array(4), 1, refs, out);
    expect(ids(out.slice(0, n))).toEqual(['b', 'c', 'd', 'a']);
  });

  it('counts only the marks of the current stamp: an earlier stamp left in the marks hides nothing', () => {
    const marks = new Int32Array(4);
    const out: GroupRef[] = [];
    unionOfClosures([0], pool, closureAt, closureLen, marks, 1, refs, out);
    const n = unionOfClosures([3], pool, closureAt, closureLen, marks, 2, refs, out);
    expect(ids(out.slice(0, n))).toEqual(['d', 'c']);
    // Positive control: the same stamp again dedupes against the previous call.
    expect(unionOfClosures([1], pool, closureAt, closureLen, marks, 2, refs, out)).toBe(1);
    expect(out[0]?.id).toBe('b');
  });
});

describe('groupsOfUser, first lookup', () => {
  it('a group reached by two paths and through two direct groups is counted once', () => {
    const index = createDirectoryIndex();
    for (const id of ['top', 'left', 'right', 'leaf', 'other']) index.upsertGroup(group(id));
    index.upsertUser(user('u1'));
    index.upsertUser(user('u2'));
    // A diamond: leaf → left → top and leaf → right → top.
    index.addMember('top', 'left');
    index.addMember('top', 'right');
    index.addMember('left', 'leaf');
    index.addMember('right', 'leaf');
    index.addMember('right', 'other');
    index.addMember('leaf', 'u1');
    index.addMember('other', 'u1');
    index.addMember('leaf', 'u2');

    const many = ids(index.groupsOfUser('u1'));
    expect([...many].sort()).toEqual(['leaf', 'left', 'other', 'right', 'top']);
    expect(new Set(many).size).toBe(many.length);
    // One direct group takes the same path: the diamond's top once.
    expect([...ids(index.groupsOfUser('u2'))].sort()).toEqual(['leaf', 'left', 'right', 'top']);
  });

  it('a cycle reached from one direct group and from two gives each group of the cycle once', () => {
    const index = createDirectoryIndex();
    for (const id of ['a', 'b', 'c', 'd']) index.upsertGroup(group(id));
    index.addMember('a', 'b');
    index.addMember('b', 'c');
    index.addMember('c', 'a');
    index.addMember('d', 'c');
    index.upsertUser(user('one'));
    index.upsertUser(user('two'));
    index.addMember('c', 'one');
    index.addMember('c', 'two');
    index.addMember('a', 'two');

    expect([...ids(index.groupsOfUser('one'))].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect([...ids(index.groupsOfUser('two'))].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('deep nesting: a chain of 2,000 groups, all of them, the user’s own group first', () => {
    const depth = 2_000;
    const index = createDirectoryIndex();
    for (let i = 0; i < depth; i++) index.upsertGroup(group(`g${i}`));
    for (let i = 1; i < depth; i++) index.addMember(`g${i - 1}`, `g${i}`);
    index.upsertUser(user('u1'));
    index.addMember(`g${depth - 1}`, 'u1');

    const refs = index.groupsOfUser('u1');
    expect(refs).toHaveLength(depth);
    expect(refs[0]?.id).toBe(`g${depth - 1}`);
    expect(new Set(ids(refs)).size).toBe(depth);
  });

  it('many users in a row, each a first lookup, each right and frozen (the scratch buffer is reused)', () => {
    const index = createDirectoryIndex(undefined, { maxCachedRefs: 10 });
    for (const id of ['root', 'mid', 'x', 'y']) index.upsertGroup(group(id));
    index.addMember('root', 'mid');
    index.addMember('mid', 'x');
    index.addMember('mid', 'y');
    for (let i = 0; i < 50; i++) {
      index.upsertUser(user(`u${i}`));
      index.addMember(i % 2 === 0 ? 'x' : 'y', `u${i}`);
    }
    for (let i = 0; i < 50; i++) {
      const refs = index.groupsOfUser(`u${i}`);
      expect(Object.isFrozen(refs)).toBe(true);
      expect(ids(refs)).toEqual([i % 2 === 0 ? 'x' : 'y', 'mid', 'root']);
    }
  });
});
