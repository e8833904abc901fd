/**
 * Evaluating a compiled Gateway rule set: first match by precedence in
 * three-valued logic, an unknown restricting rule failing closed, the group
 * index, and the trace. Split from `gateway-compile.ts`, which re-exports its types.
 */
import type { Identity, RequestContext } from '../types.js';
import { makeGatewayDecision } from './decision.js';
import { groupProbeOf, NO_HTTP_ATTRIBUTES, type ExpressionFn } from './expression-compile.js';
import type { GroupIndex } from './group-index.js';
import { requestOf, type HttpRequestState } from './http-request.js';
import { createPreparer, type IdentityView, type Prepared } from './identity-view.js';
import { F, T, U, traceResult, type Tri } from './tri.js';
import type { CheckTrace, DecisionPolicyRef, GatewayAction, GatewayDecision, PolicyTrace } from './types.js';

/**
 * Actions that only exempt traffic or let it through. An unknown rule with one
 * of these is a "maybe" and evaluation continues; an unknown rule with any
 * other action (block, isolate, override, safesearch, redirect, …) might
 * apply a restriction we cannot rule out, so it fails closed as a block.
 */
export const PASS_ACTIONS: ReadonlySet<GatewayAction> = new Set<GatewayAction>(['allow', 'off', 'noisolate', 'noscan', 'resolve', 'egress', 'l4_override']);

/** One enabled rule, compiled. */
export interface CompiledGatewayRule {
  readonly ref: DecisionPolicyRef;
  readonly action: GatewayAction;
  readonly parts: readonly { readonly part: string; readonly fn: ExpressionFn }[];
  /** Whether an expression reads an `identity.*` field (so a request without an identity makes it unknown). */
  readonly readsIdentity: boolean;
  /** The `identity.groups.*` fields the expressions read, as field bits (unknown ones can make it unknown). */
  readonly groupBits: number;
  /** Whether an expression reads an `http.*` field. */
  readonly readsHttp: boolean;
}

/** Why a rule that might match is unknown (a `DecisionReason` other than `matched` and `default`). */
type UnknownReason = 'unknown-identity' | 'unknown-membership' | 'unknown-request';

/** When several Allow-type rules might have matched, the reason named: a login first, then membership. */
const REASON_RANK: Readonly<Record<UnknownReason, number>> = { 'unknown-request': 1, 'unknown-membership': 2, 'unknown-identity': 3 };

/**
 * Why a rule that might match is unknown: the request has no identity and the rule reads one
 * (`unknown-identity`); else it reads a group field the membership does not know
 * (`unknown-membership`); else it can only be an `http.*` field of a request without HTTP
 * attributes (`unknown-request`, the only other unknown). A rule unknown on several counts is
 * reported by the first of these.
 */
function unknownReason(rule: CompiledGatewayRule, view: IdentityView): UnknownReason {
  if (view.identity === null && rule.readsIdentity) return 'unknown-identity';
  return (rule.groupBits & ~view.known) !== 0 ? 'unknown-membership' : 'unknown-request';
}

/** The group probe of a rule whose only expression is a positive group test (indexable), else `undefined`. */
function ruleProbe(rule: CompiledGatewayRule): number | undefined {
  const only = rule.parts.length === 1 ? rule.parts[0] : undefined;
  return only === undefined ? undefined : groupProbeOf(only.fn);
}

/**
 * A compiled set of Gateway rules.
 *
 * @example
 * ```ts
 * import { compileGatewayRules, type CompiledGatewayRules } from 'entragate';
 * const rules: CompiledGatewayRules = compileGatewayRules([], { defaultAction: 'block' });
 * rules.evaluate(null, {}).action; // 'block'
 * ```
 */
export interface CompiledGatewayRules {
  /**
   * Decides one request: the first matching enabled rule (lowest precedence
   * first) decides; no match gives the default action. Pure and synchronous.
   *
   * What it prepares from an identity (its group probes) is cached per
   * identity object: the set holds the last 16 identities it saw and weakly
   * the ones that recur. Treat an identity as immutable once evaluated.
   */
  evaluate(identity: Identity | null, context: RequestContext): GatewayDecision;
  /** The enabled rules in evaluation order. */
  readonly order: readonly (DecisionPolicyRef & { readonly action: GatewayAction })[];
  /**
   * Problems found at compile time that change no decision but deserve a look: each enabled rule that
   * reads a group field (`identity.groups.name`, `identity.groups.email`) none of the configured
   * sources supplies (`groupFields`), so that comparison is unknown for every identity (a Block that
   * reads it denies, an Allow never matches). Empty when there is nothing to say.
   */
  readonly warnings: readonly string[];
}

const EMPTY_CONTEXT: RequestContext = {};

function matchRule(rule: CompiledGatewayRule, view: IdentityView, context: RequestContext): Tri {
  let result: Tri = T;
  for (const { fn } of rule.parts) {
    const r = fn(view, context);
    if (r === F) return F;
    if (r === U) result = U;
  }
  return result;
}

/** Why the request's HTTP fields are unknown, for a rule's trace note. */
function requestNote(ctx: RequestContext): string {
  return requestOf(ctx) !== undefined ? "the request's HTTP attributes are incomplete" : NO_HTTP_ATTRIBUTES;
}

