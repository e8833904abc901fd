/**
 * Tests that kill the mutants a StrykerJS run (issue 12, `npm run mutate`) left alive in `src/token/`: each
 * guards one check at its boundary, beside the token that passes it (see docs/mutation.md).
 */

import { randomUUID, sign } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGate, EntragateError, type GateOptions } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

const T = 1_900_000_000;
const gateAt = (overrides: Partial<GateOptions> = {}) =>
  createGate({ idp: entra.idpConfig(), authorityHost: entra.url, now: () => T * 1000, tokenCache: false, ...overrides });

async function refusal(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

/** Signs a payload given as JSON text (so that it can hold what `JSON.stringify` cannot write, such as `1e400`). */
function signText(payload: string): string {
  const b64 = (text: string): string => Buffer.from(text).toString('base64url');
  const input = `${b64(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: entra.currentKey.kid }))}.${b64(payload)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), entra.currentKey.privateKey).toString('base64url')}`;
}

/** A valid v2 payload as JSON text, with `lifetime` (raw JSON members) in place of iat, nbf and exp. */
function payloadWith(lifetime: { iat?: string; nbf?: string; exp?: string }): string {
  const members = {
    aud: JSON.stringify(entra.clientId),
    iss: JSON.stringify(entra.issuer('2.0')),
    tid: JSON.stringify(entra.tenantId),
    sub: '"pairwise-sub"',
    oid: JSON.stringify(randomUUID()),
    ver: '"2.0"',
    iat: String(T - 10),
    nbf: String(T - 10),
    exp: String(T + 600),
    ...lifetime,
  };
  return `{${Object.entries(members)
    .map(([name, value]) => `"${name}":${value}`)
    .join(',')}}`;
}

describe('lifetime claims that JSON reads as infinite numbers (`1e400` parses to Infinity)', () => {
  it('the finite lifetime passes (the positive control)', async () => {
    await expect(gateAt().verify(signText(payloadWith({})))).resolves.toMatchObject({ exp: T + 600, iat: T - 10 });
  });

  it('exp: 1e400 (a token that never expires) is refused as an invalid claim', async () => {
    const error = await refusal(gateAt().verify(signText(payloadWith({ exp: '1e400' }))));
    expect(error.code).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(error.message).toBe('the token has no numeric `exp` claim');
  });

  it('nbf: -1e400 is refused as an invalid claim, not read as "valid since ever"', async () => {
    const error = await refusal(gateAt().verify(signText(payloadWith({ nbf: '-1e400' }))));
    expect(error.code).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(error.message).toBe('the token `nbf` claim is not a number');
  });

  it('iat: -1e400 is refused as an invalid claim, not read as "issued long ago"', async () => {
    const error = await refusal(gateAt().verify(signText(payloadWith({ iat: '-1e400' }))));
    expect(error.code).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(error.message).toBe('the token has no numeric `iat` claim');
  });
});

describe('claims the verifier reads only when asked', () => {
  it('a bearer token carrying a `nonce` claim verifies without a nonce option: only a login checks it', async () => {
    const token = entra.mintToken({ issuedAt: T - 10, claims: { nonce: 'from-a-login' } });
    await expect(gateAt().verify(token)).resolves.toMatchObject({ tid: entra.tenantId });
    // The same token against a login's nonce is checked (the negative control).
    expect((await refusal(gateAt().verify(token, { nonce: 'another-login' }))).code).toBe('ERR_TOKEN_NONCE_MISMATCH');
  });

  it('an allowed tenant written in upper case is the same tenant (GUIDs compare without case); another tenant is not', async () => {
    const upper = entra.tenantId.toUpperCase();
    const identity = await gateAt().verify(entra.mintToken({ issuedAt: T - 10, claims: { tid: upper } }));
    expect(identity.tid).toBe(upper);
    const foreign = randomUUID().toUpperCase();
    expect((await refusal(gateAt().verify(entra.mintToken({ issuedAt: T - 10, claims: { tid: foreign } })))).code).toBe('ERR_TOKEN_TENANT_NOT_ALLOWED');
  });
});

describe('the per-key issuer: the v1 allowance is for v1 tokens only', () => {
  // An External ID (CIAM) tenant: discovery, the key set and tokens name the ciamlogin.com issuer, while
  // the gate's authority host is the mock's. A key whose own issuer is `<authority host>/<tid>/v2.0` is
  // what a v1 token of the tenant may be signed with; a v2 token must name its key's issuer exactly.
  let ciam: MockEntra;
  beforeAll(async () => {
    ciam = await createMockEntra({ v2Issuer: (tid) => `https://${tid}.ciamlogin.com/${tid}/v2.0` });
  });
  afterAll(async () => {
    await ciam.close();
  });
  const gate = () => createGate({ idp: ciam.idpConfig(), authorityHost: ciam.url, tokenCache: false });

  it('a v2 token signed with a key of the v2 issuer its discovery names passes (the positive control)', async () => {
    await expect(gate().verify(ciam.mintToken())).resolves.toMatchObject({ tid: ciam.tenantId, ver: '2.0' });
  });

  it('a v2 token signed with a key that names the authority host issuer instead is refused', async () => {
    const hostKey = ciam.publishKey({ issuer: `${ciam.url}/${ciam.tenantId}/v2.0` });
    const error = await refusal(gate().verify(ciam.mintToken({ key: hostKey })));
    expect(error.code).toBe('ERR_TOKEN_ISSUER_INVALID');
    expect(error.message).toContain('is not the issuer of its signing key');
  });
});

describe('what a refusal says', () => {
  it('a token not yet valid names the instant it becomes valid, and one issued in the future the instant it was issued', async () => {
    const nbf = T + 120;
    const early = await refusal(gateAt().verify(signText(payloadWith({ nbf: String(nbf) }))));
    expect(early.code).toBe('ERR_TOKEN_NOT_YET_VALID');
    expect(early.message).toBe(`the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
    const future = await refusal(gateAt().verify(signText(payloadWith({ iat: String(nbf) }))));
    expect(future.code).toBe('ERR_TOKEN_NOT_YET_VALID');
    expect(future.message).toBe(`the token was issued in the future (${new Date(nbf * 1000).toISOString()})`);
  });

  it('an app-only token refused tells the diagnostics channel that allowAppTokens is off; with it on, the token passes', async () => {
    const seen: unknown[] = [];
    const listen = (message: unknown) => {
      seen.push(message);
    };
    diagnostics.subscribe('entragate:token:rejected', listen);
    try {
      const appOnly = entra.mintToken({ issuedAt: T - 10, claims: { idtyp: 'app', scp: undefined } });
      const error = await refusal(gateAt().verify(appOnly));
      expect(error.code).toBe('ERR_TOKEN_CLAIM_INVALID');
      expect(seen).toEqual([{ code: 'ERR_TOKEN_CLAIM_INVALID', message: 'an app-only token carries no user', detail: { allowAppTokens: false } }]);
      await expect(gateAt({ allowAppTokens: true }).verify(appOnly)).resolves.toMatchObject({ tid: entra.tenantId });
    } finally {
      diagnostics.unsubscribe('entragate:token:rejected', listen);
    }
  });

  it('a token under a key of another issuer tells the diagnostics channel the key and its issuer, never the caller', async () => {
    const issuer = `${entra.url}/${randomUUID()}/v2.0`;
    const foreign = entra.publishKey({ issuer });
    const seen: unknown[] = [];
    const listen = (message: unknown) => {
      seen.push(message);
    };
    diagnostics.subscribe('entragate:token:rejected', listen);
    try {
      const error = await refusal(gateAt().verify(entra.mintToken({ issuedAt: T - 10, key: foreign })));
      expect(error.code).toBe('ERR_TOKEN_ISSUER_INVALID');
      expect(error.message).not.toContain(foreign.kid);
      expect(seen).toContainEqual(expect.objectContaining({ code: 'ERR_TOKEN_ISSUER_INVALID', detail: { kid: foreign.kid, keyIssuer: issuer } }));
      await expect(gateAt().verify(entra.mintToken({ issuedAt: T - 10 }))).resolves.toMatchObject({ tid: entra.tenantId });
    } finally {
      diagnostics.unsubscribe('entragate:token:rejected', listen);
    }
  });
});
