/**
 * A parser for the identity subset of Cloudflare's wirefilter expression
 * language (reference §2.4), plus the request fields a `RequestContext`
 * carries (`net.src.ip`, `net.src.geo.country`, and the HTTP policy selectors
 * Host, HTTP Method, URL Path, URL Path and Query, URL Query as
 * `http.request.host|method`, `http.request.uri.path|path_and_query|query`),
 * producing a typed AST. It is hand-written, bounded in input length and
 * nesting depth, and throws only `PolicyError` with `ERR_EXPRESSION_SYNTAX` or
 * `ERR_EXPRESSION_TYPE` and a 1-based position.
 *
 * Conformance with `cloudflare/wirefilter` (engine/src/lex.rs, scheme.rs, types.rs, rhs_types/*):
 * the input is trimmed of Unicode whitespace at both ends (`Scheme::parse` calls `str::trim`), inside
 * it only space, CR and LF separate tokens; set items are separated by whitespace (or nothing between
 * two quoted strings), never by a comma; an IP field takes addresses and CIDRs in sets and lists (a
 * CIDR with host bits set is an error) and ranges `a..b` in sets, and a single address with `==`/`!=`;
 * `wildcard` and `strict wildcard` take a quoted or raw string. A function call (`lower(…)`, `concat(…)`)
 * is refused by name: Gateway documents no function but `any()` and `all()`.
 */
import { PolicyError } from '../errors/index.js';
import { wildcardProblem } from './byte-regex.js';
import { cidrHasHostBits, parseCidr, parseIpRange } from './ip.js';

/** The value type of a field. */
export type FieldType = 'bytes' | 'array' | 'ip';

/**
 * Fields the evaluator can read: the identity, the device posture checks and
 * the request fields a `RequestContext` carries (`net.src.ip` from `ip`,
 * `net.src.geo.country` from `country`, `http.request.*` from `request`).
 * Anything else is a type error, never ignored.
 */
export const FIELDS: Readonly<Record<string, FieldType>> = Object.assign(Object.create(null) as Record<string, FieldType>, {
  'identity.email': 'bytes',
  'identity.name': 'bytes',
  'identity.groups.id': 'array',
  'identity.groups.name': 'array',
  'identity.groups.email': 'array',
  'device_posture.checks.passed': 'array',
  'net.src.ip': 'ip',
  'net.src.geo.country': 'bytes',
  'http.request.host': 'bytes',
  'http.request.method': 'bytes',
  'http.request.uri.path': 'bytes',
  'http.request.uri.path_and_query': 'bytes',
  'http.request.uri.query': 'bytes',
});

/** The type of a field, or `undefined` for a name that is not one (own properties only: `constructor` is no field). */
export function fieldType(name: string): FieldType | undefined {
  return Object.hasOwn(FIELDS, name) ? FIELDS[name] : undefined;
}

/**
 * A comparison operator. `wildcard` is wirefilter's case-insensitive wildcard (`*` for any bytes, ASCII
 * case folded), `strict_wildcard` its case-sensitive `strict wildcard`; both match the whole value.
 */
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'in' | 'contains' | 'matches' | 'wildcard' | 'strict_wildcard';

/**
 * The right-hand side of a comparison, as parsed (checked against the field's type, not yet compiled):
 * a string (`"a@example.com"`, or a wildcard pattern for `wildcard`), a set `{"a" "b"}` of strings,
 * a list reference `$name` (resolved against the gate's `lists` when compiled, not here), a regular
 * expression for `matches` (`at` is its 0-based offset, for error positions), or the addresses of an
 * `ip` field. Nothing here is evaluated.
 */
export type Rhs =
  | { readonly k: 'string'; readonly value: string }
  | { readonly k: 'set'; readonly values: readonly string[] }
  | { readonly k: 'list'; readonly name: string }
  | { readonly k: 'regex'; readonly pattern: string; readonly at: number }
  /** IP addresses, CIDRs (an address is a /32 or /128) and, in sets, ranges `a..b`, for an `ip` field. */
  | { readonly k: 'cidrs'; readonly values: readonly string[] };

interface Span {
  /** 0-based start offset in the source. */
  readonly start: number;
  /** 0-based end offset (exclusive). */
  readonly end: number;
}

