import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { createGate, ConfigError, SessionError, StoreError, TokenError, type GateOptions, type Identity } from '../../src/index.js';
import {
  createLogin,
  createMemoryIdentityStore,
  createMemoryRevocationList,
  parseGoDuration,
  resolveSessionDuration,
  type LoginOptions,
} from '../../src/login/index.js';
import { safeReturnTo } from '../../src/http/request.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { esKey, fakeClock } from './harness.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

function loginWith(overrides: Partial<LoginOptions> = {}, gateOptions: Partial<GateOptions> = {}) {
  const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, ...gateOptions });
  return createLogin({
    gate,
    redirectUri: 'https://app.example.com/auth/callback',
    keys: { signing: { kid: 'k1', alg: 'ES256', privateKey: esKey().privateKey } },
    ...overrides,
  });
}

async function identity(overrides: Partial<Identity> = {}): Promise<Identity> {
  const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
  const id = await gate.verify(entra.mintToken({ claims: { oid: randomUUID(), email: 'ada@contoso.com' } }));
  return { ...id, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<SessionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SessionError);
  return error as SessionError;
}

describe('session keys and rotation', () => {
  it('verifies a session signed with the previous key after a rotation, and refuses an unknown kid', async () => {
    const clock = fakeClock();
    const identities = createMemoryIdentityStore({ now: clock.now });
    const old = esKey();
    const next = generateKeyPairSync('ed25519');
    const shared = { identities, now: clock.now, audience: 'aud' } as const;
    const before = loginWith({ ...shared, keys: { signing: { kid: '2025-01', alg: 'ES256', privateKey: old.privateKey } } });
    const after = loginWith({
      ...shared,
      keys: {
        signing: { kid: '2025-02', alg: 'EdDSA', privateKey: next.privateKey },
        verification: [{ kid: '2025-01', alg: 'ES256', publicKey: old.publicKey.export({ format: 'jwk' }) }],
      },
    });
    const id = await identity();
    const { token: oldToken } = await before.createSession(id);
    const { token: newToken } = await after.createSession(id);
    expect(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'EdDSA', kid: '2025-02', typ: 'JWT' });
    expect((await after.verifySession(oldToken)).identity.oid).toBe(id.oid);
    expect((await after.verifySession(newToken)).session.sub).toBe(id.oid);
    // The old instance does not know the new key.
    const unknown = await rejection(before.verifySession(newToken));
    expect(unknown.code).toBe('ERR_SESSION_INVALID');
    expect(unknown.message).toBe('the session key `2025-02` is unknown');
  });

  it('refuses a session whose kid is known but whose signature is from another key', async () => {
    const a = loginWith({ audience: 'aud', issuer: 'https://i' });
    const b = loginWith({ audience: 'aud', issuer: 'https://i', identities: a.identities });
    const { token } = await b.createSession(await identity());
    const e = await rejection(a.verifySession(token));
    expect(e.code).toBe('ERR_SESSION_INVALID');
    expect(e.message).toBe('the session signature does not verify');
  });

  it('refuses a token whose alg does not match the key, and an Entra token as a session', async () => {
    const login = loginWith({ audience: 'aud' });
    const hs = await new SignJWT({ type: 'app' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new Uint8Array(32));
    const e1 = await rejection(login.verifySession(hs));
    expect(e1.code).toBe('ERR_SESSION_INVALID');
    const e2 = await rejection(login.verifySession(entra.mintToken()));
    expect(e2.code).toBe('ERR_SESSION_INVALID');
    expect(e2.message).toBe('the session key `' + JSON.parse(Buffer.from(entra.mintToken().split('.')[0]!, 'base64url').toString()).kid + '` is unknown');
    for (const garbage of ['x', 'a.b.c', `${'a'.repeat(9000)}`]) {
      expect((await rejection(login.verifySession(garbage))).code).toBe('ERR_SESSION_INVALID');
    }
    // No credential at all is a token-family error (RFC 6750 §3.1: a bare challenge), as for a bearer token.
    const missing = await login.verifySession('').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(TokenError);
    expect((missing as TokenError).code).toBe('ERR_TOKEN_MISSING');
  });

  it('refuses a session for another app audience or issuer', async () => {
    const key = esKey();
    const keys = { signing: { kid: 'k', alg: 'ES256' as const, privateKey: key.privateKey } };
    const a = loginWith({ keys, audience: 'app-a' });
    const b = loginWith({ keys, audience: 'app-b', identities: a.identities });
    const c = loginWith({ keys, audience: 'app-a', issuer: 'https://other.example', identities: a.identities });
    const { token } = await a.createSession(await identity());
    const wrongAud = await rejection(b.verifySession(token));
    expect(wrongAud.message).toBe('the session claim `aud` is invalid: check_failed');
    expect((await rejection(c.verifySession(token))).message).toBe('the session claim `iss` is invalid: check_failed');
  });

  it('refuses keys that do not fit their algorithm, at construction', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => loginWith({ keys: { signing: { kid: 'k', alg: 'ES256', privateKey: rsa.privateKey } } })).toThrow(ConfigError);
    expect(() => loginWith({ keys: { signing: { kid: 'k', alg: 'ES256', privateKey: rsa.privateKey } } })).toThrow(
      'the session key `k` does not fit `ES256`: it needs an EC P-256 key',
    );
    expect(() => loginWith({ keys: { signing: { kid: 'k', alg: 'RS256', privateKey: rsa.publicKey } } })).toThrow('must be a private key');
    expect(() =>
      loginWith({
        keys: { signing: { kid: 'k', alg: 'RS256', privateKey: rsa.privateKey }, verification: [{ kid: 'k', alg: 'RS256', publicKey: rsa.publicKey }] },
      }),
    ).toThrow('the session key id `k` is used twice');
    // PEM works.
    const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    expect(loginWith({ keys: { signing: { kid: 'k', alg: 'RS256', privateKey: pem } } }).audience).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses bad options with ERR_CONFIG_INVALID', () => {
    const bad: Array<[Partial<LoginOptions>, string]> = [
      [{ redirectUri: 'ftp://x/cb' }, 'redirectUri'],
      [{ transactionSecret: 'short' }, 'transactionSecret'],
      [{ cookie: { path: '//evil' } }, 'cookie.path'],
      // A cookie the browser would drop, or a Set-Cookie attribute smuggled through the domain.
      [{ cookie: { domain: 'example.com; SameSite=None' } }, 'cookie.domain'],
      [{ cookie: { name: '__Host-session', domain: 'example.com' } }, 'cookie.name'],
      [{ cookie: { name: '__Host-session', path: '/app' } }, 'cookie.name'],
      [{ cookie: { name: '__Secure-session', secure: false } }, 'cookie.name'],
    ];
    for (const [options, field] of bad) {
      let error: unknown;
      try {
        loginWith(options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('ERR_CONFIG_INVALID');
      expect((error as ConfigError).message).toContain(field);
    }
    expect(loginWith({ cookie: { name: '__Host-session' } }).cookieName).toBe('__Host-session');
    const noSecret = createGate({ idp: entra.idpConfig({ config: { client_secret: undefined } }), authorityHost: entra.url });
    expect(() =>
      createLogin({ gate: noSecret, redirectUri: 'https://a/cb', keys: { signing: { kid: 'k', alg: 'ES256', privateKey: esKey().privateKey } } }),
    ).toThrow('the login needs a client secret');
  });
});

