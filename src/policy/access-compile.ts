/**
 * Compiles Cloudflare Access policies (API JSON) once into an evaluator that is
 * pure and synchronous.
 */
import { parseGoDuration } from '../config/duration.js';
import { PolicyError } from '../errors/index.js';
import type { Identity, RequestContext } from '../types.js';
import {
  compileRule,
  invalid,
  isObject,
  evaluateRuleSet,
  traceRuleSet,
  type CompiledRule,
  type CompiledRuleSet,
  type RuleCompileScope,
} from './access-rules.js';
import { makeAccessDecision, withMissingAuthContext } from './decision.js';
import { GroupIndex } from './group-index.js';
import { createPreparer, type IdentityView, type Prepared } from './identity-view.js';
import type { Cidr } from './ip.js';
import { resolveAccessOptions, type AccessCompileOptions } from './options.js';
import { T, U, traceResult, type Tri } from './tri.js';
import type { AccessAction, AccessDecision, AccessPolicy, DecisionPolicyRef, PolicyTrace } from './types.js';

interface CompiledPolicy {
  readonly ref: DecisionPolicyRef;
  readonly decision: AccessAction;
  readonly sessionDuration: string | undefined;
  readonly rules: CompiledRuleSet;
  /** The group probes when every include rule is `azureAD`: the policy can only match a member. */
  readonly includeProbes: readonly number[] | undefined;
}

/**
 * A compiled set of Access policies.
 *
 * @example
 * ```ts
 * import { compileAccessPolicies, type CompiledAccessPolicies } from 'entragate';
 * const app: CompiledAccessPolicies = compileAccessPolicies([{ name: 'all', decision: 'allow', include: [{ everyone: {} }] }]);
 * app.order.map((p) => p.name); // ['all']
 * ```
 */
export interface CompiledAccessPolicies {
  /**
   * Decides one request. Pure and synchronous; `identity` is `null` for a
   * request without a login (service token, mTLS), in which case only Bypass
   * and Service Auth policies can apply.
   *
   * What it prepares from an identity (its group probes) is cached per
   * identity object: the set holds the last 16 identities it saw and weakly
   * the ones that recur. Treat an identity as immutable once evaluated.
   */
  evaluate(identity: Identity | null, context: RequestContext): AccessDecision;
  /** The policies in execution order (Bypass and Service Auth first, then by precedence). */
  readonly order: readonly (DecisionPolicyRef & { readonly action: AccessAction })[];
}

const DECISIONS = new Set<string>(['allow', 'deny', 'bypass', 'non_identity']);
const EMPTY_CONTEXT: RequestContext = {};

/**
 * The check the session code applies when it uses the duration (one Go-duration
 * parser, at least a second), made here so a bad value fails the compile, not a request.
 */
function isSessionDuration(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    return parseGoDuration(value) >= 1000;
  } catch {
    return false;
  }
}

function ruleArray(body: Record<string, unknown>, key: 'include' | 'require' | 'exclude', where: string): readonly unknown[] {
  const value = body[key];
  if (value === undefined || value === null) {
    if (key === 'include') throw invalid(where, 'at least one `include` rule is required');
    return [];
  }
  if (!Array.isArray(value)) throw invalid(`${where}.${key}`, `\`${key}\` must be an array`);
  if (key === 'include' && value.length === 0) throw invalid(where, 'at least one `include` rule is required');
  return value;
}

function compileSet(body: Record<string, unknown>, where: string, scope: RuleCompileScope): CompiledRuleSet & { identityBased: boolean } {
  const build = (key: 'include' | 'require' | 'exclude'): CompiledRule[] =>
    ruleArray(body, key, where).map((rule, i) => compileRule(rule, `${key}[${i}]`, scope));
  const include = build('include');
  const require = build('require');
  const exclude = build('exclude');
  const all = [...include, ...require, ...exclude];
  const identityBased = all.some((r) => r.identityBased);
  const authContexts = [...new Set(all.flatMap((r) => r.authContexts ?? []))];
  return { include, require, exclude, identityBased, authContexts };
}

