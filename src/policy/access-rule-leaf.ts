/**
 * The pieces every Access selector compiles with: reading a rule's own fields
 * (with the rule's location in every error), matching a claim, and building a
 * rule from its evaluation and trace words. Split from `access-rules.ts`.
 */
import { PolicyError } from '../errors/index.js';
import type { RequestContext } from '../types.js';
import type { CompiledRule } from './access-rule-set.js';
import type { IdentityView } from './identity-view.js';
import { traceResult, U, type Tri } from './tri.js';
import type { AccessSelector, CheckTrace } from './types.js';

/** An `ERR_POLICY_INVALID` error with its location appended. */
export function invalid(where: string, message: string): PolicyError {
  return new PolicyError('ERR_POLICY_INVALID', `${message}: ${where}`);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `body[key]` when it is the body's own property (a value inherited from a prototype is no configuration). */
export function own(body: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(body, key) ? body[key] : undefined;
}

export function stringField(body: Record<string, unknown>, key: string, where: string, selector: string): string {
  const value = own(body, key);
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(where, `\`${selector}.${key}\` must be a non-empty string`);
  }
  return value;
}

export function optionalString(body: Record<string, unknown>, key: string, where: string, selector: string): string | undefined {
  const value = own(body, key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(where, `\`${selector}.${key}\` must be a string`);
  return value;
}

function scalarMatches(claim: unknown, expected: string): boolean {
  if (typeof claim === 'string') return claim === expected;
  return (typeof claim === 'number' || typeof claim === 'boolean') && String(claim) === expected;
}

/** A claim equals the value, or is a list holding it; nested lists are not searched (no recursion on token input). */
export function claimMatches(claim: unknown, expected: string): boolean {
  if (!Array.isArray(claim)) return scalarMatches(claim, expected);
  for (const item of claim) if (scalarMatches(item, expected)) return true;
  return false;
}

/** The claim as a trace shows it: absent, a short value, or a list's size. */
export function describeClaim(fields: unknown, name: string): string {
  if (typeof fields !== 'object' || fields === null || !Object.hasOwn(fields, name)) return 'absent';
  const claim = (fields as Record<string, unknown>)[name];
  if (Array.isArray(claim)) return `a list of ${claim.length}`;
  if (typeof claim === 'string' || typeof claim === 'number' || typeof claim === 'boolean') return `\`${String(claim).slice(0, 64)}\``;
  return `a ${claim === null ? 'null' : typeof claim}`;
}

export type Leaf = {
  value: string;
  attribute: string;
  identityBased: boolean;
  azureProbe?: number;
  authContexts?: readonly string[];
  evaluate: (view: IdentityView, context: RequestContext) => Tri;
  /** Extra words for a trace line; called only when tracing. */
  detail?: (view: IdentityView, context: RequestContext, result: Tri) => string | undefined;
};

/**
 * The request attributes an access review cannot know (`RequestContext.unknownRequestAttributes`): a rule
 * that reads one is unknown there, in the same three-valued logic as an unknown group. A service token is
 * not among them: it is a credential of its own, never a user's request attribute.
 */
const REVIEW_UNKNOWABLE = new Set(['context.ip', 'context.country', 'context.certificate', 'context.devicePosture']);

export function leaf(selector: AccessSelector, path: string, spec: Leaf): CompiledRule {
  const base = spec.evaluate;
  const evaluate: Leaf['evaluate'] =
    spec.identityBased || !REVIEW_UNKNOWABLE.has(spec.attribute)
      ? base
      : (view, context) => (context.unknownRequestAttributes === true ? U : base(view, context));
  const { detail } = spec;
  return {
    selector,
    path,
    value: spec.value,
    attribute: spec.attribute,
    identityBased: spec.identityBased,
    azureProbe: spec.azureProbe,
    ...(spec.authContexts === undefined ? {} : { authContexts: spec.authContexts }),
    evaluate,
    trace: (view, context) => {
      const result = evaluate(view, context);
      const note =
        result === U && context.unknownRequestAttributes === true && !spec.identityBased
          ? 'request attribute unknown (access review)'
          : detail?.(view, context, result);
      const out: CheckTrace = { path, selector, value: spec.value, attribute: spec.attribute, result: traceResult(result) };
      return note === undefined ? out : { ...out, detail: note };
    },
  };
}

export const observed = (text: string | undefined): string => (text === undefined || text === '' ? 'absent' : `\`${text}\``);