export class GatewayEvaluator implements CompiledGatewayRules {
  readonly order: readonly (DecisionPolicyRef & { readonly action: GatewayAction })[];
  readonly warnings: readonly string[];
  readonly #rules: readonly CompiledGatewayRule[];
  readonly #defaultAction: GatewayAction;
  readonly #prepare: (identity: Identity | null) => Prepared;
  /** The HTTP fields the rules read, loaded per evaluation; `undefined` when no enabled rule reads one. */
  readonly #http: HttpRequestState | undefined;
  /**
   * The context whose request `#http` holds while an evaluation (or a trace) runs. Reading the
   * context can run app code (a getter, a posture iterator) that evaluates this set again: the
   * inner run loads its own request, and on the way out loads the outer one back.
   */
  #loaded: RequestContext | undefined;

  /**
   * A rule that is only `any(identity.groups.X[*] in {…})` matches, when the
   * membership knows field X, exactly when the identity has one of those values:
   * it is indexed under its probe and skipped for identities where it does not hold.
   */
  constructor(rules: readonly CompiledGatewayRule[], defaultAction: GatewayAction, groups: GroupIndex, http: HttpRequestState, warnings: readonly string[]) {
    this.#rules = rules;
    this.warnings = Object.freeze([...warnings]);
    this.#defaultAction = defaultAction;
    this.#http = rules.some((r) => r.readsHttp) ? http : undefined;
    this.order = rules.map((r) => ({ ...r.ref, action: r.action }));
    const always: number[] = [];
    const byProbe: number[][] = [];
    rules.forEach((rule, i) => {
      const probe = ruleProbe(rule);
      if (probe === undefined) always.push(i);
      else (byProbe[probe] ??= []).push(i);
    });
    const all = Int32Array.from(rules.keys());
    // INVARIANT: with no identity, a group probe is unknown, not false: every rule is evaluated.
    this.#prepare = createPreparer(groups, { all, noIdentity: all, always: Int32Array.from(always), byProbe });
  }

  evaluate(identity: Identity | null, context: RequestContext): GatewayDecision {
    const { view, order } = this.#prepare(identity);
    const ctx = context ?? EMPTY_CONTEXT;
    const http = this.#http;
    return http === undefined ? this.#decide(view, order, ctx) : this.#withRequest(http, ctx, () => this.#decide(view, order, ctx));
  }

  /** Runs `run` with `ctx`'s request loaded in the shared HTTP state, and whatever was loaded before back after it. */
  #withRequest<T>(http: HttpRequestState, ctx: RequestContext, run: () => T): T {
    const outer = this.#loaded;
    this.#loaded = ctx;
    http.load(ctx);
    try {
      return run();
    } finally {
      // INVARIANT: an evaluation re-entered from the outer one's context (or a trace read during one)
      // leaves the outer request loaded.
      this.#loaded = outer;
      if (outer !== undefined) http.load(outer);
    }
  }

  #decide(view: IdentityView, order: Int32Array, ctx: RequestContext): GatewayDecision {
    const rules = this.#rules;
    // Why an earlier Allow-type rule might have matched (`undefined`: none did); see REASON_RANK.
    let maybe: UnknownReason | undefined;
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const rule = rules[i] as CompiledGatewayRule;
      const result = matchRule(rule, view, ctx);
      if (result === T) {
        const allowed = rule.action !== 'block';
        return makeGatewayDecision(allowed, rule.action, rule.ref, !allowed && maybe !== undefined ? maybe : 'matched', () => this.#trace(view, ctx, i));
      }
      if (result === U) {
        // INVARIANT: a block (or any restricting action) that might match denies.
        if (!PASS_ACTIONS.has(rule.action)) {
          return makeGatewayDecision(false, 'block', rule.ref, unknownReason(rule, view), () => this.#trace(view, ctx, i));
        }
        const why = unknownReason(rule, view);
        if (maybe === undefined || REASON_RANK[why] > REASON_RANK[maybe]) maybe = why;
      }
    }
    const allowed = this.#defaultAction !== 'block';
    return makeGatewayDecision(allowed, this.#defaultAction, undefined, !allowed && maybe !== undefined ? maybe : 'default', () =>
      this.#trace(view, ctx, rules.length - 1),
    );
  }

  #trace(view: IdentityView, ctx: RequestContext, last: number): PolicyTrace[] {
    const http = this.#http;
    // The trace is built on first read, perhaps after other evaluations (or during one): load this request.
    return http === undefined ? this.#traceLoaded(view, ctx, last) : this.#withRequest(http, ctx, () => this.#traceLoaded(view, ctx, last));
  }

  #traceLoaded(view: IdentityView, ctx: RequestContext, last: number): PolicyTrace[] {
    const out: PolicyTrace[] = [];
    for (let i = 0; i <= last; i++) {
      const rule = this.#rules[i] as CompiledGatewayRule;
      const checks: CheckTrace[] = [];
      let result: Tri = T;
      for (const { fn } of rule.parts) {
        const r = fn(view, ctx, checks);
        if (r < result) result = r;
      }
      const policy = { ...rule.ref, action: rule.action };
      if (result === U) {
        let note = PASS_ACTIONS.has(rule.action) ? 'might match: not counted as a match' : 'might match: fail closed, block';
        const why = unknownReason(rule, view);
        if (why === 'unknown-request') note += ` (${requestNote(ctx)})`;
        else if (why === 'unknown-identity') note += ' (no identity: the request carries no login)';
        out.push({ policy, result: traceResult(result), note, checks });
      } else {
        out.push({ policy, result: traceResult(result), checks });
      }
    }
    return out;
  }
}
