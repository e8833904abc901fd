import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { ConfigError, createGate, EntragateError, type GateOptions } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

const gateFor = (overrides: Partial<GateOptions> = {}) => createGate({ idp: entra.idpConfig(), authorityHost: entra.url, ...overrides });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return (error as EntragateError).code;
}

describe('app-only tokens carry no user', () => {
  const appOnly: Array<[string, Record<string, unknown>, '1.0' | '2.0']> = [
    ['idtyp app', { idtyp: 'app', azp: randomUUID(), roles: ['Read.All'] }, '2.0'],
    ['v2 roles + azp, no scp', { azp: randomUUID(), roles: ['Read.All'] }, '2.0'],
    ['v1 roles + appid, no scp', { appid: randomUUID(), roles: ['Read.All'] }, '1.0'],
  ];
  for (const [name, claims, version] of appOnly) {
    it(`refuses an app-only token (${name})`, async () => {
      expect(await codeOf(gateFor().verify(entra.mintToken({ version, claims })))).toBe('ERR_TOKEN_CLAIM_INVALID');
    });
  }

  it('accepts them with allowAppTokens, and always accepts delegated tokens and ID tokens', async () => {
    const app = entra.mintToken({ claims: { idtyp: 'app', azp: randomUUID(), roles: ['Read.All'] } });
    await expect(gateFor({ allowAppTokens: true }).verify(app)).resolves.toMatchObject({ tid: entra.tenantId });
    const delegated = entra.mintToken({ claims: { azp: randomUUID(), scp: 'access_as_user' } });
    await expect(gateFor().verify(delegated)).resolves.toMatchObject({ tid: entra.tenantId });
    await expect(gateFor().verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
  });
});

describe('key hosts', () => {
  it('refuses a plain-http authority that is not this machine', () => {
    expect(() => gateFor({ authorityHost: 'http://login.example.com' })).toThrow(ConfigError);
    expect(() => gateFor({ authorityHost: 'http://login.example.com' })).toThrow(/authorityHost/);
    expect(() => gateFor({ graphHost: 'https://user:pw@graph.example.com' })).toThrow(/graphHost/);
    expect(() => gateFor({ authorityHost: 'https://login.microsoftonline.us' })).not.toThrow();
  });

  it('refuses a JWKS over the size cap while reading it', async () => {
    const fetch: typeof globalThis.fetch = async (url) =>
      String(url).includes('openid-configuration')
        ? Response.json({ issuer: 'x', jwks_uri: 'https://keys.example.com/keys' })
        : new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(64 * 1024).fill(32)) }));
    const error = await gateFor({ fetch }).verify(entra.mintToken()).catch((e: EntragateError) => e);
    expect(error).toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    expect((error as Error).message).toContain('the JWKS is over 524288 bytes');
  });
});

describe('signing-key issuer', () => {
  it('refuses a token for tenant X signed by a key published for another issuer', async () => {
    const consumer = entra.publishKey({ issuer: `${entra.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0` });
    const code = await codeOf(gateFor().verify(entra.mintToken({ key: consumer })));
    expect(code).toBe('ERR_TOKEN_ISSUER_INVALID');
  });

  it('accepts a v1 token whose key names the same tenant v2 issuer, not another tenant', async () => {
    const same = entra.publishKey({ issuer: `${entra.url}/${entra.tenantId}/v2.0` });
    await expect(gateFor().verify(entra.mintToken({ version: '1.0', key: same }))).resolves.toMatchObject({ ver: '1.0' });
    const other = entra.publishKey({ issuer: `${entra.url}/${randomUUID()}/v2.0` });
    expect(await codeOf(gateFor().verify(entra.mintToken({ version: '1.0', key: other })))).toBe('ERR_TOKEN_ISSUER_INVALID');
  });
});

describe('claims and messages', () => {
  it('a non-numeric nbf is an invalid claim, not "not yet valid"', async () => {
    expect(await codeOf(gateFor().verify(entra.mintToken({ claims: { nbf: 'soon' } })))).toBe('ERR_TOKEN_CLAIM_INVALID');
  });

  it('never echoes a hostile header value into a message or a header', async () => {
    const error = (await gateFor()
      .verify(entra.mintToken({ header: { alg: 'RS256\n`injected` é' } }))
      .catch((e: unknown) => e)) as EntragateError;
    expect(error.code).toBe('ERR_TOKEN_ALG_NOT_ALLOWED');
    expect(error.message).toBe('the token algorithm (malformed) is not allowed: only `RS256`');
    expect(error.headers['WWW-Authenticate']).toMatch(/^[\x20-\x7e]+$/);
  });

  it('a groups claim with a non-id value is unknown membership, not complete', async () => {
    const identity = await gateFor().verify(entra.mintToken({ claims: { groups: [randomUUID(), 42] } }));
    expect(identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_TOKEN_CLAIM_INVALID' });
    expect(identity.groups).toEqual([]);
  });
});

describe('verified-token cache', () => {
  it('is bounded by tokenCache.max', async () => {
    const gate = gateFor({ tokenCache: { max: 2 } });
    const misses: unknown[] = [];
    const count = (m: unknown) => misses.push(m);
    diagnostics.subscribe('entragate:token:cache-miss', count);
    try {
      const [a, b, c] = [entra.mintToken(), entra.mintToken(), entra.mintToken()];
      for (const t of [a, b, c, c, b]) await gate.verify(t!);
      expect(misses).toHaveLength(3);
      await gate.verify(a!); // evicted by c
      expect(misses).toHaveLength(4);
    } finally {
      diagnostics.unsubscribe('entragate:token:cache-miss', count);
    }
  });

  it('stops honouring a cached token once its key is withdrawn (emergency rollover)', async () => {
    const rolling = await createMockEntra();
    try {
      let clock = Date.now();
      const gate = createGate({ idp: rolling.idpConfig(), authorityHost: rolling.url, now: () => clock, jwks: { refreshInterval: 60_000 } });
      const token = rolling.mintToken({ issuedAt: Math.floor(clock / 1000) });
      await gate.verify(token);
      const old = rolling.currentKey.kid;
      rolling.rotateKeys();
      rolling.withdrawKey(old);
      clock += 61_000;
      // The first hit past the refresh interval starts a background refresh; once it lands, the
      // cached verification is dropped and the token fails in full.
      await vi.waitFor(async () => expect(await codeOf(gate.verify(token))).toBe('ERR_TOKEN_KEY_NOT_FOUND'), { timeout: 5_000 });
    } finally {
      await rolling.close();
    }
  });

  it('re-reads discovery at most twice a day: a key refresh fetches only the JWKS', async () => {
    const keys = await createMockEntra();
    try {
      let clock = Date.now();
      const gate = createGate({ idp: keys.idpConfig(), authorityHost: keys.url, now: () => clock, jwks: { cooldown: 1_000 } });
      await gate.verify(keys.mintToken());
      keys.rotateKeys();
      clock += 2_000;
      await gate.verify(keys.mintToken({ issuedAt: Math.floor(clock / 1000) }));
      expect(keys.requests).toMatchObject({ discovery: 1, jwks: 2 });
    } finally {
      await keys.close();
    }
  });
});
