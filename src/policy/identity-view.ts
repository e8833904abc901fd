/**
 * A read-only view of an {@link Identity} for the hot path: lower-cased email,
 * the membership state as one flag, the group fields it knows as a bitmask, and
 * the bitset of the compiled set's group probes that hold (see `group-index.ts`). Each compiled set prepares its own
 * view of an identity and caches it per identity object (see
 * {@link createPreparer}). Building a view is cheap:
 * the group arrays that traces and non-indexed comparisons read are built on
 * first use. Identities are treated as immutable once evaluated.
 */
import type { GroupField, Identity } from '../types.js';
import { canonicalEmail } from './extended-email.js';
import { candidatePositions, type GroupIndex } from './group-index.js';

/** The bit of a group field in {@link IdentityView.known}. */
export const FIELD_ID = 1;
export const FIELD_NAME = 2;
export const FIELD_EMAIL = 4;
/** Every group field. */
export const ALL_FIELDS = 7;

/** The bit of a group field (`id` → {@link FIELD_ID}). */
export function fieldBit(field: GroupField): number {
  return field === 'id' ? FIELD_ID : field === 'name' ? FIELD_NAME : FIELD_EMAIL;
}

/**
 * The group fields a membership knows for every group, as a bitmask: none unless it is `complete`;
 * then those its `fields` lists, `id` alone when it lists none. INVARIANT: fail closed on a malformed
 * `fields` (not an array): nothing is known.
 */
export function knownFields(membership: unknown): number {
  const m = membership as { state?: unknown; fields?: unknown } | undefined;
  if (typeof m !== 'object' || m === null || m.state !== 'complete') return 0;
  const fields = m.fields;
  if (fields === undefined) return FIELD_ID;
  if (!Array.isArray(fields)) return 0;
  let bits = 0;
  for (let i = 0; i < fields.length; i++) {
    const f: unknown = fields[i];
    if (f === 'id') bits |= FIELD_ID;
    else if (f === 'name') bits |= FIELD_NAME;
    else if (f === 'email') bits |= FIELD_EMAIL;
  }
  return bits;
}

const FIELD_NAMES: Readonly<Record<number, string>> = { [FIELD_ID]: 'ids', [FIELD_NAME]: 'names', [FIELD_EMAIL]: 'emails' };

export interface IdentityView {
  /** `null` for a request without a login: every `identity.*` field is then unknown. */
  readonly identity: Identity | null;
  /** INVARIANT: true only when `membership.state === 'complete'`; false without an identity. */
  readonly complete: boolean;
  /**
   * The group fields known for every group ({@link FIELD_ID} | {@link FIELD_NAME} | {@link FIELD_EMAIL}).
   * INVARIANT: a group comparison answers "no" only on a field in here; `0` unless membership is
   * complete, and without an identity.
   */
  readonly known: number;
  /** Why membership is not complete, for traces (`membership overage (hasgroups)`). */
  readonly membershipNote: string;
  readonly email: string;
  readonly emailLower: string;
  readonly idpId: string;
  readonly amr: readonly string[];
  /** The group probes of the compiled set that prepared this view which hold for the identity. */
  readonly hits: Uint32Array;
  /** Exact group ids / names / emails (wirefilter compares bytes). */
  readonly groupIds: readonly string[];
  readonly groupNames: readonly string[];
  readonly groupEmails: readonly string[];
  /** The email without `+tag` and dots in the local part (Gateway extended email), computed once. */
  readonly canonicalEmail: string;
}

/** Why a group field (its bit) is unknown in a view, for traces: the membership state, or the fields it lacks. */
export function fieldNote(view: IdentityView, bit: number): string {
  if (view.identity === null) return 'no identity';
  if (!view.complete) return view.membershipNote;
  const listed = [FIELD_ID, FIELD_NAME, FIELD_EMAIL].filter((b) => (view.known & b) !== 0).map((b) => FIELD_NAMES[b]);
  return `group ${FIELD_NAMES[bit]} are not known: ${view.membershipNote} supplies ${listed.length === 0 ? 'no group field' : listed.join(' and ')}`;
}

