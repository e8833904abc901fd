import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAccessVerifier, JwksError, type AccessVerifierOptions } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';
import { eventually, expectRefused, rejection } from './helpers.js';

// The team's signing keys, from `/cdn-cgi/access/certs`: the Entra key store's rules (single flight, a
// cooldown per unknown kid, cached keys through an outage, a cold-cache outage a 503), and Cloudflare's
// rotation (a new key signs at once; the previous one stays published for 7 days).

let cf: MockCloudflare;
beforeAll(async () => {
  cf = await createMockCloudflare();
});
afterAll(async () => {
  await cf.close();
});
afterEach(() => {
  Object.assign(cf.faults.certs, { down: false, garbage: false, body: undefined, delayMs: 0, dribbleMs: 0, redirectTo: undefined });
});

const verifierFor = (overrides: Partial<AccessVerifierOptions> = {}) =>
  createAccessVerifier({ ...cf.accessConfig(), timeoutMs: 300, failureBackoffMs: 0, cooldownMs: 0, ...overrides });

/** A fake clock tests move by hand. */
function clock(start = 1_800_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function expectOutage(error: unknown, text?: string): void {
  expect(error).toBeInstanceOf(JwksError);
  const e = error as JwksError;
  expect(e.code).toBe('ERR_JWKS_UNAVAILABLE');
  expect(e.status).toBe(503);
  expect(e.isOutage).toBe(true);
  if (text !== undefined) expect(e.message).toContain(text);
}

describe('rotation', () => {
  it('follows a rotation: the new key after the cooldown, the previous one through the overlap, none after it', async () => {
    const team = await createMockCloudflare();
    try {
      const c = clock();
      const v = createAccessVerifier({ ...team.accessConfig(), now: c.now, cooldownMs: 30_000, refreshIntervalMs: 3_600_000 });
      const issuedAt = Math.floor(c.now() / 1000);
      const old = team.mintAppToken({ issuedAt });
      await expect(v.verify(old)).resolves.toMatchObject({ kind: 'user' });
      expect(team.requests.certs).toBe(1);

      team.rotateKeys();
      const fresh = team.mintAppToken({ issuedAt });
      // Within the cooldown of the last fetch, an unknown kid is not fetched for (a flood costs nothing).
      expectRefused(await rejection(v.verify(fresh)), 'ERR_TOKEN_KEY_NOT_FOUND', fresh);
      expect(team.requests.certs).toBe(1);
      c.advance(30_000);
      await expect(v.verify(fresh)).resolves.toMatchObject({ kind: 'user' });
      expect(team.requests.certs).toBe(2);
      // The overlap: the previous key is still published, and tokens it signed still verify.
      await expect(v.verify(team.mintAppToken({ issuedAt, key: team.keys[1]! }))).resolves.toMatchObject({ kind: 'user' });

      // The overlap ends. Once the keys are refreshed (hourly, in the background), the old key's tokens, cached or not, are refused.
      team.retirePreviousKey();
      c.advance(3_600_000);
      await v.verify(old); // still cached; starts the background refresh
      await eventually(() => expect(team.requests.certs).toBe(3));
      // Once the refresh has landed, the cached verification is no longer honoured.
      await eventually(async () => expectRefused(await rejection(v.verify(old)), 'ERR_TOKEN_KEY_NOT_FOUND', old));
      expect(team.requests.certs).toBe(3);
      await expect(v.verify(fresh)).resolves.toMatchObject({ kind: 'user' });
    } finally {
      await team.close();
    }
  });

  it('matches on kid only: a key published under another kid does not verify a token naming this one', async () => {
    const v = verifierFor();
    const key = cf.createUnpublishedKey();
    const token = cf.mintAppToken({ key: { ...key, kid: cf.currentKey.kid } });
    expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_SIGNATURE_INVALID', token);
  });
});

describe('a kid flood', () => {
  it('1,000 random kids cost at most one certs fetch per cooldown, and a legitimate token still verifies', async () => {
    const team = await createMockCloudflare();
    try {
      const c = clock();
      const v = createAccessVerifier({ ...team.accessConfig(), now: c.now, cooldownMs: 30_000 });
      const issuedAt = Math.floor(c.now() / 1000);
      const flood = () => Array.from({ length: 1_000 }, () => team.mintAppToken({ issuedAt, header: { kid: randomBytes(32).toString('hex') } }));
      const legit = team.mintAppToken({ issuedAt });

      // Cold: the flood and the legitimate token share the one first fetch.
      const first = await Promise.all([...flood().map((t) => rejection(v.verify(t))), v.verify(legit)]);
      expect(team.requests.certs).toBe(1);
      for (const error of first.slice(0, -1) as Awaited<ReturnType<typeof rejection>>[]) expect(error.code).toBe('ERR_TOKEN_KEY_NOT_FOUND');
      expect(first.at(-1)).toMatchObject({ kind: 'user' });

      // Within the cooldown: no fetch at all.
      c.advance(29_999);
      const second = await Promise.all(flood().map((t) => rejection(v.verify(t))));
      expect(second.every((e) => e.code === 'ERR_TOKEN_KEY_NOT_FOUND')).toBe(true);
      expect(team.requests.certs).toBe(1);

      // After it: one fetch for the whole flood.
      c.advance(1);
      await Promise.all(flood().map((t) => rejection(v.verify(t))));
      expect(team.requests.certs).toBe(2);
      await expect(v.verify(legit)).resolves.toMatchObject({ kind: 'user' });
    } finally {
      await team.close();
    }
  });
});

describe('the certs endpoint down or broken', () => {
  it('a cold cache fails closed with a 503, fails fast within the backoff, and recovers', async () => {
    const c = clock();
    const v = verifierFor({ now: c.now, failureBackoffMs: 5_000 });
    const token = cf.mintAppToken({ issuedAt: Math.floor(c.now() / 1000) });
    const before = cf.requests.certs;
    cf.faults.certs.down = true;
    expectOutage(await rejection(v.verify(token)), 'answered HTTP 503');
    expectOutage(await rejection(v.verify(token)));
    expect(cf.requests.certs).toBe(before + 1);
    cf.faults.certs.down = false;
    c.advance(5_000);
    await expect(v.verify(token)).resolves.toMatchObject({ kind: 'user' });
  });

  it('a warm cache keeps serving its keys while the endpoint is down; an unknown kid meanwhile is an outage, not a 401', async () => {
    const team = await createMockCloudflare();
    try {
      const c = clock();
      const v = createAccessVerifier({ ...team.accessConfig(), now: c.now, timeoutMs: 300, cooldownMs: 0, failureBackoffMs: 0 });
      const issuedAt = Math.floor(c.now() / 1000);
      await v.verify(team.mintAppToken({ issuedAt }));
      // Rotated before the outage (key generation blocks the loop: not while a fetch runs), never fetched.
      const original = team.currentKey;
      team.rotateKeys();
      team.faults.certs.down = true;
      // A key older than the refresh interval is refreshed in the background; the refresh fails, the key stays.
      c.advance(2 * 3_600_000);
      const later = Math.floor(c.now() / 1000);
      await expect(v.verify(team.mintAppToken({ issuedAt: later, key: original }))).resolves.toMatchObject({ kind: 'user' });
      await eventually(() => expect(team.requests.certs).toBe(2));
      await expect(v.verify(team.mintAppToken({ issuedAt: later, key: original }))).resolves.toMatchObject({ kind: 'user' });
      expectOutage(await rejection(v.verify(team.mintAppToken({ issuedAt: later }))), 'answered HTTP 503');
      team.faults.certs.down = false;
      await expect(v.verify(team.mintAppToken({ issuedAt: later }))).resolves.toMatchObject({ kind: 'user' });
    } finally {
      await team.close();
    }
  });

  it.each([
    ['garbage (not JSON)', { garbage: true }, 'is not JSON'],
    ['an empty key set', { body: { keys: [], public_cert: {}, public_certs: [] } }, 'no usable RS256 key'],
    ['no `keys`, only PEM certificates', { body: { public_certs: [] } }, 'no `keys` array'],
    ['a JSON array', { body: [1, 2, 3] }, 'not a JSON object'],
    ['JSON `null`', { body: null }, 'not a JSON object'],
  ])('%s is an outage on a cold cache', async (_name, fault, text) => {
    Object.assign(cf.faults.certs, fault);
    expectOutage(await rejection(verifierFor().verify(cf.mintAppToken())), text);
    Object.assign(cf.faults.certs, { garbage: false, body: undefined });
    await expect(verifierFor().verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('keys that are not RS256 signing keys of 2048 bits or more are skipped, and a kid given twice is dropped', async () => {
    const real = cf.keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, kty: 'RSA', alg: 'RS256', use: 'sig' }));
    const weak = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakJwk = { ...weak.publicKey.export({ format: 'jwk' }), kid: cf.currentKey.kid, kty: 'RSA' };
    for (const keys of [
      [{ ...real[0], alg: 'RS512' }],
      [{ ...real[0], use: 'enc' }],
      [{ ...real[0], kty: 'EC' }],
      [weakJwk],
      [{ ...real[0], n: 'not-base64url!' }],
    ]) {
      cf.faults.certs.body = { keys };
      expectOutage(await rejection(verifierFor().verify(cf.mintAppToken())), 'no usable RS256 key');
    }
    // The same kid twice (even once with the right key): which is meant? Neither.
    const other = cf.createUnpublishedKey();
    cf.faults.certs.body = {
      keys: [
        real[0],
        { ...other.publicKey.export({ format: 'jwk' }), kid: cf.currentKey.kid, kty: 'RSA' },
        { ...other.publicKey.export({ format: 'jwk' }), kid: other.kid, kty: 'RSA' },
      ],
    };
    const token = cf.mintAppToken();
    expectRefused(await rejection(verifierFor().verify(token)), 'ERR_TOKEN_KEY_NOT_FOUND', token);
    cf.faults.certs.body = { keys: real };
    await expect(verifierFor().verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('an empty key set served to a warm cache is a failed refresh: the cached keys stay', async () => {
    const c = clock();
    const v = verifierFor({ now: c.now });
    const issuedAt = Math.floor(c.now() / 1000);
    await v.verify(cf.mintAppToken({ issuedAt }));
    const before = cf.requests.certs;
    cf.faults.certs.body = { keys: [] };
    c.advance(2 * 3_600_000);
    const later = Math.floor(c.now() / 1000);
    await v.verify(cf.mintAppToken({ issuedAt: later }));
    await eventually(() => expect(cf.requests.certs).toBe(before + 1));
    await expect(v.verify(cf.mintAppToken({ issuedAt: later }))).resolves.toMatchObject({ kind: 'user' });
  });

  it('a body over the size cap is refused while it streams', async () => {
    cf.faults.certs.body = { keys: [], padding: 'x'.repeat(300 * 1024) };
    expectOutage(await rejection(verifierFor().verify(cf.mintAppToken())), 'over 262144 bytes');
  });
});

// Node 20's bundled undici drops the abort listener of a collected `Request` when `redirect: 'error'` is
// set (nodejs/undici#4627): a body that dribbled was then read forever. The collections are forced here
// (`gc` from a fresh context), as in the Entra key store's tests.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
async function collecting<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(gc, 3);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

describe('every certs fetch settles within its deadline', () => {
  it('a body that dribbles, with collections during the read, is an outage; the next verification is not held back', async () => {
    cf.faults.certs.dribbleMs = 5;
    const v = verifierFor();
    const [a, b] = await collecting(() => Promise.all([rejection(v.verify(cf.mintAppToken())), rejection(v.verify(cf.mintAppToken()))]));
    expectOutage(a, 'the Cloudflare Access certs timed out after 300 ms');
    expectOutage(b, 'timed out after 300 ms');
    cf.faults.certs.dribbleMs = 0;
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('slow headers past the deadline are an outage', async () => {
    cf.faults.certs.delayMs = 1_000;
    expectOutage(await rejection(verifierFor().verify(cf.mintAppToken())), 'timed out after 300 ms');
  });

  it('a fetch that ignores its signal and never settles still fails within the deadline', async () => {
    let stuck = true;
    const fetch: typeof globalThis.fetch = (url, init) => (stuck ? new Promise<Response>(() => undefined) : globalThis.fetch(url, init));
    const v = verifierFor({ fetch });
    expectOutage(await rejection(v.verify(cf.mintAppToken())), 'timed out after 300 ms');
    stuck = false;
    await expect(v.verify(cf.mintAppToken())).resolves.toMatchObject({ kind: 'user' });
  });

  it('cancels the body of a timed-out fetch', async () => {
    let cancelled = false;
    const fetch: typeof globalThis.fetch = async () =>
      new Response(new ReadableStream({ pull: () => new Promise<void>(() => undefined), cancel: () => void (cancelled = true) }));
    expectOutage(await rejection(verifierFor({ fetch }).verify(cf.mintAppToken())), 'timed out');
    expect(cancelled).toBe(true);
  });

  it('a refused connection is an outage with its system code', async () => {
    const dead = await createMockCloudflare();
    const config = dead.accessConfig();
    const token = dead.mintAppToken();
    await dead.close();
    expectOutage(await rejection(createAccessVerifier({ ...config, failureBackoffMs: 0 }).verify(token)), 'ECONNREFUSED');
  });
});

describe('certs fetches do not follow redirects', () => {
  it('a redirect, even to the real certs, is a failed fetch', async () => {
    cf.faults.certs.redirectTo = `${cf.teamDomain}/cdn-cgi/access/certs`;
    expectOutage(await rejection(verifierFor().verify(cf.mintAppToken())), 'answered with a redirect (HTTP 302): redirects are not followed');
  });

  it('a response a custom fetch followed through a redirect is refused too', async () => {
    const fetch: typeof globalThis.fetch = async (url, init) => {
      const response = await globalThis.fetch(url, init);
      Object.defineProperty(response, 'redirected', { value: true });
      return response;
    };
    expectOutage(await rejection(verifierFor({ fetch }).verify(cf.mintAppToken())), 'answered with a redirect (HTTP 200)');
  });

  it('asks fetch for the team certs, not to follow redirects nor to error on them (nodejs/undici#4627), with a signal', async () => {
    const seen: Array<{ url: string; init: RequestInit | undefined }> = [];
    const fetch: typeof globalThis.fetch = (url, init) => {
      seen.push({ url: String(url), init });
      return globalThis.fetch(url, init);
    };
    await verifierFor({ fetch }).verify(cf.mintAppToken());
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(`${cf.teamDomain}/cdn-cgi/access/certs`);
    expect(seen[0]!.init?.redirect).toBe('manual');
    expect(seen[0]!.init?.signal).toBeInstanceOf(AbortSignal);
  });
});
