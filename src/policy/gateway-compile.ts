/**
 * Compiles Cloudflare Gateway rules (API JSON) once into an evaluator that is
 * pure and synchronous.
 */
import type { Identity, RequestContext } from '../types.js';
import { parseWith } from '../config/parse.js';
import { makeGatewayDecision } from './decision.js';
import { invalid, isObject } from './access-rules.js';
import { compileExpression, groupProbeOf, NO_HTTP_ATTRIBUTES, type ExpressionFn } from './expression-compile.js';
import { parseExpression, type Expr } from './expression-parser.js';
import { EXTENDED_EMAIL_ACTIONS } from './extended-email.js';
import { GroupIndex } from './group-index.js';
import { HttpRequestState, isHttpField, requestOf } from './http-request.js';
import { createPreparer, type IdentityView, type Prepared } from './identity-view.js';
import { GATEWAY_ACTIONS, GATEWAY_FILTERS, gatewayCompileOptionsSchema, type GatewayCompileOptions } from './options.js';
import { F, T, U, traceResult, type Tri } from './tri.js';
import type { CheckTrace, DecisionPolicyRef, DecisionReason, GatewayAction, GatewayDecision, GatewayFilter, GatewayRule, PolicyTrace } from './types.js';

const PARTS = ['identity', 'traffic', 'device_posture'] as const;

/**
 * Actions that only exempt traffic or let it through. An unknown rule with one
 * of these is a "maybe" and evaluation continues; an unknown rule with any
 * other action (block, isolate, override, safesearch, redirect, …) might
 * apply a restriction we cannot rule out, so it fails closed as a block.
 */
const PASS_ACTIONS: ReadonlySet<GatewayAction> = new Set<GatewayAction>(['allow', 'off', 'noisolate', 'noscan', 'resolve', 'egress', 'l4_override']);

interface CompiledGatewayRule {
  readonly ref: DecisionPolicyRef;
  readonly action: GatewayAction;
  readonly parts: readonly { readonly part: string; readonly fn: ExpressionFn }[];
  /** Whether an expression reads an `identity.groups.*` field (so unknown membership can make it unknown). */
  readonly readsGroups: boolean;
  /** Whether an expression reads an `http.*` field. */
  readonly readsHttp: boolean;
}

/** Whether an expression reads a field `test` accepts. */
function reads(expr: Expr, test: (field: string) => boolean): boolean {
  switch (expr.k) {
    case 'compare':
    case 'quant':
      return test(expr.field);
    case 'not':
      return reads(expr.arg, test);
    case 'logic':
      return expr.items.some((item) => reads(item, test));
  }
}

const isGroupField = (field: string): boolean => field.startsWith('identity.groups.');

/**
 * Why a rule that might match is unknown. Group membership that is not complete
 * is the cause when the rule reads groups; otherwise it can only be an `http.*`
 * field of a request without HTTP attributes (the only other unknown). A rule
 * unknown on both counts is reported as `unknown-membership`.
 */
function unknownReason(rule: CompiledGatewayRule, view: IdentityView): 'unknown-membership' | 'unknown-request' {
  return rule.readsGroups && !view.complete ? 'unknown-membership' : 'unknown-request';
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
}

const ACTIONS = new Set<string>(GATEWAY_ACTIONS);
const FILTERS = new Set<string>(GATEWAY_FILTERS);
const EMPTY_CONTEXT: RequestContext = {};

/** HTTP rules run by action class: Do Not Inspect, then Isolate, then everything else. */
function httpClass(action: GatewayAction): number {
  return action === 'off' ? 0 : action === 'isolate' ? 1 : 2;
}

