/**
 * Token verification throughput, one process, one run:
 * raw `node:crypto.verify` of the same RS256 token (the physical floor), `jose.jwtVerify`,
 * `jsonwebtoken.verify`, and `gate.verify` on (a) a fresh token each time and (b) a repeated token.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { createGate } from '../src/index.js';
import { createMockEntra } from '../src/testing/index.js';
import { measure, measurePaired, runIfMain, type BenchResult } from './harness.js';

export async function run(): Promise<BenchResult> {
  const entra = await createMockEntra({ tenants: ['8d6c4e4c-2b6f-4a43-9b33-0c5a9d8f1e21'] });
  try {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: { max: 100_000 } });
    const FRESH = 2000;
    const iat = Math.floor(Date.now() / 1000);
    const tokens = Array.from({ length: FRESH }, (_, i) => entra.mintToken({ issuedAt: iat, claims: { email: `user${i}@contoso.com` } }));
    const token = tokens[0]!;
    await gate.verify(token);

    const [h, p, s] = token.split('.') as [string, string, string];
    const data = Buffer.from(`${h}.${p}`);
    const sig = Buffer.from(s, 'base64url');
    const publicKey = entra.currentKey.publicKey;
    const joseKey = await importJWK({ ...entra.currentKey.publicKey.export({ format: 'jwk' }), alg: 'RS256' }, 'RS256');
    const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const issuer = entra.issuer('2.0');

    // (a) No call may hit the verified-token cache: a gate without one, over a pool of distinct
    // tokens, does the full work of a never-seen token on every call (decode, key lookup, RSA, claims).
    // It is measured against the floor in alternating rounds (the ratio compares each side's best round).
    const uncached = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: false });
    await uncached.verify(token);
    const paired = await measurePaired(
      { name: 'node:crypto.verify (same token, floor)', fn: () => cryptoVerify('RSA-SHA256', data, publicKey, sig) },
      { name: 'gate.verify (a) fresh token each time (no cache hit)', fn: (i) => uncached.verify(tokens[i % FRESH]!) },
    );
    const raw = paired.baseline;
    const fresh = paired.candidate;
    const jose = await measure('jose.jwtVerify', () => jwtVerify(token, joseKey, { issuer, audience: entra.clientId }));
    const jwt = await measure('jsonwebtoken.verify', () => jsonwebtoken.verify(token, pem, { algorithms: ['RS256'], issuer, audience: entra.clientId }));
    // (a') The first sight of each token on a caching gate: full verification plus the cache insert.
    const firstSight = await measure('gate.verify (a′) first sight of each token, cache on', (i) => gate.verify(tokens[1 + (i % (FRESH - 1))]!), {
      ms: 60,
      batch: 100,
      warmup: 0,
    });
    const repeated = await measure('gate.verify (b) repeated token', () => gate.verify(token), { batch: 2000 });

    const result: BenchResult = {
      name: 'token verification',
      measurements: [raw, jose, jwt, fresh, firstSight, repeated],
      extra: { 'gate fresh / raw crypto, per round': paired.ratios.map((r) => r.toFixed(2)).join(' ') },
      ratios: {
        'jose / raw crypto': jose.opsPerSec / raw.opsPerSec,
        'jsonwebtoken / raw crypto': jwt.opsPerSec / raw.opsPerSec,
        'gate fresh / raw crypto (target ≥ 0.8)': paired.ratio,
        'gate repeated / raw crypto (target ≥ 5)': repeated.opsPerSec / raw.opsPerSec,
        'gate fresh / jose': fresh.opsPerSec / jose.opsPerSec,
      },
    };
    return result;
  } finally {
    await entra.close();
  }
}

await runIfMain(import.meta.url, 'token', run);