describe('session duration precedence', () => {
  const app = (session_duration?: string) => ({ portal: { policies: [], ...(session_duration === undefined ? {} : { session_duration }) } });

  it('gives the cookie the application duration, else the global one, else 24h (one source: the gate)', async () => {
    const id = await identity();
    const exp = async (gateOptions: Partial<GateOptions>): Promise<number> => {
      const { claims, setCookie } = await loginWith({}, gateOptions).createSession(id);
      expect(setCookie).toContain(`Max-Age=${claims.exp - claims.iat}`);
      return claims.exp - claims.iat;
    };
    expect(await exp({ applications: app('8h'), session_duration: '12h' })).toBe(28_800);
    expect(await exp({ applications: app(), session_duration: '12h' })).toBe(86_400); // the app's default is 24h
    expect(await exp({ session_duration: '12h' })).toBe(43_200);
    expect(await exp({})).toBe(86_400);
    expect(await exp({ applications: app('1h30m') })).toBe(5_400);
  });

  it('serves the application named by `application`, and refuses one the gate does not have', () => {
    const apps = { a: { policies: [], session_duration: '1h' }, b: { policies: [], session_duration: '2h', aud: 'aud-b' } };
    const login = loginWith({ application: 'b' }, { applications: apps });
    expect(login.application).toBe('b');
    expect(login.audience).toBe('aud-b');
    expect(() => loginWith({ application: 'c' }, { applications: apps })).toThrow('the gate has no application `c`');
    // Several applications and none named: the login serves none of them (global duration, its own audience).
    expect(loginWith({}, { applications: apps }).application).toBeUndefined();
  });

  it('refuses a session duration under a second or not a Go duration, at the gate', () => {
    for (const bad of ['1d', '500ms', 'forever']) {
      expect(() => createGate({ idp: entra.idpConfig(), authorityHost: entra.url, applications: app(bad) })).toThrow(ConfigError);
      expect(() => createGate({ idp: entra.idpConfig(), authorityHost: entra.url, session_duration: bad })).toThrow(ConfigError);
    }
  });

  it('holds the deciding policy duration on every request: a session older than it is expired (regression: only the cookie knew)', async () => {
    const clock = fakeClock();
    const gate = createGate({
      idp: entra.idpConfig(),
      authorityHost: entra.url,
      now: clock.now,
      applications: {
        portal: { session_duration: '1h', policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }], session_duration: '30m' }] },
      },
    });
    const id = await identity();
    const issuedAt = Math.floor(clock.now() / 1000);
    expect(gate.sessionDuration(await gate.authorize(id, { application: 'portal' }), 'portal')).toBe(1_800);
    clock.advance(29 * 60_000);
    expect((await gate.authorize(id, { application: 'portal', session: { issuedAt } })).allowed).toBe(true);
    clock.advance(2 * 60_000);
    const late = await gate.authorize(id, { application: 'portal', session: { issuedAt } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(SessionError);
    expect((late as SessionError).code).toBe('ERR_SESSION_EXPIRED');
    // The same identity without a session (a bearer token) is not held to it.
    expect((await gate.authorize(id, { application: 'portal' })).allowed).toBe(true);
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('24h')).toBe(86_400_000);
    expect(parseGoDuration('30m')).toBe(1_800_000);
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('90s')).toBe(90_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['', '24', '-1h', '1d', 'h', '1h 30m', '1H', '+5m']) {
      expect(() => parseGoDuration(bad)).toThrow(ConfigError);
    }
    expect(resolveSessionDuration({ app: '15m' })).toBe(900);
    expect(() => resolveSessionDuration({ policy: '0s' })).toThrow('the session duration `0s` must be at least `1s`');
  });

  it('parses any h/m/s combination to its sum (property)', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(59), fc.nat(59), (h, m, s) => {
        expect(parseGoDuration(`${h}h${m}m${s}s`)).toBe(((h * 60 + m) * 60 + s) * 1000);
      }),
    );
  });
});

