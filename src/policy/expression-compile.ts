/**
 * Turns a parsed Gateway expression into a closure over a prepared identity
 * view and the request context, in three-valued logic. Regexes and wildcards
 * are compiled once, with re2js (linear time), to run on bytes as wirefilter's
 * do (see `byte-regex.ts`); lists are resolved at compile time.
 *
 * Three things are unknown (`U`): every `identity.*` field of a request without
 * an identity; a group field the membership does not know (membership not
 * complete, or complete without that field in its `fields`), where no group
 * shows the value sought; and an `http.*` field of a request that carries no
 * HTTP attributes.
 */
import type { GroupField, RequestContext } from '../types.js';
import { plural } from './decision.js';
import { compileHttpCompare, compileIpCompare, compileScalarCompare } from './expression-compare.js';
import type { Expr } from './expression-parser.js';
import { elementPredicate, rhsValues } from './expression-predicate.js';
import { report, type ExpressionFn, type ExpressionScope } from './expression-scope.js';
import { hasProbe } from './group-index.js';
import { fieldBit, fieldNote, type IdentityView } from './identity-view.js';
import { isHttpField } from './http-request.js';
import { F, T, U, traceResult, triNot, triXor, type Tri } from './tri.js';
import type { CheckTrace } from './types.js';

export type { EmailMode, ExpressionFn, ExpressionScope } from './expression-scope.js';
export { NO_HTTP_ATTRIBUTES } from './expression-compare.js';

const EMPTY: readonly string[] = [];

function arrayOf(field: string, view: IdentityView, context: RequestContext): readonly string[] {
  switch (field) {
    case 'identity.groups.id':
      return view.groupIds;
    case 'identity.groups.name':
      return view.groupNames;
    case 'identity.groups.email':
      return view.groupEmails;
    default:
      return Array.isArray(context.devicePosture) ? context.devicePosture : EMPTY;
  }
}

/** The bit of a group field name (`identity.groups.name` → `FIELD_NAME`), 0 for the posture checks. */
function groupBit(field: string): number {
  return field.startsWith('identity.groups.') ? fieldBit(field.slice('identity.groups.'.length) as GroupField) : 0;
}

/**
 * `any(f[*] …)` / `all(f[*] …)` in Kleene logic, per group: a value a group carries is a known fact, a
 * value it lacks is unknown unless the field is known ({@link IdentityView.known}). So `any` is true when
 * some value satisfies the test, else unknown unless the field is known, else false; `all` is false when
 * some value fails it, else unknown unless the field is known, else true. The posture checks come from
 * the request and are always known.
 */
function compileQuantifier(expr: Extract<Expr, { k: 'quant' }>, scope: ExpressionScope): ExpressionFn {
  const { field, q } = expr;
  const attribute = `${field}[*]`;
  const arg = expr.arg;
  const bit = groupBit(field);
  const known = (view: IdentityView): boolean => bit === 0 || (view.known & bit) !== 0;
  let evaluate: (view: IdentityView, context: RequestContext) => Tri;
  // Fast path for the canonical `any(f[*] in {…})` / `any(f[*] == "…")`: a group probe, whose bit
  // the set's group index computes once per identity.
  const wanted = q === 'any' && arg.k === 'compare' && (arg.op === 'eq' || arg.op === 'in') ? rhsValues(arg.rhs, scope) : undefined;
  const probe = wanted !== undefined && bit !== 0 ? scope.groups.probe(field.slice('identity.groups.'.length) as GroupField, wanted) : undefined;
  if (probe !== undefined) {
    // INVARIANT: not finding a group is "no" only when the field is known.
    evaluate = (view) => (hasProbe(view.hits, probe) ? T : (view.known & bit) !== 0 ? F : U);
  } else {
    const predicate = elementPredicate(arg, scope);
    evaluate =
      q === 'any'
        ? (view, context) => {
            for (const v of arrayOf(field, view, context)) if (predicate(v)) return T;
            return known(view) ? F : U;
          }
        : (view, context) => {
            for (const v of arrayOf(field, view, context)) if (!predicate(v)) return F;
            return known(view) ? T : U;
          };
  }
  const fn: ExpressionFn = (view, context, sink) => {
    const result = evaluate(view, context);
    if (sink !== undefined) {
      const detail = result === U ? fieldNote(view, bit) : bit !== 0 ? plural(arrayOf(field, view, context).length, 'value') : undefined;
      report(sink, scope, expr, attribute, result, detail);
    }
    return result;
  };
  // The rule index uses this: with the field known the expression is true exactly when the probe holds.
  return probe === undefined ? fn : Object.assign(fn, { groupProbe: probe });
}

