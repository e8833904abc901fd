/**
 * A compiled Access rule and include/require/exclude set, and how a set decides
 * in Kleene logic. Split from `access-rules.ts`, which re-exports it.
 */
import type { RequestContext } from '../types.js';
import type { GroupIndex } from './group-index.js';
import type { IdentityView } from './identity-view.js';
import type { Cidr } from './ip.js';
import type { ListMap } from './options.js';
import { F, T, U, type Tri } from './tri.js';
import type { AccessSelector, CheckTrace } from './types.js';

/** A compiled include/require/exclude set (a policy's or a rule group's). */
export interface CompiledRuleSet {
  readonly include: readonly CompiledRule[];
  readonly require: readonly CompiledRule[];
  readonly exclude: readonly CompiledRule[];
  /** The authentication contexts its `auth_context` rules name, its rule groups' included. */
  readonly authContexts: readonly string[];
}

export interface CompiledRule {
  readonly selector: AccessSelector;
  readonly path: string;
  readonly value: string;
  readonly attribute: string;
  /** Whether the selector reads the identity (refused in Bypass policies). */
  readonly identityBased: boolean;
  /** The group probe of an `azureAD` rule, for the policy index. */
  readonly azureProbe: number | undefined;
  /** The authentication contexts it names (an `auth_context` rule, or a rule group holding some). */
  readonly authContexts?: readonly string[];
  readonly evaluate: (view: IdentityView, context: RequestContext) => Tri;
  readonly trace: (view: IdentityView, context: RequestContext) => CheckTrace;
}

/** What a rule compiler needs from the policy compiler. */
export interface RuleCompileScope {
  readonly where: string;
  /** INVARIANT: looked up by own key only (a `Map`): `email_list { id: 'constructor' }` names a list or nothing. */
  readonly lists: ListMap;
  /** Resolves a rule group by id (compiling it on first use; cycle-checked by the caller). */
  readonly group: (id: string, path: string) => CompiledRuleSet & { readonly identityBased: boolean };
  readonly cidrLists: Map<string, readonly Cidr[]>;
  /** The compiled set's group probes (case-insensitive Object Ids). */
  readonly groups: GroupIndex;
  /** Whether `auth_context` rules are allowed (the IdP's `conditional_access_enabled`). */
  readonly authContexts: boolean;
}

/**
 * include = OR, require = AND, exclude = NOT OR, in Kleene logic.
 * INVARIANT: an exclude that might match makes the set at best `unknown`, never a match.
 */
export function evaluateRuleSet(set: CompiledRuleSet, view: IdentityView, context: RequestContext): Tri {
  let result: Tri = F;
  for (const rule of set.include) {
    const r = rule.evaluate(view, context);
    if (r === T) {
      result = T;
      break;
    }
    if (r === U) result = U;
  }
  if (result === F) return F;
  for (const rule of set.require) {
    const r = rule.evaluate(view, context);
    if (r === F) return F;
    if (r === U) result = U;
  }
  for (const rule of set.exclude) {
    const r = rule.evaluate(view, context);
    if (r === T) return F;
    if (r === U) result = U;
  }
  return result;
}

/** The same logic as {@link evaluateRuleSet}, evaluating every rule to report it. */
export function traceRuleSet(set: CompiledRuleSet, view: IdentityView, context: RequestContext): { result: Tri; checks: CheckTrace[] } {
  const checks: CheckTrace[] = [];
  const run = (rules: readonly CompiledRule[]): Tri[] =>
    rules.map((rule) => {
      const check = rule.trace(view, context);
      checks.push(check);
      return check.result === 'match' ? T : check.result === 'no-match' ? F : U;
    });
  const inc = run(set.include);
  const req = run(set.require);
  const exc = run(set.exclude);
  let include: Tri = F;
  for (const r of inc) if (r > include) include = r;
  let require: Tri = T;
  for (const r of req) if (r < require) require = r;
  let excluded: Tri = F;
  for (const r of exc) if (r > excluded) excluded = r;
  const notExcluded = (2 - excluded) as Tri;
  return { result: Math.min(include, require, notExcluded) as Tri, checks };
}
