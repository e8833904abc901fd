/**
 * wirefilter's `matches` and `wildcard` run on bytes: a pattern is compiled with Rust's
 * `regex::bytes` and Unicode mode off (`rhs_types/regex`: `RegexBuilder::new(s).unicode(false)`), a
 * wildcard with the `wildcard` crate on bytes, case-folding ASCII only. re2js (RE2, linear time) runs on
 * characters, so both run here on a *byte string*: each UTF-8 byte of the value is one character, an
 * ASCII byte as itself and a byte 0x80–0xFF as U+E080–U+E0FF (the Private Use Area, where nothing
 * case-folds). A pattern is translated to read that string:
 *
 * - `.`, `[^…]`, `\W`, `\D`, `\S` match one byte, so `é` (two bytes) is `..`, never `.`;
 * - a non-ASCII character written in the pattern stands for its UTF-8 bytes (`é` is `\xC3\xA9`), and
 *   inside a class it is an error, as in Rust (`Unicode not allowed here`);
 * - `\xHH` is the byte HH; `\x{…}` is a character (its UTF-8 bytes);
 * - `\d`, `\w`, `\s`, `\b` and the POSIX classes are ASCII; `\s` includes `\v` as Rust's does (RE2's does not);
 * - `(?i)` folds ASCII letters only.
 *
 * Syntax Rust's regex refuses (or reads otherwise) is refused by name rather than run with another
 * meaning: `\p{…}`, the `u`, `x` and `R` flags, backreferences and octal escapes, `\Q…\E`, `\<`, `\>`,
 * `\b{…}`, class set operations and nested classes, a `{` that starts no repetition.
 *
 * Pure: no `node:` imports.
 */

/** The character standing for byte `b` in a byte string. */
function byteChar(b: number): string {
  return b < 0x80 ? String.fromCharCode(b) : String.fromCharCode(0xe000 + b);
}

/** The pattern text matching byte `b` exactly (`\x{E0C3}` for 0xC3). */
function byteAtom(b: number): string {
  return b < 0x80 ? `\\x{${b.toString(16).padStart(2, '0')}}` : `\\x{${(0xe000 + b).toString(16)}}`;
}

/** The UTF-8 bytes of a code point (a lone surrogate as U+FFFD, as `TextEncoder` does). */
function utf8(cp: number, into: number[]): void {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) into.push(cp);
  else if (cp < 0x800) into.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) into.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else into.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

let lastAscii = '';
let lastValue = '';
let lastBytes = '';

/**
 * The byte string of `value` (see the module comment). An ASCII value is returned as is, without a
 * copy; the last value found ASCII and the last conversion are remembered, as many rules read the
 * same value.
 */
export function byteString(value: string): string {
  if (value === lastAscii) return value;
  let i = 0;
  const n = value.length;
  while (i < n && value.charCodeAt(i) < 0x80) i++;
  if (i === n) {
    lastAscii = value;
    return value;
  }
  if (value === lastValue) return lastBytes;
  const bytes: number[] = [];
  for (let j = i; j < n; j++) {
    const cp = value.codePointAt(j) as number;
    if (cp > 0xffff) j++;
    utf8(cp, bytes);
  }
  let out = value.slice(0, i);
  for (const b of bytes) out += byteChar(b);
  lastValue = value;
  lastBytes = out;
  return out;
}

/** A pattern that cannot be translated: why, in words for an error message. */
export class PatternError extends Error {}

const HEX = /^[0-9A-Fa-f]$/;
const POSIX = new Set(['alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit']);
/** `\a \f \t \n \r \v`: the control characters Rust's regex names. */
const CONTROL: Readonly<Record<string, number>> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
/** Rust's `\s` (ASCII whitespace, with `\v`): RE2's `\s` lacks `\v`, its `[:space:]` has it. */
const SPACE_CLASS = '[[:space:]]';
const NOT_SPACE_CLASS = '[^[:space:]]';

function isAsciiAlnum(c: string): boolean {
  return /^[0-9A-Za-z]$/.test(c);
}

/** One item read inside or outside a class. */
type Item =
  /** A single byte (ASCII character, `\xHH`, an escaped punctuation or control character). */
  | { readonly k: 'byte'; readonly b: number }
  /** Pattern text to emit as is (a class escape such as `\d`, or a translated `\s`). */
  | { readonly k: 'text'; readonly text: string; readonly inClass: string }
  /** A non-ASCII character (several bytes). */
  | { readonly k: 'char'; readonly bytes: readonly number[] };

class Translator {
  readonly #p: string;
  #i = 0;

  constructor(pattern: string) {
    this.#p = pattern;
  }

