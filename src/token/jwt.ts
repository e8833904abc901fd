import { TokenError } from '../errors/index.js';

/** A compact JWS split and decoded, not yet verified. */
export interface DecodedJwt {
  /** The protected header. Frozen: parsed headers are shared between tokens. */
  header: Readonly<Record<string, unknown>>;
  payload: Record<string, unknown>;
  /** Length of the signing input: `token.slice(0, signedLength)` is `base64url(header) + "." + base64url(payload)`. */
  signedLength: number;
  /** The signature segment, still base64url (decoded only when a key is at hand). */
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
  const signature = token.slice(second + 1);
  // INVARIANT: one signature, one encoding. It is decoded again when a key is at hand; here it is
  // only checked, so that a re-spelt signature is a malformed token before anything else.
  if (decodeCanonical(signature) < 0) throw malformed('the token signature is not unpadded base64url');
  return { header, payload: parseObject(token.slice(first + 1, second), 'payload'), signedLength: second, signature };
}

/** Where segments are decoded: decoding is synchronous, so one buffer serves every call. */
let scratch = Buffer.allocUnsafeSlow(8192);

/**
 * Decodes unpadded base64url in its one canonical form (RFC 7515 §2, RFC 4648 §3.5) into the
 * module's scratch buffer and returns the byte count, or -1 for any other spelling: padding,
 * the standard alphabet's `+` `/`, whitespace or any other character (one above U+00FF too,
 * which Node's decoder reads by its low byte), an impossible length, or non-zero unused bits in
 * the last character. Node's decoder accepts all of those; re-encoding the bytes it produced
 * gives the one canonical spelling, so the segment must equal it. So a segment has exactly one
 * spelling, and a valid signature cannot be re-spelt into another token that still verifies.
 * (Measured: a third of a regex scan of the alphabet, with the decode included.)
 */
function decodeCanonical(segment: string): number {
  const most = Math.ceil((segment.length * 3) / 4);
  if (scratch.length < most) scratch = Buffer.allocUnsafeSlow(most);
  const length = scratch.write(segment, 0, 'base64url');
  return scratch.toString('base64url', 0, length) === segment ? length : -1;
}

/**
 * The byte length of an unpadded base64url text of `length` characters (any other is refused
 * before: see `decodeCanonical`).
 */
export function decodedLength(length: number): number {
  return Math.floor((length * 3) / 4);
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