/**
 * Compiles Access policies, in Cloudflare's API JSON, into an evaluator.
 *
 * Semantics (reference §1): a policy matches when any `include`, every
 * `require` and no `exclude` rule matches. Bypass and Service Auth
 * (`non_identity`) policies run first, then Allow and Block (`deny`), each by
 * ascending `precedence` (the array position when absent; ties keep array
 * order). The first match decides; no match denies.
 *
 * Unknown group membership (overage, Graph down) is three-valued: a request is
 * allowed only when it would be allowed however the unknown groups resolve. An
 * Allow that depends on an unknown group does not match; a Block or an exclude
 * that might match denies. The decision then says `reason: 'unknown-membership'`.
 *
 * Choices where the reference is silent (§8), each tested:
 * - `email`, `email_domain`, `email_list` compare case-insensitively; `email_domain`
 *   is an exact domain (`a@sub.example.com` does not match `example.com`).
 * - `azureAD` checks `identity_provider_id` against `identity.idp.id` when the rule has one.
 * - A rule group cycle or a missing group or list is a compile error, not a non-match.
 * - With no identity (`null`), Allow and Block policies are skipped: they need a
 *   login, as in Cloudflare, so only Bypass or Service Auth can let the request in.
 * - Bypass policies may not use identity-based selectors (Cloudflare refuses them).
 * - `everyone` matches every request; `ip` with no or an unparseable request IP does not match.
 *
 * Throws `PolicyError` (`ERR_POLICY_INVALID`, `ERR_POLICY_UNKNOWN_SELECTOR`,
 * `ERR_POLICY_GROUP_CYCLE`, `ERR_POLICY_GROUP_MISSING`) and, for bad options,
 * `ConfigError` (`ERR_CONFIG_INVALID`), synchronously.
 *
 * @example
 * ```ts
 * import { compileAccessPolicies } from 'entragate';
 * const policies = compileAccessPolicies([
 *   { name: 'Finance', decision: 'allow',
 *     include: [{ azureAD: { id: '86773093-5feb-48dd-814b-7ccd3676ff50', identity_provider_id: 'entra' } }],
 *     exclude: [{ email: { email: 'contractor@example.com' } }] },
 * ]);
 * const decision = policies.evaluate(identity, { ip: '192.0.2.10' });
 * if (!decision.allowed) console.log(decision.reason, decision.policy?.name);
 * ```
 */
