import { TokenError } from '../errors/index.js';

/** A compact JWS split and decoded, not yet verified. */
export interface DecodedJwt {
  /** The protected header. Frozen: parsed headers are shared between tokens. */
  header: Readonly<Record<string, unknown>>;
  payload: Record<string, unknown>;
  /** Length of the signing input: `token.slice(0, signedLength)` is `base64url(header) + "." + base64url(payload)`. */
  signedLength: number;
  /** The signature's bytes, as a byte string (one character per byte). */
  signature: string;
}

/**
 * Parsed headers by their segment. Tokens signed with the same key share one header, so
 * each is parsed once; the cap bounds what a flood of distinct headers can hold.
 */
const headers = new Map<string, Readonly<Record<string, unknown>>>();
const HEADER_CACHE_MAX = 64;

/**
 * Splits and decodes a compact JWS with hand-written guards (no schema library on
 * the hot path). Throws `ERR_TOKEN_MALFORMED` for anything that is not three
 * unpadded base64url segments with JSON objects in the first two.
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
  const h = token.slice(0, first);
  let header = headers.get(h);
  if (header === undefined) {
    header = Object.freeze(parseObject(h, 'header'));
    if (headers.size >= HEADER_CACHE_MAX) headers.clear();
    // The key is copied out of the token: a slice would keep the whole bearer token alive in the cache.
    headers.set(Buffer.from(h, 'latin1').toString('latin1'), header);
  }
  // INVARIANT: one signature, one encoding: a re-spelt signature is a malformed token.
  const signatureLength = decodeCanonical(token.slice(second + 1));
  if (signatureLength < 0) throw malformed('the token signature is not unpadded base64url');
  const signature = scratch.toString('latin1', 0, signatureLength);
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
  const length = segment.length;
  const rest = length % 4;
  if (rest === 1) return -1;
  const bytes = Math.floor((length * 3) / 4);
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(bytes);
  if (scratch.write(segment, 0, 'base64url') !== bytes) return -1;
  // 2 characters carry 8 bits of 12, 3 carry 16 of 18: the low 4 or 2 bits must be zero.
  return rest !== 0 && (ALPHABET.indexOf(segment[length - 1]!) & (rest === 2 ? 0x0f : 0x03)) !== 0 ? -1 : bytes;
}

/** A header or payload segment as text: most claims are ASCII, and then latin1 is the text; otherwise UTF-8. */
function decodeSegment(segment: string): string | undefined {
  const length = decodeCanonical(segment);
  if (length < 0) return undefined;
  const text = scratch.toString('latin1', 0, length);
  return Buffer.byteLength(text, 'utf8') === length ? text : scratch.toString('utf8', 0, length);
}

function parseObject(segment: string, what: string): Record<string, unknown> {
  const text = decodeSegment(segment);
  if (text === undefined) throw malformed(`a token segment (the ${what}) is not unpadded base64url`);
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
  return value as Record<string, unknown>;
}

function malformed(message: string): TokenError {
  return new TokenError('ERR_TOKEN_MALFORMED', message);
}

/** Encodes a JSON value as unpadded base64url. */
export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
