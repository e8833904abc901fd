/**
 * Group lookups for one compiled policy set, built once at compile time.
 *
 * Every group test a set holds (an Access `azureAD` rule, a Gateway
 * `any(identity.groups.id[*] in {…})`) becomes a numbered probe. For an
 * identity, its groups are walked once against the values the set names,
 * giving a bitset of the probes that hold; a rule then reads one bit. Nothing
 * per identity is built but that bitset (and only when a probe holds): a fresh
 * identity with 200 groups costs 200 filter reads and a few `Map.get`s, where a
 * `Set` of its groups cost an allocation and 200 hashed inserts.
 */
import type { GroupField, Identity } from '../types.js';

export type { GroupField };

interface FieldTable {
  /** Normalised value → the probes that name it. */
  readonly values: Map<string, number[]>;
  /** One bit per folded-suffix hash of a named value: a clear bit means "named by no probe". */
  filter: Uint32Array;
  mask: number;
}

/** How many trailing characters the filter hash reads: 24 bits of a GUID, the distinctive end of most names. */
const FOLD_CHARS = 6;

/**
 * Hashes the last {@link FOLD_CHARS} characters with ASCII case folded, or
 * returns -1 when one of them is not ASCII. It only rejects: when the trailing
 * characters are ASCII, `toLowerCase` maps them one to one, so a value and its
 * lower-cased form hash alike (the length is left out: a non-ASCII character
 * earlier in the value may lower-case to two), and a -1 sends the value to the
 * exact lookup.
 */
function foldHash(value: string, mask: number): number {
  const end = value.length;
  let h = 0;
  let seen = 0;
  for (let i = end > FOLD_CHARS ? end - FOLD_CHARS : 0; i < end; i++) {
    const c = value.charCodeAt(i);
    seen |= c;
    // `| 0x20` folds A–Z onto a–z; other characters may collide, which costs a lookup, never a wrong answer.
    h = (h * 33 + (c | 0x20)) | 0;
  }
  return seen > 0x7f ? -1 : (h ^ (h >>> 16)) & mask;
}

/**
 * The probes of one compiled set, and the walk that finds which hold for an identity.
 *
 * INVARIANT: a probe's bit is set exactly when some group of the identity (with a
 * string `id`) has, in that field, one of the probe's values (compared
 * case-insensitively when the index was created so, byte for byte otherwise).
 */
export class GroupIndex {
  readonly #caseInsensitive: boolean;
  readonly #tables = new Map<GroupField, FieldTable>();
  /** Probe key (field and values) → probe number, so equal tests share a bit. */
  readonly #keys = new Map<string, number>();
  /** Probe number → the field it reads. */
  readonly #fields: GroupField[] = [];
  #count = 0;
  #zero = new Uint32Array(0);
  #sealed = false;
  #id: FieldTable | undefined;
  #name: FieldTable | undefined;
  #email: FieldTable | undefined;

  /** `caseInsensitive`: Access compares group Object Ids as GUIDs; Gateway compares bytes. */
  constructor(caseInsensitive: boolean) {
    this.#caseInsensitive = caseInsensitive;
  }

  /** The number of distinct probes. */
  get size(): number {
    return this.#count;
  }

