import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID, sign } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { createGate, EntragateError, type GateOptions } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { decodeJwt } from '../../src/token/jwt.js';

// The checks a mutation run found no test for (issue 12, "tests that kill the mutants that
// matter"): each is tested at its boundary, beside the token that passes it.

let entra: MockEntra;
/** Entra's v1 key set carries no per-key `issuer`: only the discovery document vouches for `iss`. */
let bare: MockEntra;
const OTHER_TENANT = randomUUID();
beforeAll(async () => {
  entra = await createMockEntra();
  bare = await createMockEntra({ keyIssuers: false, tenants: [randomUUID(), OTHER_TENANT] });
});
afterAll(async () => {
  await entra.close();
  await bare.close();
});

async function failure(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

/** A refusal as a 401 with the RFC 6750 challenge. */
async function refused(promise: Promise<unknown>, code: string): Promise<EntragateError> {
  const error = await failure(promise);
  expect(error.code).toBe(code);
  expect(error.status).toBe(401);
  expect(error.headers['WWW-Authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_token", error_description="/);
  return error;
}

describe('the token issuer is checked against the discovery document, also for keys without an issuer', () => {
  const gateOf = (overrides: Partial<GateOptions> = {}) => createGate({ idp: bare.idpConfig(), authorityHost: bare.url, ...overrides });

  it('the key set really has no per-key issuer, and the right issuer passes (the positive control)', async () => {
    const jwks = (await (await fetch(`${bare.url}/${bare.tenantId}/discovery/v2.0/keys`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.every((k) => !('issuer' in k))).toBe(true);
    await expect(gateOf().verify(bare.mintToken())).resolves.toMatchObject({ tid: bare.tenantId });
    await expect(gateOf().verify(bare.mintToken({ version: '1.0' }))).resolves.toMatchObject({ tid: bare.tenantId, ver: '1.0' });
  });

  const wrong: Array<[string, (tid: string) => string, '1.0' | '2.0']> = [
    ['another host', (tid) => `https://login.evil.example/${tid}/v2.0`, '2.0'],
    ['a trailing slash', (tid) => `${bare.issuer('2.0', tid)}/`, '2.0'],
    ['another case', (tid) => bare.issuer('2.0', tid).toUpperCase(), '2.0'],
    ['the v1 issuer on a v2 token', (tid) => bare.issuer('1.0', tid), '2.0'],
    ['the v2 issuer on a v1 token', (tid) => bare.issuer('2.0', tid), '1.0'],
    ['a v1 issuer of another host', (tid) => `https://sts.evil.example/${tid}/`, '1.0'],
  ];
  for (const [name, iss, version] of wrong) {
    it(`refuses ${name}`, async () => {
      const token = bare.mintToken({ version, claims: { iss: iss(bare.tenantId) } });
      await refused(gateOf().verify(token), 'ERR_TOKEN_ISSUER_INVALID');
    });
  }

  it("refuses the issuer of another allowed tenant: iss names the token's own tid", async () => {
    const gate = gateOf({ tenants: [OTHER_TENANT] });
    await expect(gate.verify(bare.mintToken({ tenant: OTHER_TENANT }))).resolves.toMatchObject({ tid: OTHER_TENANT });
    await refused(gate.verify(bare.mintToken({ claims: { iss: bare.issuer('2.0', OTHER_TENANT) } })), 'ERR_TOKEN_ISSUER_INVALID');
    // Multi-tenant metadata: the `{tenantid}` template is filled with the token's tid.
    const any = gateOf({ tenants: '*' });
    await expect(any.verify(bare.mintToken({ tenant: OTHER_TENANT }))).resolves.toMatchObject({ tid: OTHER_TENANT });
    await refused(any.verify(bare.mintToken({ tenant: OTHER_TENANT, claims: { iss: bare.issuer('2.0', bare.tenantId) } })), 'ERR_TOKEN_ISSUER_INVALID');
  });
});

describe('lifetime claims at their boundaries', () => {
  const T = 1_900_000_000; // a whole second, so that the clock can sit exactly on it
  const at =
    (seconds: number, ms = 0) =>
    () =>
      seconds * 1000 + ms;
  const gateAt = (now: () => number, overrides: Partial<GateOptions> = {}) =>
    createGate({ idp: entra.idpConfig(), authorityHost: entra.url, now, tokenCache: false, ...overrides });

  it('iat: missing, or not a number, is refused', async () => {
    for (const iat of [undefined, '1900000000', null, [T], { at: T }]) {
      const error = await refused(gateAt(at(T)).verify(entra.mintToken({ issuedAt: T, claims: { iat } })), 'ERR_TOKEN_CLAIM_INVALID');
      expect(error.message).toBe('the token has no numeric `iat` claim');
    }
  });

  it('iat: in the future beyond the clock tolerance is refused; at the tolerance it passes', async () => {
    for (const tolerance of [0, 60]) {
      const token = (iat: number) => entra.mintToken({ issuedAt: T - 100, claims: { iat, nbf: undefined } });
      await expect(gateAt(at(T), { clockToleranceSeconds: tolerance }).verify(token(T + tolerance))).resolves.toMatchObject({ iat: T + tolerance });
      const error = await refused(gateAt(at(T), { clockToleranceSeconds: tolerance }).verify(token(T + tolerance + 1)), 'ERR_TOKEN_NOT_YET_VALID');
      expect(error.message).toContain('the token was issued in the future');
    }
  });

  it('nbf: not a number is refused; in the future beyond the tolerance is refused, at it passes', async () => {
    await refused(gateAt(at(T)).verify(entra.mintToken({ issuedAt: T, claims: { nbf: 'soon' } })), 'ERR_TOKEN_CLAIM_INVALID');
    for (const tolerance of [0, 60]) {
      const token = (nbf: number) => entra.mintToken({ issuedAt: T - 100, claims: { nbf } });
      await expect(gateAt(at(T), { clockToleranceSeconds: tolerance }).verify(token(T + tolerance))).resolves.toMatchObject({ tid: entra.tenantId });
      await refused(gateAt(at(T), { clockToleranceSeconds: tolerance }).verify(token(T + tolerance + 1)), 'ERR_TOKEN_NOT_YET_VALID');
    }
  });

  it('exp: missing or not a number is refused', async () => {
    for (const exp of [undefined, String(T + 600), null]) {
      const error = await refused(gateAt(at(T)).verify(entra.mintToken({ issuedAt: T, claims: { exp } })), 'ERR_TOKEN_CLAIM_INVALID');
      expect(error.message).toBe('the token has no numeric `exp` claim');
    }
  });

  it('exp: valid up to its second, refused at exactly its second (plus the tolerance)', async () => {
    const exp = T + 600;
    const token = entra.mintToken({ issuedAt: T, expiresInSeconds: 600 });
    for (const tolerance of [0, 60]) {
      const edge = exp + tolerance;
      await expect(gateAt(at(edge - 1, 999), { clockToleranceSeconds: tolerance }).verify(token)).resolves.toMatchObject({ exp });
      await refused(gateAt(at(edge), { clockToleranceSeconds: tolerance }).verify(token), 'ERR_TOKEN_EXPIRED');
      await refused(gateAt(at(edge, 1), { clockToleranceSeconds: tolerance }).verify(token), 'ERR_TOKEN_EXPIRED');
    }
  });

  it('the verified-token cache serves up to exp, and never at exactly exp', async () => {
    const exp = T + 600;
    const token = entra.mintToken({ issuedAt: T, expiresInSeconds: 600 });
    let misses = 0;
    const onMiss = () => {
      misses++;
    };
    diagnostics.subscribe('entragate:token:cache-miss', onMiss);
    try {
      for (const tolerance of [0, 60]) {
        misses = 0;
        let clock = T * 1000;
        const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, now: () => clock, clockToleranceSeconds: tolerance });
        const first = await gate.verify(token);
        clock = exp * 1000 - 1;
        expect(await gate.verify(token)).toBe(first); // served from the cache
        expect(misses).toBe(1);
        clock = exp * 1000;
        if (tolerance === 0) {
          await refused(gate.verify(token), 'ERR_TOKEN_EXPIRED');
        } else {
          // Verified afresh, and still inside the tolerance: a new identity, not the cached one.
          const again = await gate.verify(token);
          expect(again).not.toBe(first);
          expect(again).toEqual(first);
        }
        expect(misses).toBe(2);
      }
    } finally {
      diagnostics.unsubscribe('entragate:token:cache-miss', onMiss);
    }
  });
});

describe('one spelling per segment: the standard alphabet’s `+` and `/` are refused', () => {
  /** A token whose three segments each hold `-` and `_` (the claim's text makes the payload's). */
  function spellable(): string {
    for (;;) {
      const token = entra.mintToken({ claims: { pad: '>>>???>>>???' }, header: { x: '>>>???' } });
      if (token.split('.').every((segment) => segment.includes('-') && segment.includes('_'))) return token;
    }
  }

  it('a segment with `/` for `_` or `+` for `-` decodes to the same bytes, and is refused in every segment', async () => {
    const token = spellable();
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: false });
    await expect(gate.verify(token)).resolves.toMatchObject({ tid: entra.tenantId }); // the positive control
    const segments = token.split('.');
    for (let s = 0; s < 3; s++) {
      for (const [from, to] of [
        ['_', '/'],
        ['-', '+'],
      ] as const) {
        const respelt = segments.map((segment, i) => (i === s ? segment.replace(from, to) : segment)).join('.');
        // Node's decoder reads both alphabets: the bytes are the same ...
        expect(Buffer.from(respelt.split('.')[s]!, 'base64url').equals(Buffer.from(segments[s]!, 'base64url'))).toBe(true);
        // ... and the token is refused as malformed before anything else.
        expect(() => decodeJwt(respelt)).toThrow(expect.objectContaining({ code: 'ERR_TOKEN_MALFORMED' }));
        await refused(gate.verify(respelt), 'ERR_TOKEN_MALFORMED');
      }
    }
  });

  it('padding and `=` anywhere are refused too', async () => {
    const token = spellable();
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: false });
    const [h, p, s] = token.split('.') as [string, string, string];
    const pad = (segment: string): string => segment + '='.repeat((4 - (segment.length % 4)) % 4 || 1);
    for (const bad of [`${pad(h)}.${p}.${s}`, `${h}.${pad(p)}.${s}`, `${h}.${p}.${pad(s)}`, `${h}.${p}.${s.slice(0, 40)}=${s.slice(40)}`, `${h}.${p}.${s}==`]) {
      await refused(gate.verify(bad), 'ERR_TOKEN_MALFORMED');
    }
  });
});