/** Describes a membership state for a trace: `membership overage (hasgroups)`. */
export function describeMembership(identity: Identity): string {
  const m = identity.membership as Identity['membership'] | undefined;
  if (!m || typeof m !== 'object') return 'membership state missing';
  switch (m.state) {
    case 'complete':
      return `membership complete (${m.source})`;
    case 'absent':
      return 'membership absent (no groups claim)';
    case 'overage':
      return `membership overage (${m.signal})`;
    case 'unknown':
      return `membership unknown: ${m.reason} (${m.code})`;
    default:
      return 'membership state not recognised';
  }
}

function strings(values: unknown): string[] {
  if (!Array.isArray(values)) return [];
  const out: string[] = [];
  for (const v of values) if (typeof v === 'string') out.push(v);
  return out;
}

const NONE: readonly string[] = [];

/**
 * With no identity at all (a request without a login, a service token), every identity field is
 * unknown: the compiled comparisons read `identity === null` as unknown, and the group fields as not
 * known (`known` is 0). The values below are never compared; traces show them.
 */
class EmptyView implements IdentityView {
  readonly identity = null;
  readonly complete = false;
  readonly known = 0;
  readonly membershipNote = 'no identity';
  readonly email = '';
  readonly emailLower = '';
  readonly idpId = '';
  readonly amr = NONE;
  readonly groupIds = NONE;
  readonly groupNames = NONE;
  readonly groupEmails = NONE;
  readonly canonicalEmail = '';
  readonly hits: Uint32Array;

  constructor(hits: Uint32Array) {
    this.hits = hits;
  }
}

class PreparedView implements IdentityView {
  readonly identity: Identity;
  readonly complete: boolean;
  readonly known: number;
  readonly email: string;
  readonly emailLower: string;
  readonly idpId: string;
  readonly amr: readonly string[];
  readonly hits: Uint32Array;
  #membershipNote: string | undefined;
  #ids: string[] | undefined;
  #names: string[] | undefined;
  #emails: string[] | undefined;
  #canonical: string | undefined;

  constructor(identity: Identity, hits: Uint32Array) {
    this.identity = identity;
    // INVARIANT: fail closed on a malformed membership: anything but an explicit `complete` is unknown.
    this.complete = (identity.membership as { state?: unknown } | undefined)?.state === 'complete';
    this.known = knownFields(identity.membership);
    this.email = typeof identity.email === 'string' ? identity.email : '';
    this.emailLower = this.email.toLowerCase();
    this.idpId = typeof identity.idp?.id === 'string' ? identity.idp.id : '';
    this.amr = strings(identity.amr);
    this.hits = hits;
  }

  get membershipNote(): string {
    return (this.#membershipNote ??= describeMembership(this.identity));
  }

  #collect(): void {
    const ids: string[] = [];
    const names: string[] = [];
    const emails: string[] = [];
    const groups = Array.isArray(this.identity.groups) ? (this.identity.groups as readonly unknown[]) : NONE;
    for (const g of groups) {
      if (typeof g !== 'object' || g === null) continue;
      const ref = g as { id?: unknown; name?: unknown; email?: unknown };
      // A group without a string id is ignored as a whole (the group index does the same).
      if (typeof ref.id !== 'string') continue;
      ids.push(ref.id);
      if (typeof ref.name === 'string') names.push(ref.name);
      if (typeof ref.email === 'string') emails.push(ref.email);
    }
    this.#ids = ids;
    this.#names = names;
    this.#emails = emails;
  }

