/**
 * Turns a parsed Gateway expression into a closure over a prepared identity
 * view and the request context, in three-valued logic. Regexes are compiled
 * once, with re2js (linear time); lists are resolved at compile time.
 *
 * Two things are unknown (`U`): a group a membership that is not complete may
 * hold, and an `http.*` field of a request that carries no HTTP attributes.
 */
import { RE2JS } from 're2js';
import { PolicyError } from '../errors/index.js';
import type { RequestContext } from '../types.js';
import { plural } from './decision.js';
import { canonicalEmail } from './extended-email.js';
import type { CompareOp, Expr, Rhs } from './expression-parser.js';
import { hasProbe, type GroupField, type GroupIndex } from './group-index.js';
import type { IdentityView } from './identity-view.js';
import { httpFieldReader, httpSourceKey, isHttpField, normalizeHost, requestOf, type HttpField, type HttpRequestState } from './http-request.js';
import { cidrContains, parseCidr, requestIp, type Cidr } from './ip.js';
import { F, T, U, traceResult, triNot, triXor, type Tri } from './tri.js';
import type { CheckTrace } from './types.js';

/** Evaluates an expression; with `sink`, every comparison reports itself there. */
export type ExpressionFn = (view: IdentityView, context: RequestContext, sink?: CheckTrace[]) => Tri;

export interface ExpressionScope {
  readonly source: string;
  readonly where: string;
  /** The expression part, used as the trace path (`identity`, `traffic`, `device_posture`). */
  readonly part: string;
  readonly lists: Readonly<Record<string, readonly string[]>>;
  /** Whether `identity.email` `==`/`!=`/`in` match `+tag` and dot variants. */
  readonly extendedEmail: boolean;
  /** The compiled set's group probes (exact bytes). */
  readonly groups: GroupIndex;
  /**
   * The compiled set's HTTP fields of the request being decided. INVARIANT: the
   * set loads it from the context before it runs any expression (evaluation and trace).
   */
  readonly http: HttpRequestState;
}

type Predicate = (value: string) => boolean;

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

/** INVARIANT: a group array is complete only when membership is; posture checks come from the request. */
function isComplete(field: string, view: IdentityView): boolean {
  return field.startsWith('identity.groups.') ? view.complete : true;
}

/** A Bytes field's value; one the request or identity does not carry reads as `""`. */
function scalarOf(field: string, view: IdentityView, context: RequestContext): string {
  if (field === 'identity.email') return view.email;
  if (field === 'net.src.geo.country') return typeof context.country === 'string' ? context.country : '';
  const name = view.identity?.name;
  return typeof name === 'string' ? name : '';
}

/** The CIDRs an IP comparison names (a list's values are checked here, once). */
function cidrsOf(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope): readonly Cidr[] {
  const rhs = expr.rhs;
  if (rhs.k === 'cidrs') return rhs.values.map((v) => parseCidr(v) as Cidr);
  return rhsValues(rhs, scope).map((v) => {
    const cidr = parseCidr(v);
    if (cidr === null) {
      const list = rhs.k === 'list' ? `list \`${rhs.name}\`` : 'the value';
      throw new PolicyError('ERR_EXPRESSION_TYPE', `${list} holds \`${v}\`, which is not an IP address or CIDR at ${expr.start + 1}: ${scope.where}`);
    }
    return cidr;
  });
}

/**
 * `net.src.ip` against addresses and CIDRs. A request without a parseable IP
 * is in no range (as the Access `ip` selector), so `==`/`in` are false and `!=` true.
 */
function compileIpCompare(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope): ExpressionFn {
  const cidrs = cidrsOf(expr, scope);
  const negate = expr.op === 'ne';
  const inside = (context: RequestContext): boolean => {
    const ip = requestIp(context);
    if (ip === null) return false;
    for (const cidr of cidrs) if (cidrContains(cidr, ip)) return true;
    return false;
  };
  return (_view, context, sink) => {
    const result: Tri = inside(context) !== negate ? T : F;
    if (sink !== undefined) {
      const ip = typeof context.ip === 'string' && context.ip !== '' ? `\`${context.ip}\`` : 'absent';
      report(sink, scope, expr, 'context.ip', result, `${expr.field} is ${ip}`);
    }
    return result;
  };
}

