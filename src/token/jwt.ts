import { isAscii } from 'node:buffer';
import { TokenError } from '../errors/index.js';

/** A compact JWS split and decoded, not yet verified. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header) + "." + base64url(payload)`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

// RFC 7515 compact serialization uses unpadded base64url; anything else is malformed.
const B64URL = /^[A-Za-z0-9_-]+$/;

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
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  // The signature is not scanned: a stray character there only makes the signature fail.
  if (!B64URL.test(h) || !B64URL.test(p)) {
    throw malformed('a token segment is not unpadded base64url');
  }
  const header = parseObject(h, 'header');
  const payload = parseObject(p, 'payload');
  return { header, payload, signingInput: token.slice(0, second), signature: Buffer.from(s, 'base64url') };
}

function parseObject(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    const bytes = Buffer.from(segment, 'base64url');
    // Most claims are ASCII: latin1 decodes those without UTF-8 validation.
    value = JSON.parse(isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8'));
  } catch (cause) {
    throw malformed(`the token ${what} is not JSON`, cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function malformed(message: string, cause?: unknown): TokenError {
  return new TokenError('ERR_TOKEN_MALFORMED', message, cause === undefined ? {} : { cause });
}

/** Encodes a JSON value as unpadded base64url. */
export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