/**
 * Compiles Gateway rules, in Cloudflare's API JSON, into an evaluator.
 *
 * A rule matches when each of its present, non-empty expressions (`identity`,
 * `traffic`, `device_posture`) is true. Enabled rules run by ascending
 * `precedence` (ties in array order); with `filter: 'http'` the Do Not Inspect
 * and then Isolate rules run first, as Cloudflare orders HTTP policies. The
 * first match decides, whatever its action; no match gives `defaultAction`
 * (`allow` by default: Cloudflare lets unmatched traffic through).
 *
 * Expressions use the identity subset of wirefilter (reference §2.4) over
 * `identity.email`, `identity.name`, `identity.groups.id|name|email`,
 * `device_posture.checks.passed` (from `context.devicePosture`), and the
 * request fields `net.src.ip` (from `context.ip`: `==`, `!=`, `in {10.0.0.0/8 …}`,
 * `in $list`), `net.src.geo.country` (from `context.country`), and the HTTP
 * fields from `context.request`: `http.request.host` (lower-cased, without port
 * or trailing dot, compared case-insensitively), `http.request.method`,
 * `http.request.uri.path` (before the `?`), `http.request.uri.query` (after it)
 * and `http.request.uri.path_and_query` (as received, percent-encoded), all
 * Bytes. Path rules see the path as the client sent it, not as the app routes
 * it: by default Express routes `/ADMIN` and Fastify routes `/%61dmin` to the
 * `/admin` handler, so a Block on a path is best written with `(?i)` and backed
 * by Allow rules with `defaultAction: 'block'`. An IP or country the context lacks reads as empty: no IP is in no
 * range. Any other field (`dns.fqdn`, `http.request.domains`, …) is an
 * `ERR_EXPRESSION_TYPE` compile error: a rule is never half-evaluated.
 * `matches` runs on re2js (RE2, linear time); a pattern RE2 cannot run is
 * `ERR_EXPRESSION_REGEX`.
 *
 * Unknowns fail closed. An `any(identity.groups…)` that finds no group is
 * `unknown` unless membership is complete, and an `http.*` comparison is
 * `unknown` when the context has no `request` (`gate.authorize` called without
 * one; the adapters always set it). An unknown Block (or other restricting
 * action) denies; an unknown Allow-type rule is passed over. The decision says
 * why: `reason: 'unknown-membership'` or `'unknown-request'`.
 * With no identity at all, scalars read `""` and arrays `[]`, as the reference
 * recommends (so `not(any(identity.groups.id[*] in {…}))` is true).
 *
 * Extended email (§2.5): for block, override, safesearch, ytrestricted, isolate
 * and audit_ssh (or every action with `matchExtendedEmail`), `identity.email`
 * `==`, `!=` and `in` compare addresses without `+tag` and dots in the local part.
 *
 * @example
 * ```ts
 * import { compileGatewayRules } from 'entragate';
 * const rules = compileGatewayRules([
 *   { name: 'block contractors', action: 'block', precedence: 10,
 *     identity: 'any(identity.groups.name[*] in {"Contractors"})' },
 * ]);
 * const decision = rules.evaluate(identity, {});
 * decision.allowed; // false for members of Contractors
 * ```
 */
