import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { createGate, EntragateError, type GateOptions } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { TOKEN_REJECTED_CHANNEL } from '../../src/token/rejected.js';

// A 401's `error_description` is the error's message, and the caller is not authenticated: it
// must not name what this gate expects — its issuer, home tenant, accepted audiences, versions,
// size cap, key set (issue 12 #14). That detail goes to the `entragate:token:rejected` channel.

let entra: MockEntra;
const SECRET_AUDIENCE = 'https://api.secret-audience.example';
const EXTRA_TENANT = randomUUID();
beforeAll(async () => {
  entra = await createMockEntra({ tenants: [randomUUID(), EXTRA_TENANT] });
});
afterAll(async () => {
  await entra.close();
});

const gateFor = (overrides: Partial<GateOptions> = {}) =>
  createGate({
    idp: entra.idpConfig(),
    authorityHost: entra.url,
    audiences: [SECRET_AUDIENCE],
    tenants: [EXTRA_TENANT],
    maxTokenBytes: 12_345,
    tokenVersions: ['2.0'],
    ...overrides,
  });

/** What a caller must never read in a refusal of a token that does not itself carry it. */
function configuration(): string[] {
  return [
    entra.tenantId,
    EXTRA_TENANT,
    entra.url,
    entra.url.replace('http://', ''),
    entra.clientId,
    SECRET_AUDIENCE,
    '12345',
    '12,345',
    'organizations',
    'common',
    'v2.0',
    'allowAppTokens',
  ];
}

async function refusal(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

describe('401 messages name no configuration', () => {
  // Each token carries no configured value itself (another tenant's tid, a foreign issuer, …), so
  // whatever configuration shows in the message came from the gate.
  const foreign = randomUUID();
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    [
      'an issuer that is not the expected one',
      () => gateFor().verify(entra.mintToken({ claims: { iss: `https://sts.evil.example/${foreign}/` } })),
      'ERR_TOKEN_ISSUER_INVALID',
    ],
    [
      'a tenant that is not allowed',
      () => gateFor().verify(entra.mintToken({ claims: { tid: foreign, iss: `https://sts.evil.example/${foreign}/v2.0` } })),
      'ERR_TOKEN_TENANT_NOT_ALLOWED',
    ],
    ['an audience that is not accepted', () => gateFor().verify(entra.mintToken({ audience: 'https://other.example' })), 'ERR_TOKEN_AUDIENCE_INVALID'],
    [
      'a token version that is not accepted',
      () => gateFor().verify(entra.mintToken({ version: '1.0', claims: { tid: foreign, iss: `https://sts.evil.example/${foreign}/` } })),
      'ERR_TOKEN_VERSION_NOT_ALLOWED',
    ],
    ['a token over the size cap', () => gateFor().verify(entra.mintToken({ claims: { pad: 'x'.repeat(13_000) } })), 'ERR_TOKEN_TOO_LARGE'],
    [
      'an unknown kid at a multi-tenant gate',
      () =>
        gateFor({ tenants: '*' }).verify(
          entra.mintToken({
            key: entra.createUnpublishedKey(),
            tenant: EXTRA_TENANT,
            claims: { tid: foreign, iss: `https://sts.evil.example/${foreign}/v2.0` },
          }),
        ),
      'ERR_TOKEN_KEY_NOT_FOUND',
    ],
    [
      'an app-only token',
      () => {
        const sp = randomUUID();
        return gateFor().verify(entra.mintToken({ claims: { oid: sp, sub: sp, azp: randomUUID(), roles: ['Read.All'], scp: undefined } }));
      },
      'ERR_TOKEN_CLAIM_INVALID',
    ],
  ];
  for (const [name, attempt, code] of cases) {
    it(`${name}: ${code}, with no configured value in the message or the challenge`, async () => {
      const error = await refusal(attempt());
      expect(error.code).toBe(code);
      expect(error.status).toBe(401);
      const challenge = error.headers['WWW-Authenticate'] ?? '';
      expect(challenge).toContain('error="invalid_token"');
      for (const value of configuration()) {
        // Only where the token did not carry the value itself (the audience case names the client id nowhere).
        expect(error.message).not.toContain(value);
        expect(challenge).not.toContain(value);
      }
    });
  }

  it("a signing key of another issuer: the key's issuer is not named either", async () => {
    const keyIssuer = `https://login.evil.example/${foreign}/keys`;
    const key = entra.publishKey({ issuer: keyIssuer });
    // The token names the expected issuer itself (so the message may quote it); the key's is the gate's knowledge.
    const error = await refusal(gateFor().verify(entra.mintToken({ key })));
    expect(error.code).toBe('ERR_TOKEN_ISSUER_INVALID');
    expect(error.message).toBe(`the token issuer \`${entra.issuer('2.0')}\` is not the issuer of its signing key`);
    expect(error.message).not.toContain(keyIssuer);
    expect(error.headers['WWW-Authenticate']).not.toContain(keyIssuer);
  });

  it('the positive control: the same gate accepts a good token of each allowed tenant', async () => {
    await expect(gateFor().verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
    await expect(gateFor().verify(entra.mintToken({ tenant: EXTRA_TENANT, audience: SECRET_AUDIENCE }))).resolves.toMatchObject({ tid: EXTRA_TENANT });
  });
});

describe('the entragate:token:rejected channel', () => {
  it('carries the code, the message and what the gate expected, and never the token', async () => {
    const seen: Array<{ code: string; message: string; detail?: Record<string, unknown> }> = [];
    const listener = (m: unknown) => seen.push(m as (typeof seen)[number]);
    diagnostics.subscribe(TOKEN_REJECTED_CHANNEL, listener);
    try {
      const wrongIssuer = entra.mintToken({ claims: { iss: 'https://sts.evil.example/x/v2.0' } });
      const tooLarge = entra.mintToken({ claims: { pad: 'x'.repeat(13_000) } });
      const v1 = entra.mintToken({ version: '1.0' });
      const unknownKid = entra.mintToken({ key: entra.createUnpublishedKey() });
      for (const token of [wrongIssuer, tooLarge, v1, unknownKid]) await refusal(gateFor().verify(token));
      await refusal(gateFor().verify('not-a-token'));
      expect(seen.map((m) => m.code)).toEqual([
        'ERR_TOKEN_ISSUER_INVALID',
        'ERR_TOKEN_TOO_LARGE',
        'ERR_TOKEN_VERSION_NOT_ALLOWED',
        'ERR_TOKEN_KEY_NOT_FOUND',
        'ERR_TOKEN_MALFORMED',
      ]);
      expect(seen[0]).toEqual({
        code: 'ERR_TOKEN_ISSUER_INVALID',
        message: 'the token issuer `https://sts.evil.example/x/v2.0` is not accepted',
        detail: { expected: entra.issuer('2.0') },
      });
      expect(seen[1]!.detail).toEqual({ maxTokenBytes: 12_345 });
      expect(seen[2]!.detail).toEqual({ accepted: ['2.0'] });
      expect(seen[3]!.detail).toEqual({ keySet: entra.tenantId, ver: '2.0' });
      const published = JSON.stringify(seen);
      for (const token of [wrongIssuer, tooLarge, v1, unknownKid]) {
        expect(published).not.toContain(token);
        expect(published).not.toContain(token.split('.')[2]!);
      }
    } finally {
      diagnostics.unsubscribe(TOKEN_REJECTED_CHANNEL, listener);
    }
  });
});
