/**
 * A small, obviously-correct interpreter of Gateway rules, written from
 * reference §2 and the unknown rules (membership that is not complete; a
 * request without HTTP attributes): it walks the parsed AST (the parser has
 * its own tests) with no compilation, no group probes, no index, no memo and
 * no caching. The property tests check the compiled evaluator against it. It
 * assumes valid input (the compiler rejects the rest).
 */
import { parseExpression, type Expr, type Rhs } from '../../src/policy/expression-parser.js';
import type { GatewayAction, GatewayRule } from '../../src/policy/types.js';
import type { Identity, RequestContext } from '../../src/types.js';
import { inCidr, type ReferenceDecision } from './reference-interpreter.js';

type K = 'yes' | 'no' | 'maybe';

/** The same shape as the Access reference's decision. */
export type GatewayReferenceDecision = ReferenceDecision;

const EXTENDED: readonly string[] = ['block', 'override', 'safesearch', 'ytrestricted', 'isolate', 'audit_ssh'];
const PASS: readonly string[] = ['allow', 'off', 'noisolate', 'noscan', 'resolve', 'egress', 'l4_override'];

function canonical(email: string): string {
  const lower = email.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0) return lower;
  return lower.slice(0, at).split('+')[0]!.replaceAll('.', '') + lower.slice(at);
}