  get groupIds(): readonly string[] {
    if (this.#ids === undefined) this.#collect();
    return this.#ids as string[];
  }

  get groupNames(): readonly string[] {
    if (this.#names === undefined) this.#collect();
    return this.#names as string[];
  }

  get groupEmails(): readonly string[] {
    if (this.#emails === undefined) this.#collect();
    return this.#emails as string[];
  }

  get canonicalEmail(): string {
    return (this.#canonical ??= canonicalEmail(this.email));
  }
}

/**
 * A view of `identity` for a compiled set, with that set's probe `hits`
 * (`null`/`undefined`: the empty view of "no identity").
 */
export function createView(identity: Identity | null | undefined, hits: Uint32Array): IdentityView {
  return identity === null || identity === undefined ? new EmptyView(hits) : new PreparedView(identity, hits);
}

/** A view and the positions (policies or rules) worth evaluating for it, in order. */
export interface Prepared {
  readonly view: IdentityView;
  readonly order: Int32Array;
}

/** What an evaluator knows about its positions, for {@link createPreparer}. */
export interface EvaluationPlan {
  /** Every position, in order. */
  readonly all: Int32Array;
  /** The positions an identity-less request evaluates. */
  readonly noIdentity: Int32Array;
  /** Positions that are not indexed: always evaluated. */
  readonly always: Int32Array;
  /**
   * Probe number → indexed positions that can match only when that probe holds, given that the
   * probe's group field is known (when it is not, they are evaluated whatever the probe says).
   */
  readonly byProbe: readonly (readonly number[] | undefined)[];
}

/**
 * For each mask of known group fields, the positions evaluated whatever the probes say: `always`, and
 * the indexed positions whose probe reads a field not in the mask. Built on first use (8 masks at most).
 */
function alwaysByMask(index: GroupIndex, plan: EvaluationPlan): (known: number) => Int32Array {
  const cache: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(ALL_FIELDS + 1).fill(undefined);
  return (known) => {
    let out = cache[known];
    if (out === undefined) {
      const extra: number[] = [];
      plan.byProbe.forEach((positions, probe) => {
        if (positions !== undefined && (fieldBit(index.fieldOf(probe)) & known) === 0) extra.push(...positions);
      });
      if (extra.length === 0) out = plan.always;
      else {
        const merged = new Set<number>([...plan.always, ...extra]);
        out = merged.size === plan.all.length ? plan.all : Int32Array.from([...merged].sort((a, b) => a - b));
      }
      cache[known] = out;
    }
    return out;
  };
}

/** How many recent identities a preparer remembers before it knows whether they recur. */
const RECENT = 16;

/**
 * Returns a function that prepares the view of an identity for one compiled
 * set, with the positions to evaluate, and caches it per identity object.
 *
 * The cache is shaped by how identities arrive. An identity whose groups a
 * source resolved is a new object on every request: entering it in a
 * `WeakMap` would cost the garbage collector more (measured: about twice the
 * mean time per decision) than preparing its view does. An identity from the
 * token cache is the same object on every request and is worth keeping. So a
 * prepared view goes to a ring of the last {@link RECENT} identities, and to
 * the long-lived `WeakMap` only when it is seen again while still in the
 * ring, or, for one miss in about 32, at once: a recurring identity among
 * more interleaved users than the ring holds reaches the map within a few
 * dozen requests, while fresh identities rarely pay for an entry.
 * Which identities are cached changes timings only, never a decision.
 *
 * INVARIANT: an indexed position is skipped only when its probe does not hold and the
 * probe's group field is known (complete membership that lists the field); otherwise it is
 * evaluated, so a possible match is never missed.
 */
export function createPreparer(index: GroupIndex, plan: EvaluationPlan): (identity: Identity | null | undefined) => Prepared {
  const none: Prepared = { view: createView(null, index.hits(undefined)), order: plan.noIdentity };
  const alwaysFor = alwaysByMask(index, plan);
  const recurring = new WeakMap<Identity, Prepared>();
  const recentKeys: (Identity | undefined)[] = new Array<Identity | undefined>(RECENT).fill(undefined);
  const recentValues: (Prepared | undefined)[] = new Array<Prepared | undefined>(RECENT).fill(undefined);
  let next = 0;
  let seed = 0x9e3779b9 | 0;
  let lastKey: Identity | undefined;
  let lastValue = none;
  const build = (identity: Identity): Prepared => {
    const hits = index.hits(identity.groups);
    const view = createView(identity, hits);
    const always = alwaysFor(view.known);
    return { view, order: always === plan.all ? plan.all : candidatePositions(always, plan.byProbe, hits) };
  };
  return (identity) => {
    if (identity === null || identity === undefined) return none;
    if (identity === lastKey) return lastValue;
    let prepared = recurring.get(identity);
    if (prepared === undefined) {
      const at = recentKeys.indexOf(identity);
      if (at !== -1) {
        // Seen again: an identity that recurs, worth a long-lived entry.
        prepared = recentValues[at] as Prepared;
        recurring.set(identity, prepared);
      } else {
        prepared = build(identity);
        // One miss in 32 or so (pseudo-random, so no round-robin of users escapes it) also goes to the
        // long-lived map: an identity that recurs beyond the ring's reach gets there within a few requests.
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        if ((seed & 31) === 0) recurring.set(identity, prepared);
        recentKeys[next] = identity;
        recentValues[next] = prepared;
        next = (next + 1) % RECENT;
      }
    }
    lastKey = identity;
    lastValue = prepared;
    return prepared;
  };
}