/**
 * The typed syntax tree of a wirefilter expression, each node with its 0-based `start`/`end` offsets in the
 * source: `logic` (`and`/`or`/`xor` over two or more items, flattened for a run of one operator), `not`,
 * `quant` (`any(field[*] …)`/`all(…)`, whose `arg` compares each element), and `compare` (a field, an
 * operator and its {@link Rhs}; `each` is true when the field is read element-wise as `field[*]`). Every field name
 * in it is a field the evaluator reads (`identity.email`, `net.src.ip`, `http.request.host`, …), type-checked at parse time.
 */
export type Expr =
  | (Span & { readonly k: 'logic'; readonly op: 'and' | 'or' | 'xor'; readonly items: readonly Expr[] })
  | (Span & { readonly k: 'not'; readonly arg: Expr })
  | (Span & { readonly k: 'quant'; readonly q: 'any' | 'all'; readonly field: string; readonly arg: Expr })
  | (Span & { readonly k: 'compare'; readonly field: string; readonly each: boolean; readonly op: CompareOp; readonly rhs: Rhs });

/** Parse limits; both are enforced before any recursion can exhaust the stack. */
export interface ParseLimits {
  /** The longest expression accepted, in UTF-16 code units (`string.length`); longer is `ERR_EXPRESSION_SYNTAX` before any parsing. The gate passes `maxExpressionLength` (8192 by default). */
  readonly maxLength: number;
  /** How deeply parentheses, `not` and `any(…)`/`all(…)` may nest; deeper is `ERR_EXPRESSION_SYNTAX`. The gate passes `maxExpressionDepth` (64 by default). */
  readonly maxDepth: number;
}

const LOGIC_PRECEDENCE = { or: 1, xor: 2, and: 3 } as const;
const WORD_OPS: ReadonlyMap<string, CompareOp | 'unsupported'> = new Map<string, CompareOp | 'unsupported'>([
  ['eq', 'eq'],
  ['ne', 'ne'],
  ['lt', 'lt'],
  ['le', 'le'],
  ['gt', 'gt'],
  ['ge', 'ge'],
  ['in', 'in'],
  ['contains', 'contains'],
  ['matches', 'matches'],
  ['wildcard', 'wildcard'],
  ['bitwise_and', 'unsupported'],
]);

/**
 * Rust's `char::is_whitespace` (the Unicode `White_Space` property), which `str::trim` strips. JS
 * `String.prototype.trim` differs: it strips U+FEFF and keeps U+0085.
 */
function isUnicodeSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

function isNameChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '7';
}

