import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TokenError } from '../../src/index.js';
import { base64urlJson, decodeJwt, freezeMeasure, memberNames } from '../../src/token/jwt.js';

// RFC 7515 §5.2: the header and payload are the UTF-8 of a completely valid JSON object; §4 lets a
// parser refuse duplicate member names, and a last-one-wins parser reads `{"alg":"none","alg":"RS256"}`
// as RS256 where another reads none: both are ERR_TOKEN_MALFORMED here.

const HEADER = base64urlJson({ alg: 'RS256', typ: 'JWT', kid: 'k1' });
const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

function failure(token: string): TokenError | undefined {
  try {
    decodeJwt(token);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return error as TokenError;
  }
}

/** `{"name":"<bytes>"}` with the bytes spliced in raw. */
const withBytes = (hex: string): Buffer => Buffer.concat([Buffer.from('{"sub":"s","name":"a'), Buffer.from(hex, 'hex'), Buffer.from('b"}')]);

describe('strict JSON: UTF-8', () => {
  const invalid: Array<[string, string]> = [
    ['a lone 0xFF byte', 'ff'],
    ['0xFE', 'fe'],
    ['a CESU-8 surrogate (U+D800 as ED A0 80)', 'eda080'],
    ['a CESU-8 surrogate pair for U+1F642', 'eda0bdedb982'],
    ['an overlong slash (C0 AF)', 'c0af'],
    ['an overlong NUL (C0 80, modified UTF-8)', 'c080'],
    ['a three-byte overlong (E0 80 AF)', 'e080af'],
    ['above U+10FFFF (F4 90 80 80)', 'f4908080'],
    ['a lone continuation byte', '80'],
    ['a truncated sequence', 'e282'],
  ];
  for (const [name, hex] of invalid) {
    it(`refuses ${name} in the payload and in the header`, () => {
      const inPayload = failure(`${HEADER}.${b64(withBytes(hex))}.AA`);
      expect(inPayload?.code).toBe('ERR_TOKEN_MALFORMED');
      expect(inPayload?.message).toBe('the token payload is not valid UTF-8');
      const header = Buffer.concat([Buffer.from('{"alg":"RS256","kid":"k1","x":"'), Buffer.from(hex, 'hex'), Buffer.from('"}')]);
      expect(failure(`${b64(header)}.${base64urlJson({ sub: 's' })}.AA`)?.message).toBe('the token header is not valid UTF-8');
    });
  }

  it('accepts well-formed UTF-8 of every length (the positive control)', () => {
    for (const [hex, text] of [
      ['c2a9', '©'],
      ['e282ac', '€'],
      ['efbfbd', '\ufffd'], // U+FFFD written out is a character like any other
      ['f09f9982', '🙂'],
      ['f48fbfbf', '\u{10ffff}'],
    ] as const) {
      expect(decodeJwt(`${HEADER}.${b64(withBytes(hex))}.AA`).payload.name).toBe(`a${text}b`);
    }
  });

  it('decodes any well-formed text exactly and refuses any byte string that is not UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        const raw = Buffer.from(bytes);
        // Quotes, backslashes and control bytes would make it invalid JSON rather than invalid UTF-8.
        if (raw.some((b) => b < 0x20 || b === 0x22 || b === 0x5c)) return;
        const valid = Buffer.from(raw.toString('utf8'), 'utf8').equals(raw);
        const token = `${HEADER}.${b64(withBytes(raw.toString('hex')))}.AA`;
        if (valid) expect(decodeJwt(token).payload.name).toBe(`a${raw.toString('utf8')}b`);
        else expect(failure(token)?.message).toBe('the token payload is not valid UTF-8');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('strict JSON: duplicate member names', () => {
  const payloads: Array<[string, string]> = [
    ['a duplicate audience, ours last', '{"aud":"other-app","iss":"x","sub":"s","aud":"our-app"}'],
    ['the same name with the same value', '{"sub":"s","sub":"s"}'],
    ['a duplicate inside a nested object', '{"sub":"s","ctx":{"tier":"basic","tier":"gold"}}'],
    ['a duplicate inside an object in an array', '{"sub":"s","list":[{"a":1},{"b":2,"b":3}]}'],
    ['a duplicate deep down', '{"a":{"b":{"c":{"d":[[{"e":1,"e":2}]]}}}}'],
    ['a duplicate spelt with an escape', '{"aud":"x","\\u0061ud":"y"}'],
    ['a duplicate with whitespace around it', '{ "aud" : "x" ,\n\t"aud"\r: "y" }'],
    ['two __proto__ members', '{"__proto__":{"admin":true},"__proto__":{}}'],
    ['a duplicate whose bytes are hidden by a shorter number spelling', '{"aud":"x","aud":"y","iat":17e8,"exp":1.7e9}'],
    ['a duplicate that empties the object', '{"a":null,"a":null}'],
  ];
  for (const [name, json] of payloads) {
    it(`refuses ${name}`, () => {
      const error = failure(`${HEADER}.${b64(json)}.AA`);
      expect(error?.code).toBe('ERR_TOKEN_MALFORMED');
      expect(error?.message).toBe('the token payload has a duplicate member name');
    });
  }

  it('refuses a header that says alg twice: {"alg":"none","alg":"RS256"}', () => {
    const error = failure(`${b64('{"alg":"none","kid":"k1","alg":"RS256"}')}.${base64urlJson({ sub: 's' })}.AA`);
    expect(error?.code).toBe('ERR_TOKEN_MALFORMED');
    expect(error?.message).toBe('the token header has a duplicate member name');
  });

  it('accepts the same name in different objects, a name equal to a value, and one __proto__ (positive controls)', () => {
    const json = '{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"a","d":["a","a"],"__proto__":{"x":1},"e":{}, "f" : [ ] ,"g":"\\"a\\":1"}';
    const payload = decodeJwt(`${HEADER}.${b64(json)}.AA`).payload;
    expect(payload).toEqual(JSON.parse(json));
    expect(Object.hasOwn(payload, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
    // Number spellings that are longer than they print, and ones that are shorter, without duplicates.
    for (const n of ['17e8', '1.7E+9', '1700000000', '0', '-0', '-5', '0.5', '1e-7', '1611234567', '1611234567.0', '9007199254740993']) {
      expect(decodeJwt(`${HEADER}.${b64(`{"n":${n},"m":"x"}`)}.AA`).payload.n).toBe(JSON.parse(n));
    }
  });

  it('refuses a duplicate however the text is spelt, and accepts the same text without it (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1 }),
        fc.integer(),
        fc.boolean(),
        (object, seed, duplicate) => {
          const random = mulberry(seed);
          const text = spell(object, random, duplicate);
          const token = `${HEADER}.${b64(text)}.AA`;
          if (duplicate) expect(failure(token)?.message).toBe('the token payload has a duplicate member name');
          else expect(decodeJwt(token).payload).toEqual(JSON.parse(JSON.stringify(object)));
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('strict JSON: the two ways of telling, checked on their own', () => {
  /** The member names of a value, counted the obvious way. */
  const members = (v: unknown): number =>
    Array.isArray(v)
      ? v.reduce((n: number, x) => n + members(x), 0)
      : typeof v === 'object' && v !== null
        ? Object.entries(v).reduce((n, [, x]) => n + 1 + members(x), 0)
        : 0;
  /** Whether every number has its digits as its one shortest spelling, and no string needs an escape. */
  const exact = (v: unknown): boolean =>
    typeof v === 'number'
      ? Number.isInteger(v) && v > 0 && v < 2 ** 53 && v % 100 !== 0
      : typeof v === 'string'
        ? !/["\\\u0000-\u001f]/.test(v)
        : Array.isArray(v)
          ? v.every(exact)
          : typeof v === 'object' && v !== null
            ? Object.entries(v).every(([k, x]) => exact(k) && exact(x))
            : true;
  const object = fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }));

  it('the shortest length is exact for compact text, never above any spelling, and -1 when a number may be spelt shorter', () => {
    fc.assert(
      fc.property(object, fc.integer(), (value, seed) => {
        const compact = JSON.stringify(value);
        const shortest = freezeMeasure(JSON.parse(compact) as object);
        // Exact when every number's digits are its shortest spelling and no string needs an escape;
        // otherwise no claim (-1) or a length the escapes exceed.
        if (exact(value)) expect(shortest).toBe(compact.length);
        else expect(shortest === -1 || shortest < compact.length).toBe(true);
        if (shortest !== -1) expect(shortest).toBeLessThanOrEqual(spell(value, mulberry(seed)).length);
      }),
      { numRuns: 1000 },
    );
    expect(freezeMeasure({ a: 1, b: [true, false, null], c: { d: 'xyz' }, e: [], f: {}, g: 1234567891 })).toBe(
      JSON.stringify({ a: 1, b: [true, false, null], c: { d: 'xyz' }, e: [], f: {}, g: 1234567891 }).length,
    );
    for (const n of [0, -1, 0.5, 100, 1e21, 2 ** 53, 1700000000]) expect(freezeMeasure({ n })).toBe(-1);
    for (const n of [1, 9, 10, 11, 99, 101, 110, 1611234567, 2 ** 53 - 1]) expect(freezeMeasure({ n })).toBe(JSON.stringify({ n }).length);
  });

  it('freezes every object and array it measures', () => {
    const value = JSON.parse('{"a":{"b":[{"c":[1,[2]]}]},"d":[]}') as { a: { b: Array<{ c: [number, number[]] }> }; d: unknown[] };
    freezeMeasure(value);
    for (const part of [value, value.a, value.a.b, value.a.b[0], value.a.b[0]!.c, value.a.b[0]!.c[1], value.d]) expect(Object.isFrozen(part)).toBe(true);
  });

  it('counts every member name in any valid spelling, and nothing inside strings', () => {
    fc.assert(
      fc.property(object, fc.integer(), (value, seed) => {
        expect(memberNames(spell(value, mulberry(seed)))).toBe(members(value));
        expect(memberNames(JSON.stringify(value))).toBe(members(value));
      }),
      { numRuns: 1000 },
    );
    const tricky = String.raw`{"a\\":1,"b\\\"c":"d\":e","f":"\\","g" :["h:",{"i"` + '\t' + String.raw`:"j\\\\"}]}`;
    expect(Object.keys(JSON.parse(tricky) as object)).toHaveLength(4);
    expect(memberNames(tricky)).toBe(5);
    expect(memberNames(String.raw`["a:","b\":c"]`)).toBe(0);
  });
});

/** A seeded PRNG in [0, 1). */
function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes `value` as JSON text in a random but valid spelling: whitespace anywhere it may go,
 * characters escaped at random, numbers in other spellings of the same value. With `duplicate`,
 * the top-level object repeats one of its names (the first with another value, the second with
 * the real one, so the parse equals `value` and only the duplicate tells them apart).
 */
function spell(value: unknown, random: () => number, duplicate = false): string {
  const ws = (): string => (random() < 0.15 ? [' ', '\t', '\n', '\r', '  '][Math.floor(random() * 5)]! : '');
  const str = (s: string): string => {
    let out = '"';
    for (const ch of JSON.stringify(s)
      .slice(1, -1)
      .match(/\\u[0-9a-f]{4}|\\.|[\s\S]/g) ?? []) {
      out += ch.length === 1 && random() < 0.1 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch;
    }
    return `${out}"`;
  };
  const num = (n: number): string => {
    const plain = JSON.stringify(n);
    if (!Number.isInteger(n) || n === 0 || plain.includes('e')) return plain;
    const r = random();
    if (r < 0.2) return `${plain}.0`;
    if (r < 0.4 && n % 10 === 0 && Number.isSafeInteger(n)) return `${n / 10}e1`;
    if (r < 0.5) return `${plain}E+0`;
    return plain;
  };
  const write = (v: unknown, top: boolean): string => {
    if (typeof v === 'string') return str(v);
    if (typeof v === 'number') return num(v);
    if (v === null || typeof v === 'boolean') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map((x) => `${ws()}${write(x, false)}${ws()}`).join(',')}]`;
    const entries = Object.entries(v as object).map(([k, x]) => `${ws()}${str(k)}${ws()}:${ws()}${write(x, false)}${ws()}`);
    if (top && duplicate) {
      const at = Math.floor(random() * entries.length);
      const name = Object.keys(v as object)[at]!;
      entries.splice(at, 0, `${ws()}${str(name)}${ws()}:${ws()}${write(random() < 0.5 ? 17e8 : 'decoy', false)}`);
    }
    return `{${entries.join(',')}}`;
  };
  return `${ws()}${write(value, true)}${ws()}`;
}