/** The group probe of an expression that is nothing but a positive group test, else `undefined`. */
export function groupProbeOf(fn: ExpressionFn): number | undefined {
  return (fn as ExpressionFn & { groupProbe?: number }).groupProbe;
}

/**
 * Compiles an AST. Identity and request fields read from the view and context;
 * without an identity every `identity.*` field is unknown; a missing IP or
 * country reads as empty, a missing `request` as unknown.
 */
export function compileExpression(expr: Expr, scope: ExpressionScope, polarity = 1): ExpressionFn {
  switch (expr.k) {
    case 'compare':
      if (expr.field === 'net.src.ip') return compileIpCompare(expr, scope);
      if (isHttpField(expr.field)) return compileHttpCompare(expr, expr.field, scope);
      return compileScalarCompare(expr, scope, polarity);
    case 'quant':
      return compileQuantifier(expr, scope);
    case 'not': {
      const inner = compileExpression(expr.arg, scope, -polarity);
      return (view, context, sink) => {
        if (sink === undefined) return triNot(inner(view, context));
        // The negated checks are nested under the `not`: listed flat, a "match" inside would read as
        // the reason for a rule that the negation made fail.
        const children: CheckTrace[] = [];
        const result = triNot(inner(view, context, children));
        const attribute = [...new Set(children.map((c) => c.attribute))].join(', ');
        sink.push({ path: scope.part, selector: scope.source.slice(expr.start, expr.end), value: '', attribute, result: traceResult(result), children });
        return result;
      };
    }
    case 'logic': {
      const items = expr.items.map((item) => compileExpression(item, scope, expr.op === 'xor' ? 0 : polarity));
      if (expr.op === 'xor') {
        return (view, context, sink) => {
          let acc: Tri = F;
          for (const item of items) acc = triXor(acc, item(view, context, sink));
          return acc;
        };
      }
      const and = expr.op === 'and';
      // AND is min and OR is max over F < U < T; short-circuit unless tracing.
      return (view, context, sink) => {
        let acc: Tri = and ? T : F;
        for (const item of items) {
          const r = item(view, context, sink);
          if (and ? r < acc : r > acc) acc = r;
          if (sink === undefined && acc === (and ? F : T)) return acc;
        }
        return acc;
      };
    }
  }
}

/**
 * Compiles one expression part (`identity`, `traffic`, `device_posture`) of a rule. In `widen` mode an
 * `identity.email` comparison under `xor` is read both ways: the part tries every reading and keeps the
 * greatest result (Kleene order F < U < T), so extended matching never lets a variant escape the rule.
 * The trace shows the reading that gave it.
 */
export function compilePart(expr: Expr, scope: Omit<ExpressionScope, 'readings'>): ExpressionFn {
  const readings = { mask: 0, count: 0 };
  const fn = compileExpression(expr, { ...scope, readings });
  const count = readings.count;
  if (count === 0) return fn;
  const best = (view: IdentityView, context: RequestContext): { mask: number; result: Tri } => {
    let top: Tri = F;
    let at = 0;
    for (let mask = 0; mask < 1 << count; mask++) {
      readings.mask = mask;
      const r = fn(view, context);
      if (r > top) {
        top = r;
        at = mask;
        if (r === T) break;
      }
    }
    return { mask: at, result: top };
  };
  const searched: ExpressionFn = (view, context, sink) => {
    // An evaluation re-entered from the context (a getter) leaves the outer search's reading in place.
    const outer = readings.mask;
    try {
      const { mask, result } = best(view, context);
      readings.mask = mask;
      if (sink !== undefined) fn(view, context, sink);
      return result;
    } finally {
      readings.mask = outer;
    }
  };
  // A part that is only a group probe has no email comparison: the index hint is never lost here.
  return searched;
}
