import { ScimError } from '../errors/index.js';
import type { JsonObject, JsonValue } from '../store/index.js';
import { UNSTORABLE, isForbiddenKey, isObject } from './schema.js';

/** A comparison operator of RFC 7644 §3.4.2.2 (`const op: CompareOp = 'eq'`). */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/**
 * An attribute path: `[schema:]attr[.sub]`, optionally with a value filter on a
 * multi-valued attribute (`emails[type eq "work"].value`). Names are as sent;
 * they are matched case-insensitively.
 */
export interface AttrPath {
  /**
   * The schema URN the path was prefixed with (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`
   * for `…:User:manager`), as sent; absent when the path names none (the resource's core schema).
   */
  schema?: string;
  /** The attribute name, as sent (`userName`, `emails`, `members`); matched case-insensitively. */
  attr: string;
  /** The sub-attribute after the `.` (`value` of `emails[type eq "work"].value`, `givenName` of `name.givenName`); absent when none. */
  sub?: string;
  /** The value filter in brackets on a multi-valued attribute (`[type eq "work"]`); absent when none. */
  filter?: ScimFilter;
}

/** A parsed SCIM filter. */
export type ScimFilter =
  | { kind: 'compare'; path: AttrPath; op: CompareOp; value: string | number | boolean | null }
  | { kind: 'present'; path: AttrPath }
  | { kind: 'has'; path: AttrPath }
  | { kind: 'and' | 'or'; left: ScimFilter; right: ScimFilter }
  | { kind: 'not'; filter: ScimFilter };

/**
 * Bounds that keep a hostile filter cheap to parse and to evaluate.
 * @example
 * ```ts
 * import { FILTER_LIMITS } from 'entragate/scim';
 * if (filter.length > FILTER_LIMITS.maxLength) reject();
 * ```
 */
export const FILTER_LIMITS = { maxLength: 4096, maxDepth: 16, maxTerms: 64 } as const;

const COMPARE_OPS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const ATTR_NAME = /^[A-Za-z$][\w$-]*$/;
const CORE_URN = /^urn:ietf:params:scim:schemas:core:2\.0:(user|group)$/i;

type Token = { t: '(' | ')' | '[' | ']' } | { t: 'str'; v: string } | { t: 'word'; v: string };

function fail(message: string): never {
  throw new ScimError('ERR_SCIM_INVALID_FILTER', message, { scimType: 'invalidFilter' });
}

function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      out.push({ t: c });
      i++;
    } else if (c === '"') {
      // A JSON string literal, escapes included.
      let j = i + 1;
      while (j < input.length && input[j] !== '"') j += input[j] === '\\' ? 2 : 1;
      if (j >= input.length) fail('filter has an unterminated string');
      let v: string;
      try {
        v = JSON.parse(input.slice(i, j + 1)) as string;
      } catch {
        fail('filter has an invalid escape in a string');
      }
      if (UNSTORABLE.test(v)) fail('filter has a NUL character or an unpaired surrogate in a string');
      out.push({ t: 'str', v });
      i = j + 1;
    } else {
      let j = i;
      while (j < input.length && !' \t\n\r()[]"'.includes(input[j]!)) j++;
      const v = input.slice(i, j);
      if (UNSTORABLE.test(v)) fail('filter has a NUL character or an unpaired surrogate');
      out.push({ t: 'word', v });
      i = j;
    }
  }
  return out;
}

/**
 * Parses an attribute path word: `userName`, `name.givenName`,
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
 */
export function parseAttrWord(word: string, onError: (message: string) => never = fail): AttrPath {
  let schema: string | undefined;
  let rest = word;
  if (word.toLowerCase().startsWith('urn:')) {
    const colon = word.lastIndexOf(':');
    schema = word.slice(0, colon);
    rest = word.slice(colon + 1);
    if (CORE_URN.test(schema)) schema = undefined;
  }
  const dot = rest.indexOf('.');
  const attr = dot < 0 ? rest : rest.slice(0, dot);
  const sub = dot < 0 ? undefined : rest.slice(dot + 1);
  if (isForbiddenKey(attr) || (sub !== undefined && isForbiddenKey(sub))) onError(`\`${word.slice(0, 100)}\` is not a permitted attribute name`);
  if (!ATTR_NAME.test(attr) || (sub !== undefined && !ATTR_NAME.test(sub))) onError(`\`${word.slice(0, 100)}\` is not an attribute path`);
  const path: AttrPath = { attr };
  if (schema !== undefined) path.schema = schema;
  if (sub !== undefined) path.sub = sub;
  return path;
}