describe('strict JSON through the gate', () => {
  const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url');
  /** Signs raw header and payload bytes with the mock's current key. */
  const signRaw = (header: string | Buffer, payload: string | Buffer): string => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${sign('RSA-SHA256', Buffer.from(input), entra.currentKey.privateKey).toString('base64url')}`;
  };
  const header = () => JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: entra.currentKey.kid });
  const claims = (): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: entra.issuer('2.0'),
      tid: entra.tenantId,
      sub: 'pairwise-sub',
      oid: randomUUID(),
      iat: now,
      nbf: now,
      exp: now + 600,
      ver: '2.0',
      name: 'Zoë',
    };
  };

  it('a signed payload naming aud twice, ours last, is refused; the same payload once passes', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    const body = JSON.stringify(claims()).slice(1, -1);
    await expect(gate.verify(signRaw(header(), `{"aud":"${entra.clientId}",${body}}`))).resolves.toMatchObject({ name: 'Zoë' });
    const error = await refused(
      gate.verify(signRaw(header(), `{"aud":"00000000-0000-0000-0000-000000000001",${body},"aud":"${entra.clientId}"}`)),
      'ERR_TOKEN_MALFORMED',
    );
    expect(error.message).toBe('the token payload has a duplicate member name');
  });

  it('a signed header saying alg twice ({"alg":"none","alg":"RS256"}) is refused', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    const payload = JSON.stringify({ ...claims(), aud: entra.clientId });
    const error = await refused(gate.verify(signRaw(`{"alg":"none","kid":"${entra.currentKey.kid}","alg":"RS256"}`, payload)), 'ERR_TOKEN_MALFORMED');
    expect(error.message).toBe('the token header has a duplicate member name');
  });

  it('a signed payload with bytes that are not UTF-8 is refused; the same text in UTF-8 passes', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    const text = JSON.stringify({ ...claims(), aud: entra.clientId, name: 'Ada\u0001' });
    const [before, after] = text.split('\\u0001') as [string, string];
    await expect(gate.verify(signRaw(header(), Buffer.from(`${before}é${after}`)))).resolves.toMatchObject({ name: 'Adaé' });
    for (const hex of ['ff', 'eda080', 'c0af']) {
      const bytes = Buffer.concat([Buffer.from(before), Buffer.from(hex, 'hex'), Buffer.from(after)]);
      const error = await refused(gate.verify(signRaw(header(), bytes)), 'ERR_TOKEN_MALFORMED');
      expect(error.message).toBe('the token payload is not valid UTF-8');
    }
  });
});
