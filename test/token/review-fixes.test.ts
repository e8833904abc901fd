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
  // A client-credentials token as Entra issues one: the service principal's object id is both its
  // `oid` and its `sub`, the client is in `azp` (v2) or `appid` (v1), no `scp`, no user names.
  const servicePrincipal = (): Record<string, unknown> => {
    const sp = randomUUID();
    return { oid: sp, sub: sp, scp: undefined, name: undefined, preferred_username: undefined, upn: undefined, unique_name: undefined };
  };
  const appOnly: Array<[string, Record<string, unknown>, '1.0' | '2.0']> = [
    ['idtyp app', { ...servicePrincipal(), idtyp: 'app', azp: randomUUID(), roles: ['Read.All'] }, '2.0'],
    ['v2 roles + azp, no scp', { ...servicePrincipal(), azp: randomUUID(), roles: ['Read.All'] }, '2.0'],
    ['v1 roles + appid, no scp', { ...servicePrincipal(), appid: randomUUID(), roles: ['Read.All'] }, '1.0'],
    ['v2, no roles at all', { ...servicePrincipal(), azp: randomUUID() }, '2.0'],
    ['idtyp app even with a scp and a pairwise sub', { idtyp: 'app', scp: 'access_as_user', azp: randomUUID() }, '2.0'],
    ['no scp and no sub', { sub: undefined, scp: undefined, azp: randomUUID() }, '2.0'],
  ];
  for (const [name, claims, version] of appOnly) {
    it(`refuses an app-only token (${name})`, async () => {
      const error = await gateFor()
        .verify(entra.mintToken({ version, claims }))
        .catch((e: EntragateError) => e);
      expect(error).toBeInstanceOf(EntragateError);
      expect((error as EntragateError).code).toBe('ERR_TOKEN_CLAIM_INVALID');
      expect((error as EntragateError).message).toBe('an app-only token carries no user');
      expect((error as EntragateError).status).toBe(401);
    });
  }

  it('accepts them with allowAppTokens, and always accepts delegated tokens and ID tokens', async () => {
    const app = entra.mintToken({ claims: { ...servicePrincipal(), idtyp: 'app', azp: randomUUID(), roles: ['Read.All'] } });
    await expect(gateFor({ allowAppTokens: true }).verify(app)).resolves.toMatchObject({ tid: entra.tenantId });
    const delegated = entra.mintToken({ claims: { azp: randomUUID(), scp: 'access_as_user' } });
    await expect(gateFor().verify(delegated)).resolves.toMatchObject({ tid: entra.tenantId });
    await expect(gateFor().verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
  });

  it('a user token without scp is a user: an ID token naming its own client in azp, as a bearer token and at the login', async () => {
    // OpenID Connect Core §2 lets an ID token carry `azp`; Entra and other providers send it in
    // some flows. Its `sub` is the user's pairwise id, not its `oid`: there is a user.
    const claims = { azp: entra.clientId, nonce: 'n-1', roles: ['Reader'] };
    await expect(gateFor().verify(entra.mintToken({ claims }))).resolves.toMatchObject({ tid: entra.tenantId });
    await expect(gateFor().verifyToken(entra.mintToken({ claims }), { nonce: 'n-1', idToken: true })).resolves.toMatchObject({
      identity: { tid: entra.tenantId },
    });
  });

  it('at the login callback (idToken: true) app-only detection does not apply, and the nonce is still checked', async () => {
    // Even claims that would read as app-only for a bearer token (client credentials never yield an ID token).
    const odd = entra.mintToken({ claims: { ...servicePrincipal(), azp: entra.clientId, nonce: 'n-2' } });
    expect(await codeOf(gateFor().verify(odd))).toBe('ERR_TOKEN_CLAIM_INVALID');
    await expect(gateFor().verify(odd, { nonce: 'n-2', idToken: true })).resolves.toMatchObject({ tid: entra.tenantId });
    expect(await codeOf(gateFor().verify(odd, { nonce: 'other', idToken: true }))).toBe('ERR_TOKEN_NONCE_MISMATCH');
    // `idtyp: "app"` is only ever an access-token claim; at the login it is an ID token like any other.
    const idtyp = entra.mintToken({ claims: { idtyp: 'app', nonce: 'n-3' } });
    await expect(gateFor().verify(idtyp, { nonce: 'n-3', idToken: true })).resolves.toMatchObject({ tid: entra.tenantId });
  });

  it('idToken: true without the nonce is a programming error, refused before anything is verified', async () => {
    const error = await gateFor()
      .verify(entra.mintToken(), { idToken: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('ERR_CONFIG_INVALID');
    expect((error as ConfigError).message).toBe('invalid verify options: `idToken: true` needs the `nonce` sent to `/authorize`');
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
    const error = await gateFor({ fetch })
      .verify(entra.mintToken())
      .catch((e: EntragateError) => e);
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
      const gate = createGate({ idp: rolling.idpConfig(), authorityHost: rolling.url, now: () => clock, jwks: { refreshIntervalMs: 60_000 } });
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
      const gate = createGate({ idp: keys.idpConfig(), authorityHost: keys.url, now: () => clock, jwks: { cooldownMs: 1_000 } });
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
