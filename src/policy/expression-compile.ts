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
import { RE2JS } from 're2js';
import { PolicyError } from '../errors/index.js';
import type { GroupField, RequestContext } from '../types.js';
import { byteString, PatternError, translatePattern, wildcardPattern } from './byte-regex.js';
import { plural } from './decision.js';
import { canonicalEmail } from './extended-email.js';
import type { CompareOp, Expr, Rhs } from './expression-parser.js';
import { hasProbe, type GroupIndex } from './group-index.js';
import { fieldBit, fieldNote, type IdentityView } from './identity-view.js';
import { httpFieldReader, httpSourceKey, isHttpField, normalizeHost, requestOf, type HttpField, type HttpRequestState } from './http-request.js';
import { cidrContains, parseCidr, parseIpRange, rangeContains, requestIp, type Cidr, type IpRange, type IpWords } from './ip.js';
import type { ListMap } from './options.js';
import { F, T, U, traceResult, triNot, triXor, type Tri } from './tri.js';
import type { CheckTrace } from './types.js';

/** Evaluates an expression; with `sink`, every comparison reports itself there. */
export type ExpressionFn = (view: IdentityView, context: RequestContext, sink?: CheckTrace[]) => Tri;

/**
 * How `identity.email` `==`, `!=` and `in` read extended addresses (reference §2.5) in a rule:
 * - `exact`: byte for byte (Allow-type actions, and restricting ones without variant matching);
 * - `canonical`: every comparison on canonical addresses (Allow-type actions with `matchExtendedEmail`:
 *   an exclusion such as `!=` then excludes the variants too);
 * - `widen`: a restricting action that matches variants (Block, Isolate, …): each comparison is read
 *   the way that makes the rule match more, so a variant never escapes it. A comparison that makes the
 *   rule more likely to match when true (`==`, `in` outside `not`) reads canonical addresses; one that
 *   narrows it (`!=`, or under `not`) reads the exact address, so "block everyone except alice"
 *   exempts `alice@x` and neither `a.lice@x` nor `alice+1@x`. One under `xor` (both ways) is tried
 *   both ways, and the rule matches if some reading makes it match.
 */
export type EmailMode = 'exact' | 'canonical' | 'widen';

export interface ExpressionScope {
  readonly source: string;
  readonly where: string;
  /** The expression part, used as the trace path (`identity`, `traffic`, `device_posture`). */
  readonly part: string;
  readonly lists: ListMap;
  readonly emailMode: EmailMode;
  /** The compiled set's group probes (exact bytes). */
  readonly groups: GroupIndex;
  /**
   * The compiled set's HTTP fields of the request being decided. INVARIANT: the
   * set loads it from the context before it runs any expression (evaluation and trace).
   */
  readonly http: HttpRequestState;
  /**
   * The readings of the part's `identity.email` comparisons under `xor` in `widen` mode: bit *i* set
   * means comparison *i* reads canonical addresses. Set by {@link compilePart}'s search.
   */
  readonly readings: { mask: number; count: number };
}

type Predicate = (value: string) => boolean;

const EMPTY: readonly string[] = [];

/** At most this many `identity.email` comparisons under `xor` per expression part in `widen` mode (2^n readings). */
const MAX_MIXED = 8;

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

/** An address set an IP comparison names: CIDRs (a bare address is a /32 or /128) and ranges. */
interface AddressSet {
  readonly cidrs: readonly Cidr[];
  readonly ranges: readonly IpRange[];
}

/** The CIDRs and ranges an IP comparison names (a list's values are checked here, once). */
function addressesOf(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope): AddressSet {
  const rhs = expr.rhs;
  const cidrs: Cidr[] = [];
  const ranges: IpRange[] = [];
  if (rhs.k === 'cidrs') {
    // The parser checked every value.
    for (const v of rhs.values) {
      if (v.includes('..')) ranges.push(parseIpRange(v) as IpRange);
      else cidrs.push(parseCidr(v) as Cidr);
    }
    return { cidrs, ranges };
  }
  for (const v of rhsValues(rhs, scope)) {
    const cidr = parseCidr(v);
    if (cidr === null) {
      const list = rhs.k === 'list' ? `list \`${rhs.name}\`` : 'the value';
      throw new PolicyError('ERR_EXPRESSION_TYPE', `${list} holds \`${v}\`, which is not an IP address or CIDR at ${expr.start + 1}: ${scope.where}`);
    }
    cidrs.push(cidr);
  }
  return { cidrs, ranges };
}