/** Strict UTF-8 decoding of string-literal bytes (escapes may build multi-byte characters). */
function decodeUtf8(bytes: readonly number[]): string | null {
  // Code points are collected and joined once: a string built by `+=` is a rope, slow as a Set key.
  const out: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    let cp: number;
    let n: number;
    if (b < 0x80) [cp, n] = [b, 0];
    else if (b >= 0xc2 && b < 0xe0) [cp, n] = [b & 0x1f, 1];
    else if (b >= 0xe0 && b < 0xf0) [cp, n] = [b & 0x0f, 2];
    else if (b >= 0xf0 && b < 0xf5) [cp, n] = [b & 0x07, 3];
    else return null;
    for (let j = 1; j <= n; j++) {
      const c = bytes[i + j];
      if (c === undefined || (c & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (c & 0x3f);
    }
    if ((n === 2 && cp < 0x800) || (n === 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    out.push(cp);
    i += n + 1;
  }
  let text = '';
  for (let i = 0; i < out.length; i += 4096) text += String.fromCodePoint(...out.slice(i, i + 4096));
  return text;
}

function utf8Bytes(char: string, into: number[]): void {
  const cp = char.codePointAt(0) as number;
  if (cp < 0x80) into.push(cp);
  else if (cp < 0x800) into.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) into.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else into.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

class Parser {
  readonly #src: string;
  readonly #where: string;
  readonly #limits: ParseLimits;
  /** Where parsing starts and ends: the source trimmed of Unicode whitespace; positions stay the source's. */
  #pos = 0;
  readonly #end: number;
  /** The array field of the enclosing any()/all(), when inside one. */
  #quantField: string | undefined;

  constructor(src: string, where: string, limits: ParseLimits) {
    this.#src = src;
    this.#where = where;
    this.#limits = limits;
    let start = 0;
    let end = src.length;
    while (start < end && isUnicodeSpace(src.charCodeAt(start))) start++;
    while (end > start && isUnicodeSpace(src.charCodeAt(end - 1))) end--;
    this.#pos = start;
    this.#end = end;
  }

  parse(): Expr {
    const expr = this.#logical(0, 1);
    this.#ws();
    if (this.#pos < this.#end) throw this.#expected('`and`, `or`, `xor` or the end of the expression');
    return expr;
  }

  // ----- errors --------------------------------------------------------------

  #found(at = this.#pos): string {
    if (at >= this.#end) return 'end of input';
    const rest = this.#src.slice(at, Math.min(at + 24, this.#end));
    const m = /^[A-Za-z0-9_.]+|^\S/u.exec(rest);
    // Control characters are shown escaped (`\t`), never raw.
    return `\`${m ? m[0] : JSON.stringify(rest[0]).slice(1, -1)}\``;
  }

  #expected(what: string, at = this.#pos): PolicyError {
    return new PolicyError('ERR_EXPRESSION_SYNTAX', `expected ${what} at ${at + 1}: found ${this.#found(at)}: ${this.#where}`);
  }

  #syntax(message: string, at: number): PolicyError {
    return new PolicyError('ERR_EXPRESSION_SYNTAX', `${message} at ${at + 1}: ${this.#where}`);
  }

  #type(message: string, at: number): PolicyError {
    return new PolicyError('ERR_EXPRESSION_TYPE', `${message} at ${at + 1}: ${this.#where}`);
  }

  // ----- lexing helpers ------------------------------------------------------

  /** Upstream skips only space, CR and LF between tokens (`lex.rs` `SPACE_CHARS`); a tab there is a syntax error, as upstream. */
  #ws(): void {
    const s = this.#src;
    while (this.#pos < this.#end) {
      const c = s.charCodeAt(this.#pos);
      if (c !== 32 && c !== 10 && c !== 13) break;
      this.#pos++;
    }
  }

  #peekWord(): string {
    const s = this.#src;
    let end = this.#pos;
    while (end < this.#end && isNameChar(s.charCodeAt(end))) end++;
    return s.slice(this.#pos, end);
  }

  /** The character at `at`, `undefined` past the (trimmed) end. */
  #at(at: number): string | undefined {
    return at < this.#end ? this.#src[at] : undefined;
  }

  #startsWith(text: string): boolean {
    return this.#pos + text.length <= this.#end && this.#src.startsWith(text, this.#pos);
  }

  #expect(text: string): void {
    if (!this.#startsWith(text)) throw this.#expected(`\`${text}\``);
    this.#pos += text.length;
  }

  // ----- grammar -------------------------------------------------------------

  #logicalOp(): { op: 'and' | 'or' | 'xor'; len: number } | undefined {
    if (this.#startsWith('&&')) return { op: 'and', len: 2 };
    if (this.#startsWith('||')) return { op: 'or', len: 2 };
    if (this.#startsWith('^^')) return { op: 'xor', len: 2 };
    const word = this.#peekWord();
    if (word === 'and' || word === 'or' || word === 'xor') return { op: word, len: word.length };
    return undefined;
  }

  /** Precedence climbing: or < xor < and; chains of one operator are flattened. */
  #logical(minPrecedence: number, depth: number): Expr {
    let left = this.#simple(depth);
    for (;;) {
      const save = this.#pos;
      this.#ws();
      const op = this.#logicalOp();
      if (!op || LOGIC_PRECEDENCE[op.op] < minPrecedence) {
        this.#pos = save;
        return left;
      }
      this.#pos += op.len;
      this.#ws();
      const right = this.#logical(LOGIC_PRECEDENCE[op.op] + 1, depth);
      const items = left.k === 'logic' && left.op === op.op ? [...left.items, right] : [left, right];
      left = { k: 'logic', op: op.op, items, start: left.start, end: right.end };
    }
  }

  #simple(depth: number): Expr {
    if (depth > this.#limits.maxDepth) throw this.#syntax(`expression nests deeper than ${this.#limits.maxDepth}`, this.#pos);
    const start = this.#pos;
    const s = this.#src;
    if (s[this.#pos] === '(') {
      this.#pos++;
      this.#ws();
      const inner = this.#logical(0, depth + 1);
      this.#ws();
      this.#expect(')');
      return { ...inner, start, end: this.#pos };
    }
    const word = this.#peekWord();
    if ((s[this.#pos] === '!' && s[this.#pos + 1] !== '=') || word === 'not') {
      this.#pos += word === 'not' ? 3 : 1;
      this.#ws();
      const arg = this.#simple(depth + 1);
      return { k: 'not', arg, start, end: arg.end };
    }
    if (word === 'any' || word === 'all') {
      const save = this.#pos;
      this.#pos += 3;
      this.#ws();
      if (s[this.#pos] === '(') return this.#quantifier(word, start, depth);
      this.#pos = save;
    }
    return this.#comparison();
  }

  #quantifier(q: 'any' | 'all', start: number, depth: number): Expr {
    if (this.#quantField !== undefined) throw this.#type(`\`${q}(…)\` cannot be nested`, start);
    this.#pos++;
    this.#ws();
    let arg: Expr;
    let field: string | undefined;
    try {
      this.#quantField = '';
      arg = this.#logical(0, depth + 1);
      field = this.#quantField;
    } finally {
      this.#quantField = undefined;
    }
    if (!field) throw this.#type(`\`${q}(…)\` needs an array comparison such as \`identity.groups.id[*] == "…"\``, start);
    this.#ws();
    this.#expect(')');
    return { k: 'quant', q, field, arg, start, end: this.#pos };
  }

  #fieldName(): string {
    const s = this.#src;
    const start = this.#pos;
    let name = this.#peekWord();
    if (name === '') throw this.#expected('a field, `(`, `not`, `any(` or `all(`');
    this.#pos += name.length;
    while (s[this.#pos] === '.' && isNameChar(s.charCodeAt(this.#pos + 1))) {
      this.#pos++;
      const part = this.#peekWord();
      this.#pos += part.length;
      name += `.${part}`;
    }
    if (this.#pos - start > 128) throw this.#syntax('field name is too long', start);
    return name;
  }

  /** `[*]` only: other indexes (`[0]`, `["key"]`) are valid wirefilter but no field here is a map. */
  #index(): boolean {
    const s = this.#src;
    if (s[this.#pos] !== '[') return false;
    const at = this.#pos;
    this.#pos++;
    this.#ws();
    if (s[this.#pos] !== '*') {
      if (/[0-9"]/.test(s[this.#pos] ?? '')) throw this.#type('only the `[*]` index is supported', at);
      throw this.#expected('`*`');
    }
    this.#pos++;
    this.#ws();
    this.#expect(']');
    return true;
  }

  #operator(): { op: CompareOp; at: number } {
    const s = this.#src;
    const at = this.#pos;
    const symbols: [string, CompareOp][] = [
      ['==', 'eq'],
      ['!=', 'ne'],
      ['>=', 'ge'],
      ['<=', 'le'],
      ['>', 'gt'],
      ['<', 'lt'],
      ['~', 'matches'],
    ];
    for (const [text, op] of symbols) {
      if (this.#startsWith(text)) {
        this.#pos += text.length;
        return { op, at };
      }
    }
    if (s[this.#pos] === '&') throw this.#type('operator `&` is not supported on these fields', at);
    const word = this.#peekWord();
    // wirefilter lexes the two-word operator as the literal `strict wildcard` (one space).
    if (word === 'strict') {
      if (!this.#startsWith('strict wildcard') || isNameChar(s.charCodeAt(this.#pos + 15))) throw this.#expected('`strict wildcard`');
      this.#pos += 15;
      return { op: 'strict_wildcard', at };
    }
    const op = WORD_OPS.get(word);
    if (op === undefined) throw this.#expected('a comparison operator (`==`, `!=`, `in`, `contains`, `matches`, `wildcard`, …)');
    if (op === 'unsupported') throw this.#type(`operator \`${word}\` is not supported on these fields`, at);
    this.#pos += word.length;
    return { op, at };
  }

  #comparison(): Expr {
    const start = this.#pos;
    let name = this.#fieldName();
    this.#refuseCall(name, start);
    const each = this.#index();
    // The newer docs write `identity.groups[*].id`: normalise it to `identity.groups.id[*]`.
    if (each && this.#src[this.#pos] === '.' && isNameChar(this.#src.charCodeAt(this.#pos + 1))) {
      this.#pos++;
      const tail = this.#peekWord();
      this.#pos += tail.length;
      name += `.${tail}`;
      if (this.#index()) throw this.#type('only one `[*]` index is supported', start);
    }
    const type = fieldType(name);
    if (type === undefined) throw this.#type(`unknown field \`${name}\``, start);
    if (each && type !== 'array') throw this.#type(`\`[*]\` applies to array fields; \`${name}\` is not one`, start);
    this.#ws();
    if (this.#pos >= this.#end || /[)&|^]/.test(this.#src[this.#pos] as string) || this.#logicalOp()) {
      throw this.#type(`field \`${name}\` is not a boolean: expected a comparison operator`, this.#pos);
    }
    const { op, at } = this.#operator();
    this.#ws();
    if (type === 'ip' && op !== 'eq' && op !== 'ne' && op !== 'in') {
      throw this.#type(`\`${name}\` is an IP address: use \`==\`, \`!=\` or \`in\``, at);
    }
    const rhs = type === 'ip' ? this.#ipRhs(op) : this.#rhs(op);
    const end = this.#pos;

    if (type === 'array' && !each) {
      // Lenient doc shorthand: `arrayField == "v"` / `arrayField in {…}` mean `any(arrayField[*] …)`.
      if (op !== 'eq' && op !== 'in') {
        throw this.#type(`\`${name}\` is an array: write \`any(${name}[*] …)\` or \`all(${name}[*] …)\``, at);
      }
      if (this.#quantField !== undefined) throw this.#type(`inside \`any(…)\`/\`all(…)\` write \`${name}[*]\``, start);
      const compare: Expr = { k: 'compare', field: name, each: true, op, rhs, start, end };
      return { k: 'quant', q: 'any', field: name, arg: compare, start, end };
    }
    if (each) {
      if (this.#quantField === undefined) {
        throw this.#type(`\`${name}[*]\` yields an array: wrap it in \`any(…)\` or \`all(…)\``, start);
      }
      if (this.#quantField !== '' && this.#quantField !== name) {
        throw this.#type(`one \`any(…)\`/\`all(…)\` cannot mix \`${this.#quantField}[*]\` and \`${name}[*]\``, start);
      }
      this.#quantField = name;
    } else if (this.#quantField !== undefined) {
      throw this.#type(`inside \`any(…)\`/\`all(…)\` every comparison must use an array field with \`[*]\``, start);
    }
    return { k: 'compare', field: name, each, op, rhs, start, end };
  }

  /**
   * A name followed by `(` is a function call. Gateway's expression docs name no function but `any()`
   * and `all()` (`traffic-policies/expression-syntax`), so every other one, including wirefilter's
   * standard `lower()`, `len()`, `concat()`, `starts_with()`, is refused by name.
   */
  #refuseCall(name: string, start: number): void {
    const save = this.#pos;
    this.#ws();
    const call = this.#at(this.#pos) === '(';
    this.#pos = save;
    if (!call) return;
    if (fieldType(name) !== undefined) throw this.#type(`\`${name}\` is a field, not a function`, start);
    throw this.#type(`function \`${name}()\` is not supported: Gateway expressions take no function but \`any()\` and \`all()\``, start);
  }

  #rhs(op: CompareOp): Rhs {
    const s = this.#src;
    if (op === 'wildcard' || op === 'strict_wildcard') {
      // wirefilter: `lex_quoted_or_raw_string`, then the `wildcard` crate's checks and its own double-star check.
      const at = this.#pos;
      if (s[this.#pos] !== '"' && !(s[this.#pos] === 'r' && (s[this.#pos + 1] === '"' || s[this.#pos + 1] === '#'))) {
        throw this.#expected('a quoted or raw string');
      }
      const value = this.#string();
      const problem = wildcardProblem(value);
      if (problem !== undefined) throw this.#syntax(`wildcard \`${value}\` has ${problem}`, at);
      return { k: 'string', value };
    }
    if (op === 'matches') {
      const at = this.#pos;
      if (s[this.#pos] === '"') return { k: 'regex', pattern: this.#regexLiteral(), at };
      if (s[this.#pos] === 'r' && (s[this.#pos + 1] === '"' || s[this.#pos + 1] === '#')) {
        return { k: 'regex', pattern: this.#rawString(), at };
      }
      throw this.#expected('a regular expression string');
    }
    if (op === 'in') {
      if (s[this.#pos] === '$') {
        this.#pos++;
        const m = /^[A-Za-z0-9_.-]+/.exec(s.slice(this.#pos, this.#pos + 129));
        if (!m || m[0].length > 128) throw this.#expected('a list name after `$`');
        this.#pos += m[0].length;
        return { k: 'list', name: m[0] };
      }
      return { k: 'set', values: this.#setOf(() => this.#string(), 'a string') };
    }
    return { k: 'string', value: this.#string() };
  }

  /**
   * A set `{a b c}`, as wirefilter's `lex_rhs_values` reads one: after `{` and after each item, space,
   * CR and LF are skipped, then either `}` or the next item. So items are separated by whitespace (two
   * quoted strings may even touch: `{"a""b"}`), and a comma is a syntax error, as upstream. `what`
   * names an item for the error message.
   */
  #setOf(item: () => string, what: string): string[] {
    const s = this.#src;
    if (s[this.#pos] !== '{') throw this.#expected('`{` or `$`');
    this.#pos++;
    const values: string[] = [];
    for (;;) {
      this.#ws();
      if (this.#at(this.#pos) === '}') {
        this.#pos++;
        return values;
      }
      if (this.#pos >= this.#end) throw this.#expected(`${what} or \`}\``);
      if (s[this.#pos] === ',') {
        throw this.#syntax('a comma does not separate set items (wirefilter separates them with spaces: `{"a" "b"}`)', this.#pos);
      }
      values.push(item());
    }
  }

  /**
   * An IP field takes unquoted addresses, as wirefilter does; quoted ones are accepted too (the docs
   * write them so). In a set, an item may also be a CIDR (`10.0.0.0/8`: host bits set, as in
   * `203.0.113.7/24`, are an error, the `cidr` crate's `InvalidHostPart`) or a range `a..b` of one family
   * with `a <= b` (`rhs_types/ip.rs`). `==` and `!=` take one address: wirefilter lexes a single
   * `IpAddr` there, so a CIDR is an error ("CIDR notation, but only inside sets"). `in $list` reads a list
   * of addresses and CIDRs.
   */
  #ipRhs(op: CompareOp): Rhs {
    const s = this.#src;
    if (op === 'in' && s[this.#pos] === '$') return this.#rhs(op);
    const one = (inSet: boolean): string => {
      const at = this.#pos;
      let text: string;
      if (s[this.#pos] === '"') text = this.#quoted();
      else {
        // wirefilter's "IP address character"s: hex digits, `:`, `.` and `/`.
        const m = /^[0-9A-Fa-f:./]+/.exec(s.slice(this.#pos, Math.min(this.#pos + 100, this.#end)));
        if (!m) throw this.#expected('an IP address or CIDR');
        text = m[0];
        this.#pos += text.length;
      }
      if (text.includes('..')) {
        if (!inSet) throw this.#syntax(`the range \`${text}\` is only valid inside a set: write \`in {${text}}\``, at);
        if (parseIpRange(text) === null) {
          throw this.#syntax(`\`${text}\` is not a range of two addresses of one family, the first not after the second`, at);
        }
        return text;
      }
      if (parseCidr(text) === null) throw this.#syntax(`\`${text}\` is not an IP address or CIDR`, at);
      if (text.includes('/')) {
        if (!inSet) throw this.#syntax(`the CIDR \`${text}\` is only valid inside a set: write \`in {${text}}\``, at);
        if (cidrHasHostBits(text)) throw this.#syntax(`the CIDR \`${text}\` has host bits set: its address must be the network's first`, at);
      }
      return text;
    };
    if (op !== 'in') return { k: 'cidrs', values: [one(false)] };
    return { k: 'cidrs', values: this.#setOf(() => one(true), 'an IP address, a CIDR, a range') };
  }

  #string(): string {
    const s = this.#src;
    if (s[this.#pos] === '"') return this.#quoted();
    if (s[this.#pos] === 'r' && (s[this.#pos + 1] === '"' || s[this.#pos + 1] === '#')) return this.#rawString();
    throw this.#expected('a string');
  }

  /** `"…"` with only `\"`, `\\`, `\xHH` and `\ooo` escapes, as wirefilter (bytes, decoded as UTF-8). */
  #quoted(): string {
    const s = this.#src;
    const open = this.#pos;
    this.#pos++;
    const bytes: number[] = [];
    for (;;) {
      if (this.#pos >= this.#end) throw this.#syntax('missing ending quote of the string opened', open);
      const cp = s.codePointAt(this.#pos) as number;
      const ch = String.fromCodePoint(cp);
      if (ch === '"') {
        this.#pos++;
        break;
      }
      if (ch === '\\') {
        const at = this.#pos;
        const next = s[this.#pos + 1];
        if (next === undefined) throw this.#syntax('missing ending quote of the string opened', open);
        if (next === '"' || next === '\\') {
          bytes.push(next.charCodeAt(0));
          this.#pos += 2;
        } else if (next === 'x') {
          const hex = s.slice(this.#pos + 2, this.#pos + 4);
          if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw this.#syntax('`\\x` needs two hex digits', at);
          bytes.push(parseInt(hex, 16));
          this.#pos += 4;
        } else if (isOctal(next)) {
          const oct = s.slice(this.#pos + 1, this.#pos + 4);
          if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) throw this.#syntax('an octal escape needs three digits up to `\\377`', at);
          bytes.push(parseInt(oct, 8));
          this.#pos += 4;
        } else {
          throw this.#syntax(`invalid character escape \`\\${next}\``, at);
        }
        continue;
      }
      utf8Bytes(ch, bytes);
      this.#pos += ch.length;
    }
    const text = decodeUtf8(bytes);
    if (text === null) throw this.#syntax('string literal is not valid UTF-8', open);
    return text;
  }

  /** `r"…"`, `r#"…"#`: no escapes; ends at the first `"` followed by as many `#`. */
  #rawString(): string {
    const s = this.#src;
    const open = this.#pos;
    this.#pos++;
    let hashes = 0;
    while (s[this.#pos] === '#') {
      hashes++;
      this.#pos++;
    }
    if (hashes > 255) throw this.#syntax('a raw string takes at most 255 `#`', open);
    if (s[this.#pos] !== '"') throw this.#expected('`"` or `#`');
    this.#pos++;
    const close = `"${'#'.repeat(hashes)}`;
    const end = s.indexOf(close, this.#pos);
    if (end === -1) throw this.#syntax('missing ending quote of the raw string opened', open);
    const text = s.slice(this.#pos, end);
    this.#pos = end + close.length;
    return text;
  }

  /** Regex literal: backslashes stay verbatim except `\"` outside a class, which is `"` (wirefilter `lex_regex_from_literal`). */
  #regexLiteral(): string {
    const s = this.#src;
    const open = this.#pos;
    this.#pos++;
    let out = '';
    let inClass = false;
    for (;;) {
      if (this.#pos >= this.#end) throw this.#syntax('missing ending quote of the regular expression opened', open);
      const c = s[this.#pos] as string;
      if (c === '\\') {
        const next = s[this.#pos + 1];
        if (next === undefined) throw this.#syntax('missing ending quote of the regular expression opened', open);
        if (inClass || next !== '"') out += '\\';
        out += next;
        this.#pos += 2;
        continue;
      }
      this.#pos++;
      if (c === '"' && !inClass) return out;
      if (c === '[' && !inClass) inClass = true;
      else if (c === ']' && inClass) inClass = false;
      out += c;
    }
  }
}

/**
 * Parses one expression. Throws `PolicyError` with `ERR_EXPRESSION_SYNTAX`
 * (with the 1-based position and what was expected) or `ERR_EXPRESSION_TYPE`
 * (unknown field, operator not valid for the field type). `where` names the
 * expression in messages (`rules[3].identity`).
 *
 * Useful to validate expressions in CI; {@link compileGatewayRules} calls it
 * for every rule.
 *
 * @example
 * ```ts
 * import { parseExpression } from 'entragate';
 * const ast = parseExpression('any(identity.groups[*].id in {"61503835-b6fe-4630-af88-de551dd59a2a"})', 'identity', { maxLength: 8192, maxDepth: 64 });
 * ast.k; // 'quant' (normalised to identity.groups.id[*])
 * ```
 */
export function parseExpression(source: string, where: string, limits: ParseLimits): Expr {
  if (typeof source !== 'string') throw new PolicyError('ERR_EXPRESSION_SYNTAX', `expression must be a string: ${where}`);
  if (source.length > limits.maxLength) {
    throw new PolicyError('ERR_EXPRESSION_SYNTAX', `expression is longer than ${limits.maxLength} characters: ${where}`);
  }
  return new Parser(source, where, limits).parse();
}
