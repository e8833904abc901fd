import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { ACCESS_ASSERTION, ConfigError, createAccessVerifier, type AccessVerifierOptions } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';
import { expectRefused, rejection } from './helpers.js';

// Cloudflare's "Validate JWTs" and "Application token" references: RS256 with a `kid` from the team's
// certs, `iss` the team domain, `aud` holding the application's AUD tag, `type: "app"`. Every hostile
// assertion below is refused with a code, beside a legitimate one that the same verifier accepts.

let cf: MockCloudflare;
let other: MockCloudflare;
beforeAll(async () => {
  [cf, other] = await Promise.all([createMockCloudflare(), createMockCloudflare()]);
});
afterAll(async () => {
  await Promise.all([cf.close(), other.close()]);
});

const verifierFor = (overrides: Partial<AccessVerifierOptions> = {}) =>
  createAccessVerifier({ ...cf.accessConfig(), failureBackoffMs: 0, cooldownMs: 0, ...overrides });

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A compact JWS with these parts, signed by `signer` over the signing input (or with an empty signature). */
function craft(header: Record<string, unknown>, payload: Record<string, unknown>, signer?: (input: string) => string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer === undefined ? '' : signer(input)}`;
}
const rs256 = (input: string): string => sign('RSA-SHA256', Buffer.from(input), cf.currentKey.privateKey).toString('base64url');
function payload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000);
  return {
    aud: [cf.aud],
    email: 'ada@example.com',
    exp: iat + 600,
    iat,
    nbf: iat,
    iss: cf.teamDomain,
    type: 'app',
    identity_nonce: 'n0nce',
    sub: 'c0ffee00-0000-4000-8000-000000000001',
    country: 'US',
    ...overrides,
  };
}

describe('a legitimate application token', () => {
  it('verifies into an identity shaped like the rest, with the nonce and the country', async () => {
    const token = cf.mintAppToken({ email: 'ada@example.com', sub: '7335d417-61da-459d-899c-0a01c76a2f94', identity_nonce: '6ei69kawdKzMIAPF', country: 'PT' });
    const result = await verifierFor().verify(token);
    expect(result.kind).toBe('user');
    if (result.kind !== 'user') return;
    expect(result.identity).toMatchObject({
      email: 'ada@example.com',
      user_uuid: '7335d417-61da-459d-899c-0a01c76a2f94',
      sub: '7335d417-61da-459d-899c-0a01c76a2f94',
      idp: { id: 'azureAD', type: 'azureAD' },
      oid: '',
      tid: '',
      groups: [],
      membership: { state: 'absent' },
      identity_nonce: '6ei69kawdKzMIAPF',
      country: 'PT',
    });
    expect(result.identity.exp - result.identity.iat).toBe(3600);
    expect(Object.isFrozen(result.identity)).toBe(true);
    expect(Object.isFrozen(result.claims)).toBe(true);
    expect(result.claims.email).toBe('ada@example.com');
  });

  it('carries the assertion on its claims under a hidden symbol: never in JSON, keys or a spread copy', async () => {
    const token = cf.mintAppToken();
    const { claims } = await verifierFor().verify(token);
    expect((claims as Record<PropertyKey, unknown>)[ACCESS_ASSERTION]).toBe(token);
    expect(JSON.stringify(claims)).not.toContain(token.slice(-20));
    expect(Object.keys(claims)).not.toContain(String(ACCESS_ASSERTION));
    expect(({ ...claims } as Record<PropertyKey, unknown>)[ACCESS_ASSERTION]).toBeUndefined();
  });

  it('accepts any of several configured AUD tags, and an `aud` given as one string (RFC 7519 §4.1.3)', async () => {
    const v = verifierFor({ aud: ['another-app', cf.aud] });
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
    await expect(verifierFor().verify(cf.mintAppToken({ claims: { aud: cf.aud } }))).resolves.toMatchObject({ kind: 'user' });
  });

  it('accepts the team domain as a host or a team name for https teams, and refuses a path, a query or plain http', () => {
    expect(createAccessVerifier({ teamDomain: 'contoso', aud: 'x' }).teamDomain).toBe('https://contoso.cloudflareaccess.com');
    expect(createAccessVerifier({ teamDomain: 'Contoso.cloudflareaccess.com', aud: 'x' }).teamDomain).toBe('https://contoso.cloudflareaccess.com');
    expect(createAccessVerifier({ teamDomain: 'https://contoso.cloudflareaccess.com/', aud: 'x' }).teamDomain).toBe('https://contoso.cloudflareaccess.com');
    expect(createAccessVerifier({ teamDomain: cf.teamDomain, aud: 'x' }).teamDomain).toBe(cf.teamDomain);
    for (const teamDomain of [
      'http://contoso.cloudflareaccess.com',
      'https://contoso.cloudflareaccess.com/cdn-cgi',
      'https://contoso.cloudflareaccess.com?x=1',
      'https://u:p@contoso.cloudflareaccess.com',
      'not a domain',
      '',
    ]) {
      expect(() => createAccessVerifier({ teamDomain, aud: 'x' })).toThrow(ConfigError);
    }
    expect(() => createAccessVerifier({ teamDomain: 'contoso', aud: [] })).toThrow(/invalid cloudflare access verifier configuration/);
    expect(() => createAccessVerifier({ teamDomain: 'contoso', aud: 'x', unknown: 1 } as never)).toThrow(ConfigError);
  });

  it('maps the custom claims to `oidc_fields`, the Entra object id from `oidClaim`, and `tid` from `tenantId`', async () => {
    const oid = '86773093-5FEB-48dd-814b-7ccd3676ff50';
    const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const token = cf.mintAppToken({ custom: { oid, department: 'finance' } });
    const plain = await verifierFor().verify(token);
    expect(plain.kind === 'user' && plain.identity).toMatchObject({ oid: '', tid: '', oidc_fields: { oid, department: 'finance' } });
    const mapped = await verifierFor({ oidClaim: 'oid', tenantId, idpId: cf.idpId }).verify(token);
    expect(mapped.kind === 'user' && mapped.identity).toMatchObject({ oid: oid.toLowerCase(), tid: tenantId, idp: { id: cf.idpId } });
    // A custom claim that is not a GUID is no object id.
    const bogus = await verifierFor({ oidClaim: 'oid' }).verify(cf.mintAppToken({ custom: { oid: 'admin' } }));
    expect(bogus.kind === 'user' && bogus.identity.oid).toBe('');
  });
});

describe('service-token assertions', () => {
  it('are a service token, never a user', async () => {
    const result = await verifierFor().verify(cf.mintServiceToken({ commonName: 'e367826f93b8d71185e03fe518aff3b4.access' }));
    expect(result).toMatchObject({ kind: 'service', commonName: 'e367826f93b8d71185e03fe518aff3b4.access' });
    expect('identity' in result).toBe(false);
  });

  it('naming both a user and a service token, or neither, is refused', async () => {
    const v = verifierFor();
    const both = cf.mintServiceToken({ claims: { sub: 'c0ffee00-0000-4000-8000-000000000001' } });
    expectRefused(await rejection(v.verify(both)), 'ERR_ACCESS_ASSERTION_INVALID', both);
    const neither = cf.mintAppToken({ claims: { sub: '' } });
    expectRefused(await rejection(v.verify(neither)), 'ERR_ACCESS_ASSERTION_INVALID', neither);
    const noSub = cf.mintAppToken({ claims: { sub: undefined } });
    expectRefused(await rejection(v.verify(noSub)), 'ERR_ACCESS_ASSERTION_INVALID', noSub);
    const typed = cf.mintServiceToken({ claims: { common_name: 42 } });
    expectRefused(await rejection(v.verify(typed)), 'ERR_TOKEN_CLAIM_INVALID', typed);
    // The positive control, the same verifier.
    await expect(v.verify(cf.mintServiceToken())).resolves.toMatchObject({ kind: 'service' });
  });
});

describe('hostile assertions', () => {
  it('signed by another team: its key is not ours, whatever the claims say', async () => {
    const v = verifierFor();
    const theirs = other.mintAppToken({ aud: cf.aud });
    expectRefused(await rejection(v.verify(theirs)), 'ERR_TOKEN_KEY_NOT_FOUND', theirs);
    // Another team's key with our issuer: still their kid, not ours.
    const spoofed = other.mintAppToken({ aud: cf.aud, claims: { iss: cf.teamDomain } });
    expectRefused(await rejection(v.verify(spoofed)), 'ERR_TOKEN_KEY_NOT_FOUND', spoofed);
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('with the right kid but another key', async () => {
    const v = verifierFor();
    const impostor = { ...cf.currentKey, privateKey: cf.createUnpublishedKey().privateKey };
    const forged = cf.mintAppToken({ key: impostor });
    expectRefused(await rejection(v.verify(forged)), 'ERR_TOKEN_SIGNATURE_INVALID', forged);
    // Another team's key under our kid.
    const theirs = other.mintAppToken({ aud: cf.aud, claims: { iss: cf.teamDomain }, header: { kid: cf.currentKey.kid } });
    expectRefused(await rejection(v.verify(theirs)), 'ERR_TOKEN_SIGNATURE_INVALID', theirs);
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('with our key but another issuer, exactly: no other team, no trailing slash, no other scheme', async () => {
    const v = verifierFor();
    for (const iss of [other.teamDomain, `${cf.teamDomain}/`, cf.teamDomain.replace('http:', 'https:'), cf.teamDomain.toUpperCase(), undefined]) {
      const token = cf.mintAppToken({ claims: { iss } });
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_ISSUER_INVALID', token);
    }
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('for another application (aud)', async () => {
    const v = verifierFor();
    for (const aud of [['4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2'], [], 'another-app', [42], undefined, { [cf.aud]: true }]) {
      const token = cf.mintAppToken({ claims: { aud } });
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_AUDIENCE_INVALID', token);
    }
    // A service token for another application is refused as well.
    const service = cf.mintServiceToken({ aud: 'another-app' });
    expectRefused(await rejection(v.verify(service)), 'ERR_TOKEN_AUDIENCE_INVALID', service);
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('a global session token (`type: "org"`), or no `type`, is not an application token', async () => {
    const v = verifierFor();
    const org = cf.mintAppToken({ type: 'org' });
    const error = await rejection(v.verify(org));
    expectRefused(error, 'ERR_ACCESS_ASSERTION_INVALID', org);
    expect(error.message).toContain('`type: "org"`');
    for (const type of [undefined, 'App', 'application', 1]) {
      const token = cf.mintAppToken({ claims: { type } });
      expectRefused(await rejection(v.verify(token)), 'ERR_ACCESS_ASSERTION_INVALID', token);
    }
    await expect(v.verify(cf.mintAppToken({ type: 'app' }))).resolves.toMatchObject({ kind: 'user' });
  });

  it('`alg` other than RS256: none, HS256 keyed with the public key, ES256, RS512, PS256', async () => {
    const v = verifierFor();
    const kid = cf.currentKey.kid;
    const pem = cf.currentKey.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const jwk = JSON.stringify(cf.currentKey.publicKey.export({ format: 'jwk' }));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tokens = [
      craft({ alg: 'none', kid }, payload(), () => 'AA'),
      craft({ alg: 'HS256', kid }, payload(), (input) => createHmac('sha256', pem).update(input).digest('base64url')),
      craft({ alg: 'HS256', kid }, payload(), (input) => createHmac('sha256', jwk).update(input).digest('base64url')),
      craft({ alg: 'ES256', kid }, payload(), (input) =>
        sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
      ),
      craft({ alg: 'RS512', kid }, payload(), (input) => sign('RSA-SHA512', Buffer.from(input), cf.currentKey.privateKey).toString('base64url')),
      craft({ alg: 'PS256', kid }, payload(), rs256),
      craft({ alg: 'rs256', kid }, payload(), rs256),
      craft({ kid }, payload(), rs256),
    ];
    for (const token of tokens) expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_ALG_NOT_ALLOWED', token);
    // `none` without a signature does not even parse.
    const bare = craft({ alg: 'none', kid }, payload());
    expectRefused(await rejection(v.verify(bare)), 'ERR_TOKEN_MALFORMED', bare);
    // The same crafting, with RS256 and our key: accepted.
    await expect(v.verify(craft({ alg: 'RS256', kid, typ: 'JWT' }, payload(), rs256))).resolves.toMatchObject({ kind: 'user' });
  });

  it('header parameters that point elsewhere for a key, or a missing kid', async () => {
    const v = verifierFor();
    const kid = cf.currentKey.kid;
    for (const extra of [
      { jku: `${other.teamDomain}/cdn-cgi/access/certs` },
      { x5u: 'https://attacker.example/cert.pem' },
      { jwk: other.currentKey.publicKey.export({ format: 'jwk' }) },
      { crit: ['exp'] },
    ]) {
      const token = craft({ alg: 'RS256', kid, ...extra }, payload(), rs256);
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_HEADER_UNSUPPORTED', token);
    }
    for (const header of [{ alg: 'RS256' }, { alg: 'RS256', kid: '' }, { alg: 'RS256', kid: 7 }]) {
      const token = craft(header, payload(), rs256);
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MALFORMED', token);
    }
  });

  it('expired, not yet valid, or issued in the future, beyond the clock tolerance', async () => {
    const t0 = 1_800_000_000;
    const at = (seconds: number) => verifierFor({ now: () => seconds * 1000, clockToleranceSeconds: 60 });
    const token = cf.mintAppToken({ issuedAt: t0, expiresInSeconds: 600 });
    // Within the tolerance on both sides: accepted (the positive controls).
    await expect(at(t0 + 600 + 59).verify(token)).resolves.toMatchObject({ kind: 'user' });
    await expect(at(t0 - 59).verify(token)).resolves.toMatchObject({ kind: 'user' });
    expectRefused(await rejection(at(t0 + 600 + 60).verify(token)), 'ERR_TOKEN_EXPIRED', token);
    expectRefused(await rejection(at(t0 - 61).verify(token)), 'ERR_TOKEN_NOT_YET_VALID', token);
    // `nbf` later than `iat`, and `iat` in the future with no `nbf`.
    const later = cf.mintAppToken({ issuedAt: t0, claims: { nbf: t0 + 300 } });
    expectRefused(await rejection(at(t0 + 100).verify(later)), 'ERR_TOKEN_NOT_YET_VALID', later);
    const future = cf.mintServiceToken({ issuedAt: t0 + 300 });
    expectRefused(await rejection(at(t0).verify(future)), 'ERR_TOKEN_NOT_YET_VALID', future);
    // Service tokens have no `nbf` (Cloudflare's example): accepted without one.
    await expect(at(t0).verify(cf.mintServiceToken({ issuedAt: t0 }))).resolves.toMatchObject({ kind: 'service' });
    // Lifetimes of the wrong type.
    for (const claims of [{ exp: undefined }, { exp: '9999999999' }, { iat: undefined }, { nbf: 'now' }, { exp: Number.MAX_VALUE * 2 }]) {
      const bad = cf.mintAppToken({ issuedAt: t0, claims });
      expectRefused(await rejection(at(t0).verify(bad)), 'ERR_TOKEN_CLAIM_INVALID', bad);
    }
    // A tolerance of 0 is exact.
    expectRefused(await rejection(verifierFor({ now: () => (t0 + 600) * 1000, clockToleranceSeconds: 0 }).verify(token)), 'ERR_TOKEN_EXPIRED', token);
  });

  it('claims of the wrong type are refused, not coerced', async () => {
    const v = verifierFor();
    for (const claims of [{ email: ['ada@example.com'] }, { identity_nonce: 7 }, { country: { code: 'US' } }, { sub: 12 }]) {
      const token = cf.mintAppToken({ claims });
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_CLAIM_INVALID', token);
    }
  });

  it('over the size cap, refused before any parsing', async () => {
    const v = verifierFor({ maxTokenBytes: 2048 });
    const token = cf.mintAppToken({ claims: { padding: 'x'.repeat(2048) } });
    expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_TOO_LARGE', token);
    expectRefused(await rejection(v.verify('a'.repeat(5000))), 'ERR_TOKEN_TOO_LARGE');
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('malformed base64url or JSON', async () => {
    const v = verifierFor();
    const good = cf.mintAppToken();
    const [h, p, s] = good.split('.') as [string, string, string];
    const malformed = [
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `.${p}.${s}`,
      `${h}..${s}`,
      `${h}.${p}.`,
      `${h}.${p}.${s}=`,
      `${h}.${p.slice(0, 10)}+${p.slice(11)}.${s}`,
      `${h}.${p.slice(0, 10)}*${p.slice(11)}.${s}`,
      `${h}.${p} .${s}`,
      `${h}.${p.slice(0, -1)}\u00e9.${s}`,
      // The same signature bytes re-spelt: unused low bits of the last character set.
      `${h}.${p}.${s.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(s.slice(-1)) | 1]}`,
      `${b64('not json')}.${p}.${s}`,
      `${h}.${b64('{"sub":')}.${s}`,
      `${h}.${b64('[1,2]')}.${s}`,
      `${b64('null')}.${p}.${s}`,
      `${h}.${b64('"app"')}.${s}`,
    ];
    for (const token of malformed) expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MALFORMED', token);
    for (const token of [undefined, '', 42, null, { token: good }]) expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MISSING');
    // A missing assertion gets the bare challenge (RFC 6750 §3.1).
    expect((await rejection(v.verify(''))).headers['WWW-Authenticate']).toBe('Bearer realm="entragate"');
    await expect(v.verify(good)).resolves.toMatchObject({ kind: 'user' });
  });
});

describe('the verified-assertion cache', () => {
  it('answers a repeated assertion with the same result, and never past its exp', async () => {
    const t0 = 1_800_000_000;
    let now = t0 * 1000;
    const v = verifierFor({ now: () => now, clockToleranceSeconds: 60 });
    const token = cf.mintAppToken({ issuedAt: t0, expiresInSeconds: 600 });
    const first = await v.verify(token);
    expect(await v.verify(token)).toBe(first);
    // Past `exp` but within the tolerance: verified afresh (a new object), still accepted.
    now = (t0 + 600 + 30) * 1000;
    const again = await v.verify(token);
    expect(again).not.toBe(first);
    expect(again.kind).toBe('user');
    now = (t0 + 600 + 60) * 1000;
    expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_EXPIRED', token);
  });

  it('a cache hit needs the whole assertion, not only the tail it is keyed by', async () => {
    const v = verifierFor();
    const token = cf.mintAppToken();
    await v.verify(token);
    const [h, , s] = token.split('.') as [string, string, string];
    const swapped = `${h}.${b64(payload({ email: 'mallory@example.com' }))}.${s}`;
    expectRefused(await rejection(v.verify(swapped)), 'ERR_TOKEN_SIGNATURE_INVALID', swapped);
  });

  it('with `cacheMax: 0`, every verification checks the signature again', async () => {
    const v = verifierFor({ cacheMax: 0 });
    const token = cf.mintAppToken();
    const first = await v.verify(token);
    expect(await v.verify(token)).not.toBe(first);
  });
});
