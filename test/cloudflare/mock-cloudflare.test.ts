import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { createAccessVerifier } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';

// The mock team domain of `entragate/testing`: the shapes Cloudflare documents, so that users can test
// this mode without Cloudflare.

let cf: MockCloudflare;
beforeAll(async () => {
  cf = await createMockCloudflare();
});
afterAll(async () => {
  await cf.close();
});

const get = async (path: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${cf.teamDomain}${path}`, { headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('createMockCloudflare', () => {
  it('listens on loopback over http, which the verifier accepts for a loopback team domain only', () => {
    expect(cf.teamDomain).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(createAccessVerifier(cf.accessConfig()).teamDomain).toBe(cf.teamDomain);
    expect(cf.aud).toMatch(/^[0-9a-f]{64}$/);
  });

  it('serves the certs as Cloudflare does: `keys` (JWK), `public_cert` (the current key) and `public_certs`, as real certificates', async () => {
    const { status, body } = await get('/cdn-cgi/access/certs');
    expect(status).toBe(200);
    const keys = body.keys as Array<Record<string, unknown>>;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kid: cf.currentKey.kid, kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(cf.currentKey.kid).toMatch(/^[0-9a-f]{64}$/);
    const current = body.public_cert as { kid: string; cert: string };
    expect(current.kid).toBe(cf.currentKey.kid);
    const x509 = new X509Certificate(current.cert);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.publicKey.export({ format: 'jwk' })).toEqual(createPublicKey({ key: keys[0] as never, format: 'jwk' }).export({ format: 'jwk' }));
    expect(body.public_certs).toEqual([current]);
  });

  it('rotates with an overlap: two keys published, then the previous one retired', async () => {
    const team = await createMockCloudflare();
    try {
      const first = team.currentKey;
      const second = team.rotateKeys();
      let { body } = await fetch(`${team.teamDomain}/cdn-cgi/access/certs`).then(async (r) => ({ body: (await r.json()) as Record<string, unknown> }));
      expect((body.keys as Array<{ kid: string }>).map((k) => k.kid)).toEqual([second.kid, first.kid]);
      expect((body.public_cert as { kid: string }).kid).toBe(second.kid);
      const third = team.rotateKeys();
      ({ body } = await fetch(`${team.teamDomain}/cdn-cgi/access/certs`).then(async (r) => ({ body: (await r.json()) as Record<string, unknown> })));
      // Only the current and the previous key, as Cloudflare publishes.
      expect((body.keys as Array<{ kid: string }>).map((k) => k.kid)).toEqual([third.kid, second.kid]);
      team.retirePreviousKey();
      expect(team.keys.map((k) => k.kid)).toEqual([third.kid]);
    } finally {
      await team.close();
    }
  });

  it('mints tokens with the documented claims', () => {
    const decode = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const header = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const app = cf.mintAppToken({
      email: 'ada@example.com',
      sub: '7335d417-61da-459d-899c-0a01c76a2f94',
      country: 'US',
      identity_nonce: '6ei69kawdKzMIAPF',
      issuedAt: 1659474397,
      expiresInSeconds: 60,
    });
    expect(header(app)).toEqual({ alg: 'RS256', kid: cf.currentKey.kid, typ: 'JWT' });
    expect(decode(app)).toEqual({
      aud: [cf.aud],
      email: 'ada@example.com',
      exp: 1659474457,
      iat: 1659474397,
      nbf: 1659474397,
      iss: cf.teamDomain,
      type: 'app',
      identity_nonce: '6ei69kawdKzMIAPF',
      sub: '7335d417-61da-459d-899c-0a01c76a2f94',
      country: 'US',
    });
    const service = cf.mintServiceToken({ commonName: 'e367826f93b8d71185e03fe518aff3b4.access', issuedAt: 1659474397, expiresInSeconds: 60 });
    expect(decode(service)).toEqual({
      type: 'app',
      aud: [cf.aud],
      exp: 1659474457,
      iss: cf.teamDomain,
      common_name: 'e367826f93b8d71185e03fe518aff3b4.access',
      iat: 1659474397,
      sub: '',
    });
  });

  it("answers get-identity for a valid CF_Authorization cookie with the nonce's identity, and refuses anything else", async () => {
    const token = cf.mintAppToken({ email: 'ada@example.com', name: 'Ada', groups: [{ id: 'fdaedb59-e9be-4ab7-8001-3e069da54185', name: 'Security Team' }] });
    const ok = await get('/cdn-cgi/access/get-identity', { cookie: `CF_Authorization=${token}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      email: 'ada@example.com',
      name: 'Ada',
      groups: [{ id: 'fdaedb59-e9be-4ab7-8001-3e069da54185', name: 'Security Team' }],
      idp: { id: cf.idpId, type: 'azureAD' },
    });
    expect(ok.body.user_uuid).toBe(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sub);
    expect((await get('/cdn-cgi/access/get-identity')).status).toBe(401);
    const forged = cf.mintAppToken({ key: { ...cf.currentKey, privateKey: cf.createUnpublishedKey().privateKey } });
    expect((await get('/cdn-cgi/access/get-identity', { cookie: `CF_Authorization=${forged}` })).status).toBe(401);
    const expired = cf.mintAppToken({ issuedAt: 1_000_000_000 });
    expect((await get('/cdn-cgi/access/get-identity', { cookie: `CF_Authorization=${expired}` })).status).toBe(401);
  });

  it('takes a fixed port, and refuses a team domain off loopback', async () => {
    const probe = await createMockCloudflare();
    const port = new URL(probe.teamDomain).port;
    await probe.close();
    const fixed = await createMockCloudflare({ teamDomain: `http://localhost:${port}` });
    try {
      expect(fixed.teamDomain).toBe(`http://localhost:${port}`);
    } finally {
      await fixed.close();
    }
    await expect(createMockCloudflare({ teamDomain: 'https://contoso.cloudflareaccess.com' })).rejects.toThrow(/teamDomain/);
  });
});
