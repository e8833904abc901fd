import { describe, expect, it } from 'vitest';
import { RecentCache } from '../../src/token/recent-cache.js';

describe('RecentCache (the verified-token cache)', () => {
  it('drops the least recently used entry when full: a read or a write makes an entry the newest', () => {
    const cache = new RecentCache<number>(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the newest, b the oldest
    cache.set('d', 4);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([1, 3, 4]);
    cache.set('c', 30); // an update moves c to the newest too; a is now the oldest
    cache.set('e', 5);
    expect(cache.get('a')).toBeUndefined();
    expect([cache.get('c'), cache.get('d'), cache.get('e'), cache.size]).toEqual([30, 4, 5, 3]);
  });

  it('deletes and clears, and keeps working afterwards', () => {
    const cache = new RecentCache<string>(2);
    cache.set('x', 'X');
    cache.set('y', 'Y');
    cache.delete('x');
    cache.delete('missing');
    expect([cache.get('x'), cache.get('y'), cache.size]).toEqual([undefined, 'Y', 1]);
    cache.set('z', 'Z');
    cache.set('w', 'W'); // full at 2: y, the oldest, goes
    expect([cache.get('y'), cache.get('z'), cache.get('w')]).toEqual([undefined, 'Z', 'W']);
    cache.clear();
    expect([cache.get('z'), cache.size]).toEqual([undefined, 0]);
    cache.set('v', 'V');
    cache.set('u', 'U');
    cache.set('t', 'T');
    expect([cache.get('v'), cache.get('u'), cache.get('t'), cache.size]).toEqual([undefined, 'U', 'T', 2]);
  });

  it('deleting the newest or the oldest entry keeps the order of the rest', () => {
    const cache = new RecentCache<number>(3);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    cache.delete('c'); // the newest
    cache.delete('a'); // the oldest
    cache.set('d', 4);
    cache.set('e', 5);
    cache.set('f', 6); // b is the oldest now, and goes
    expect([cache.get('b'), cache.get('d'), cache.get('e'), cache.get('f')]).toEqual([undefined, 4, 5, 6]);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new RecentCache(0)).toThrow(RangeError);
    expect(() => new RecentCache(1.5)).toThrow(RangeError);
  });
});
