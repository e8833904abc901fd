/**
 * A read-only view of an {@link Identity} for the hot path: lower-cased email,
 * the membership state as one flag, and the bitset of the compiled set's group
 * probes that hold (see `group-index.ts`). Each compiled set prepares its own
 * view of an identity and caches it per identity object (see
 * {@link createPreparer}). Building a view is cheap:
 * the group arrays that traces and non-indexed comparisons read are built on
 * first use. Identities are treated as immutable once evaluated.
 */
import type { Identity } from '../types.js';
import { canonicalEmail } from './extended-email.js';
import { candidatePositions, type GroupIndex } from './group-index.js';

export interface IdentityView {
  readonly identity: Identity | null;
  /** INVARIANT: true only when `membership.state === 'complete'` (or there is no identity at all). */
  readonly complete: boolean;
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
 * With no identity at all (service tokens, agentless DNS), scalars are `""` and
 * arrays empty, as the reference recommends; there is nothing unknown about it.
 */
class EmptyView implements IdentityView {
  readonly identity = null;
  readonly complete = true;
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
  /** Every position, in order: used when membership is not complete. */
  readonly all: Int32Array;
  /** The positions an identity-less request evaluates. */
  readonly noIdentity: Int32Array;
  /** Positions that are not indexed: always evaluated. */
  readonly always: Int32Array;
  /** Probe number → indexed positions that can match only when that probe holds. */
  readonly byProbe: readonly (readonly number[] | undefined)[];
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
 * INVARIANT: indexed positions are skipped only with complete membership;
 * unknown membership evaluates every position, so a possible match is never missed.
 */
export function createPreparer(index: GroupIndex, plan: EvaluationPlan): (identity: Identity | null | undefined) => Prepared {
  const none: Prepared = { view: createView(null, index.hits(undefined)), order: plan.noIdentity };
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
    return { view, order: view.complete ? candidatePositions(plan.always, plan.byProbe, hits) : plan.all };
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
