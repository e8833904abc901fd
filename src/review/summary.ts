/** The review's aggregation: counts per target and per deciding policy, and how a candidate changes a row. */
import type { OutcomeCounts, ReviewChange, ReviewDecision, ReviewOutcome, ReviewRow, TargetSummary } from './types.js';

const DEFAULT_DENY = '(default deny)';

/** Accumulates the per-target counts of rows (used by {@link reviewAccess}, and by a caller streaming the rows). */
export function createReviewSummary(): { add(row: ReviewRow): void; targets(): TargetSummary[] } {
  const byTarget = new Map<
    string,
    { current: OutcomeCounts; candidate?: OutcomeCounts; policies: Map<string, OutcomeCounts>; gains: number; losses: number; policyChanges: number }
  >();
  return {
    add(row) {
      let t = byTarget.get(row.target);
      if (t === undefined) byTarget.set(row.target, (t = { current: zero(), policies: new Map(), gains: 0, losses: 0, policyChanges: 0 }));
      t.current[row.current.outcome]++;
      const key = policyKey(row.current);
      let p = t.policies.get(key);
      if (p === undefined) t.policies.set(key, (p = zero()));
      p[row.current.outcome]++;
      if (row.candidate !== undefined) (t.candidate ??= zero())[row.candidate.outcome]++;
      if (row.change === 'gain') t.gains++;
      else if (row.change === 'loss') t.losses++;
      else if (row.change === 'policy') t.policyChanges++;
    },
    targets() {
      return [...byTarget].map(([target, t]) => ({
        target,
        current: t.current,
        ...(t.candidate === undefined ? {} : { candidate: t.candidate }),
        policies: [...t.policies].map(([policy, counts]) => ({ policy, ...counts })),
        gains: t.gains,
        losses: t.losses,
        policyChanges: t.policyChanges,
      }));
    },
  };
}

/** The label a decision is counted under: its policy, the default deny, or the refusal. */
export function policyKey(decision: ReviewDecision): string {
  if (decision.policy !== undefined) return decision.policy;
  if (decision.code !== undefined) return `(refused: ${decision.code})`;
  return DEFAULT_DENY;
}

const zero = (): OutcomeCounts => ({ allowed: 0, denied: 0, conditional: 0 });

const RANK: Record<ReviewOutcome, number> = { denied: 0, conditional: 1, allowed: 2 };

/** `gain`, `loss` or `policy` (same outcome, another deciding policy); `undefined` when nothing changes. */
export function changeOf(current: ReviewDecision, candidate: ReviewDecision): ReviewChange | undefined {
  if (RANK[candidate.outcome] > RANK[current.outcome]) return 'gain';
  if (RANK[candidate.outcome] < RANK[current.outcome]) return 'loss';
  return policyKey(current) === policyKey(candidate) ? undefined : 'policy';
}