  translate(): string {
    let out = '';
    const p = this.#p;
    while (this.#i < p.length) {
      const c = p[this.#i] as string;
      if (c === '\\') {
        out += this.#emit(this.#escape(false));
      } else if (c === '[') {
        out += this.#class();
      } else if (c === '(') {
        out += this.#group();
      } else if (c === '{') {
        out += this.#repetition();
      } else {
        const cp = p.codePointAt(this.#i) as number;
        this.#i += cp > 0xffff ? 2 : 1;
        if (cp < 0x80) out += c;
        else {
          const bytes: number[] = [];
          utf8(cp, bytes);
          out += this.#emit({ k: 'char', bytes });
        }
      }
    }
    return out;
  }

  #emit(item: Item): string {
    if (item.k === 'byte') return byteAtom(item.b);
    if (item.k === 'text') return item.text;
    // A character is one atom: a repetition after it repeats the whole character, as in Rust.
    return `(?:${item.bytes.map(byteAtom).join('')})`;
  }

  /** `\…` at the cursor. */
  #escape(inClass: boolean): Item {
    const p = this.#p;
    const at = this.#i;
    const n = p[at + 1];
    if (n === undefined) throw new PatternError('a trailing `\\`');
    this.#i += 2;
    const control = Object.hasOwn(CONTROL, n) ? CONTROL[n] : undefined;
    if (control !== undefined) return { k: 'byte', b: control };
    switch (n) {
      case 'x':
        return this.#hex(inClass);
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return { k: 'text', text: `\\${n}`, inClass: `\\${n}` };
      case 's':
        return { k: 'text', text: SPACE_CLASS, inClass: '[:space:]' };
      case 'S':
        return { k: 'text', text: NOT_SPACE_CLASS, inClass: '[:^space:]' };
      case 'b':
      case 'B':
      case 'A':
      case 'z':
        if (inClass) throw new PatternError(`the assertion \`\\${n}\` inside a class`);
        if (p[this.#i] === '{') throw new PatternError(`\`\\${n}{…}\` word boundaries`);
        return { k: 'text', text: `\\${n}`, inClass: '' };
      case 'p':
      case 'P':
        throw new PatternError(`the Unicode class \`\\${n}\` (wirefilter's regex runs with Unicode off)`);
      case '<':
      case '>':
        throw new PatternError(`the word boundary \`\\${n}\``);
      default:
        break;
    }
    const cp = p.codePointAt(at + 1) as number;
    if (cp < 0x80 && !isAsciiAlnum(n)) {
      // Escaped punctuation or whitespace is the character itself, in Rust and in RE2.
      return { k: 'byte', b: cp };
    }
    if (/^[0-9]$/.test(n)) throw new PatternError(`the escape \`\\${n}\` (backreferences and octal escapes are not supported)`);
    throw new PatternError(`the escape \`\\${String.fromCodePoint(cp)}\``);
  }

  /** After `\x`: `HH` is a byte; `{…}` is a character. */
  #hex(inClass: boolean): Item {
    const p = this.#p;
    if (p[this.#i] === '{') {
      const close = p.indexOf('}', this.#i);
      const digits = close === -1 ? '' : p.slice(this.#i + 1, close);
      if (!/^[0-9A-Fa-f]{1,8}$/.test(digits)) throw new PatternError('a `\\x{…}` escape without hex digits');
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new PatternError(`\`\\x{${digits}}\`, which is not a Unicode scalar value`);
      this.#i = close + 1;
      if (cp < 0x80) return { k: 'byte', b: cp };
      if (inClass) throw new PatternError(`the non-ASCII character \`\\x{${digits}}\` inside a class (Unicode is off)`);
      const bytes: number[] = [];
      utf8(cp, bytes);
      return { k: 'char', bytes };
    }
    const a = p[this.#i];
    const b = p[this.#i + 1];
    if (a === undefined || b === undefined || !HEX.test(a) || !HEX.test(b)) throw new PatternError('a `\\x` escape without two hex digits');
    this.#i += 2;
    return { k: 'byte', b: parseInt(`${a}${b}`, 16) };
  }

  /** `[…]`: a byte class. Ranges crossing 0x7F/0x80 are split (the bytes above it live at U+E080–U+E0FF). */
  #class(): string {
    const p = this.#p;
    this.#i++;
    let out = '[';
    if (p[this.#i] === '^') {
      out += '^';
      this.#i++;
    }
    let first = true;
    for (;;) {
      if (this.#i >= p.length) throw new PatternError('an unclosed class `[`');
      const c = p[this.#i] as string;
      if (c === ']' && !first) {
        this.#i++;
        return `${out}]`;
      }
      first = false;
      if (c === '[') {
        const posix = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.#i));
        if (posix === null) throw new PatternError('nested character classes');
        if (!POSIX.has(posix[2] as string)) throw new PatternError(`the POSIX class \`[:${posix[2]}:]\``);
        out += posix[0];
        this.#i += posix[0].length;
        continue;
      }
      if ((c === '&' || c === '-' || c === '~') && p[this.#i + 1] === c) {
        throw new PatternError(`class set operation \`${c}${c}\``);
      }
      const start = this.#classItem();
      if (p[this.#i] === '-' && p[this.#i + 1] !== ']' && this.#i + 1 < p.length) {
        this.#i++;
        if (p[this.#i] === '[') throw new PatternError('a range ending in a class');
        const end = this.#classItem();
        if (start.k !== 'byte' || end.k !== 'byte') throw new PatternError('a range whose end is a class');
        if (start.b > end.b) throw new PatternError('a range whose start is after its end');
        out += rangeText(start.b, end.b);
        continue;
      }
      if (start.k === 'byte') out += rangeText(start.b, start.b);
      else if (start.k === 'text') out += start.inClass;
      else throw new PatternError('a non-ASCII character inside a class (Unicode is off)');
    }
  }

  #classItem(): Item {
    const p = this.#p;
    if (p[this.#i] === '\\') {
      const item = this.#escape(true);
      if (item.k === 'text' && item.inClass === '') throw new PatternError('an assertion inside a class');
      return item;
    }
    const cp = p.codePointAt(this.#i) as number;
    this.#i += cp > 0xffff ? 2 : 1;
    if (cp >= 0x80) throw new PatternError(`the non-ASCII character \`${String.fromCodePoint(cp)}\` inside a class (Unicode is off)`);
    return { k: 'byte', b: cp };
  }

  /** `(`: flags are checked; other group syntax is left to RE2, which refuses what it does not know. */
  #group(): string {
    const p = this.#p;
    if (p[this.#i + 1] !== '?') {
      this.#i++;
      return '(';
    }
    const m = /^\(\?([A-Za-z-]*)([:)])/.exec(p.slice(this.#i));
    if (m === null) {
      // `(?P<name>`, `(?<name>`, and look-arounds (which RE2 refuses).
      this.#i += 2;
      return '(?';
    }
    const flags = m[1] as string;
    // Rust refuses an empty group of flags, a repeated flag, a second or a dangling `-`.
    if (flags === '' && m[2] === ')') throw new PatternError('an empty flag group `(?)`');
    if (flags.endsWith('-') || flags.indexOf('-') !== flags.lastIndexOf('-')) throw new PatternError(`the flags \`${flags}\``);
    for (const flag of flags) {
      if (flag !== '-' && flags.indexOf(flag) !== flags.lastIndexOf(flag)) throw new PatternError(`the repeated flag \`${flag}\``);
      if (flag === '-' || flag === 'i' || flag === 'm' || flag === 's' || flag === 'U') continue;
      if (flag === 'u') throw new PatternError('the flag `u` (Unicode mode: wirefilter matches bytes)');
      throw new PatternError(`the flag \`${flag}\``);
    }
    this.#i += m[0].length;
    return m[0];
  }

  /** `{`: only a repetition `{n}`, `{n,}`, `{n,m}`; Rust refuses any other `{`, RE2 would read it as a literal. */
  #repetition(): string {
    const m = /^\{[0-9]+(?:,[0-9]*)?\}/.exec(this.#p.slice(this.#i));
    if (m === null) throw new PatternError('a `{` that starts no repetition `{n,m}` (escape it as `\\{`)');
    this.#i += m[0].length;
    return m[0];
  }
}

/** The class text for bytes `lo`–`hi`, split where it crosses from ASCII to the high bytes. */
function rangeText(lo: number, hi: number): string {
  const one = (a: number, b: number): string => (a === b ? byteAtom(a) : `${byteAtom(a)}-${byteAtom(b)}`);
  if (hi < 0x80 || lo >= 0x80) return one(lo, hi);
  return `${one(lo, 0x7f)}${one(0x80, hi)}`;
}

/**
 * Translates a wirefilter regex into an RE2 pattern over byte strings. Throws {@link PatternError}
 * naming what Rust's regex (with Unicode off) would refuse or read otherwise.
 */
export function translatePattern(pattern: string): string {
  return new Translator(pattern).translate();
}

/**
 * Checks a wildcard as wirefilter does (`rhs_types/wildcard.rs` and the `wildcard` crate, `?` disabled):
 * `*` matches any bytes, `\*` and `\\` are the literal characters, any other `\` escape, a trailing `\`
 * and a double star `**` are errors. Returns the problem, or `undefined`.
 */
export function wildcardProblem(pattern: string): string | undefined {
  let previousStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) return 'an incomplete escape sequence at the end of the wildcard';
      if (n !== '*' && n !== '\\') return `an invalid escape sequence \`\\${n}\``;
      i++;
      previousStar = false;
    } else if (c === '*') {
      if (previousStar) return 'a double star `**`';
      previousStar = true;
    } else {
      previousStar = false;
    }
  }
  return undefined;
}

/**
 * The RE2 pattern, over byte strings, of a wildcard that passed {@link wildcardProblem}: anchored at
 * both ends, `*` as any bytes (newlines included), ASCII case folded unless `strict`.
 */
export function wildcardPattern(pattern: string, strict: boolean): string {
  const bytes: number[] = [];
  let out = strict ? '^(?s:' : '^(?is:';
  const flush = (): void => {
    for (const b of bytes) out += byteAtom(b);
    bytes.length = 0;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      bytes.push(pattern.charCodeAt(i + 1));
      i++;
    } else if (c === '*') {
      flush();
      out += '.*';
    } else {
      const cp = pattern.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      utf8(cp, bytes);
    }
  }
  flush();
  return `${out})$`;
}