class Parser {
  #pos = 0;
  #terms = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly onError: (message: string) => never,
  ) {}

  get done(): boolean {
    return this.#pos >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.#pos];
  }

  #word(v: string): boolean {
    const t = this.peek();
    return t?.t === 'word' && t.v.toLowerCase() === v;
  }

  #expect(t: '(' | ')' | '[' | ']'): void {
    if (this.peek()?.t !== t) this.onError(`filter expected \`${t}\``);
    this.#pos++;
  }

  parseOr(depth: number, inValuePath: boolean): ScimFilter {
    let left = this.parseAnd(depth, inValuePath);
    while (this.#word('or')) {
      this.#pos++;
      left = { kind: 'or', left, right: this.parseAnd(depth, inValuePath) };
    }
    return left;
  }

  parseAnd(depth: number, inValuePath: boolean): ScimFilter {
    let left = this.parseUnary(depth, inValuePath);
    while (this.#word('and')) {
      this.#pos++;
      left = { kind: 'and', left, right: this.parseUnary(depth, inValuePath) };
    }
    return left;
  }

  parseUnary(depth: number, inValuePath: boolean): ScimFilter {
    if (depth > FILTER_LIMITS.maxDepth) this.onError(`filter nests deeper than ${FILTER_LIMITS.maxDepth}`);
    if (this.#word('not')) {
      this.#pos++;
      this.#expect('(');
      const inner = this.parseOr(depth + 1, inValuePath);
      this.#expect(')');
      return { kind: 'not', filter: inner };
    }
    if (this.peek()?.t === '(') {
      this.#pos++;
      const inner = this.parseOr(depth + 1, inValuePath);
      this.#expect(')');
      return inner;
    }
    return this.parseAttrExp(depth, inValuePath);
  }

  /** `attrPath` or `attrPath[valFilter]` with an optional `.sub`: the left side of a comparison or a path. */
  parsePath(depth: number, inValuePath: boolean): AttrPath {
    const t = this.peek();
    if (t?.t !== 'word') this.onError('filter expected an attribute path');
    this.#pos++;
    const path = parseAttrWord(t.v, this.onError);
    if (this.peek()?.t === '[') {
      if (inValuePath) this.onError('filter nests a value path inside a value path');
      if (path.sub !== undefined) this.onError(`\`${t.v.slice(0, 100)}\` cannot take a value filter`);
      this.#pos++;
      path.filter = this.parseOr(depth + 1, true);
      this.#expect(']');
      const next = this.peek();
      if (next?.t === 'word' && next.v.startsWith('.')) {
        this.#pos++;
        const sub = next.v.slice(1);
        if (!ATTR_NAME.test(sub) || isForbiddenKey(sub)) this.onError(`\`${next.v.slice(0, 100)}\` is not a sub-attribute`);
        path.sub = sub;
      }
    }
    return path;
  }

  parseAttrExp(depth: number, inValuePath: boolean): ScimFilter {
    if (++this.#terms > FILTER_LIMITS.maxTerms) this.onError(`filter has more than ${FILTER_LIMITS.maxTerms} terms`);
    const path = this.parsePath(depth, inValuePath);
    const opTok = this.peek();
    if (
      path.filter &&
      path.sub === undefined &&
      (opTok === undefined || opTok.t !== 'word' || !(COMPARE_OPS.has(opTok.v.toLowerCase()) || opTok.v.toLowerCase() === 'pr'))
    ) {
      return { kind: 'has', path };
    }
    if (opTok?.t !== 'word') this.onError('filter expected an operator');
    const op = opTok.v.toLowerCase();
    this.#pos++;
    if (op === 'pr') return { kind: 'present', path };
    if (!COMPARE_OPS.has(op)) this.onError(`filter operator \`${opTok.v.slice(0, 20)}\` is not supported`);
    const v = this.peek();
    if (v === undefined || (v.t !== 'str' && v.t !== 'word')) this.onError('filter expected a value');
    this.#pos++;
    return { kind: 'compare', path, op: op as CompareOp, value: v.t === 'str' ? v.v : bareValue(v.v) };
  }
}

