/**
 * Token verification throughput on a realistic Entra v2 access token (about 1.5 KB of payload,
 * 20 groups), one process, one run. In alternating rounds, every call on a token it has not just
 * seen: raw `node:crypto.verify` of the same signing input (the physical floor), `gate.verify`
 * with the verified-token cache on (every call a miss: the pool of tokens is larger than the
 * cache, so each call is a full verification plus the cache insert and eviction), fast-jwt without
 * its cache, and `jose.jwtVerify`. Then `jsonwebtoken`, and `gate.verify` on a repeated token.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { createVerifier } from 'fast-jwt';
import { createGate } from '../src/index.js';
import { CHANNEL_NAMES } from '../src/diagnostics.js';
import { createMockEntra, signJwt, type MockEntra } from '../src/testing/index.js';
import { cycle, measure, measureRounds, runIfMain, seededGuid, seededRandom, type BenchResult } from './harness.js';

/** Distinct tokens; the gate's cache holds a quarter of them, so cycling through them never hits. */
const POOL = 4000;
const CACHE_MAX = 1000;

/**
 * A v2 access token as Entra issues one to an API for a signed-in user, with the claims of
 * Microsoft's access-token reference (`aio`, `rh`, `uti`, `xms_*` opaque strings of their usual
 * lengths), 20 group object ids and one directory role. Deterministic per `seed`.
 */
export function realisticPayload(entra: MockEntra, seed: number, iat: number): Record<string, unknown> {
  const rand = seededRandom(seed);
  const opaque = (n: number): string => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let s = '';
    for (let i = 0; i < n; i++) s += chars[Math.floor(rand() * 64)];
    return s;
  };
  const oid = seededGuid(rand);
  const groupRand = seededRandom(7); // the organisation's groups: most users share them
  const groups = Array.from({ length: 20 }, () => seededGuid(groupRand));
  return {
    aud: entra.clientId,
    iss: entra.issuer('2.0'),
    iat,
    nbf: iat,
    exp: iat + 4452,
    aio: `${opaque(70)}==`,
    azp: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
    azpacr: '1',
    groups,
    idtyp: 'user',
    ipaddr: '203.0.113.17',
    name: 'Ada Lovelace',
    oid,
    preferred_username: `user${seed}@contoso.com`,
    rh: `1.${opaque(50)}.`,
    roles: ['Reader'],
    scp: 'access_as_user User.Read',
    sub: opaque(43),
    tid: entra.tenantId,
    uti: opaque(22),
    ver: '2.0',
    wids: ['b79fbf4d-3ef9-4689-8143-76b194e85509'],
    xms_tcdt: 1_611_234_567,
  };
}

export async function run(): Promise<BenchResult> {
  const entra = await createMockEntra({ tenants: ['8d6c4e4c-2b6f-4a43-9b33-0c5a9d8f1e21'] });
  try {
    const iat = Math.floor(Date.now() / 1000);
    const key = entra.currentKey;
    const header = { alg: 'RS256', typ: 'JWT', kid: key.kid };
    // Flat strings, as an HTTP server hands a header over (signJwt's template string is a rope).
    const tokens = Array.from({ length: POOL }, (_, i) =>
      Buffer.from(signJwt(header, realisticPayload(entra, i + 1, iat), key.privateKey), 'latin1').toString('latin1'),
    );
    const payloadBytes = Buffer.from(tokens[0]!.split('.')[1]!, 'base64url').length;
    // The floor verifies each token's own signing input, decoded beforehand.
    const inputs = tokens.map((t) => {
      const dot = t.lastIndexOf('.');
      return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') };
    });

    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: { max: CACHE_MAX } });
    await gate.verify(tokens[0]!);
    gate.clearTokenCache();
    // Every measured gate call must be a full verification: count cache misses over two laps.
    let misses = 0;
    const onMiss = (): void => {
      misses++;
    };
    diagnostics.subscribe(CHANNEL_NAMES.tokenCacheMiss, onMiss);
    const lap = cycle(tokens);
    for (let i = 0; i < 2 * POOL; i++) await gate.verify(lap());
    diagnostics.unsubscribe(CHANNEL_NAMES.tokenCacheMiss, onMiss);
    if (misses !== 2 * POOL) throw new Error(`the fresh-token case hit the cache: ${2 * POOL - misses} hits in ${2 * POOL} calls`);

    const publicKey = key.publicKey;
    const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const issuer = entra.issuer('2.0');
    const fastJwt = createVerifier({ key: pem, algorithms: ['RS256'], allowedIss: issuer, allowedAud: entra.clientId, cache: false });
    const joseKey = createPublicKey(pem);

    const nextInput = cycle(inputs);
    const nextGate = cycle(tokens);
    const nextFast = cycle(tokens);
    const nextJose = cycle(tokens);
    const cases = [
      {
        name: 'node:crypto.verify (same signing input, floor)',
        fn: () => {
          const x = nextInput();
          return cryptoVerify('RSA-SHA256', x.data, publicKey, x.sig);
        },
      },
      { name: 'gate.verify, new token each call (cache on, all misses)', fn: () => gate.verify(nextGate()) },
      { name: 'fast-jwt verify (no cache)', fn: () => fastJwt(nextFast()) },
      { name: 'jose.jwtVerify', fn: () => jwtVerify(nextJose(), joseKey, { issuer, audience: entra.clientId }) },
    ];
    const { best, rounds } = await measureRounds(cases, { rounds: 7, ms: 400, batch: 200 });
    const [raw, fresh, fast, jose] = best as [(typeof best)[0], (typeof best)[0], (typeof best)[0], (typeof best)[0]];
    const perRound = (c: number): string => rounds[c]!.map((m, r) => (rounds[0]![r]!.medianNs / m.medianNs).toFixed(2)).join(' ');

    const token = tokens[0]!;
    const jwt = await measure('jsonwebtoken.verify', () => jsonwebtoken.verify(token, pem, { algorithms: ['RS256'], issuer, audience: entra.clientId }), {
      ms: 600,
    });
    const repeatedGate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, tokenCache: { max: CACHE_MAX } });
    await repeatedGate.verify(token);
    const repeated = await measure('gate.verify, a repeated token (cache hit)', () => repeatedGate.verify(token), { batch: 2000, ms: 600 });

    // Ratios compare each side's best round (its lowest median ns/op).
    const ratio = (m: { medianNs: number }): number => raw.medianNs / m.medianNs;
    return {
      name: `token verification (realistic Entra v2 access token: ${payloadBytes} B payload, 20 groups, ${tokens[0]!.length} B token)`,
      measurements: [raw, fresh, fast, jose, jwt, repeated],
      extra: {
        'gate fresh / raw crypto, per round': perRound(1),
        'fast-jwt / raw crypto, per round': perRound(2),
        'jose / raw crypto, per round': perRound(3),
      },
      ratios: {
        'gate fresh / raw crypto (target ≥ 0.85)': ratio(fresh),
        'fast-jwt (no cache) / raw crypto': ratio(fast),
        'jose / raw crypto': ratio(jose),
        'jsonwebtoken / raw crypto': ratio(jwt),
        'gate repeated / raw crypto (target ≥ 5)': ratio(repeated),
        'gate fresh / fast-jwt': fast.medianNs / fresh.medianNs,
        'gate fresh / jose': jose.medianNs / fresh.medianNs,
      },
    };
  } finally {
    await entra.close();
  }
}

await runIfMain(import.meta.url, 'token', run);