/** Byte order of UTF-8 equals code point order; JS `<` compares UTF-16 units, which differs above U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * Rust-regex syntax that RE2 reads differently is refused rather than run with
 * another meaning: class set operations (`&&`, `--`, `~~`) and nested classes.
 */
function rustOnlySyntax(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (!inClass) {
      if (c === '[') {
        inClass = true;
        if (pattern[i + 1] === '^') i++;
        if (pattern[i + 1] === ']') i++;
      }
      continue;
    }
    if (c === ']') inClass = false;
    else if (c === '[') {
      const posix = /^\[:\^?[a-z]+:\]/.exec(pattern.slice(i));
      if (!posix) return 'nested character classes';
      i += posix[0].length - 1;
    } else if ((c === '&' || c === '-' || c === '~') && pattern[i + 1] === c) {
      return `class set operation \`${c}${c}\``;
    }
  }
  return undefined;
}

function compileRegex(rhs: Extract<Rhs, { k: 'regex' }>, scope: ExpressionScope): Predicate {
  const bad = rustOnlySyntax(rhs.pattern);
  if (bad !== undefined) {
    throw new PolicyError('ERR_EXPRESSION_REGEX', `regular expression \`${rhs.pattern}\` uses ${bad}, which is not supported at ${rhs.at + 1}: ${scope.where}`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(rhs.pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : 'invalid';
    throw new PolicyError(
      'ERR_EXPRESSION_REGEX',
      `regular expression \`${rhs.pattern}\` cannot run in linear time or is invalid (${why}) at ${rhs.at + 1}: ${scope.where}`,
      { cause: err },
    );
  }
  // Unanchored, as wirefilter's `is_match`; `(?i)` is RE2 syntax too.
  return (value) => re.test(value);
}

function rhsValues(rhs: Rhs, scope: ExpressionScope): readonly string[] {
  if (rhs.k === 'set') return rhs.values;
  if (rhs.k === 'list') {
    const list = scope.lists[rhs.name];
    if (!list) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `list \`${rhs.name}\` is not configured: ${scope.where}`);
    return list;
  }
  return rhs.k === 'string' ? [rhs.value] : [];
}

const same = (v: string): string => v;
const lower = (v: string): string => v.toLowerCase();

/**
 * A predicate over one Bytes value (a scalar field, or one element under `[*]`).
 * `norm` maps the values the rule names to the form of the value it is given,
 * once, here: canonical emails for extended email (the caller passes the
 * identity's canonical email, computed once), lower case for a host. A regex is
 * never rewritten.
 */
function comparePredicate(op: CompareOp, rhs: Rhs, norm: (v: string) => string, scope: ExpressionScope): Predicate {
  if (op === 'matches' && rhs.k === 'regex') return compileRegex(rhs, scope);
  if (op === 'in') {
    const set = new Set(rhsValues(rhs, scope).map(norm));
    return (v) => set.has(v);
  }
  const value = norm(rhs.k === 'string' ? rhs.value : '');
  switch (op) {
    case 'eq':
      return (v) => v === value;
    case 'ne':
      return (v) => v !== value;
    case 'contains':
      return (v) => v.includes(value);
    case 'lt':
      return (v) => compareCodePoints(v, value) < 0;
    case 'le':
      return (v) => compareCodePoints(v, value) <= 0;
    case 'gt':
      return (v) => compareCodePoints(v, value) > 0;
    case 'ge':
      return (v) => compareCodePoints(v, value) >= 0;
    default:
      throw new PolicyError('ERR_EXPRESSION_TYPE', `operator \`${op}\` does not take this value: ${scope.where}`);
  }
}

/** Compiles the argument of `any`/`all` into a predicate over one element. */
function elementPredicate(expr: Expr, scope: ExpressionScope): Predicate {
  switch (expr.k) {
    case 'compare':
      return comparePredicate(expr.op, expr.rhs, same, scope);
    case 'not': {
      const inner = elementPredicate(expr.arg, scope);
      return (v) => !inner(v);
    }
    case 'logic': {
      const items = expr.items.map((item) => elementPredicate(item, scope));
      if (expr.op === 'and') return (v) => items.every((p) => p(v));
      if (expr.op === 'or') return (v) => items.some((p) => p(v));
      return (v) => items.reduce((acc, p) => acc !== p(v), false);
    }
    case 'quant':
      throw new PolicyError('ERR_EXPRESSION_TYPE', `\`${expr.q}(…)\` cannot be nested: ${scope.where}`);
  }
}

function report(sink: CheckTrace[], scope: ExpressionScope, expr: Expr, attribute: string, result: Tri, detail?: string): void {
  const check: CheckTrace = {
    path: scope.part,
    selector: scope.source.slice(expr.start, expr.end),
    value: '',
    attribute,
    result: traceResult(result),
  };
  sink.push(detail === undefined ? check : { ...check, detail });
}

function compileQuantifier(expr: Extract<Expr, { k: 'quant' }>, scope: ExpressionScope): ExpressionFn {
  const { field, q } = expr;
  const attribute = `${field}[*]`;
  const arg = expr.arg;
  let evaluate: (view: IdentityView, context: RequestContext) => Tri;
  // Fast path for the canonical `any(f[*] in {…})` / `any(f[*] == "…")`: a group probe, whose bit
  // the set's group index computes once per identity.
  const wanted = q === 'any' && arg.k === 'compare' && (arg.op === 'eq' || arg.op === 'in') ? rhsValues(arg.rhs, scope) : undefined;
  const probe = wanted !== undefined && field.startsWith('identity.groups.')
    ? scope.groups.probe(field.slice('identity.groups.'.length) as GroupField, wanted)
    : undefined;
  if (probe !== undefined) {
    // INVARIANT: not finding a group is "no" only when membership is complete.
    evaluate = (view) => (hasProbe(view.hits, probe) ? T : view.complete ? F : U);
  } else {
    const predicate = elementPredicate(arg, scope);
    evaluate =
      q === 'any'
        ? (view, context) => {
            for (const v of arrayOf(field, view, context)) if (predicate(v)) return T;
            return isComplete(field, view) ? F : U;
          }
        : (view, context) => {
            for (const v of arrayOf(field, view, context)) if (!predicate(v)) return F;
            return isComplete(field, view) ? T : U;
          };
  }
  const fn: ExpressionFn = (view, context, sink) => {
    const result = evaluate(view, context);
    if (sink !== undefined) {
      const detail = result === U ? view.membershipNote : field.startsWith('identity.groups.') ? plural(arrayOf(field, view, context).length, 'value') : undefined;
      report(sink, scope, expr, attribute, result, detail);
    }
    return result;
  };
  // The rule index uses this: with complete membership the expression is true exactly when the probe holds.
  return probe === undefined ? fn : Object.assign(fn, { groupProbe: probe });
}

/** Why an HTTP field is unknown, for the trace. */
export const NO_HTTP_ATTRIBUTES = 'the request has no HTTP attributes';

/**
 * An `http.request.*` comparison. INVARIANT: when the context carries no
 * `request` (or not the string the field reads), the result is `U`, whatever
 * the operator: `!=` is not "true" of a request nobody described. So a Block
 * that might match denies and an Allow does not allow, as with unknown groups.
 *
 * The host is compared in lower case: the values of every operator but
 * `matches` are lower-cased here, once (and for `==`, `!=`, `in`, stripped of
 * trailing dots as the request's host is; a value with a port is a compile
 * error); a regex runs on the lower-cased host.
 * The method, path and query are compared exactly.
 */
function compileHttpCompare(expr: Extract<Expr, { k: 'compare' }>, field: HttpField, scope: ExpressionScope): ExpressionFn {
  // A host the rule names whole (`==`, `!=`, `in`) is normalised as the request's is, and one with a port is
  // refused: either would otherwise never match, and a Block written so would silently let traffic through.
  const whole = expr.op === 'eq' || expr.op === 'ne' || expr.op === 'in';
  const hostValue = (v: string): string => {
    // A port is not part of the hostname Gateway compares: a rule naming one could never match.
    if (/^(?:\[[^\]]*\]|[^:]*)$/.test(v.replace(/\.+$/, '')) === false) {
      throw new PolicyError('ERR_EXPRESSION_TYPE', `\`${field}\` compares hostnames without a port: \`${v}\` at ${expr.start + 1}: ${scope.where}`);
    }
    return normalizeHost(v);
  };
  const predicate = comparePredicate(expr.op, expr.rhs, field === 'http.request.host' ? (whole ? hostValue : lower) : same, scope);
  const read = httpFieldReader(field);
  const state = scope.http;
  return (_view, context, sink) => {
    const value = read(state);
    const result: Tri = value === undefined ? U : predicate(value) ? T : F;
    if (sink !== undefined) report(sink, scope, expr, field, result, httpDetail(field, value, context));
    return result;
  };
}