/** Unquoted values, as Entra's older tools send them (`externalId eq jyoung`). */
function bareValue(word: string): string | number | boolean | null {
  const l = word.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  if (l === 'null') return null;
  // Only a number that prints back as the same text: `00123` or `1e3` stay strings, so an
  // unquoted employee id still matches the string stored for it.
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(word) && String(Number(word)) === word) return Number(word);
  return word;
}

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2): `eq ne co sw ew pr gt ge lt le`,
 * `and or not`, grouping, URN-qualified paths, value paths, case-insensitive
 * keywords, and unquoted values. Bounded in length, depth and terms.
 *
 * It does not evaluate anything or touch a database; see {@link matchesFilter}.
 *
 * @throws ScimError `ERR_SCIM_INVALID_FILTER` (400, `scimType: invalidFilter`).
 * @example
 * ```ts
 * const f = parseFilter('emails[type eq "work"].value eq "ada@contoso.com"');
 * ```
 */
export function parseFilter(input: string): ScimFilter {
  if (input.length > FILTER_LIMITS.maxLength) fail(`filter is longer than ${FILTER_LIMITS.maxLength} characters`);
  const parser = new Parser(tokenize(input), fail);
  if (parser.done) fail('filter is empty');
  const filter = parser.parseOr(0, false);
  if (!parser.done) fail('filter has unexpected text after the expression');
  return filter;
}

/**
 * Parses a PATCH `path` (`members[value eq "…"]`, `emails[type eq "work"].value`, `urn:…:User:manager`).
 * @throws ScimError `ERR_SCIM_INVALID_PATH` (400, `scimType: invalidPath`).
 * @example
 * ```ts
 * parsePatchPath('members[value eq "7f4b"]'); // { attr: 'members', filter: { kind: 'compare', … } }
 * ```
 */
export function parsePatchPath(input: string): AttrPath {
  const onError = (message: string): never => {
    throw new ScimError('ERR_SCIM_INVALID_PATH', `invalid patch path: ${message}`, { scimType: 'invalidPath' });
  };
  if (input.length > FILTER_LIMITS.maxLength) onError(`path is longer than ${FILTER_LIMITS.maxLength} characters`);
  const parser = new Parser(tokenize(input), onError);
  if (parser.done) onError('path is empty');
  const path = parser.parsePath(0, false);
  if (!parser.done) onError('unexpected text after the path');
  return path;
}

// ---------------------------------------------------------------- evaluation

/** Attributes compared case-exactly (RFC 7643 `caseExact: true`); every other string compares case-insensitively. */
const CASE_EXACT = new Set(['id', 'externalid', 'members.value', 'manager.value']);

function getCi(obj: JsonObject, name: string): JsonValue | undefined {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** The values a path selects in a resource (flattened over multi-valued attributes). */
export function selectValues(resource: JsonObject, path: AttrPath): JsonValue[] {
  let container: JsonValue | undefined = resource;
  if (path.schema !== undefined) container = getCi(resource, path.schema);
  if (!isObject(container)) return [];
  let value = getCi(container, path.attr);
  if (value === undefined || value === null) return [];
  let items: JsonValue[] = Array.isArray(value) ? value : [value];
  if (path.filter) {
    const f = path.filter;
    items = items.filter((item) => isObject(item) && matchesFilter(f, item));
  }
  if (path.sub !== undefined) {
    const sub = path.sub;
    const out: JsonValue[] = [];
    for (const item of items) {
      if (!isObject(item)) continue;
      value = getCi(item, sub);
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) out.push(...value);
      else out.push(value);
    }
    return out;
  }
  // A multi-valued complex attribute without a sub-attribute compares on `value` (RFC 7644 §3.4.2.2).
  return items.map((item) => (isObject(item) && getCi(item, 'value') !== undefined ? (getCi(item, 'value') as JsonValue) : item));
}

