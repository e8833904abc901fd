import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { createGate, EntragateError, JwksError, type TokenError, type GateOptions } from '../../src/index.js';
import { createMockEntra, signJwt, type MockEntra } from '../../src/testing/index.js';
import { base64urlJson } from '../../src/token/jwt.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

function gateFor(overrides: Partial<GateOptions> = {}) {
  return createGate({ idp: entra.idpConfig(), authorityHost: entra.url, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

describe('verify: tokens that pass', () => {
  it('verifies a v2 ID token and maps the identity like get-identity', async () => {
    const gate = gateFor();
    const oid = randomUUID();
    const identity = await gate.verify(entra.mintToken({ claims: { oid, name: 'Ada Lovelace', preferred_username: 'ada@contoso.com', amr: ['pwd', 'mfa'] } }));
    expect(identity).toMatchObject({
      email: 'ada@contoso.com',
      name: 'Ada Lovelace',
      user_uuid: oid,
      oid,
      tid: entra.tenantId,
      ver: '2.0',
      amr: ['pwd', 'mfa'],
      idp: { id: 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415', type: 'azureAD' },
      membership: { state: 'absent' },
      groups: [],
    });
  });

  it('verifies a v1 token whose issuer is sts.windows.net', async () => {
    const gate = gateFor();
    const identity = await gate.verify(entra.mintToken({ version: '1.0', claims: { upn: 'bob@contoso.com' } }));
    expect(identity.ver).toBe('1.0');
    expect(identity.email).toBe('bob@contoso.com');
  });

  it('accepts an access token whose audience is api://<client id>', async () => {
    const gate = gateFor();
    const identity = await gate.verify(entra.mintToken({ audience: `api://${entra.clientId}` }));
    expect(identity.tid).toBe(entra.tenantId);
  });

  it('resolves email in Cloudflare order: configured claim, email, then UPN', async () => {
    const custom = createGate({ idp: entra.idpConfig({ config: { email_claim_name: 'mail_id' } }), authorityHost: entra.url });
    const token = entra.mintToken({ claims: { mail_id: 'custom@contoso.com', email: 'mail@contoso.com', preferred_username: 'upn@contoso.com' } });
    expect((await custom.verify(token)).email).toBe('custom@contoso.com');
    expect((await gateFor().verify(token)).email).toBe('mail@contoso.com');
  });

  it('copies configured claims into oidc_fields', async () => {
    const gate = createGate({ idp: entra.idpConfig({ config: { claims: ['oid', 'department'] } }), authorityHost: entra.url });
    const identity = await gate.verify(entra.mintToken({ claims: { department: 'R&D' } }));
    expect(identity.oidc_fields).toEqual({ oid: identity.oid, department: 'R&D' });
  });

  it('reads the group claim and both overage shapes into membership', async () => {
    const gate = gateFor();
    const g = randomUUID();
    expect((await gate.verify(entra.mintToken({ claims: { groups: [g] } }))).membership).toEqual({ state: 'complete', source: 'token', fields: ['id'] });
    const overage = await gate.verify(
      entra.mintToken({
        claims: {
          _claim_names: { groups: 'src1' },
          _claim_sources: { src1: { endpoint: `https://graph.windows.net/${entra.tenantId}/users/x/getMemberObjects` } },
        },
      }),
    );
    expect(overage.membership).toEqual({ state: 'overage', signal: 'claim_names' });
    expect(overage.groups).toEqual([]);
    expect((await gate.verify(entra.mintToken({ claims: { hasgroups: true } }))).membership).toEqual({ state: 'overage', signal: 'hasgroups' });
  });

  it('returns frozen identities, since the cache shares them', async () => {
    const identity = await gateFor().verify(entra.mintToken({ claims: { groups: [randomUUID()] } }));
    expect(Object.isFrozen(identity)).toBe(true);
    expect(Object.isFrozen(identity.groups)).toBe(true);
    expect(Object.isFrozen(identity.groups[0])).toBe(true);
    // Every shape of the parts, shared or not: empty claim lists, no amr, overage, bad groups, copied claims.
    const gate = gateFor({ idp: { ...entra.idpConfig(), config: { ...entra.idpConfig().config, claims: ['roles'] } } });
    for (const claims of [{ groups: [] }, { amr: ['mfa'], roles: ['r'] }, { hasgroups: true }, { groups: [''] }, {}]) {
      const other = await gate.verify(entra.mintToken({ claims }));
      for (const part of [other, other.groups, other.amr, other.idp, other.membership, other.oidc_fields]) expect(Object.isFrozen(part)).toBe(true);
    }
  });

  it('freezes copied claim values and claims all the way down: a caller cannot change what the cache serves next', async () => {
    const gate = gateFor({ idp: { ...entra.idpConfig(), config: { ...entra.idpConfig().config, claims: ['roles', 'ctx'] } } });
    const token = entra.mintToken({ claims: { roles: ['reader'], ctx: { tier: 'basic', list: [{ a: 1 }] }, amr: ['pwd'] } });
    const first = await gate.verifyToken(token);
    const roles = first.identity.oidc_fields.roles as string[];
    const ctx = first.identity.oidc_fields.ctx as { tier: string; list: Array<{ a: number }> };
    expect(() => roles.push('admin')).toThrow(TypeError);
    expect(() => {
      ctx.tier = 'gold';
    }).toThrow(TypeError);
    expect(() => {
      ctx.list[0]!.a = 2;
    }).toThrow(TypeError);
    expect(() => (first.claims.amr as string[]).push('mfa')).toThrow(TypeError);
    const again = await gate.verifyToken(token);
    expect(again.identity.oidc_fields).toEqual({ roles: ['reader'], ctx: { tier: 'basic', list: [{ a: 1 }] } });
    expect(again.claims.amr).toEqual(['pwd']);
  });

  it('verifies tokens of any size in turn, large then small, and a bad signature stays bad after them', async () => {
    // The signature check reuses one scratch buffer: a large token grows it, and what a
    // larger token left behind must not leak into the check of a smaller one.
    const gate = gateFor({ tokenCache: false });
    const large = entra.mintToken({ claims: { pad: 'x'.repeat(9_000), email: 'large@contoso.com' } });
    const small = entra.mintToken({ claims: { email: 'small@contoso.com' } });
    expect((await gate.verify(large)).email).toBe('large@contoso.com');
    expect((await gate.verify(small)).email).toBe('small@contoso.com');
    const [h, p, s] = small.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`;
    expect((await rejection(gate.verify(flipped))).code).toBe('ERR_TOKEN_SIGNATURE_INVALID');
    // A character the base64url decoder would skip leaves the same signature bytes: still refused.
    for (const stray of ['*', ' ', '\n', '+', '=']) {
      expect((await rejection(gate.verify(`${h}.${p}.${s.slice(0, 100)}${stray}${s.slice(100)}`))).code).toBe('ERR_TOKEN_MALFORMED');
    }
    const short = Buffer.from(s, 'base64url').subarray(0, -3).toString('base64url');
    expect((await rejection(gate.verify(`${h}.${p}.${short}`))).code).toBe('ERR_TOKEN_SIGNATURE_INVALID');
    expect((await gate.verify(large)).email).toBe('large@contoso.com');
  });

  it('refuses a signature re-encoded so that it decodes to the same bytes (one signature, one encoding)', async () => {
    const gate = gateFor({ tokenCache: false });
    const token = entra.mintToken({ claims: { email: 'one@contoso.com' } });
    expect((await gate.verify(token)).email).toBe('one@contoso.com');
    const [h, p, s] = token.split('.') as [string, string, string];
    // Node's base64url decoder reads a UTF-16 unit by its low byte: U+0100 + 'x' decodes as 'x'.
    for (const at of [0, 10, s.length - 2]) {
      const wide = `${h}.${p}.${s.slice(0, at)}${String.fromCharCode(0x100 + s.charCodeAt(at))}${s.slice(at + 1)}`;
      expect((await rejection(gate.verify(wide))).code).toBe('ERR_TOKEN_MALFORMED');
    }
    // A 256-byte signature is 342 characters: the last one carries 4 pad bits, which must be zero.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s.at(-1)!);
    for (let bits = 1; bits < 16; bits++) {
      const padded = `${h}.${p}.${s.slice(0, -1)}${alphabet[last | bits]}`;
      expect((await rejection(gate.verify(padded))).code).toBe('ERR_TOKEN_MALFORMED');
    }
  });
});

describe('verify: bad input is refused with a coded error', () => {
  const cases: Array<[string, () => string, string, string | RegExp]> = [
    [
      'alg none',
      () => `${base64urlJson({ alg: 'none', typ: 'JWT' })}.${base64urlJson(claims())}.`,
      'ERR_TOKEN_MALFORMED',
      'the token is not three dot-separated segments',
    ],
    [
      'alg none with a signature segment',
      () => `${base64urlJson({ alg: 'none', kid: entra.currentKey.kid })}.${base64urlJson(claims())}.AA`,
      'ERR_TOKEN_ALG_NOT_ALLOWED',
      'the token algorithm `none` is not allowed: only `RS256`',
    ],
    ['HS256 signed with the public key', () => hs256WithPublicKey(), 'ERR_TOKEN_ALG_NOT_ALLOWED', 'the token algorithm `HS256` is not allowed: only `RS256`'],
    [
      'a crit header',
      () => entra.mintToken({ header: { crit: ['exp'] } }),
      'ERR_TOKEN_HEADER_UNSUPPORTED',
      'the token header parameter `crit` is not supported',
    ],
    [
      'an embedded jwk header',
      () => entra.mintToken({ header: { jwk: { kty: 'RSA' } } }),
      'ERR_TOKEN_HEADER_UNSUPPORTED',
      'the token header parameter `jwk` is not supported',
    ],
    ['a wrong tenant', () => entra.mintToken({ tenant: randomUUID() }), 'ERR_TOKEN_TENANT_NOT_ALLOWED', /^the tenant `[0-9a-f-]{36}` is not allowed$/],
    ['a wrong audience', () => entra.mintToken({ audience: randomUUID() }), 'ERR_TOKEN_AUDIENCE_INVALID', /^the audience `[0-9a-f-]{36}` is not accepted$/],
    [
      'an expired token',
      () => entra.mintToken({ issuedAt: now() - 7200, expiresInSeconds: 3600 }),
      'ERR_TOKEN_EXPIRED',
      /^the token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/,
    ],
    [
      'nbf in the future',
      () => entra.mintToken({ claims: { nbf: now() + 3600 } }),
      'ERR_TOKEN_NOT_YET_VALID',
      /^the token is not valid before \d{4}-\d\d-\d\dT[\d:.]+Z$/,
    ],
    [
      'iat in the future',
      () => entra.mintToken({ issuedAt: now() + 3600 }),
      'ERR_TOKEN_NOT_YET_VALID',
      /^the token is not valid before \d{4}-\d\d-\d\dT[\d:.]+Z$/,
    ],
    ['malformed base64', () => 'eyJhbGciOiJSUzI1NiJ9.@@@.abc', 'ERR_TOKEN_MALFORMED', 'a token segment (the payload) is not unpadded base64url'],
    ['padded base64', () => `${base64urlJson({ alg: 'RS256' })}.eyJ9=.abc`, 'ERR_TOKEN_MALFORMED', 'the token is not three segments of unpadded base64url'],
    ['malformed JSON', () => `${Buffer.from('{"alg":').toString('base64url')}.${base64urlJson({})}.abc`, 'ERR_TOKEN_MALFORMED', 'the token header is not JSON'],
    [
      'a JSON array payload',
      () => `${base64urlJson({ alg: 'RS256', kid: 'x' })}.${base64urlJson([1])}.abc`,
      'ERR_TOKEN_MALFORMED',
      'the token payload is not a JSON object',
    ],
    ['two segments', () => 'abc.def', 'ERR_TOKEN_MALFORMED', 'the token is not three dot-separated segments'],
    ['four segments', () => 'a.b.c.d', 'ERR_TOKEN_MALFORMED', 'the token is not three dot-separated segments'],
    ['an empty token', () => '', 'ERR_TOKEN_MISSING', 'no bearer token was presented'],
    [
      'a token over the size cap',
      () => entra.mintToken({ claims: { pad: 'x'.repeat(20_000) } }),
      'ERR_TOKEN_TOO_LARGE',
      /^the token is over the size cap \(\d+ bytes\)$/,
    ],
    [
      'a Microsoft Graph token (header nonce)',
      () => entra.mintToken({ header: { nonce: 'abc' } }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'this is a Microsoft Graph access token (its header has `nonce`): only Graph can verify it; request a token for your own API scope',
    ],
    [
      'a token for Graph (aud)',
      () => entra.mintToken({ audience: '00000003-0000-0000-c000-000000000000' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `00000003-0000-0000-c000-000000000000` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
    ['a tampered payload', () => tamper(entra.mintToken()), 'ERR_TOKEN_SIGNATURE_INVALID', 'the token signature does not verify'],
    [
      'a key the tenant does not publish',
      () => entra.mintToken({ key: entra.createUnpublishedKey() }),
      'ERR_TOKEN_KEY_NOT_FOUND',
      /^no signing key `[0-9a-f]{27}` is published for the token$/,
    ],
    [
      'an issuer of another tenant',
      () => entra.mintToken({ claims: { iss: `${entra.url}/${randomUUID()}/v2.0` } }),
      'ERR_TOKEN_ISSUER_INVALID',
      /^the token issuer `http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/v2\.0` is not accepted$/,
    ],
    [
      'a v2 token with a v1 issuer',
      () => entra.mintToken({ claims: { iss: `https://sts.windows.net/${entra.tenantId}/` } }),
      'ERR_TOKEN_ISSUER_INVALID',
      /^the token issuer `https:\/\/sts\.windows\.net\/[0-9a-f-]{36}\/` is not accepted$/,
    ],
    ['an unknown ver', () => entra.mintToken({ claims: { ver: '3.0' } }), 'ERR_TOKEN_CLAIM_INVALID', 'the token has no valid `ver` claim (1.0 or 2.0)'],
    ['no tid', () => entra.mintToken({ claims: { tid: undefined } }), 'ERR_TOKEN_CLAIM_INVALID', 'the token `tid` claim is missing or not a GUID'],
    ['no exp', () => entra.mintToken({ claims: { exp: undefined } }), 'ERR_TOKEN_CLAIM_INVALID', 'the token has no numeric `exp` claim'],
    [
      'a jku header',
      () => entra.mintToken({ header: { jku: 'https://keys.evil.example/jwks' } }),
      'ERR_TOKEN_HEADER_UNSUPPORTED',
      'the token header parameter `jku` is not supported',
    ],
    [
      'an x5u header',
      () => entra.mintToken({ header: { x5u: 'https://keys.evil.example/cert' } }),
      'ERR_TOKEN_HEADER_UNSUPPORTED',
      'the token header parameter `x5u` is not supported',
    ],
    ['no kid', () => entra.mintToken({ header: { kid: undefined } }), 'ERR_TOKEN_MALFORMED', 'the token header has no `kid`'],
    ['an empty kid', () => entra.mintToken({ header: { kid: '' } }), 'ERR_TOKEN_MALFORMED', 'the token header has no `kid`'],
    ['a numeric kid', () => entra.mintToken({ header: { kid: 7 } }), 'ERR_TOKEN_MALFORMED', 'the token header has no `kid`'],
    ['no iss', () => entra.mintToken({ claims: { iss: undefined } }), 'ERR_TOKEN_CLAIM_INVALID', 'the token has no `iss` claim'],
    [
      'a tid that is not a GUID',
      () => entra.mintToken({ claims: { tid: 'contoso.onmicrosoft.com' } }),
      'ERR_TOKEN_CLAIM_INVALID',
      'the token `tid` claim is missing or not a GUID',
    ],
    [
      'a nonce mismatch',
      () => entra.mintToken({ claims: { nonce: 'other' } }),
      'ERR_TOKEN_NONCE_MISMATCH',
      'the ID token `nonce` does not match the login request',
    ],
    [
      'a token for Graph (https://graph.microsoft.com)',
      () => entra.mintToken({ audience: 'https://graph.microsoft.com' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `https://graph.microsoft.com` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
    [
      'a token for Graph (https://graph.microsoft.com/)',
      () => entra.mintToken({ audience: 'https://graph.microsoft.com/' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `https://graph.microsoft.com/` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
    [
      'a token for Graph (https://graph.microsoft.us)',
      () => entra.mintToken({ audience: 'https://graph.microsoft.us' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `https://graph.microsoft.us` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
    [
      'a token for Graph (https://dod-graph.microsoft.us)',
      () => entra.mintToken({ audience: 'https://dod-graph.microsoft.us' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `https://dod-graph.microsoft.us` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
    [
      'a token for Graph (https://microsoftgraph.chinacloudapi.cn)',
      () => entra.mintToken({ audience: 'https://microsoftgraph.chinacloudapi.cn' }),
      'ERR_TOKEN_GRAPH_TOKEN',
      'the token audience `https://microsoftgraph.chinacloudapi.cn` is Microsoft Graph: only Graph can verify it; request a token for your own API scope',
    ],
  ];

  for (const [name, make, code, message] of cases) {
    it(`refuses ${name} with ${code}`, async () => {
      const token = make();
      // The nonce case is an ID token checked against its login's nonce.
      const error = await rejection(gateFor().verify(token, code === 'ERR_TOKEN_NONCE_MISMATCH' ? { nonce: 'n-1' } : {}));
      expect(error.code).toBe(code);
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
      expect(error.headers['WWW-Authenticate']).toContain(code === 'ERR_TOKEN_MISSING' ? 'Bearer realm="entragate"' : 'error="invalid_token"');
      expect(error.status).toBe(401);
      expect(error.headers['WWW-Authenticate']).toMatch(/^Bearer realm="entragate"/);
      // INVARIANT: no token (nor a recognisable part of one) in a message.
      if (token.length > 40) expect(error.message).not.toContain(token.slice(-40));
    });
  }

  it('refuses a v1 token when only v2 is allowed', async () => {
    const error = await rejection(gateFor({ tokenVersions: ['2.0'] }).verify(entra.mintToken({ version: '1.0' })));
    expect(error.code).toBe('ERR_TOKEN_VERSION_NOT_ALLOWED');
    // What the gate accepts is configuration: it stays out of the caller's error.
    expect(error.message).toBe('v1.0 tokens are not accepted');
  });

  it('says why a Graph token fails, instead of "invalid signature"', async () => {
    const error = await rejection(gateFor().verify(entra.mintToken({ header: { nonce: 'abc' } })));
    expect(error.message).toContain('Microsoft Graph access token');
    expect(error.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('checks the nonce of an ID token from a login', async () => {
    const gate = gateFor();
    const token = entra.mintToken({ claims: { nonce: 'n-123' } });
    await expect(gate.verify(token, { nonce: 'n-123' })).resolves.toMatchObject({ tid: entra.tenantId });
    expect((await rejection(gate.verify(token, { nonce: 'other' }))).code).toBe('ERR_TOKEN_NONCE_MISMATCH');
  });

  it('honours the clock tolerance on both sides', async () => {
    const t = now();
    const gate = gateFor({ clockToleranceSeconds: 30, now: () => t * 1000 });
    await expect(gate.verify(entra.mintToken({ issuedAt: t - 3620, expiresInSeconds: 3600 }))).resolves.toBeTruthy();
    expect((await rejection(gate.verify(entra.mintToken({ issuedAt: t - 3640, expiresInSeconds: 3600 })))).code).toBe('ERR_TOKEN_EXPIRED');
    await expect(gate.verify(entra.mintToken({ issuedAt: t + 20 }))).resolves.toBeTruthy();
  });
});

describe('multi-tenant', () => {
  let multi: MockEntra;
  beforeAll(async () => {
    multi = await createMockEntra({ tenants: [randomUUID(), randomUUID(), randomUUID()] });
  });
  afterAll(async () => {
    await multi.close();
  });

  it('accepts tenants on the allow-list and refuses others', async () => {
    const [home, second, third] = multi.tenants as [string, string, string];
    const gate = createGate({ idp: multi.idpConfig(), authorityHost: multi.url, tenants: [second] });
    expect((await gate.verify(multi.mintToken({ tenant: home }))).tid).toBe(home);
    expect((await gate.verify(multi.mintToken({ tenant: second }))).tid).toBe(second);
    expect((await rejection(gate.verify(multi.mintToken({ tenant: third })))).code).toBe('ERR_TOKEN_TENANT_NOT_ALLOWED');
  });

  it('with "*", checks the {tenantid} issuer template against tid', async () => {
    const [, second, third] = multi.tenants as [string, string, string];
    const gate = createGate({ idp: multi.idpConfig(), authorityHost: multi.url, tenants: '*' });
    expect((await gate.verify(multi.mintToken({ tenant: third }))).tid).toBe(third);
    expect((await gate.verify(multi.mintToken({ tenant: second, version: '1.0' }))).tid).toBe(second);
    // A token whose iss names another tenant than its tid.
    const forged = multi.mintToken({ tenant: third, claims: { iss: multi.issuer('2.0', second) } });
    const error = await rejection(gate.verify(forged));
    expect(error.code).toBe('ERR_TOKEN_ISSUER_INVALID');
  });
});

describe('signing keys', () => {
  it('a flood of 1,000 random kids costs one JWKS fetch', async () => {
    const gate = gateFor();
    await gate.verify(entra.mintToken());
    const before = entra.requests.jwks!;
    const results = await Promise.allSettled(Array.from({ length: 1000 }, () => gate.verify(entra.mintToken({ header: { kid: randomUUID() } }))));
    expect(results.every((r) => r.status === 'rejected' && (r.reason as TokenError).code === 'ERR_TOKEN_KEY_NOT_FOUND')).toBe(true);
    expect(entra.requests.jwks! - before).toBeLessThanOrEqual(1);
  });

  it('concurrent cold requests share one fetch', async () => {
    const gate = gateFor();
    const before = entra.requests.jwks!;
    const tokens = Array.from({ length: 50 }, () => entra.mintToken());
    await Promise.all(tokens.map((t) => gate.verify(t)));
    expect(entra.requests.jwks! - before).toBe(1);
  });

  it('picks up a rotated key after the cooldown, not before', async () => {
    const rotating = await createMockEntra();
    try {
      let clock = Date.now();
      const gate = createGate({ idp: rotating.idpConfig(), authorityHost: rotating.url, now: () => clock, jwks: { cooldownMs: 60_000 } });
      await gate.verify(rotating.mintToken());
      rotating.rotateKeys();
      const fresh = rotating.mintToken({ issuedAt: Math.floor(clock / 1000) });
      // The first fetch was just now: within the cooldown the new kid is unknown.
      expect((await rejection(gate.verify(fresh))).code).toBe('ERR_TOKEN_KEY_NOT_FOUND');
      clock += 61_000;
      const identity = await gate.verify(fresh);
      expect(identity.tid).toBe(rotating.tenantId);
    } finally {
      await rotating.close();
    }
  });

  it('keeps serving cached keys while the JWKS endpoint is down', async () => {
    const gate = gateFor();
    await gate.verify(entra.mintToken());
    entra.faults.down = true;
    try {
      await expect(gate.verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
    } finally {
      entra.faults.down = false;
    }
  });

  it('a cold cache with the endpoint down is an outage (503), not a 401', async () => {
    entra.faults.down = true;
    try {
      const error = await rejection(gateFor().verify(entra.mintToken()));
      expect(error).toBeInstanceOf(JwksError);
      expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
      expect(error.status).toBe(503);
      expect(error.message).toMatch(/signing keys for tenant `[0-9a-f-]+` \(v2.0\) are unavailable: the discovery document answered HTTP 503/);
    } finally {
      entra.faults.down = false;
    }
  });

  it('a refused connection is an outage too, and fails fast during the backoff', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: 'http://127.0.0.1:9', jwks: { timeoutMs: 2_000 } });
    const first = await rejection(gate.verify(entra.mintToken()));
    expect(first.code).toBe('ERR_JWKS_UNAVAILABLE');
    const second = await rejection(gate.verify(entra.mintToken()));
    expect(second.code).toBe('ERR_JWKS_UNAVAILABLE');
  });

  it('times out a slow endpoint', async () => {
    entra.faults.delayMs = 1_500;
    try {
      const error = await rejection(gateFor({ jwks: { timeoutMs: 200 } }).verify(entra.mintToken()));
      expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
      expect(error.message).toContain('timed out');
    } finally {
      entra.faults.delayMs = 0;
    }
  });
});

describe('verified-token cache', () => {
  it('a repeated token costs no second verification, and never outlives exp', async () => {
    let clock = Date.now();
    const gate = gateFor({ now: () => clock, clockToleranceSeconds: 0 });
    const misses: unknown[] = [];
    const listener = (m: unknown) => misses.push(m);
    diagnostics.subscribe('entragate:token:cache-miss', listener);
    try {
      const token = entra.mintToken({ issuedAt: Math.floor(clock / 1000), expiresInSeconds: 600 });
      const a = await gate.verify(token);
      const b = await gate.verify(token);
      expect(b).toBe(a);
      expect(misses).toHaveLength(1);
      clock += 601_000;
      expect((await rejection(gate.verify(token))).code).toBe('ERR_TOKEN_EXPIRED');
      expect(misses).toHaveLength(2);
    } finally {
      diagnostics.unsubscribe('entragate:token:cache-miss', listener);
    }
  });

  it('a token sharing a cached token tail is verified in full, not served from the cache', async () => {
    const gate = gateFor();
    const token = entra.mintToken();
    await gate.verify(token);
    // Same signature (so the same cache key), different payload.
    const error = await rejection(gate.verify(tamper(token)));
    expect(error.code).toBe('ERR_TOKEN_SIGNATURE_INVALID');
    await expect(gate.verify(token)).resolves.toMatchObject({ tid: entra.tenantId });
  });

  it('a nonce check bypasses the cache', async () => {
    const gate = gateFor();
    const token = entra.mintToken({ claims: { nonce: 'a' } });
    await gate.verify(token);
    expect((await rejection(gate.verify(token, { nonce: 'b' }))).code).toBe('ERR_TOKEN_NONCE_MISMATCH');
  });
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function claims(): Record<string, unknown> {
  const t = now();
  return { aud: entra.clientId, iss: entra.issuer('2.0'), tid: entra.tenantId, sub: 'a-pairwise-subject', iat: t, nbf: t, exp: t + 600, ver: '2.0' };
}

function hs256WithPublicKey(): string {
  // The classic key-confusion attack: an HMAC keyed with the RSA public key.
  const secret = entra.currentKey.publicKey.export({ format: 'pem', type: 'spki' });
  const input = `${base64urlJson({ alg: 'HS256', typ: 'JWT', kid: entra.currentKey.kid })}.${base64urlJson(claims())}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function tamper(token: string): string {
  const [h, , s] = token.split('.');
  return `${h}.${base64urlJson({ ...claims(), oid: randomUUID() })}.${s}`;
}

// Keeps signJwt in the public testing API exercised.
it('signJwt produces a token the gate verifies', async () => {
  const t = now();
  const token = signJwt({ alg: 'RS256', kid: entra.currentKey.kid }, claims(), entra.currentKey.privateKey);
  expect((await gateFor().verify(token)).iat).toBe(t);
});
