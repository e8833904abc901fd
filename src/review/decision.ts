/** One review decision: a user on a target, classified allowed, denied or conditional from the gate's decision and its trace. */
import type { AuthorizeContext, Gate } from '../gate.js';
import type { CheckTrace, Decision } from '../policy/types.js';
import type { Identity } from '../types.js';
import type { ReviewDecision } from './types.js';

/** The decision of a user the pipeline refused (an inactive user, a user another directory user shadows). */
export function refused(code: string, reason: string): ReviewDecision {
  return Object.freeze({ outcome: 'denied', action: 'refused', reason, code, attributes: Object.freeze([]) as readonly string[] });
}

/** The request attribute a trace check read, as the review names it. */
function attributeName(check: CheckTrace): string | undefined {
  const a = check.attribute;
  if (a === 'context.ip') return 'ip';
  if (a === 'context.country') return 'geo';
  if (a === 'context.certificate') return 'certificate';
  if (a === 'context.devicePosture') return 'device_posture';
  if (a.startsWith('http.') || a.startsWith('context.request')) return 'http';
  return undefined;
}

/** What an undecided policy turns on: the request attributes its unknown checks read, or an unknown group. */
interface Undecided {
  attributes: readonly string[];
  membership: boolean;
}

function collect(checks: readonly CheckTrace[], out: Set<string>, membership: { unknown: boolean }): void {
  for (const check of checks) {
    if (check.result === 'unknown') {
      const name = attributeName(check);
      if (name !== undefined) out.add(name);
      else if (check.children === undefined || check.children.length === 0) membership.unknown = true;
    }
    if (check.children !== undefined) collect(check.children, out, membership);
  }
}

/**
 * Per compiled policy (its ref object, unique per compiled set), what it turns on. Under
 * `unknownRequestAttributes` a request rule is unknown for every user, and an identity rule is never unknown
 * with the directory's complete membership, so the answer is the same for every user: it is read once from
 * a trace, not rebuilt per user (a trace of 1,000 policies per conditional user would dominate the review).
 */
const undecidedCache = new WeakMap<object, Undecided>();

/** A compiled policy the gate reports undecided (`onUndecided`). */
export type PolicyRef = Parameters<NonNullable<AuthorizeContext['onUndecided']>>[0];

/** Decides one user on one target with `unknownRequestAttributes`, and says what a conditional answer turns on. */
export async function decide(gate: Gate, identity: Identity, context: AuthorizeContext, undecided: PolicyRef[]): Promise<ReviewDecision> {
  undecided.length = 0;
  const decision: Decision = await gate.authorize(identity, context);
  const base = { action: decision.action, ...(decision.policy === undefined ? {} : { policy: decision.policy.name }) };
  if (decision.allowed) return Object.freeze({ outcome: 'allowed', ...base, reason: decision.reason, attributes: NONE });
  if (identity.membership.state !== 'complete') {
    const reason = identity.membership.state === 'unknown' ? `membership unknown: ${identity.membership.reason}` : decision.reason;
    return Object.freeze({ outcome: 'denied', ...base, reason, attributes: NONE });
  }
  const attributes = new Set<string>();
  let membershipUnknown = false;
  if (decision.reason === 'unknown-membership' || decision.reason === 'unknown-request') {
    if (decision.kind === 'access' && undecided.length > 0) {
      if (undecided.some((ref) => !undecidedCache.has(ref))) {
        // One trace fills the cache for every undecided policy of this decision.
        const byKey = new Map(undecided.map((ref) => [`${ref.precedence}\u0000${ref.name}`, ref]));
        for (const entry of decision.trace) {
          const ref = byKey.get(`${entry.policy.precedence}\u0000${entry.policy.name}`);
          if (ref === undefined || entry.result !== 'unknown') continue;
          const found = new Set<string>();
          const m = { unknown: false };
          collect(entry.checks, found, m);
          undecidedCache.set(ref, { attributes: [...found], membership: m.unknown || found.size === 0 });
        }
      }
      for (const ref of undecided) {
        const u = undecidedCache.get(ref) ?? { attributes: [], membership: true };
        for (const a of u.attributes) attributes.add(a);
        if (u.membership) membershipUnknown = true;
      }
    } else {
      // Gateway: the trace names the unknown fields (`http.*` without a request).
      const m = { unknown: false };
      for (const entry of decision.trace) if (entry.result === 'unknown') collect(entry.checks, attributes, m);
      membershipUnknown = m.unknown;
      if (decision.reason === 'unknown-request' && attributes.size === 0) attributes.add('http');
    }
  }
  const missing = decision.kind === 'access' ? decision.missingAuthContext : undefined;
  if (missing !== undefined && missing.length > 0) attributes.add('auth_context');
  // INVARIANT: a decision that an unknown group could turn is no "depends on the request": it is denied, and says so.
  if (attributes.size === 0 || membershipUnknown) return Object.freeze({ outcome: 'denied', ...base, reason: decision.reason, attributes: NONE });
  const policy = decision.policy?.name ?? undecided[0]?.name;
  return Object.freeze({
    outcome: 'conditional',
    action: decision.action,
    ...(policy === undefined ? {} : { policy }),
    reason: `depends on the request: ${[...attributes].sort().join(', ')}`,
    attributes: Object.freeze([...attributes].sort()) as readonly string[],
  });
}

const NONE: readonly string[] = Object.freeze([]);
