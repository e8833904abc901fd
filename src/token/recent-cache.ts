/** An entry of a `RecentCache`: the value and its place in the recency list. */
interface Slot<V> {
  key: string;
  value: V;
  /** The slot used just before this one (towards the oldest), or `undefined` at the tail. */
  older: Slot<V> | undefined;
  /** The slot used just after this one (towards the newest), or `undefined` at the head. */
  newer: Slot<V> | undefined;
}

/**
 * A bounded least-recently-used map for the verified-token cache: a `Map` from key to slot, and the
 * slots in a doubly linked list from the newest to the oldest. Every operation is a `Map` lookup and
 * a few pointer moves; an insertion into a full cache drops the oldest slot. It does only what the
 * verifier needs (no TTL, no sizes, no disposal), which is what a general LRU package spends the
 * most of its insertion on; on a verification that misses, the insertion and eviction run on every
 * call.
 */
export class RecentCache<V> {
  readonly #slots = new Map<string, Slot<V>>();
  readonly #max: number;
  #newest: Slot<V> | undefined;
  #oldest: Slot<V> | undefined;

  constructor(max: number) {
    if (!(Number.isInteger(max) && max > 0)) throw new RangeError('a RecentCache needs a positive integer size');
    this.#max = max;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** The value under `key`, now the most recently used; `undefined` when there is none. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot !== this.#newest) {
      this.#unlink(slot);
      this.#push(slot);
    }
    return slot.value;
  }

  /** Stores `value` under `key` as the most recently used, dropping the oldest when the cache is full. */
  set(key: string, value: V): void {
    const slots = this.#slots;
    const existing = slots.get(key);
    if (existing !== undefined) {
      existing.value = value;
      if (existing !== this.#newest) {
        this.#unlink(existing);
        this.#push(existing);
      }
      return;
    }
    if (slots.size >= this.#max) {
      const oldest = this.#oldest!;
      this.#unlink(oldest);
      slots.delete(oldest.key);
    }
    const slot: Slot<V> = { key, value, older: undefined, newer: undefined };
    slots.set(key, slot);
    this.#push(slot);
  }

  delete(key: string): void {
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#unlink(slot);
    this.#slots.delete(key);
  }

  clear(): void {
    this.#slots.clear();
    this.#newest = undefined;
    this.#oldest = undefined;
  }

  /** Takes `slot` out of the recency list. */
  #unlink(slot: Slot<V>): void {
    const { older, newer } = slot;
    if (older === undefined) this.#oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.#newest = older;
    else newer.older = older;
    slot.older = undefined;
    slot.newer = undefined;
  }

  /** Puts an unlinked `slot` at the newest end. */
  #push(slot: Slot<V>): void {
    const newest = this.#newest;
    slot.older = newest;
    if (newest === undefined) this.#oldest = slot;
    else newest.newer = slot;
    this.#newest = slot;
  }
}