  /** Registers a test "the identity has a group whose `field` is one of `values`" and returns its probe number. */
  probe(field: GroupField, values: readonly string[]): number {
    if (this.#sealed) throw new Error('group index is sealed');
    const normalised = [...new Set(this.#caseInsensitive ? values.map((v) => v.toLowerCase()) : values)];
    const key = `${field}\u0000${normalised.join('\u0000')}`;
    const known = this.#keys.get(key);
    if (known !== undefined) return known;
    const probe = this.#count++;
    this.#keys.set(key, probe);
    this.#fields.push(field);
    let table = this.#tables.get(field);
    if (!table) this.#tables.set(field, (table = { values: new Map(), filter: new Uint32Array(0), mask: 0 }));
    for (const v of normalised) {
      const list = table.values.get(v);
      if (list) list.push(probe);
      else table.values.set(v, [probe]);
    }
    return probe;
  }

  /** The group field probe `probe` reads. */
  fieldOf(probe: number): GroupField {
    return this.#fields[probe] as GroupField;
  }

  /** Builds the filters; call once, after the last {@link probe}. */
  seal(): this {
    this.#sealed = true;
    this.#zero = new Uint32Array(Math.ceil(this.#count / 32));
    if (!this.#caseInsensitive) return this.#finish();
    for (const table of this.#tables.values()) {
      // About 64 filter bits per value: one false "maybe" in 64 for a group no probe names.
      let bits = 1024;
      while (bits < table.values.size * 64 && bits < 1 << 22) bits *= 2;
      table.mask = bits - 1;
      table.filter = new Uint32Array(bits / 32);
      for (const v of table.values.keys()) {
        const h = foldHash(v, table.mask);
        if (h >= 0) table.filter[h >>> 5]! |= 1 << (h & 31);
      }
    }
    return this.#finish();
  }

  #finish(): this {
    this.#id = this.#tables.get('id');
    this.#name = this.#tables.get('name');
    this.#email = this.#tables.get('email');
    return this;
  }

  /**
   * The probes that hold for these groups, as a bitset (read it with
   * {@link hasProbe}). One pass over the groups; no allocation unless a probe
   * holds. The bitset returned for "none" is shared: never write to it.
   */
  hits(groups: Identity['groups'] | undefined): Uint32Array {
    if (this.#count === 0 || !Array.isArray(groups)) return this.#zero;
    const id = this.#id;
    const name = this.#name;
    const email = this.#email;
    let bits: Uint32Array | undefined;
    for (const g of groups as readonly unknown[]) {
      if (typeof g !== 'object' || g === null) continue;
      const ref = g as { id?: unknown; name?: unknown; email?: unknown };
      // Groups without a string id are ignored as a whole, as the identity view ignores them.
      if (typeof ref.id !== 'string') continue;
      if (id !== undefined) bits = this.#mark(id, ref.id, bits);
      if (name !== undefined && typeof ref.name === 'string') bits = this.#mark(name, ref.name, bits);
      if (email !== undefined && typeof ref.email === 'string') bits = this.#mark(email, ref.email, bits);
    }
    return bits ?? this.#zero;
  }

  #mark(table: FieldTable, value: string, bits: Uint32Array | undefined): Uint32Array | undefined {
    let probes: number[] | undefined;
    if (this.#caseInsensitive) {
      // Most groups are named by no probe: the filter turns them away before `toLowerCase` and hashing.
      const h = foldHash(value, table.mask);
      if (h >= 0 && (table.filter[h >>> 5]! & (1 << (h & 31))) === 0) return bits;
      probes = table.values.get(value.toLowerCase());
    } else {
      // Exact bytes: one lookup (a string's hash is computed once and kept by the engine).
      probes = table.values.get(value);
    }
    if (probes === undefined) return bits;
    const out = bits ?? new Uint32Array(this.#zero.length);
    for (const p of probes) out[p >>> 5]! |= 1 << (p & 31);
    return out;
  }
}

/** Whether probe `probe` holds in a bitset from {@link GroupIndex.hits}. */
export function hasProbe(hits: Uint32Array, probe: number): boolean {
  return ((hits[probe >>> 5] as number) & (1 << (probe & 31))) !== 0;
}

/** Calls `fn` with each probe number set in `hits`, in ascending order. */
export function forEachProbe(hits: Uint32Array, fn: (probe: number) => void): void {
  for (let w = 0; w < hits.length; w++) {
    let x = hits[w] as number;
    while (x !== 0) {
      const low = x & -x;
      fn(w * 32 + 31 - Math.clz32(low));
      x ^= low;
    }
  }
}

/**
 * The positions to evaluate, in order: the `always` positions merged with the
 * positions indexed under the probes that hold (`byProbe`), without duplicates.
 * Returns `always` itself when no indexed position applies.
 */
export function candidatePositions(always: Int32Array, byProbe: readonly (readonly number[] | undefined)[], hits: Uint32Array): Int32Array {
  let extra: number[] | undefined;
  forEachProbe(hits, (p) => {
    const list = byProbe[p];
    if (list !== undefined) (extra ??= []).push(...list);
  });
  if (extra === undefined) return always;
  extra.sort((a, b) => a - b);
  const out = new Int32Array(always.length + extra.length);
  let n = 0;
  let i = 0;
  let j = 0;
  while (i < always.length || j < extra.length) {
    const next = j >= extra.length || (i < always.length && (always[i] as number) <= (extra[j] as number)) ? (always[i++] as number) : (extra[j++] as number);
    if (n === 0 || out[n - 1] !== next) out[n++] = next;
  }
  return out.subarray(0, n);
}