describe('revocation list', () => {
  it('revokes sessions issued at or before notBefore (plus the clock tolerance), and never moves a revocation back', () => {
    const list = createMemoryRevocationList();
    list.revokeUser(['ada@contoso.com'], 100);
    const exact = { toleranceSeconds: 0 };
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 100, ...exact })).toBe(true);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 101, ...exact })).toBe(false);
    // By default a credential issued up to 60 s after the revocation counts as revoked (clock skew).
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 160 })).toBe(true);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 161 })).toBe(false);
    list.revokeUser(['ada@contoso.com'], 50);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: 99, ...exact })).toBe(true);
    list.revokeApp('app', 200);
    expect(list.isRevoked({ subjects: ['bob'], appId: 'app', issuedAt: 150, ...exact })).toBe(true);
    expect(list.isRevoked({ subjects: ['bob'], appId: 'other', issuedAt: 150, ...exact })).toBe(false);
    expect(list.isRevoked({ subjects: ['bob'], issuedAt: 150, ...exact })).toBe(false);
  });

  it('matches the reference model on random operations (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('user' as const), subject: fc.constantFrom('a', 'b', 'c'), at: fc.nat(100) }),
      fc.record({ kind: fc.constant('app' as const), subject: fc.constantFrom('x', 'y'), at: fc.nat(100) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 20 }),
        fc.constantFrom('a', 'b', 'c'),
        fc.constantFrom('x', 'y'),
        fc.nat(100),
        fc.nat(30),
        (ops, subject, app, iat, tolerance) => {
          const list = createMemoryRevocationList();
          for (const o of ops) o.kind === 'user' ? list.revokeUser([o.subject], o.at) : list.revokeApp(o.subject, o.at);
          const expected = ops.some((o) => (o.kind === 'user' ? o.subject === subject : o.subject === app) && o.at + tolerance >= iat);
          expect(list.isRevoked({ subjects: [subject], appId: app, issuedAt: iat, toleranceSeconds: tolerance })).toBe(expected);
        },
      ),
    );
  });

  it('compares subjects and apps case-insensitively, and fails closed on a session without a valid issuedAt', () => {
    const list = createMemoryRevocationList();
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: Number.NaN })).toBe(true);
    list.revokeUser(['Ada@Contoso.com'], 100);
    list.revokeApp('App-AUD', 100);
    expect(list.isRevoked({ subjects: ['ADA@contoso.com'], issuedAt: 100 })).toBe(true);
    expect(list.isRevoked({ subjects: ['bob'], appId: 'app-aud', issuedAt: 100 })).toBe(true);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: Number.POSITIVE_INFINITY })).toBe(true);
    expect(() => list.revokeUser(['ada'], Number.NaN)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('forgets revocations past maxAgeSeconds, as they are added and on prune(); without it keeps them', () => {
    let clock = 1_000_000_000;
    const list = createMemoryRevocationList({ maxAgeSeconds: 3600, now: () => clock });
    const sec = () => Math.floor(clock / 1000);
    list.revokeUser(['old@contoso.com'], sec());
    list.revokeApp('old-app', sec());
    const issuedBefore = sec() - 10;
    clock += 3000 * 1000;
    list.revokeUser(['recent@contoso.com'], sec());
    // Within the retention both still hold.
    expect(list.isRevoked({ subjects: ['old@contoso.com'], issuedAt: issuedBefore })).toBe(true);
    clock += 1000 * 1000; // the old ones are now 4000 s old, the recent one 1000 s
    list.revokeUser(['another@contoso.com'], sec());
    expect(list.isRevoked({ subjects: ['old@contoso.com'], issuedAt: issuedBefore })).toBe(false);
    expect(list.isRevoked({ subjects: ['x'], appId: 'old-app', issuedAt: issuedBefore })).toBe(false);
    expect(list.isRevoked({ subjects: ['recent@contoso.com'], issuedAt: issuedBefore })).toBe(true);
    clock += 3000 * 1000;
    expect(list.prune()).toBe(1);
    expect(list.isRevoked({ subjects: ['recent@contoso.com'], issuedAt: issuedBefore })).toBe(false);
    expect(list.isRevoked({ subjects: ['another@contoso.com'], issuedAt: issuedBefore })).toBe(true);

    const forever = createMemoryRevocationList({ now: () => clock });
    forever.revokeUser(['kept@contoso.com'], 1);
    clock += 10 * 365 * 86_400_000;
    expect(forever.prune()).toBe(1);
    expect(forever.isRevoked({ subjects: ['kept@contoso.com'], issuedAt: 0 })).toBe(true);
    expect(() => createMemoryRevocationList({ maxAgeSeconds: 0 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });
});

describe('return-to', () => {
  it('only ever yields a same-origin path (property)', () => {
    const base = 'http://entragate.invalid';
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.webUrl(),
          fc.webPath(),
          fc.string().map((s) => `/${s}`),
          fc.string().map((s) => `//${s}`),
          // Dot segments that collapse into `//host` once parsed: the open redirect `/.//evil.com` (regression).
          fc
            .tuple(fc.constantFrom('/./', '/../', '/%2e/', '/%2E%2e/', '/a/../', '/a/b/../../'), fc.constantFrom('/', '\\', '/\\'), fc.webSegment())
            .map(([dots, sep, host]) => `${dots}${sep}${host}`),
        ),
        (value) => {
          const out = safeReturnTo(value, '/');
          expect(out.startsWith('/')).toBe(true);
          expect(out.startsWith('//') || out.startsWith('/\\')).toBe(false);
          expect(new URL(out, base).origin).toBe(base);
        },
      ),
    );
  });
});

