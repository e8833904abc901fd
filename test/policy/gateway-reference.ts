/**
 * A small, obviously-correct interpreter of Gateway rules, written from
 * reference §2 and the unknown rules (no identity; a group field the membership
 * does not know; a request without HTTP attributes): it walks the parsed AST
 * (the parser has its own tests) with no compilation, no group probes, no
 * index, no memo and no caching. The property tests check the compiled
 * evaluator against it. It assumes valid input (the compiler rejects the rest).
 *
 * Extended email is defined here by brute force: in a restricting rule that
 * matches variants, every `identity.email` `==`/`!=`/`in` comparison may be read
 * exactly or on canonical addresses, independently, and the rule matches as much
 * as its best reading (Kleene max). The compiled evaluator gets there by
 * polarity; this file tries all 2^k readings.
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

export function canonical(email: string): string {
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

/** wirefilter's wildcard on bytes: `*` any bytes, `\*` / `\\` literal, ASCII case folded unless strict (plain recursion with a memo). */
export function wildcardMatches(pattern: string, value: string, strict: boolean): boolean {
  const enc = new TextEncoder();
  const p = [...enc.encode(pattern)];
  const v = [...enc.encode(value)];
  const tokens: (number | 'star')[] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0x5c) tokens.push(p[++i]!);
    else tokens.push(p[i] === 0x2a ? 'star' : p[i]!);
  }
  const fold = (b: number): number => (!strict && b >= 0x41 && b <= 0x5a ? b + 32 : b);
  const memo = new Map<string, boolean>();
  const go = (t: number, i: number): boolean => {
    const key = `${t},${i}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (t === tokens.length) r = i === v.length;
    else if (tokens[t] === 'star') r = go(t + 1, i) || (i < v.length && go(t, i + 1));
    else r = i < v.length && fold(v[i]!) === fold(tokens[t] as number) && go(t + 1, i + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

function ipToBig(text: string): bigint {
  // Addresses in ranges are well formed here (the parser checked them); IPv4 maps into ::ffff:0:0/96.
  if (!text.includes(':')) return (0xffffn << 32n) + text.split('.').reduce((acc, p) => (acc << 8n) + BigInt(p), 0n);
  const [head = '', tail = ''] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const parts = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return parts.reduce((acc, p) => (acc << 16n) + BigInt(parseInt(p, 16)), 0n);
}

function inRange(ip: string | undefined, range: string): boolean {
  if (ip === undefined || !/^[0-9a-fA-F:.]+$/.test(ip)) return false;
  const [lo, hi] = range.split('..') as [string, string];
  let x: bigint;
  try {
    x = ipToBig(ip);
  } catch {
    return false;
  }
  return ipToBig(lo) <= x && x <= ipToBig(hi);
}

/** Kleene max over F < U < T. */
function best(a: K, b: K): K {
  if (a === 'yes' || b === 'yes') return 'yes';
  if (a === 'maybe' || b === 'maybe') return 'maybe';
  return 'no';
}

export function referenceGateway(
  rules: readonly GatewayRule[],
  identity: Identity | null,
  context: RequestContext,
  options: { lists?: Readonly<Record<string, readonly string[]>>; defaultAction?: GatewayAction; matchExtendedEmail?: boolean } = {},
): GatewayReferenceDecision {
  const lists = options.lists ?? {};
  const complete = identity !== null && identity.membership.state === 'complete';
  const listed = identity !== null && identity.membership.state === 'complete' ? (identity.membership.fields ?? ['id']) : [];
  // A group field is known when membership is complete and lists it.
  const knows = (field: string): boolean => complete && (listed as readonly string[]).includes(field.slice('identity.groups.'.length));
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
        // The generated patterns mean the same in JavaScript and RE2, on ASCII values.
        return new RegExp((rhs as { pattern: string }).pattern).test(value);
      case 'wildcard':
      case 'strict_wildcard':
        return wildcardMatches(caseless ? values(rhs)[0]!.toLowerCase() : values(rhs)[0]!, value, op === 'strict_wildcard');
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

  /** `reading(e)`: whether the email comparison `e` reads canonical addresses. */
  function evaluate(e: Expr, reading: (e: Expr) => boolean): K {
    switch (e.k) {
      case 'compare':
        if (e.field === 'net.src.ip') {
          // No request IP is in no range.
          const inside = values(e.rhs).some((v) => (v.includes('..') ? inRange(context.ip, v) : inCidr(context.ip, v)));
          return inside !== (e.op === 'ne') ? 'yes' : 'no';
        }
        if (e.field.startsWith('http.')) {
          // No request: unknown, whatever the operator.
          if (http === undefined) return 'maybe';
          return test(http[e.field]!, e.op, e.rhs, false, e.field === 'http.request.host') ? 'yes' : 'no';
        }
        // No identity: every identity field is unknown, whatever the operator.
        if (e.field.startsWith('identity.') && identity === null) return 'maybe';
        return test(scalars[e.field]!, e.op, e.rhs, reading(e)) ? 'yes' : 'no';
      case 'quant': {
        const known = e.field.startsWith('identity.groups.') ? knows(e.field) : true;
        const r = arrays[e.field]!.map((v) => element(e.arg, v));
        if (e.q === 'any') return r.some(Boolean) ? 'yes' : known ? 'no' : 'maybe';
        return r.every(Boolean) ? (known ? 'yes' : 'maybe') : 'no';
      }
      case 'not': {
        const r = evaluate(e.arg, reading);
        return r === 'yes' ? 'no' : r === 'no' ? 'yes' : 'maybe';
      }
      case 'logic': {
        const r = e.items.map((item) => evaluate(item, reading));
        if (e.op === 'xor') return r.includes('maybe') ? 'maybe' : r.filter((x) => x === 'yes').length % 2 === 1 ? 'yes' : 'no';
        const [win, lose] = e.op === 'and' ? (['no', 'yes'] as const) : (['yes', 'no'] as const);
        return r.includes(win) ? win : r.includes('maybe') ? 'maybe' : lose;
      }
    }
  }

  /** The email comparisons whose reading may vary (`==`, `!=`, `in` on `identity.email`). */
  function emailComparisons(e: Expr, into: Expr[]): Expr[] {
    if (e.k === 'compare') {
      if (e.field === 'identity.email' && ['eq', 'ne', 'in'].includes(e.op)) into.push(e);
    } else if (e.k === 'not') emailComparisons(e.arg, into);
    else if (e.k === 'logic') for (const item of e.items) emailComparisons(item, into);
    return into;
  }

  /** One expression part of a rule, with the rule's extended-email reading. */
  function part(ast: Expr, action: string): K {
    const extended = options.matchExtendedEmail === true || EXTENDED.includes(action);
    if (!extended) return evaluate(ast, () => false);
    if (PASS.includes(action)) return evaluate(ast, () => true);
    // A restricting rule: the best of every reading of every email comparison.
    const comparisons = emailComparisons(ast, []);
    let result: K = 'no';
    for (let mask = 0; mask < 1 << comparisons.length; mask++) {
      result = best(
        result,
        evaluate(ast, (e) => ((mask >> comparisons.indexOf(e)) & 1) === 1),
      );
    }
    return result;
  }

  const ordered = rules
    .map((rule, i) => ({ rule, i }))
    .filter(({ rule }) => rule.enabled !== false)
    .sort((a, b) => a.rule.precedence - b.rule.precedence || a.i - b.i);
  function fieldsOf(e: Expr, into: string[]): string[] {
    if (e.k === 'compare') into.push(e.field);
    else if (e.k === 'quant') into.push(e.field, ...fieldsOf(e.arg, []));
    else if (e.k === 'not') fieldsOf(e.arg, into);
    else for (const item of e.items) fieldsOf(item, into);
    return into;
  }

  type Why = 'unknown-identity' | 'unknown-membership' | 'unknown-request';
  const rank: Record<Why, number> = { 'unknown-request': 1, 'unknown-membership': 2, 'unknown-identity': 3 };
  // Why an earlier allow-type rule was a maybe: a missing login over membership over the request.
  let maybe: Why | undefined;
  for (const { rule } of ordered) {
    const asts = (['identity', 'traffic', 'device_posture'] as const)
      .map((p) => rule[p])
      .filter((source): source is string => typeof source === 'string' && source !== '')
      .map((source) => parseExpression(source, 'reference', { maxLength: 100_000, maxDepth: 1000 }));
    const parts = asts.map((ast) => part(ast, rule.action));
    const m: K = parts.includes('no') ? 'no' : parts.includes('maybe') ? 'maybe' : 'yes';
    const fields = asts.flatMap((ast) => fieldsOf(ast, []));
    const why: Why =
      identity === null && fields.some((f) => f.startsWith('identity.'))
        ? 'unknown-identity'
        : fields.some((f) => f.startsWith('identity.groups.') && !knows(f))
          ? 'unknown-membership'
          : 'unknown-request';
    if (m === 'yes') {
      const allowed = rule.action !== 'block';
      return { allowed, action: rule.action, policyName: rule.name, reason: !allowed && maybe !== undefined ? maybe : 'matched' };
    }
    if (m === 'maybe') {
      if (!PASS.includes(rule.action)) return { allowed: false, action: 'block', policyName: rule.name, reason: why };
      if (maybe === undefined || rank[why] > rank[maybe]) maybe = why;
    }
  }
  const action = options.defaultAction ?? 'allow';
  const allowed = action !== 'block';
  return { allowed, action, policyName: undefined, reason: !allowed && maybe !== undefined ? maybe : 'default' };
}