/**
 * The trace detail of an HTTP comparison. A query can carry secrets (an OAuth
 * `code`, a signed link's token), so the query is described by its length,
 * never shown, and the path and query shows only its path.
 */
function httpDetail(field: HttpField, value: string | undefined, context: RequestContext): string {
  if (value === undefined) {
    const why = requestOf(context) !== undefined ? `\`request.${httpSourceKey(field)}\` is not a string` : NO_HTTP_ATTRIBUTES;
    return `${field} is unknown: ${why}`;
  }
  if (field === 'http.request.uri.query') return value === '' ? `${field} is empty` : `${field} is ${plural(value.length, 'character')} (not shown)`;
  if (field === 'http.request.uri.path_and_query') {
    const q = value.indexOf('?');
    if (q !== -1) return `${field} is \`${value.slice(0, q)}?…\` (query not shown)`;
  }
  return value === '' ? `${field} is empty` : `${field} is \`${value}\``;
}

/** The group probe of an expression that is nothing but a positive group test, else `undefined`. */
export function groupProbeOf(fn: ExpressionFn): number | undefined {
  return (fn as ExpressionFn & { groupProbe?: number }).groupProbe;
}

/**
 * Compiles an AST. Identity and request fields read from the view and context;
 * a missing identity reads as `""` and `[]` (with membership complete), a
 * missing IP or country as empty, a missing `request` as unknown.
 */
export function compileExpression(expr: Expr, scope: ExpressionScope): ExpressionFn {
  switch (expr.k) {
    case 'compare': {
      if (expr.field === 'net.src.ip') return compileIpCompare(expr, scope);
      if (isHttpField(expr.field)) return compileHttpCompare(expr, expr.field, scope);
      const extended = scope.extendedEmail && expr.field === 'identity.email' && (expr.op === 'eq' || expr.op === 'ne' || expr.op === 'in');
      const predicate = comparePredicate(expr.op, expr.rhs, extended ? canonicalEmail : same, scope);
      const field = expr.field;
      return (view, context, sink) => {
        const result: Tri = predicate(extended ? view.canonicalEmail : scalarOf(field, view, context)) ? T : F;
        if (sink !== undefined) {
          const value = scalarOf(field, view, context);
          report(sink, scope, expr, field, result, `${field} is ${value === '' ? 'empty' : `\`${value}\``}${extended ? ', extended email matching' : ''}`);
        }
        return result;
      };
    }
    case 'quant':
      return compileQuantifier(expr, scope);
    case 'not': {
      const inner = compileExpression(expr.arg, scope);
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
      const items = expr.items.map((item) => compileExpression(item, scope));
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