export function compileAccessPolicies(policies: readonly AccessPolicy[], options: AccessCompileOptions = {}): CompiledAccessPolicies {
  const opts = resolveAccessOptions(options);
  if (!Array.isArray(policies)) throw invalid('policies', '`policies` must be an array');
  const lists = opts.lists;

  // Rule groups: indexed by id, compiled on first reference with cycle detection.
  const groupBodies = new Map<string, { body: Record<string, unknown>; where: string }>();
  opts.groups.forEach((group, i) => {
    const where = `groups[${i}]`;
    if (!isObject(group)) throw invalid(where, 'a rule group must be an object');
    if (typeof group['id'] !== 'string' || group['id'] === '') throw invalid(where, '`id` must be a non-empty string');
    if (typeof group['name'] !== 'string') throw invalid(where, '`name` must be a string');
    if (groupBodies.has(group['id'])) throw invalid(where, `rule group id \`${group['id']}\` is duplicated`);
    groupBodies.set(group['id'], { body: group, where });
  });
  const compiledGroups = new Map<string, CompiledRuleSet & { identityBased: boolean }>();
  const stack: string[] = [];
  const cidrLists = new Map<string, readonly Cidr[]>();
  // Entra group Object Ids are GUIDs: compared case-insensitively.
  const groupIndex = new GroupIndex(true);
  const scopeFor = (where: string): RuleCompileScope => ({ where, lists, group: resolveGroup, cidrLists, groups: groupIndex, authContexts: opts.authContexts });
  function resolveGroup(id: string, where: string): CompiledRuleSet & { identityBased: boolean } {
    const done = compiledGroups.get(id);
    if (done) return done;
    if (stack.includes(id)) {
      const cycle = [...stack.slice(stack.indexOf(id)), id].map((g) => `\`${g}\``).join(' > ');
      throw new PolicyError('ERR_POLICY_GROUP_CYCLE', `rule groups reference each other in a cycle: ${cycle}: ${where}`);
    }
    const entry = groupBodies.get(id);
    if (!entry) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `rule group \`${id}\` is not configured: ${where}`);
    if (stack.length >= opts.maxGroupDepth) {
      throw invalid(where, `rule groups nest deeper than ${opts.maxGroupDepth}`);
    }
    stack.push(id);
    try {
      const compiled = compileSet(entry.body, entry.where, scopeFor(entry.where));
      compiledGroups.set(id, compiled);
      return compiled;
    } finally {
      stack.pop();
    }
  }
  for (const [id, entry] of groupBodies) resolveGroup(id, entry.where);

  const compiled = policies.map((policy, index): CompiledPolicy & { index: number } => {
    const where = `policies[${index}]`;
    if (!isObject(policy)) throw invalid(where, 'a policy must be an object');
    const name = policy['name'];
    if (typeof name !== 'string' || name === '') throw invalid(where, '`name` must be a non-empty string');
    const at = `${where} \`${name}\``;
    const decision = policy['decision'];
    if (typeof decision !== 'string' || !DECISIONS.has(decision)) {
      throw invalid(at, `\`decision\` must be allow, deny, bypass or non_identity, not \`${String(decision)}\``);
    }
    const id = policy['id'];
    if (id !== undefined && typeof id !== 'string') throw invalid(at, '`id` must be a string');
    const precedence = policy['precedence'];
    if (precedence !== undefined && (typeof precedence !== 'number' || !Number.isFinite(precedence))) {
      throw invalid(at, '`precedence` must be a finite number');
    }
    const session = policy['session_duration'];
    if (session !== undefined && !isSessionDuration(session)) {
      throw invalid(at, `\`session_duration\` \`${String(session).slice(0, 64)}\` is not a duration of at least \`1s\` such as \`24h\``);
    }
    const rules = compileSet(policy, where, scopeFor(where));
    if (decision === 'bypass' && rules.identityBased) {
      throw invalid(at, 'bypass policies cannot use identity-based selectors (Cloudflare refuses them)');
    }
    const includeProbes = rules.include.every((r) => r.azureProbe !== undefined) ? rules.include.map((r) => r.azureProbe as number) : undefined;
    const ref: DecisionPolicyRef = id === undefined ? { name, precedence: precedence ?? index + 1 } : { id, name, precedence: precedence ?? index + 1 };
    return { ref, decision: decision as AccessAction, sessionDuration: session, rules, includeProbes, index };
  });

  // Bypass and Service Auth first, then Allow and Block; each by precedence, ties in array order.
  const byPrecedence = (a: CompiledPolicy & { index: number }, b: CompiledPolicy & { index: number }): number =>
    a.ref.precedence - b.ref.precedence || a.index - b.index;
  const phase1 = compiled.filter((p) => p.decision === 'bypass' || p.decision === 'non_identity').sort(byPrecedence);
  const phase2 = compiled.filter((p) => p.decision === 'allow' || p.decision === 'deny').sort(byPrecedence);
  return new AccessEvaluator([...phase1, ...phase2], phase1.length, groupIndex.seal());
}

class AccessEvaluator implements CompiledAccessPolicies {
  readonly order: readonly (DecisionPolicyRef & { readonly action: AccessAction })[];
  readonly #policies: readonly CompiledPolicy[];
  /** Every authentication context a policy names: a deny is re-asked with all of them satisfied (step-up). */
  readonly #authContexts: readonly string[];
  readonly #phase2: number;
  readonly #prepare: (identity: Identity | null) => Prepared;