function inside(set: AddressSet, ip: IpWords): boolean {
  for (const cidr of set.cidrs) if (cidrContains(cidr, ip)) return true;
  for (const range of set.ranges) if (rangeContains(range, ip)) return true;
  return false;
}

/**
 * `net.src.ip` against addresses, CIDRs and ranges. A request without a parseable IP
 * is in no range (as the Access `ip` selector), so `==`/`in` are false and `!=` true.
 */
function compileIpCompare(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope): ExpressionFn {
  const set = addressesOf(expr, scope);
  const negate = expr.op === 'ne';
  const contains = (context: RequestContext): boolean => {
    const ip = requestIp(context);
    return ip !== null && inside(set, ip);
  };
  return (_view, context, sink) => {
    const result: Tri = contains(context) !== negate ? T : F;
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

function regexError(pattern: string, why: string, at: number, scope: ExpressionScope, cause?: unknown): PolicyError {
  return new PolicyError('ERR_EXPRESSION_REGEX', `regular expression \`${pattern}\` ${why} at ${at + 1}: ${scope.where}`, cause === undefined ? undefined : { cause });
}

/**
 * A `matches` predicate with wirefilter's semantics: Rust's regex on the value's bytes, Unicode off
 * (see `byte-regex.ts`), unanchored (`is_match`). Syntax Rust reads otherwise is refused by name.
 */
function compileRegex(rhs: Extract<Rhs, { k: 'regex' }>, scope: ExpressionScope): Predicate {
  let translated: string;
  try {
    translated = translatePattern(rhs.pattern);
  } catch (err) {
    if (!(err instanceof PatternError)) throw err;
    throw regexError(rhs.pattern, `uses ${err.message}, which is not supported`, rhs.at, scope);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(translated);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : 'invalid';
    throw regexError(rhs.pattern, `cannot run in linear time or is invalid (${why})`, rhs.at, scope, err);
  }
  return (value) => re.test(byteString(value));
}

/** A `wildcard` (ASCII case-insensitive) or `strict wildcard` predicate, on bytes, matching the whole value. */
function compileWildcard(pattern: string, strict: boolean): Predicate {
  const re = RE2JS.compile(wildcardPattern(pattern, strict));
  return (value) => re.test(byteString(value));
}

function rhsValues(rhs: Rhs, scope: ExpressionScope): readonly string[] {
  if (rhs.k === 'set') return rhs.values;
  if (rhs.k === 'list') {
    // INVARIANT: an own key of the configured lists only (a Map): `$toString` is no list.
    const list = scope.lists.get(rhs.name);
    if (list === undefined) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `list \`${rhs.name}\` is not configured: ${scope.where}`);
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
    case 'wildcard':
    case 'strict_wildcard':
      return compileWildcard(value, op === 'strict_wildcard');
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
    if (sink !== undefined) report(sink, scope, expr, field, result, httpDetail(field, value, context, state));
    return result;
  };
}

/**
 * The trace detail of an HTTP comparison. A query can carry secrets (an OAuth
 * `code`, a signed link's token), so the query is described by its length,
 * never shown, and the path and query shows only its path.
 */
function httpDetail(field: HttpField, value: string | undefined, context: RequestContext, state: HttpRequestState): string {
  if (value === undefined) {
    // Why it is unknown: the request's path has no single normalised form, or the attribute is missing.
    const why = state.unknownReason(field) ?? (requestOf(context) !== undefined ? `\`request.${httpSourceKey(field)}\` is not a string` : NO_HTTP_ATTRIBUTES);
    return `${field} is unknown: ${why}`;
  }
  if (field === 'http.request.uri.query') return value === '' ? `${field} is empty` : `${field} is ${plural(value.length, 'character')} (not shown)`;
  if (field === 'http.request.uri.path_and_query') {
    const q = value.indexOf('?');
    if (q !== -1) return `${field} is \`${value.slice(0, q)}?…\` (query not shown)`;
  }
  return value === '' ? `${field} is empty` : `${field} is \`${value}\``;
}

/**
 * A comparison on `identity.email`, `identity.name` or `net.src.geo.country`. INVARIANT: an identity
 * field of a request without an identity is `U`, whatever the operator.
 *
 * `polarity` is how the comparison bears on the rule: `1` where its truth makes the rule match more,
 * `-1` under an odd number of `not`, `0` under `xor`. It chooses the reading of extended addresses in
 * `widen` mode (see {@link EmailMode}).
 */
function compileScalarCompare(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope, polarity: number): ExpressionFn {
  const field = expr.field;
  const identityField = field.startsWith('identity.');
  const variable = field === 'identity.email' && (expr.op === 'eq' || expr.op === 'ne' || expr.op === 'in') && scope.emailMode !== 'exact';
  const exact = comparePredicate(expr.op, expr.rhs, same, scope);
  const read = scalarReader(field);
  /** The reading of a variable comparison: `true` canonical, `false` exact, a function for a mixed one (under `xor`). */
  let reading: boolean | (() => boolean) = false;
  if (variable) {
    // `!=` is itself a narrowing comparison: its widening reading is the exact one.
    const effective = scope.emailMode === 'canonical' ? 1 : expr.op === 'ne' ? -polarity : polarity;
    if (effective !== 0) reading = effective > 0;
    else {
      const slot = scope.readings.count++;
      if (slot >= MAX_MIXED) {
        throw new PolicyError(
          'ERR_EXPRESSION_TYPE',
          `more than ${MAX_MIXED} \`identity.email\` comparisons under \`xor\` in a rule that matches extended email at ${expr.start + 1}: ${scope.where}`,
        );
      }
      const readings = scope.readings;
      reading = () => (readings.mask & (1 << slot)) !== 0;
    }
  }
  const readsCanonical = (): boolean => (typeof reading === 'function' ? reading() : reading);
  const canonical = variable ? comparePredicate(expr.op, expr.rhs, canonicalEmail, scope) : exact;
  const traced = (view: IdentityView, context: RequestContext, sink: CheckTrace[], result: Tri): Tri => {
    if (identityField && view.identity === null) report(sink, scope, expr, field, result, `${field} is unknown: no identity`);
    else {
      const value = read(view, context);
      const how = variable ? `, extended email matching (${readsCanonical() ? 'variants' : 'exact address'})` : '';
      report(sink, scope, expr, field, result, `${field} is ${value === '' ? 'empty' : `\`${value}\``}${how}`);
    }
    return result;
  };
  // One closure per case: the hot path reads one value and runs one predicate.
  let evaluate: (view: IdentityView, context: RequestContext) => Tri;
  if (reading === false) {
    evaluate = identityField
      ? (view, context) => (view.identity === null ? U : exact(read(view, context)) ? T : F)
      : (view, context) => (exact(read(view, context)) ? T : F);
  } else if (reading === true) {
    evaluate = (view) => (view.identity === null ? U : canonical(view.canonicalEmail) ? T : F);
  } else {
    const mixed = reading;
    evaluate = (view, context) => (view.identity === null ? U : (mixed() ? canonical(view.canonicalEmail) : exact(read(view, context))) ? T : F);
  }
  return (view, context, sink) => {
    const result = evaluate(view, context);
    return sink === undefined ? result : traced(view, context, sink, result);
  };
}

/** The reader of a scalar field (`identity.email`, `identity.name`, `net.src.geo.country`); one the request or identity lacks reads as `""`. */
function scalarReader(field: string): (view: IdentityView, context: RequestContext) => string {
  if (field === 'identity.email') return (view) => view.email;
  if (field === 'net.src.geo.country') return (_view, context) => (typeof context.country === 'string' ? context.country : '');
  return (view) => {
    const name = view.identity?.name;
    return typeof name === 'string' ? name : '';
  };
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
