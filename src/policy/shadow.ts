/**
 * Report-only mode: evaluate a candidate policy set beside the enforced one
 * and report where they differ, without changing what is enforced.
 */
import type { Identity, RequestContext } from '../types.js';
import type { Decision, DecisionPolicyRef } from './types.js';

/** What differs between two decisions for the same request. */
export interface DecisionDifference {
  /** The fields that differ. */
  readonly fields: readonly ('allowed' | 'action' | 'policy' | 'reason')[];
  /** The decision that was enforced (returned to the caller). */
  readonly enforced: DecisionSummary;
  /** The decision the candidate policies would have made; it changed nothing. */
  readonly candidate: DecisionSummary;
}

/** The comparable part of a decision (no trace). */
export interface DecisionSummary {
  /** The decision's `allowed`. */
  readonly allowed: boolean;
  /** The decision's action (an Access `decision` such as `allow`, or a Gateway action such as `block`). */
  readonly action: string;
  /** The deciding policy or rule; absent when none decided. Two policies are the same when their ids are equal, or, both without an id, their name and precedence. */
  readonly policy?: DecisionPolicyRef;
  /** The decision's reason (`matched`, `default`, `unknown-membership`, …). */
  readonly reason: string;
}

function summary(d: Decision): DecisionSummary {
  return d.policy === undefined
    ? { allowed: d.allowed, action: d.action, reason: d.reason }
    : { allowed: d.allowed, action: d.action, policy: d.policy, reason: d.reason };
}

function samePolicy(a: DecisionPolicyRef | undefined, b: DecisionPolicyRef | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  // Ids identify reusable policies; without ids, the name and precedence do.
  if (a.id !== undefined || b.id !== undefined) return a.id === b.id;
  return a.name === b.name && a.precedence === b.precedence;
}

/**
 * Compares two decisions for the same request. Returns `undefined` when they
 * agree on `allowed`, `action`, the deciding policy and `reason`; traces are
 * not compared.
 *
 * @example
 * ```ts
 * import { compareDecisions } from 'entragate';
 * const diff = compareDecisions(enforced.evaluate(identity, ctx), candidate.evaluate(identity, ctx));
 * if (diff?.fields.includes('allowed')) console.warn('the candidate would change access', diff);
 * ```
 */
export function compareDecisions(enforced: Decision, candidate: Decision): DecisionDifference | undefined {
  const fields: ('allowed' | 'action' | 'policy' | 'reason')[] = [];
  if (enforced.allowed !== candidate.allowed) fields.push('allowed');
  if (enforced.action !== candidate.action) fields.push('action');
  if (!samePolicy(enforced.policy, candidate.policy)) fields.push('policy');
  if (enforced.reason !== candidate.reason) fields.push('reason');
  return fields.length === 0 ? undefined : { fields, enforced: summary(enforced), candidate: summary(candidate) };
}

/** Anything with the compiled evaluators' `evaluate`. */
export interface DecisionEvaluator<D extends Decision> {
  /** Decides one request, synchronously: `identity` is `null` for a request without a login. */
  evaluate(identity: Identity | null, context: RequestContext): D;
}

/** Options of {@link createShadowEvaluator}. */
export interface ShadowOptions<D extends Decision> {
  /**
   * Called synchronously for each request where the candidate differs. An
   * exception it throws is caught and counted: it never changes the enforced decision.
   */
  onDifference?: (difference: DecisionDifference, detail: { enforced: D; candidate: D; identity: Identity | null; context: RequestContext }) => void;
}

/** Counters of a shadow evaluator. */
export interface ShadowStats {
  /** Requests evaluated since the evaluator was created (each counted once, whatever the candidate did). */
  readonly evaluated: number;
  /** Requests where the candidate's decision differed from the enforced one (see {@link compareDecisions}). */
  readonly differed: number;
  /** Candidate evaluations or `onDifference` calls that threw (the enforced decision stood). */
  readonly failed: number;
}

/** An evaluator that enforces one policy set and reports a candidate's differences. */
export interface ShadowEvaluator<D extends Decision> extends DecisionEvaluator<D> {
  /** The counters so far, as a new object (a snapshot: it does not update); never reset. */
  stats(): ShadowStats;
}

/**
 * Evaluates `enforced` and `candidate` on every request and returns the
 * enforced decision, reporting differences to `onDifference`. The candidate
 * can never change the outcome: its errors are caught and counted.
 *
 * @example
 * ```ts
 * import { compileAccessPolicies, createShadowEvaluator } from 'entragate';
 * const shadow = createShadowEvaluator(compileAccessPolicies(current), compileAccessPolicies(proposed), {
 *   onDifference: (diff) => console.log('would change', diff.fields, diff.enforced, diff.candidate),
 * });
 * const decision = shadow.evaluate(identity, ctx); // always the current policies' decision
 * ```
 */
export function createShadowEvaluator<D extends Decision>(
  enforced: DecisionEvaluator<D>,
  candidate: DecisionEvaluator<D>,
  options: ShadowOptions<D> = {},
): ShadowEvaluator<D> {
  let evaluated = 0;
  let differed = 0;
  let failed = 0;
  return {
    evaluate(identity, context) {
      const decision = enforced.evaluate(identity, context);
      evaluated++;
      try {
        const other = candidate.evaluate(identity, context);
        const diff = compareDecisions(decision, other);
        if (diff !== undefined) {
          differed++;
          options.onDifference?.(diff, { enforced: decision, candidate: other, identity, context });
        }
      } catch {
        // INVARIANT: report-only: nothing the candidate or the callback does changes the enforced decision.
        failed++;
      }
      return decision;
    },
    stats: () => ({ evaluated, differed, failed }),
  };
}
