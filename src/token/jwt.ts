import { isAscii, isUtf8 } from 'node:buffer';
import type { TokenError } from '../errors/index.js';
import { rejected } from './rejected.js';

/** A compact JWS split and decoded, not yet verified. */
export interface DecodedJwt {
  /** The protected header. Frozen all the way down: parsed headers are shared between tokens. */
  header: Readonly<Record<string, unknown>>;
  /** The claims, frozen all the way down (they are shared through the verified-token cache). */
  payload: Readonly<Record<string, unknown>>;
  /** Length of the signing input: `token.slice(0, signedLength)` is `base64url(header) + "." + base64url(payload)`. */
  signedLength: number;
  /** The signature's bytes (decoded once, straight into a buffer of their own). */
  signature: Buffer;
}

/**
 * Parsed headers by their segment. Tokens signed with the same key share one header, so
 * each is parsed once; the cap bounds what a flood of distinct headers can hold.
 */
const headers = new Map<string, Readonly<Record<string, unknown>>>();
const HEADER_CACHE_MAX = 64;
/** The header segment seen last (a copy) and its parsed header. */
let lastSegment = '';
let lastHeader: Readonly<Record<string, unknown>> | undefined;

/**
 * Splits and decodes a compact JWS with hand-written guards (no schema library on
 * the hot path). Throws `ERR_TOKEN_MALFORMED` for anything that is not three
 * unpadded base64url segments with strict JSON objects in the first two: valid UTF-8
 * (RFC 7515 §5.2 steps 3–4 and 7–8), and no member name twice in any object at any depth
 * (RFC 7515 §4 lets a parser refuse duplicates, and a last-one-wins parser lets a token say
 * `"alg":"none"` to one reader and `"alg":"RS256"` to another).
 */
export function decodeJwt(token: string): DecodedJwt {
  // The whole token is ASCII without the standard alphabet's `+` `/` or padding (see `decodeCanonical`).
  if (Buffer.byteLength(token, 'utf8') !== token.length || token.indexOf('+') !== -1 || token.indexOf('/') !== -1 || token.indexOf('=') !== -1) {
    throw malformed('the token is not three segments of unpadded base64url');
  }
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second < 0 || second === first + 1 || second === token.length - 1 || token.indexOf('.', second + 1) !== -1) {
    throw malformed('the token is not three dot-separated segments');
  }
  // Most tokens in a row share the last header (one key signs them all): a prefix comparison
  // finds it without slicing and hashing the segment.
  let header = first === lastSegment.length && token.startsWith(lastSegment) ? lastHeader : undefined;
  if (header === undefined) {
    const h = token.slice(0, first);
    header = headers.get(h);
    // The key is copied out of the token: a slice would keep the whole bearer token alive in the cache.
    const segment = Buffer.from(h, 'latin1').toString('latin1');
    if (header === undefined) {
      header = parseObject(h, 'header');
      if (headers.size >= HEADER_CACHE_MAX) headers.clear();
      headers.set(segment, header);
    }
    lastSegment = segment;
    lastHeader = header;
  }
  // INVARIANT: one signature, one encoding: a re-spelt signature is a malformed token.
  const segment = token.slice(second + 1);
  const signature = Buffer.from(segment, 'base64url');
  if (!isCanonical(segment, signature.length)) throw malformed('the token signature is not unpadded base64url');
  return { header, payload: parseObject(token.slice(first + 1, second), 'payload'), signedLength: second, signature };
}