describe('identity store', () => {
  it('never serves an identity after its session exp', async () => {
    const clock = fakeClock();
    const store = createMemoryIdentityStore({ now: clock.now });
    const id = await identity();
    store.set('n', { identity: id, issuedAt: 0 }, Math.floor(clock.now() / 1000) + 10);
    expect(store.get('n')).toBeDefined();
    clock.advance(10_000);
    expect(store.get('n')).toBeUndefined();
  });

  it('refuses a valid session whose identity the store no longer holds', async () => {
    const login = loginWith();
    const { token, claims } = await login.createSession(await identity());
    await login.identities.delete(claims.identity_nonce);
    const e = await rejection(login.verifySession(token));
    expect(e.code).toBe('ERR_SESSION_REVOKED');
    expect(e.message).toContain('no longer held');
  });

  it('answers an identity store that throws with a 503 outage, not a bad session (regression: a plain error escaped as a 500)', async () => {
    const inner = createMemoryIdentityStore();
    let down = false;
    const login = loginWith({
      identities: {
        get: async (n) => {
          if (down) throw new Error('connect ECONNREFUSED 10.0.0.7:6379');
          return inner.get(n);
        },
        set: (n, v, e) => inner.set(n, v, e),
        delete: (n) => inner.delete(n),
      },
    });
    const { token } = await login.createSession(await identity(), { durationSeconds: 60 });
    down = true;
    const error = await login.verifySession(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503, message: 'the identity store could not be read' });
    const response = await login.identity({ headers: { cookie: `CF_Authorization=${token}` } });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ code: 'ERR_STORE_UNAVAILABLE', err: 'the session store is unavailable' });
  });

  it('accepts an asynchronous identity store', async () => {
    const inner = createMemoryIdentityStore();
    const login = loginWith({
      identities: {
        get: async (n) => inner.get(n),
        set: async (n, v, e) => inner.set(n, v, e),
        delete: async (n) => inner.delete(n),
      },
    });
    const id = await identity();
    const { token } = await login.createSession(id, { durationSeconds: 60, country: 'DE' });
    const result = await login.verifySession(token);
    expect(result.identity.email).toBe('ada@contoso.com');
    expect(result.country).toBe('DE');
  });
});