  /**
   * A policy whose include is only `azureAD` rules cannot match, with complete
   * membership, unless the identity has one of those groups: it is indexed
   * under their probes and skipped for identities that hold none of them.
   */
  constructor(policies: readonly CompiledPolicy[], phase2: number, groups: GroupIndex) {
    this.#policies = policies;
    this.#phase2 = phase2;
    this.#authContexts = [...new Set(policies.flatMap((p) => p.rules.authContexts))];
    this.order = policies.map((p) => ({ ...p.ref, action: p.decision }));
    const always: number[] = [];
    const byProbe: number[][] = [];
    policies.forEach((p, i) => {
      if (!p.includeProbes) {
        always.push(i);
        return;
      }
      for (const probe of new Set(p.includeProbes)) (byProbe[probe] ??= []).push(i);
    });
    this.#prepare = createPreparer(groups, {
      all: Int32Array.from(policies.keys()),
      // INVARIANT: without an identity, Allow and Block are not evaluated: they need a login.
      noIdentity: Int32Array.from({ length: phase2 }, (_, i) => i),
      always: Int32Array.from(always),
      byProbe,
    });
  }

  evaluate(identity: Identity | null, context: RequestContext): AccessDecision {
    const decision = this.#evaluate(identity, context);
    if (decision.allowed || identity === null || this.#authContexts.length === 0) return decision;
    // Step-up: would satisfying the authentication contexts the policies name let the request in? Then
    // the deny names the contexts the allowing policy needs and the user lacks; the adapters ask Entra
    // for them (a claims challenge, or a new login). Only on a deny of a set that names contexts.
    const held = Array.isArray(identity.acrs) ? identity.acrs : [];
    const lacking = this.#authContexts.filter((c) => !held.includes(c));
    if (lacking.length === 0) return decision;
    const stepped = this.#evaluate({ ...identity, acrs: [...held, ...lacking] }, context);
    if (!stepped.allowed || stepped.policy === undefined) return decision;
    const allowing = this.#policies.find((p) => p.ref === stepped.policy);
    const needed = (allowing?.rules.authContexts ?? lacking).filter((c) => !held.includes(c));
    return withMissingAuthContext(decision, needed.length > 0 ? needed : lacking);
  }

  #evaluate(identity: Identity | null, context: RequestContext): AccessDecision {
    const { view, order } = this.#prepare(identity);
    const ctx = context ?? EMPTY_CONTEXT;
    const policies = this.#policies;
    let maybe = false;
    for (let k = 0; k < order.length; k++) {
      const i = order[k] as number;
      const policy = policies[i] as CompiledPolicy;
      const result: Tri = evaluateRuleSet(policy.rules, view, ctx);
      if (result === T) {
        if (policy.decision === 'deny') {
          return this.#decide(false, policy, maybe ? 'unknown-membership' : 'matched', view, ctx, i);
        }
        // INVARIANT: unknown policies passed on the way were all allow-type, so every resolution allows.
        return this.#decide(true, policy, 'matched', view, ctx, i);
      }
      if (result === U) {
        // An access review asks which policies were undecided (`RequestContext.onUndecided`); only on an unknown.
        ctx.onUndecided?.(policy.ref);
        // INVARIANT: a Block that might match denies.
        if (policy.decision === 'deny') return this.#decide(false, policy, 'unknown-membership', view, ctx, i);
        // An Allow, Bypass or Service Auth that might match is a "maybe": keep going to see what happens otherwise.
        maybe = true;
      }
    }
    // INVARIANT: default deny.
    return makeAccessDecision(false, 'deny', undefined, maybe ? 'unknown-membership' : 'default', undefined, () => this.#trace(view, ctx, policies.length - 1));
  }

  #decide(
    allowed: boolean,
    policy: CompiledPolicy,
    reason: 'matched' | 'unknown-membership',
    view: IdentityView,
    ctx: RequestContext,
    last: number,
  ): AccessDecision {
    return makeAccessDecision(allowed, policy.decision, policy.ref, reason, policy.sessionDuration, () => this.#trace(view, ctx, last));
  }

  #trace(view: IdentityView, ctx: RequestContext, last: number): PolicyTrace[] {
    const out: PolicyTrace[] = [];
    for (let i = 0; i <= last && i < this.#policies.length; i++) {
      const p = this.#policies[i] as CompiledPolicy;
      const policy = { ...p.ref, action: p.decision };
      if (view.identity === null && i >= this.#phase2) {
        out.push({ policy, result: 'skipped', note: 'no identity: allow and block policies need a login', checks: [] });
        continue;
      }
      const { result, checks } = traceRuleSet(p.rules, view, ctx);
      const note = result === U ? (p.decision === 'deny' ? 'might match: fail closed, deny' : 'might match: not counted as a match') : undefined;
      out.push(note === undefined ? { policy, result: traceResult(result), checks } : { policy, result: traceResult(result), note, checks });
    }
    return out;
  }
}