/** Where segments are decoded: decoding is synchronous, so one buffer serves every call. */
let scratch = Buffer.allocUnsafeSlow(8192);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Decodes one segment of a token that `decodeJwt` found to be ASCII without `+`, `/` or `=`,
 * into the module's scratch buffer, and returns the byte count; -1 unless the segment is
 * unpadded base64url in its one canonical form (RFC 7515 §2, RFC 4648 §3.5).
 *
 * Node's decoder is lenient, and each way it is lenient is closed: it skips any other
 * character (whitespace, `*`, …), which makes the output shorter than the length implies, so
 * the byte count must be exactly ⌊3n/4⌋ (and n mod 4 ≠ 1); it drops the unused low bits of the
 * last character, which must be zero; it reads `+` `/` as `-` `_` and a character above U+00FF
 * by its low byte, which `decodeJwt` refused for the whole token. So a segment has exactly one
 * spelling, and a valid signature cannot be re-spelt into another token that still verifies.
 */
function decodeCanonical(segment: string): number {
  const bytes = Math.floor((segment.length * 3) / 4);
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(bytes);
  return isCanonical(segment, scratch.write(segment, 0, 'base64url')) ? bytes : -1;
}

/**
 * Whether Node's decoder, which made `decoded` bytes of `segment` (one that `decodeJwt` found to be
 * ASCII without `+`, `/` or `=`), read it as the one canonical unpadded base64url spelling of those
 * bytes (see `decodeCanonical`).
 */
