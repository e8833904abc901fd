/**
 * The predicates over one Bytes value a comparison compiles to: wirefilter's
 * operators, regexes and wildcards on bytes with re2js (linear time, see
 * `byte-regex.ts`), lists resolved at compile time. Split from `expression-compile.ts`.
 */
import { RE2JS } from 're2js';
import { PolicyError } from '../errors/index.js';
import { byteString, PatternError, translatePattern, wildcardPattern } from './byte-regex.js';
import type { CompareOp, Expr, Rhs } from './expression-parser.js';
import type { ExpressionScope } from './expression-scope.js';

export type Predicate = (value: string) => boolean;

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
  return new PolicyError(
    'ERR_EXPRESSION_REGEX',
    `regular expression \`${pattern}\` ${why} at ${at + 1}: ${scope.where}`,
    cause === undefined ? undefined : { cause },
  );
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

export function rhsValues(rhs: Rhs, scope: ExpressionScope): readonly string[] {
  if (rhs.k === 'set') return rhs.values;
  if (rhs.k === 'list') {
    // INVARIANT: an own key of the configured lists only (a Map): `$toString` is no list.
    const list = scope.lists.get(rhs.name);
    if (list === undefined) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `list \`${rhs.name}\` is not configured: ${scope.where}`);
    return list;
  }
  return rhs.k === 'string' ? [rhs.value] : [];
}

export const same = (v: string): string => v;
export const lower = (v: string): string => v.toLowerCase();

/**
 * A predicate over one Bytes value (a scalar field, or one element under `[*]`).
 * `norm` maps the values the rule names to the form of the value it is given,
 * once, here: canonical emails for extended email (the caller passes the
 * identity's canonical email, computed once), lower case for a host. A regex is
 * never rewritten.
 */
export function comparePredicate(op: CompareOp, rhs: Rhs, norm: (v: string) => string, scope: ExpressionScope): Predicate {
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
export function elementPredicate(expr: Expr, scope: ExpressionScope): Predicate {
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
