import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createGate, EntragateError, JwksError, type GateOptions } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

// Key fetches always settle within their deadline (issue 12 #6). Node 20's bundled undici drops
// the abort listener of a collected `Request` when `redirect: 'error'` is set (nodejs/undici#4627),
// so a JWKS whose headers arrive and whose body then dribbles was read forever once the process
// collected garbage mid-read, and every later verification waited on that fetch. The collections
// are forced here: `--expose-gc` set at run time, and `gc` taken from a fresh context, which
// works inside a vitest worker without a flag on the command line.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});
afterEach(() => {
  entra.faults.dribbleMs = 0;
  entra.faults.redirectTo = undefined;
});

const gateFor = (overrides: Partial<GateOptions> = {}) =>
  createGate({
    idp: entra.idpConfig(),
    authorityHost: entra.url,
    ...overrides,
    jwks: { timeoutMs: 300, failureBackoffMs: 0, cooldownMs: 0, ...overrides.jwks },
  });

async function rejection(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

/** Runs `fn` while the process collects garbage every few milliseconds. */
async function collecting<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(gc, 3);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

describe('key fetches settle within their deadline', () => {
  it('a discovery document whose body dribbles, with collections during the read, fails as an outage; the next verification is not held back', async () => {
    const gate = gateFor();
    entra.faults.dribbleMs = 5;
    const [first, second] = await collecting(() => Promise.all([rejection(gate.verify(entra.mintToken())), rejection(gate.verify(entra.mintToken()))]));
    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(JwksError);
      expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
      expect(error.status).toBe(503);
      expect(error.message).toContain('the discovery document timed out after 300 ms');
    }
    // The positive control: once the endpoint answers, the same gate verifies.
    entra.faults.dribbleMs = 0;
    await expect(gate.verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
  });

  it('a JWKS refresh (an unknown kid) whose body dribbles fails as an outage, and a later refresh picks up the key', async () => {
    const rotating = await createMockEntra();
    try {
      const gate = createGate({ idp: rotating.idpConfig(), authorityHost: rotating.url, jwks: { timeoutMs: 300, failureBackoffMs: 0, cooldownMs: 0 } });
      await gate.verify(rotating.mintToken());
      const before = rotating.requests.discovery;
      rotating.rotateKeys();
      rotating.faults.dribbleMs = 5;
      const error = await collecting(() => rejection(gate.verify(rotating.mintToken())));
      expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
      expect(error.message).toContain('the JWKS timed out after 300 ms');
      // Only the keys were fetched again: the discovery document was still fresh.
      expect(rotating.requests.discovery).toBe(before);
      rotating.faults.dribbleMs = 0;
      await expect(gate.verify(rotating.mintToken())).resolves.toMatchObject({ tid: rotating.tenantId });
    } finally {
      await rotating.close();
    }
  });

  it('a fetch that ignores its abort signal and never settles still fails within the deadline', async () => {
    let stuck = true;
    const calls: string[] = [];
    const fetch: typeof globalThis.fetch = (url, init) => {
      calls.push(String(url));
      return stuck ? new Promise<Response>(() => undefined) : globalThis.fetch(url, init);
    };
    const gate = gateFor({ fetch });
    const error = await rejection(gate.verify(entra.mintToken()));
    expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
    expect(error.message).toContain('timed out after 300 ms');
    stuck = false;
    await expect(gate.verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
    expect(calls.length).toBe(3); // the stuck discovery, then discovery and keys
  });

  it('a body that never delivers a byte and ignores cancellation fails within the deadline', async () => {
    const fetch: typeof globalThis.fetch = async () =>
      new Response(new ReadableStream({ pull: () => new Promise<void>(() => undefined) }), { status: 200, headers: { 'content-type': 'application/json' } });
    const error = await rejection(gateFor({ fetch }).verify(entra.mintToken()));
    expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
    expect(error.message).toContain('the discovery document timed out after 300 ms');
  });

  it('cancels the body of a timed-out fetch, so the connection is let go', async () => {
    let cancelled = false;
    const fetch: typeof globalThis.fetch = async () =>
      new Response(
        new ReadableStream({
          pull: () => new Promise<void>(() => undefined),
          cancel: () => {
            cancelled = true;
          },
        }),
      );
    await rejection(gateFor({ fetch }).verify(entra.mintToken()));
    expect(cancelled).toBe(true);
  });
});

describe('key fetches do not follow redirects', () => {
  it('a discovery document that redirects, even to the real one, is a failed fetch', async () => {
    entra.faults.redirectTo = `${entra.url}/${entra.tenantId}/v2.0/.well-known/openid-configuration-moved`;
    const error = await rejection(gateFor().verify(entra.mintToken()));
    expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
    expect(error.message).toContain('the discovery document answered with a redirect (HTTP 302): redirects are not followed');
    entra.faults.redirectTo = undefined;
    await expect(gateFor().verify(entra.mintToken())).resolves.toMatchObject({ tid: entra.tenantId });
  });

  it('a response that a custom fetch followed through a redirect is refused too', async () => {
    const fetch: typeof globalThis.fetch = async (url, init) => {
      const response = await globalThis.fetch(url, init);
      Object.defineProperty(response, 'redirected', { value: true });
      return response;
    };
    const error = await rejection(gateFor({ fetch }).verify(entra.mintToken()));
    expect(error.code).toBe('ERR_JWKS_UNAVAILABLE');
    expect(error.message).toContain('answered with a redirect (HTTP 200)');
  });

  it('every 3xx is a redirect and a 4xx is not; an opaque redirect (status 0) is one too', async () => {
    const answer =
      (response: () => Response): typeof globalThis.fetch =>
      async () =>
        response();
    for (const status of [300, 301, 307, 308, 399]) {
      const error = await rejection(
        gateFor({ fetch: answer(() => new Response(null, { status, headers: { location: 'https://keys.example.com/' } })) }).verify(entra.mintToken()),
      );
      expect(error.message).toContain(`the discovery document answered with a redirect (HTTP ${status})`);
    }
    for (const status of [299, 400, 404, 503]) {
      const error = await rejection(gateFor({ fetch: answer(() => new Response('{}', { status })) }).verify(entra.mintToken()));
      expect(error.message).toContain(status === 299 ? 'the discovery document of tenant' : `the discovery document answered HTTP ${status}`);
    }
    const opaque = Object.assign(Response.error(), {});
    Object.defineProperty(opaque, 'type', { value: 'opaqueredirect' });
    const error = await rejection(gateFor({ fetch: answer(() => opaque) }).verify(entra.mintToken()));
    expect(error.message).toContain('answered with a redirect (HTTP 0)');
  });

  it('aborts the request of a fetch that timed out', async () => {
    let signal: AbortSignal | undefined;
    const fetch: typeof globalThis.fetch = (_url, init) => {
      signal = init?.signal ?? undefined;
      return new Promise<Response>(() => undefined);
    };
    await rejection(gateFor({ fetch }).verify(entra.mintToken()));
    expect(signal?.aborted).toBe(true);
  });

  it('asks fetch not to follow redirects nor to error on them (nodejs/undici#4627)', async () => {
    const seen: Array<RequestInit | undefined> = [];
    const fetch: typeof globalThis.fetch = (url, init) => {
      seen.push(init);
      return globalThis.fetch(url, init);
    };
    await gateFor({ fetch }).verify(entra.mintToken());
    expect(seen.length).toBe(2);
    for (const init of seen) {
      expect(init?.redirect).toBe('manual');
      expect(init?.signal).toBeInstanceOf(AbortSignal);
    }
  });
});