function isCanonical(segment: string, decoded: number): boolean {
  const length = segment.length;
  const rest = length % 4;
  if (rest === 1 || decoded !== Math.floor((length * 3) / 4)) return false;
  // 2 characters carry 8 bits of 12, 3 carry 16 of 18: the low 4 or 2 bits must be zero.
  return rest === 0 || (ALPHABET.indexOf(segment[length - 1]!) & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * A header or payload segment as text, or `undefined` when it is not canonical base64url, or
 * `null` when its bytes are not UTF-8. Most claims are ASCII (one vectorised scan of the bytes),
 * and then latin1 is the text (the fast path); otherwise the bytes must be well-formed UTF-8 (RFC 3629: no overlong forms such as
 * `C0 AF`, no surrogates such as CESU-8's `ED A0 80`, nothing above U+10FFFF, no `FF`), which
 * Node's decoder would otherwise turn into U+FFFD without a word.
 */
function decodeSegment(segment: string): string | undefined | null {
  const length = decodeCanonical(segment);
  if (length < 0) return undefined;
  const bytes = scratch.subarray(0, length);
  if (isAscii(bytes)) return scratch.toString('latin1', 0, length);
  return isUtf8(bytes) ? scratch.toString('utf8', 0, length) : null;
}

function parseObject(segment: string, what: string): Record<string, unknown> {
  const text = decodeSegment(segment);
  if (text === undefined) throw malformed(`a token segment (the ${what}) is not unpadded base64url`);
  if (text === null) throw malformed(`the token ${what} is not valid UTF-8`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's own message quotes the text: it is left out, as the token may hold secrets.
    throw malformed(`the token ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the token ${what} is not a JSON object`);
  }
  // INVARIANT: one token, one reading: no object in it names a member twice.
  if (!freezeUnique(value, text)) throw malformed(`the token ${what} has a duplicate member name`);
  return value as Record<string, unknown>;
}

/**
 * Whether `text`, which `JSON.parse` read as `root`, names no member twice in any object; and
 * freezes `root` and every object and array in it on the way (the claims are shared through the
 * verified-token cache, and this walk visits them all anyway). Iterative: the depth is the token's.
 *
 * `JSON.parse` keeps the last of two equal names, so a duplicate leaves bytes in the text that
 * `root` does not account for. The fast path adds up the shortest text `root` could have been
 * parsed from: every string is at least its length plus two quotes (an escape only lengthens
 * it), every name also takes a colon, every container its brackets and commas, and `true`,
 * `false`, `null` have one spelling each. When that sum equals the text's length, the text holds
 * nothing else, so no member was dropped. Numbers can be spelt shorter than they print (`17e8`),
 * so the sum counts only the integers whose shortest spelling is their digits (below 2^53, not
 * ending in `00`); any other number, and any text longer than the sum (whitespace, escapes),
 * takes the slow path: the member names in the text are counted and compared with the keys.
 */
function freezeUnique(root: object, text: string): boolean {
  const length = freezeMeasure(root);
  if (length === text.length) return true;
  return memberNames(text) === measuredKeys;
}

/** The number of object members `freezeMeasure` counted last (its second result). */
let measuredKeys = 0;

/**
 * Freezes `root` and every object and array in it, counts their members into `measuredKeys`,
 * and returns the length of the shortest JSON text `root` could be parsed from, or -1 when a
 * number in it has no spelling this can be sure is the shortest. Exported for its tests only.
 * @internal
 */
export function freezeMeasure(root: object): number {
  let length = 0;
  let keys = 0;
  let exact = true;
  let pending: object[] | undefined;
  let current: object | undefined = root;
  while (current !== undefined) {
    Object.freeze(current);
    if (Array.isArray(current)) {
      const n = current.length;
      length += n === 0 ? 2 : n + 1;
      for (let i = 0; i < n; i++) {
        const v: unknown = current[i];
        if (typeof v === 'string') length += v.length + 2;
        else if (typeof v === 'object' && v !== null) (pending ??= []).push(v);
        else {
          const l = scalarLength(v);
          if (l < 0) exact = false;
          else length += l;
        }
      }
    } else {
      // Own names only: an enumerable property someone put on Object.prototype is not the token's.
      const names = Object.keys(current);
      const n = names.length;
      for (let i = 0; i < n; i++) {
        const name = names[i]!;
        length += name.length + 3;
        const v: unknown = (current as Record<string, unknown>)[name];
        if (typeof v === 'string') length += v.length + 2;
        else if (typeof v === 'object' && v !== null) (pending ??= []).push(v);
        else {
          const l = scalarLength(v);
          if (l < 0) exact = false;
          else length += l;
        }
      }
      keys += n;
      length += n === 0 ? 2 : n + 1;
    }
    current = pending?.pop();
  }
  measuredKeys = keys;
  return exact ? length : -1;
}

/** The one spelling of a JSON literal, or of an integer whose digits are its shortest spelling; -1 for other numbers. */
function scalarLength(v: unknown): number {
  if (typeof v === 'boolean') return v ? 4 : 5;
  if (v === null) return 4;
  // Below 2^53 every integer is exact, and ending in at most one zero, no exponent form is shorter.
  if (typeof v !== 'number' || !(v > 0 && v < 9007199254740992 && v % 100 !== 0 && Number.isInteger(v))) return -1;
  let digits = 1;
  for (let power = 10; power <= v; power *= 10) digits++;
  return digits;
}

/**
 * Counts the member names in `text`, which `JSON.parse` accepted: outside strings there are no
 * quotes, so hopping from quote to quote visits every string, and a string followed (after
 * whitespace) by a colon is a name. A quote preceded by an odd run of backslashes is escaped.
 * Exported for its tests only.
 * @internal
 */
export function memberNames(text: string): number {
  let names = 0;
  let open = text.indexOf('"');
  while (open !== -1) {
    let close = text.indexOf('"', open + 1);
    while (text.charCodeAt(close - 1) === 0x5c && escapedAt(text, close)) close = text.indexOf('"', close + 1);
    // Only reached on text `JSON.parse` accepted; an unterminated string would loop, so it ends the count.
    if (close === -1) return -1;
    let next = close + 1;
    let c = text.charCodeAt(next);
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = text.charCodeAt(++next);
    if (c === 0x3a) names++;
    open = text.indexOf('"', next);
  }
  return names;
}

/** Whether the quote at `at` is escaped: preceded by an odd number of backslashes. */
function escapedAt(text: string, at: number): boolean {
  let run = 0;
  while (text.charCodeAt(at - 1 - run) === 0x5c) run++;
  return run % 2 === 1;
}

function malformed(message: string): TokenError {
  return rejected('ERR_TOKEN_MALFORMED', message);
}

/** Encodes a JSON value as unpadded base64url. */
export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
