/**
 * The leaf comparisons of a Gateway expression: `net.src.ip` against addresses,
 * `http.request.*` fields, and the scalar fields (`identity.email`, `identity.name`,
 * `net.src.geo.country`) with the extended-email readings. Split from
 * `expression-compile.ts`, which dispatches to them.
 */
import { PolicyError } from '../errors/index.js';
import type { RequestContext } from '../types.js';
import { plural } from './decision.js';
import { canonicalEmail } from './extended-email.js';
import type { Expr } from './expression-parser.js';
import { comparePredicate, lower, rhsValues, same } from './expression-predicate.js';
import { report, type ExpressionFn, type ExpressionScope } from './expression-scope.js';
import { httpFieldReader, httpSourceKey, normalizeHost, requestOf, type HttpField, type HttpRequestState } from './http-request.js';
import type { IdentityView } from './identity-view.js';
import { cidrContains, parseCidr, parseIpRange, rangeContains, requestIp, type Cidr, type IpRange, type IpWords } from './ip.js';
import { F, T, U, type Tri } from './tri.js';
import type { CheckTrace } from './types.js';

/** At most this many `identity.email` comparisons under `xor` per expression part in `widen` mode (2^n readings). */
const MAX_MIXED = 8;

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
export function compileIpCompare(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope): ExpressionFn {
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
export function compileHttpCompare(expr: Extract<Expr, { k: 'compare' }>, field: HttpField, scope: ExpressionScope): ExpressionFn {
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
export function compileScalarCompare(expr: Extract<Expr, { k: 'compare' }>, scope: ExpressionScope, polarity: number): ExpressionFn {
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