export function compileGatewayRules(rules: readonly GatewayRule[], options: GatewayCompileOptions = {}): CompiledGatewayRules {
  const opts = parseWith(gatewayCompileOptionsSchema, options ?? {}, 'gateway rule');
  if (!Array.isArray(rules)) throw invalid('rules', '`rules` must be an array');
  const limits = { maxLength: opts.maxExpressionLength, maxDepth: opts.maxExpressionDepth };
  const kept: (CompiledGatewayRule & { index: number; cls: number })[] = [];
  // wirefilter compares bytes: group values are matched exactly.
  const groups = new GroupIndex(false);
  const http = new HttpRequestState();
  rules.forEach((rule, index) => {
    const where = `rules[${index}]`;
    if (!isObject(rule)) throw invalid(where, 'a rule must be an object');
    const r = rule;
    const name = r['name'];
    if (typeof name !== 'string' || name === '') throw invalid(where, '`name` must be a non-empty string');
    const at = `${where} \`${name}\``;
    const action = r['action'];
    if (typeof action !== 'string' || !ACTIONS.has(action)) throw invalid(at, `\`action\` \`${String(action)}\` is not a gateway action`);
    const precedence = r['precedence'];
    if (typeof precedence !== 'number' || !Number.isFinite(precedence)) throw invalid(at, '`precedence` must be a finite number');
    const id = r['id'];
    if (id !== undefined && typeof id !== 'string') throw invalid(at, '`id` must be a string');
    const enabled = r['enabled'];
    if (enabled !== undefined && typeof enabled !== 'boolean') throw invalid(at, '`enabled` must be a boolean');
    const filters = r['filters'];
    if (filters !== undefined && (!Array.isArray(filters) || !filters.every((f) => typeof f === 'string' && FILTERS.has(f)))) {
      throw invalid(at, '`filters` must be an array of http, dns, l4, egress, dns_resolver');
    }
    const extendedEmail = opts.matchExtendedEmail || EXTENDED_EMAIL_ACTIONS.has(action as GatewayAction);
    const parts: { part: string; fn: ExpressionFn }[] = [];
    let groupsRead = false;
    let httpRead = false;
    for (const part of PARTS) {
      const source = r[part];
      if (source === undefined || source === null || source === '') continue;
      if (typeof source !== 'string') throw invalid(`${at}.${part}`, `\`${part}\` must be a string`);
      const partWhere = `${at}.${part}`;
      const ast = parseExpression(source, partWhere, limits);
      groupsRead ||= reads(ast, isGroupField);
      httpRead ||= reads(ast, isHttpField);
      parts.push({ part, fn: compileExpression(ast, { source, where: partWhere, part, lists: opts.lists, extendedEmail, groups, http }) });
    }
    // Compile every rule (a broken disabled rule is still a configuration error), keep the enabled ones.
    if (enabled === false) return;
    if (opts.filter !== undefined && Array.isArray(filters) && !(filters as GatewayFilter[]).includes(opts.filter)) return;
    const ref: DecisionPolicyRef = id === undefined ? { name, precedence } : { id, name, precedence };
    const cls = opts.filter === 'http' ? httpClass(action as GatewayAction) : 0;
    kept.push({ ref, action: action as GatewayAction, parts, readsGroups: groupsRead, readsHttp: httpRead, index, cls });
  });
  kept.sort((a, b) => a.cls - b.cls || a.ref.precedence - b.ref.precedence || a.index - b.index);
  return new GatewayEvaluator(kept, opts.defaultAction, groups.seal(), http);
}

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

class GatewayEvaluator implements CompiledGatewayRules {
  readonly order: readonly (DecisionPolicyRef & { readonly action: GatewayAction })[];
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
   * A rule that is only `any(identity.groups.X[*] in {…})` matches, with
   * complete membership, exactly when the identity has one of those values:
   * it is indexed under its probe and skipped for identities where it does not hold.
   */
  constructor(rules: readonly CompiledGatewayRule[], defaultAction: GatewayAction, groups: GroupIndex, http: HttpRequestState) {
    this.#rules = rules;
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
    // With no identity, arrays are empty and complete: an indexed rule cannot match.
    this.#prepare = createPreparer(groups, { all, noIdentity: Int32Array.from(always), always: Int32Array.from(always), byProbe });
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
    // Why an earlier Allow-type rule might have matched (`undefined`: none did); membership wins.
    let maybe: DecisionReason | undefined;
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const rule = rules[i] as CompiledGatewayRule;
      const result = matchRule(rule, view, ctx);
      if (result === T) {
        const allowed = rule.action !== 'block';
        return makeGatewayDecision(allowed, rule.action, rule.ref, !allowed && maybe !== undefined ? maybe : 'matched', () =>
          this.#trace(view, ctx, i),
        );
      }
      if (result === U) {
        // INVARIANT: a block (or any restricting action) that might match denies.
        if (!PASS_ACTIONS.has(rule.action)) {
          return makeGatewayDecision(false, 'block', rule.ref, unknownReason(rule, view), () => this.#trace(view, ctx, i));
        }
        if (maybe !== 'unknown-membership') maybe = unknownReason(rule, view);
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
        if (unknownReason(rule, view) === 'unknown-request') note += ` (${requestNote(ctx)})`;
        out.push({ policy, result: traceResult(result), note, checks });
      } else {
        out.push({ policy, result: traceResult(result), checks });
      }
    }
    return out;
  }
}
