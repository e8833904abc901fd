/**
 * Decision objects and their text rendering. The trace is built on first read
 * by re-running a traced evaluation: the hot path allocates one object.
 */
import type {
  AccessAction,
  AccessDecision,
  CheckTrace,
  Decision,
  DecisionPolicyRef,
  DecisionReason,
  GatewayAction,
  GatewayDecision,
  PolicyTrace,
} from './types.js';

type TraceBuilder = () => readonly PolicyTrace[];

/** One class for both kinds keeps a single hidden class on the hot path. */
class LazyDecision {
  readonly kind: 'access' | 'gateway';
  readonly allowed: boolean;
  readonly action: string;
  readonly policy: DecisionPolicyRef | undefined;
  readonly reason: DecisionReason;
  readonly sessionDuration: string | undefined;
  missingAuthContext: readonly string[] | undefined;
  #trace: readonly PolicyTrace[] | undefined;
  #build: TraceBuilder | undefined;

  constructor(
    kind: 'access' | 'gateway',
    allowed: boolean,
    action: string,
    policy: DecisionPolicyRef | undefined,
    reason: DecisionReason,
    sessionDuration: string | undefined,
    build: TraceBuilder,
  ) {
    this.kind = kind;
    this.allowed = allowed;
    this.action = action;
    this.policy = policy;
    this.reason = reason;
    this.sessionDuration = sessionDuration;
    this.missingAuthContext = undefined;
    this.#build = build;
  }

  get trace(): readonly PolicyTrace[] {
    if (this.#trace === undefined) {
      this.#trace = (this.#build as TraceBuilder)();
      this.#build = undefined;
    }
    return this.#trace;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { kind: this.kind, allowed: this.allowed, action: this.action, reason: this.reason };
    if (this.policy) out['policy'] = this.policy;
    if (this.kind === 'access' && this.sessionDuration !== undefined) out['sessionDuration'] = this.sessionDuration;
    if (this.missingAuthContext !== undefined) out['missingAuthContext'] = this.missingAuthContext;
    out['trace'] = this.trace;
    return out;
  }
}

export function makeAccessDecision(
  allowed: boolean,
  action: AccessAction,
  policy: DecisionPolicyRef | undefined,
  reason: DecisionReason,
  sessionDuration: string | undefined,
  build: TraceBuilder,
): AccessDecision {
  return new LazyDecision('access', allowed, action, policy, reason, sessionDuration, build) as unknown as AccessDecision;
}

/** A deny that names the authentication contexts whose absence alone denied it (see `AccessDecision.missingAuthContext`). */
export function withMissingAuthContext(decision: AccessDecision, contexts: readonly string[]): AccessDecision {
  (decision as unknown as LazyDecision).missingAuthContext = Object.freeze([...contexts]);
  return decision;
}

export function makeGatewayDecision(
  allowed: boolean,
  action: GatewayAction,
  policy: DecisionPolicyRef | undefined,
  reason: DecisionReason,
  build: TraceBuilder,
): GatewayDecision {
  return new LazyDecision('gateway', allowed, action, policy, reason, undefined, build) as unknown as GatewayDecision;
}

/** `1 value`, `2 values`: counts in trace details. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function renderCheck(check: CheckTrace, indent: string, lines: string[]): void {
  const value = check.value === '' ? '' : ` ${check.value}`;
  const detail = check.detail === undefined ? '' : ` (${check.detail})`;
  lines.push(`${indent}${check.path} ${check.selector}${value} : ${check.result}${detail}`);
  for (const child of check.children ?? []) renderCheck(child, `${indent}  `, lines);
}

function renderRef(ref: DecisionPolicyRef): string {
  const id = ref.id === undefined ? '' : `id ${ref.id}, `;
  return `"${ref.name}" (${id}precedence ${ref.precedence})`;
}

/**
 * Renders a decision and its trace as text a person can read: the outcome,
 * the policy that decided, then each policy considered with each check.
 *
 * It does not redact: the trace holds the values the policies name (group
 * ids, emails) and the attribute read, never a token.
 *
 * @example
 * ```ts
 * import { compileAccessPolicies, explain } from 'entragate';
 * const policies = compileAccessPolicies([{ name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] }]);
 * const decision = policies.evaluate(null, {});
 * console.log(explain(decision));
 * // access: denied, action deny (default)
 * // no policy matched: deny by default
 * // 1. allow "staff" (precedence 1): skipped (no identity: allow and block policies need a login)
 * ```
 */
export function explain(decision: Decision): string {
  const lines: string[] = [];
  lines.push(`${decision.kind}: ${decision.allowed ? 'allowed' : 'denied'}, action ${decision.action} (${decision.reason})`);
  if (decision.policy) lines.push(`decided by ${renderRef(decision.policy)}`);
  else lines.push(decision.kind === 'access' ? 'no policy matched: deny by default' : 'no rule matched: default action');
  decision.trace.forEach((entry, i) => {
    const note = entry.note === undefined ? '' : ` (${entry.note})`;
    lines.push(`${i + 1}. ${entry.policy.action} ${renderRef(entry.policy)}: ${entry.result}${note}`);
    for (const check of entry.checks) renderCheck(check, '   ', lines);
  });
  return lines.join('\n');
}