const BOOLEAN_TEXT = new Map([
  ['true', true],
  ['false', false],
]);

function isEmpty(v: JsonValue): boolean {
  return v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

/**
 * One value against the operand. `ne` never reaches here: {@link matchesFilter} reads it
 * as "no value is `eq`". A value of another type than the operand's never matches.
 */
function compareOne(actual: JsonValue, op: Exclude<CompareOp, 'ne'>, expected: string | number | boolean, caseExact: boolean): boolean {
  if (typeof actual === 'boolean') {
    // `"True"`/`"false"` as operands, as Entra writes booleans; booleans are only equal or not.
    const e = typeof expected === 'string' ? BOOLEAN_TEXT.get(expected.toLowerCase()) : expected;
    return op === 'eq' && actual === e;
  }
  if (typeof actual === 'number') {
    const e = typeof expected === 'number' ? expected : typeof expected === 'string' && expected.trim() !== '' ? Number(expected) : Number.NaN;
    switch (op) {
      case 'eq':
        return actual === e;
      case 'gt':
        return actual > e;
      case 'ge':
        return actual >= e;
      case 'lt':
        return actual < e;
      case 'le':
        return actual <= e;
      default:
        return false;
    }
  }
  if (typeof actual !== 'string') return false;
  let a = actual;
  let e = String(expected);
  if (!caseExact) {
    a = a.toLowerCase();
    e = e.toLowerCase();
  }
  switch (op) {
    case 'eq':
      return a === e;
    case 'co':
      return a.includes(e);
    case 'sw':
      return a.startsWith(e);
    case 'ew':
      return a.endsWith(e);
    case 'gt':
      return a > e;
    case 'ge':
      return a >= e;
    case 'lt':
      return a < e;
    case 'le':
      return a <= e;
  }
}

function caseExactPath(path: AttrPath): boolean {
  const key = path.sub !== undefined ? `${path.attr}.${path.sub}` : path.attr;
  return CASE_EXACT.has(key.toLowerCase());
}

/**
 * Evaluates a filter against a rendered SCIM resource (or, inside a value path,
 * against one element of a multi-valued attribute). Missing attributes never
 * match, except under `ne` and `not`. On a multi-valued attribute a comparison
 * matches when some value matches (RFC 7644 §3.4.2.2), and `ne` when no value
 * is equal: `x ne v` always means `not (x eq v)`.
 *
 * @example
 * ```ts
 * matchesFilter(parseFilter('userName eq "ADA@contoso.com"'), { userName: 'ada@contoso.com' }); // true
 * ```
 */
export function matchesFilter(filter: ScimFilter, resource: JsonObject): boolean {
  switch (filter.kind) {
    case 'and':
      return matchesFilter(filter.left, resource) && matchesFilter(filter.right, resource);
    case 'or':
      return matchesFilter(filter.left, resource) || matchesFilter(filter.right, resource);
    case 'not':
      return !matchesFilter(filter.filter, resource);
    case 'present':
      return selectValues(resource, filter.path).some((v) => !isEmpty(v));
    case 'has':
      return selectValues(resource, filter.path).length > 0;
    case 'compare': {
      const values = selectValues(resource, filter.path);
      const expected = filter.value;
      if (expected === null) {
        const present = values.some((v) => !isEmpty(v));
        return filter.op === 'eq' ? !present : filter.op === 'ne' ? present : false;
      }
      // RFC 7644 §3.4.2.2: on a multi-valued attribute a filter "matches if any of the values of the
      // specified attribute match the specified criterion". `ne` is read as the complement of `eq`
      // over the whole attribute, as pingidentity/scim2's FilterEvaluator reads it: `emails ne "x"`
      // matches when no value equals x. Read per value ("some value differs"), it would select a
      // user who has x beside another address, and disagree with `not (emails eq "x")`.
      const op = filter.op;
      const exact = caseExactPath(filter.path);
      if (op === 'ne') return !values.some((v) => compareOne(v, 'eq', expected, exact));
      return values.some((v) => compareOne(v, op, expected, exact));
    }
  }
}
