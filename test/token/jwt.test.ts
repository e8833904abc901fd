import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TokenError } from '../../src/index.js';
import { base64urlJson, decodeJwt } from '../../src/token/jwt.js';

const HEADER = base64urlJson({ alg: 'RS256', typ: 'JWT', kid: 'k1' });

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return (error as TokenError).code;
  }
}

/** Characters a base64url segment must not hold: the standard alphabet's extras, padding, whitespace, others. */
const FOREIGN = [' ', '\t', '\n', '\r', '\f', '+', '/', '=', '.', '@', '~', '%', 'é', '\u2028'];

describe('decodeJwt', () => {
  it('decodes the header, the payload and where the signature starts', () => {
    const payload = base64urlJson({ sub: 's', n: 1 });
    const token = `${HEADER}.${payload}.c2lnbmF0dXJl`;
    const decoded = decodeJwt(token);
    expect(decoded.header).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'k1' });
    expect(decoded.payload).toEqual({ sub: 's', n: 1 });
    expect(token.slice(0, decoded.signedLength)).toBe(`${HEADER}.${payload}`);
    expect(decoded.signature.toString('latin1')).toBe('signature'); // the bytes of c2lnbmF0dXJl
  });

  it('round-trips any JSON object payload, non-ASCII text included', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), (claims) => {
        const decoded = decodeJwt(`${HEADER}.${base64urlJson(claims)}.AA`);
        expect(decoded.payload).toEqual(JSON.parse(JSON.stringify(claims)));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes UTF-8 claims as UTF-8, not byte by byte', () => {
    const decoded = decodeJwt(`${HEADER}.${base64urlJson({ name: 'Zoë Ångström 山田 🙂' })}.AA`);
    expect(decoded.payload.name).toBe('Zoë Ångström 山田 🙂');
  });

  it('refuses a segment with any character outside unpadded base64url, wherever it is', () => {
    const payload = base64urlJson({ sub: 'some subject', name: 'A Name' });
    fc.assert(
      fc.property(fc.constantFrom(...FOREIGN), fc.nat(), fc.boolean(), (char, at, inHeader) => {
        const segment = inHeader ? HEADER : payload;
        const i = at % (segment.length + 1);
        const bad = segment.slice(0, i) + char + segment.slice(i);
        const token = inHeader ? `${bad}.${payload}.AA` : `${HEADER}.${bad}.AA`;
        expect(code(() => decodeJwt(token))).toBe('ERR_TOKEN_MALFORMED');
      }),
      { numRuns: 400 },
    );
  });

  it('accepts a signature only in its one canonical encoding', () => {
    const payload = base64urlJson({ sub: 's' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 0xffff }), (bytes, at, unit) => {
        const sig = Buffer.from(bytes).toString('base64url');
        expect(decodeJwt(`${HEADER}.${payload}.${sig}`).signature.equals(Buffer.from(bytes))).toBe(true);
        // Any other spelling Node's decoder would read as the same bytes: a wide unit with the same
        // low byte, or nonzero pad bits in the last character.
        const i = at % sig.length;
        const wide = String.fromCharCode((unit & 0xff00) === 0 ? 0x100 | sig.charCodeAt(i) : (unit & 0xff00) | sig.charCodeAt(i));
        expect(code(() => decodeJwt(`${HEADER}.${payload}.${sig.slice(0, i)}${wide}${sig.slice(i + 1)}`))).toBe('ERR_TOKEN_MALFORMED');
        // A character the decoder skips, inserted anywhere.
        for (const skipped of ['*', ' ', '\t', '!']) {
          expect(code(() => decodeJwt(`${HEADER}.${payload}.${sig.slice(0, i)}${skipped}${sig.slice(i)}`))).toBe('ERR_TOKEN_MALFORMED');
        }
        const padBits = sig.length % 4 === 2 ? 0x0f : sig.length % 4 === 3 ? 0x03 : 0;
        if (padBits !== 0) {
          const last = alphabet.indexOf(sig.at(-1)!);
          const other = `${sig.slice(0, -1)}${alphabet[last | (1 + (at % padBits))]}`;
          expect(code(() => decodeJwt(`${HEADER}.${payload}.${other}`))).toBe('ERR_TOKEN_MALFORMED');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a segment of impossible length and padded segments', () => {
    expect(code(() => decodeJwt(`${HEADER}.eyJhIjoxfQ.AA`))).toBeUndefined(); // {"a":1}, unpadded
    expect(code(() => decodeJwt(`${HEADER}.eyJhIjoxfQAAA.AA`))).toBe('ERR_TOKEN_MALFORMED'); // 4n+1 characters
    expect(code(() => decodeJwt(`${HEADER}.eyJhIjoxfQ==.AA`))).toBe('ERR_TOKEN_MALFORMED');
  });

  it('does not quote the token in its error', () => {
    const secret = 'hunter2-secret-value';
    const token = `${HEADER}.${Buffer.from(`{"password":"${secret}",`).toString('base64url')}.AA`;
    try {
      decodeJwt(token);
      expect.unreachable('a truncated payload must not decode');
    } catch (error) {
      expect((error as TokenError).code).toBe('ERR_TOKEN_MALFORMED');
      expect(String((error as Error).message)).not.toContain(secret);
      expect((error as Error).cause).toBeUndefined();
    }
  });

  it('shares one frozen header object between tokens with the same header', () => {
    const a = decodeJwt(`${HEADER}.${base64urlJson({ n: 1 })}.AA`);
    const b = decodeJwt(`${HEADER}.${base64urlJson({ n: 2 })}.AA`);
    expect(b.header).toBe(a.header);
    expect(Object.isFrozen(a.header)).toBe(true);
    expect(() => {
      (a.header as Record<string, unknown>).alg = 'none';
    }).toThrow(TypeError);
    expect(decodeJwt(`${HEADER}.${base64urlJson({ n: 3 })}.AA`).header.alg).toBe('RS256');
  });

  it('keeps decoding correctly while a flood of distinct headers churns the header cache', () => {
    for (let i = 0; i < 500; i++) {
      const decoded = decodeJwt(`${base64urlJson({ alg: 'RS256', kid: `kid-${i}` })}.${base64urlJson({ i })}.AA`);
      expect(decoded.header.kid).toBe(`kid-${i}`);
      expect(decoded.payload.i).toBe(i);
    }
    expect(decodeJwt(`${HEADER}.${base64urlJson({})}.AA`).header.kid).toBe('k1');
  });
});