function codePointCompare(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function referenceGateway(
  rules: readonly GatewayRule[],
  identity: Identity | null,
  context: RequestContext,
  options: { lists?: Readonly<Record<string, readonly string[]>>; defaultAction?: GatewayAction; matchExtendedEmail?: boolean } = {},
): GatewayReferenceDecision {
  const lists = options.lists ?? {};
  const complete = identity === null || identity.membership.state === 'complete';
  const groups = identity === null ? [] : identity.groups.filter((g) => typeof g.id === 'string');
  const arrays: Record<string, string[]> = {
    'identity.groups.id': groups.map((g) => g.id),
    'identity.groups.name': groups.flatMap((g) => (typeof g.name === 'string' ? [g.name] : [])),
    'identity.groups.email': groups.flatMap((g) => (typeof g.email === 'string' ? [g.email] : [])),
    'device_posture.checks.passed': context.devicePosture ?? [],
  };
  const scalars: Record<string, string> = {
    'identity.email': identity?.email ?? '',
    'identity.name': identity?.name ?? '',
    'net.src.geo.country': context.country ?? '',
  };

  // The HTTP fields, or nothing at all (unknown) when the context has no request.
  const http: Record<string, string> | undefined = (() => {
    const r = context.request;
    if (r === undefined) return undefined;
    // An absolute-form target is read from its path.
    const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(r.url);
    const rest = origin === null ? r.url : r.url.slice(origin[0].length);
    const target = origin === null || rest.startsWith('/') ? rest : `/${rest}`;
    const [path, ...query] = target.split('?');
    let host = r.host.toLowerCase();
    host = host.startsWith('[') && host.includes(']') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    host = host.replace(/\.+$/, '');
    return {
      'http.request.host': host,
      'http.request.method': r.method,
      'http.request.uri.path': path!,
      'http.request.uri.query': query.join('?'),
      'http.request.uri.path_and_query': target,
    };
  })();

  function values(rhs: Rhs): readonly string[] {
    if (rhs.k === 'set') return rhs.values;
    if (rhs.k === 'list') return lists[rhs.name]!;
    if (rhs.k === 'cidrs') return rhs.values;
    return rhs.k === 'string' ? [rhs.value] : [];
  }

  /** `extended`: compare canonical emails (`==`, `!=`, `in`); `caseless`: compare in lower case (the host, all but `matches`). */
  function test(value: string, op: string, rhs: Rhs, extended: boolean, caseless = false): boolean {
    const norm = extended ? canonical : caseless ? (s: string) => s.toLowerCase() : (s: string) => s;
    switch (op) {
      case 'eq':
        return norm(value) === norm(values(rhs)[0]!);
      case 'ne':
        return norm(value) !== norm(values(rhs)[0]!);
      case 'in':
        return values(rhs).some((v) => norm(v) === norm(value));
      case 'contains':
        return caseless ? norm(value).includes(norm(values(rhs)[0]!)) : value.includes(values(rhs)[0]!);
      case 'matches':
        // The generated patterns mean the same in JavaScript and RE2.
        return new RegExp((rhs as { pattern: string }).pattern).test(value);
      case 'lt':
        return codePointCompare(norm(value), norm(values(rhs)[0]!)) < 0;
      case 'le':
        return codePointCompare(norm(value), norm(values(rhs)[0]!)) <= 0;
      case 'gt':
        return codePointCompare(norm(value), norm(values(rhs)[0]!)) > 0;
      default:
        return codePointCompare(norm(value), norm(values(rhs)[0]!)) >= 0;
    }
  }

  function element(e: Expr, value: string): boolean {
    if (e.k === 'compare') return test(value, e.op, e.rhs, false);
    if (e.k === 'not') return !element(e.arg, value);
    if (e.k === 'logic') {
      const r = e.items.map((item) => element(item, value));
      return e.op === 'and' ? r.every(Boolean) : e.op === 'or' ? r.some(Boolean) : r.filter(Boolean).length % 2 === 1;
    }
    throw new Error('nested quantifier');
  }

  function evaluate(e: Expr, extended: boolean): K {
    switch (e.k) {
      case 'compare':
        if (e.field === 'net.src.ip') {
          // No request IP is in no range.
          const inside = values(e.rhs).some((cidr) => inCidr(context.ip, cidr));
          return inside !== (e.op === 'ne') ? 'yes' : 'no';
        }
        if (e.field.startsWith('http.')) {
          // No request: unknown, whatever the operator.
          if (http === undefined) return 'maybe';
          return test(http[e.field]!, e.op, e.rhs, false, e.field === 'http.request.host') ? 'yes' : 'no';
        }
        return test(scalars[e.field]!, e.op, e.rhs, extended && e.field === 'identity.email' && ['eq', 'ne', 'in'].includes(e.op)) ? 'yes' : 'no';
      case 'quant': {
        const known = e.field.startsWith('identity.groups.') ? complete : true;
        const r = arrays[e.field]!.map((v) => element(e.arg, v));
        if (e.q === 'any') return r.some(Boolean) ? 'yes' : known ? 'no' : 'maybe';
        return r.every(Boolean) ? (known ? 'yes' : 'maybe') : 'no';
      }
      case 'not': {
        const r = evaluate(e.arg, extended);
        return r === 'yes' ? 'no' : r === 'no' ? 'yes' : 'maybe';
      }
      case 'logic': {
        const r = e.items.map((item) => evaluate(item, extended));
        if (e.op === 'xor') return r.includes('maybe') ? 'maybe' : r.filter((x) => x === 'yes').length % 2 === 1 ? 'yes' : 'no';
        const [win, lose] = e.op === 'and' ? (['no', 'yes'] as const) : (['yes', 'no'] as const);
        return r.includes(win) ? win : r.includes('maybe') ? 'maybe' : lose;
      }
    }
  }

  const ordered = rules
    .map((rule, i) => ({ rule, i }))
    .filter(({ rule }) => rule.enabled !== false)
    .sort((a, b) => a.rule.precedence - b.rule.precedence || a.i - b.i);
  function readsGroups(e: Expr): boolean {
    if (e.k === 'compare' || e.k === 'quant') return e.field.startsWith('identity.groups.');
    if (e.k === 'not') return readsGroups(e.arg);
    return e.items.some(readsGroups);
  }

  // Why an earlier allow-type rule was a maybe; membership is named over the request when both were.
  let maybe: 'unknown-membership' | 'unknown-request' | undefined;
  for (const { rule } of ordered) {
    const extended = options.matchExtendedEmail === true || EXTENDED.includes(rule.action);
    const asts = (['identity', 'traffic', 'device_posture'] as const)
      .map((part) => rule[part])
      .filter((source): source is string => typeof source === 'string' && source !== '')
      .map((source) => parseExpression(source, 'reference', { maxLength: 100_000, maxDepth: 1000 }));
    const parts = asts.map((ast) => evaluate(ast, extended));
    const m: K = parts.includes('no') ? 'no' : parts.includes('maybe') ? 'maybe' : 'yes';
    // A maybe comes from groups when the rule reads them and membership is not complete, else from the request.
    const why = !complete && asts.some(readsGroups) ? 'unknown-membership' : 'unknown-request';
    if (m === 'yes') {
      const allowed = rule.action !== 'block';
      return { allowed, action: rule.action, policyName: rule.name, reason: !allowed && maybe !== undefined ? maybe : 'matched' };
    }
    if (m === 'maybe') {
      if (!PASS.includes(rule.action)) return { allowed: false, action: 'block', policyName: rule.name, reason: why };
      if (maybe === undefined || why === 'unknown-membership') maybe = why;
    }
  }
  const action = options.defaultAction ?? 'allow';
  const allowed = action !== 'block';
  return { allowed, action, policyName: undefined, reason: !allowed && maybe !== undefined ? maybe : 'default' };
}
