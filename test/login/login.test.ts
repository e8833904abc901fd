import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { createMemoryIdentityStore, LOGIN_CHANNEL_NAMES, type GetIdentityResponse, type IdentityStore, type LoginOptions } from '../../src/login/index.js';
import { StoreError } from '../../src/errors/index.js';
import { TransactionSealer } from '../../src/login/transaction.js';
import { issuerFitsAuthority } from '../../src/login/login.js';
import type { GroupSource } from '../../src/groups/types.js';
import { createGraphGroupSource } from '../../src/graph/index.js';
import { createDirectoryGroupSource, createDirectoryIndex } from '../../src/index.js';
import { createMockGraph } from '../../src/testing/index.js';
import { browse, CookieJar, fakeClock, fetchWithJar, startApp, TX_SECRET, type App, type Hop } from './harness.js';

let entra: MockEntra;
const apps: App[] = [];
beforeAll(async () => {
  entra = await createMockEntra();
});
afterEach(async () => {
  while (apps.length > 0) await apps.pop()!.close();
  entra.login.reset();
});
afterAll(async () => {
  await entra.close();
});

async function app(options: Parameters<typeof startApp>[1] = {}): Promise<App> {
  const a = await startApp(entra, options);
  apps.push(a);
  return a;
}

function user(email = `u${randomUUID().slice(0, 8)}@contoso.com`): { oid: string; email: string } {
  const oid = randomUUID();
  entra.login.nextUser = { claims: { oid, email, name: 'Ada Lovelace' } };
  return { oid, email };
}

async function me(jar: CookieJar, a: App, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const hop = await fetchWithJar(jar, a.url, `${a.url}/me`, headers);
  return { status: hop.status, body: (await hop.response.json()) as Record<string, unknown> };
}

/** Runs a full login in a fresh jar and returns the jar and the hops. */
async function signIn(a: App, path = '/auth/login?returnTo=%2Fdashboard', intercept?: (u: URL) => URL | undefined): Promise<{ jar: CookieJar; hops: Hop[] }> {
  const jar = new CookieJar();
  const hops = await browse(jar, a.url, `${a.url}${path}`, intercept);
  return { jar, hops };
}

/** What a browser sends on a same-origin navigation (fetch metadata). */
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' } as const;

function errorOf(hop: Hop): string | null {
  return hop.response.headers.get('x-entragate-error');
}

describe('login: the full authorization-code flow against the mock', () => {
  it('logs in with PKCE: the mock sees an S256 challenge and verifies the verifier', async () => {
    const a = await app({ idp: { config: { pkce_enabled: true, prompt: 'select_account' } } });
    const u = user();
    const { jar, hops } = await signIn(a);
    expect(hops.map((h) => h.status)).toEqual([302, 302, 302, 200]);
    expect(new URL(hops[0]!.location!).pathname).toBe(`/${entra.tenantId}/oauth2/v2.0/authorize`);
    expect(hops.at(-1)!.url).toBe(`${a.url}/dashboard`);
    const seen = entra.login.authorizations.at(-1)!;
    expect(seen).toMatchObject({ client_id: entra.clientId, response_type: 'code', code_challenge_method: 'S256', prompt: 'select_account', outcome: 'code' });
    expect(seen.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(seen.scope!.split(' ')).toEqual(['openid', 'profile', 'email']);
    expect(seen.state).toBeTruthy();
    expect(seen.nonce).toBeTruthy();
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({
      grant_type: 'authorization_code',
      pkce: 'verified',
      outcome: 'ok',
      clientAuth: 'client_secret_post',
    });
    const session = jar.get('CF_Authorization');
    expect(session).toBeDefined();
    // The transaction cookie is gone after the callback.
    expect([...jar.cookies.keys()].filter((n) => n.startsWith('CF_Login'))).toEqual([]);
    const who = await me(jar, a);
    expect(who).toEqual({ status: 200, body: { kind: 'session', email: u.email, oid: u.oid, groups: [] } });
  });

  it('logs in without PKCE when pkce_enabled is off: no challenge is sent and the mock checks none', async () => {
    const a = await app({ idp: { config: { pkce_enabled: false } } });
    const u = user();
    const { jar } = await signIn(a);
    expect(entra.login.authorizations.at(-1)).toMatchObject({ code_challenge: null, code_challenge_method: null, prompt: null });
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ pkce: 'not-used', outcome: 'ok' });
    expect((await me(jar, a)).body.email).toBe(u.email);
  });

  it('authenticates with client_secret_basic when configured', async () => {
    const a = await app({ login: () => ({ clientAuth: 'client_secret_basic' }) });
    user();
    const { jar } = await signIn(a);
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ clientAuth: 'client_secret_basic', outcome: 'ok' });
    expect((await me(jar, a)).status).toBe(200);
  });

  it('sets the session cookie HttpOnly, Secure, SameSite=Lax, Path=/ with the session Max-Age', async () => {
    const a = await app({ login: () => ({ cookie: { secure: true } }), gate: { applications: { portal: { policies: [], session_duration: '8h' } } } });
    user();
    const { hops } = await signIn(a);
    const callback = hops.find((h) => h.url.includes('/auth/callback'))!;
    const line = callback.setCookies.find((c) => c.startsWith('CF_Authorization='))!;
    const attrs = line.split('; ').slice(1);
    expect(attrs).toEqual(['Path=/', 'Max-Age=28800', 'HttpOnly', 'Secure', 'SameSite=Lax']);
    const start = hops[0]!.setCookies[0]!;
    expect(start).toMatch(/^CF_Login_[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]+; Path=\/auth\/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('omits Secure only when told to for local http', async () => {
    const a = await app();
    user();
    const { hops } = await signIn(a);
    const line = hops.flatMap((h) => h.setCookies).find((c) => c.startsWith('CF_Authorization='))!;
    expect(line).not.toContain('Secure');
    expect(line).toContain('HttpOnly');
  });

  it('carries the claims of a Cloudflare app token and keeps groups out of it', async () => {
    const a = await app({ login: () => ({ audience: 'aud-tag-1', issuer: 'https://team.example.com' }) });
    const u = user();
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, groups: [randomUUID()] } };
    const { jar } = await signIn(a);
    const token = jar.get('CF_Authorization')!;
    const [h, p] = token
      .split('.')
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>);
    expect(h).toEqual({ alg: 'ES256', kid: 'k1', typ: 'JWT' });
    expect(p).toMatchObject({ aud: ['aud-tag-1'], email: u.email, sub: u.oid, iss: 'https://team.example.com', type: 'app', country: 'FR' });
    expect(p!.identity_nonce).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(p!.nbf).toBe(p!.iat);
    expect((p!.exp as number) - (p!.iat as number)).toBe(86_400);
    expect(p).not.toHaveProperty('groups');
  });

  it('serves get-identity with the groups kept server-side', async () => {
    const a = await app();
    const u = user();
    const g = randomUUID();
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, name: 'Ada', groups: [g], amr: ['pwd', 'mfa'] } };
    const { jar } = await signIn(a);
    const hop = await fetchWithJar(jar, a.url, `${a.url}/cdn-cgi/access/get-identity`);
    expect(hop.status).toBe(200);
    const body = (await hop.response.json()) as GetIdentityResponse;
    expect(body).toMatchObject({
      email: u.email,
      name: 'Ada',
      user_uuid: u.oid,
      idp: { id: 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415', type: 'azureAD' },
      amr: ['pwd', 'mfa'],
      groups: [{ id: g }],
      geo: { country: 'FR' },
      membership: { state: 'complete', source: 'token' },
    });
    const anonymous = await fetchWithJar(new CookieJar(), a.url, `${a.url}/cdn-cgi/access/get-identity`);
    expect(anonymous.status).toBe(401);
    // RFC 7235 §3.1: a 401 carries a challenge (regression: it had none).
    expect(anonymous.response.headers.get('www-authenticate')).toBe('Bearer realm="entragate"');
    expect(await anonymous.response.json()).toEqual({ code: 'ERR_TOKEN_MISSING', err: 'no session cookie or bearer token was presented' });
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const forged = await fetchWithJar(new CookieJar(), a.url, `${a.url}/cdn-cgi/access/get-identity`, {
      cookie: `CF_Authorization=${b64({ alg: 'ES256', kid: 'k\u2603' })}.${b64({})}.c2ln`,
    });
    expect(forged.status).toBe(401);
    expect(forged.response.headers.get('www-authenticate')).toBe(
      'Bearer realm="entragate", error="invalid_token", error_description="the session key `k?` is unknown"',
    );
    expect(await forged.response.json()).toEqual({ code: 'ERR_SESSION_INVALID', err: 'the session key `k\u2603` is unknown' });
  });
});

describe('login: refused callbacks never make a session', () => {
  function noSession(jar: CookieJar, hops: Hop[]): void {
    expect(jar.get('CF_Authorization')).toBeUndefined();
    expect(hops.flatMap((h) => h.setCookies).some((c) => c.startsWith('CF_Authorization=') && !c.includes('Max-Age=0'))).toBe(false);
  }

  it('refuses a tampered state', async () => {
    const a = await app();
    user();
    const { jar, hops } = await signIn(a, '/auth/login', (next) => {
      if (next.pathname === '/auth/callback') next.searchParams.set('state', `${next.searchParams.get('state')}x`);
      return next;
    });
    const last = hops.at(-1)!;
    expect(last.status).toBe(400);
    expect(errorOf(last)).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(await last.response.text()).toContain('matches no transaction of this browser');
    expect(entra.login.tokenRequests).toHaveLength(0);
    noSession(jar, hops);
  });

  it('refuses a callback without state, and one whose transaction cookie is missing', async () => {
    const a = await app();
    const jar = new CookieJar();
    const noState = await fetchWithJar(jar, a.url, `${a.url}/auth/callback?code=abc`);
    expect(noState.status).toBe(400);
    expect(errorOf(noState)).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(await noState.response.text()).toContain('the login callback has no `state`');
    const forged = await fetchWithJar(jar, a.url, `${a.url}/auth/callback?code=abc&state=forged`);
    expect(errorOf(forged)).toBe('ERR_LOGIN_STATE_MISMATCH');
    noSession(jar, [noState, forged]);
  });

  it('refuses a reused state (the same callback replayed with its transaction cookie)', async () => {
    const a = await app();
    user();
    const jar = new CookieJar();
    let callbackUrl = '';
    let txCookie: [string, string] | undefined;
    const hops = await browse(jar, a.url, `${a.url}/auth/login`, (next) => {
      if (next.pathname === '/auth/callback') {
        callbackUrl = next.href;
        const entry = [...jar.cookies].find(([n]) => n.startsWith('CF_Login'))!;
        txCookie = [entry[0], entry[1].value];
      }
      return next;
    });
    expect(hops.at(-1)!.status).toBe(200);
    const replayJar = new CookieJar();
    replayJar.cookies.set(txCookie![0], { value: txCookie![1], path: '/auth/callback' });
    const replay = await fetchWithJar(replayJar, a.url, callbackUrl);
    expect(replay.status).toBe(400);
    expect(errorOf(replay)).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(await replay.response.text()).toContain('was already used');
    expect(replayJar.get('CF_Authorization')).toBeUndefined();
  });

  it('refuses an expired transaction', async () => {
    const clock = fakeClock();
    const a = await app({ login: () => ({ now: clock.now }) });
    user();
    const { jar, hops } = await signIn(a, '/auth/login', (next) => {
      if (next.pathname === '/auth/callback') clock.advance(601_000);
      return next;
    });
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(await hops.at(-1)!.response.text()).toContain('expired');
    noSession(jar, hops);
  });

  it('refuses a replayed authorization code: the mock answers invalid_grant (AADSTS54005)', async () => {
    const a = await app();
    user();
    let firstCode = '';
    const first = await signIn(a, '/auth/login', (next) => {
      if (next.pathname === '/auth/callback') firstCode = next.searchParams.get('code')!;
      return next;
    });
    expect(first.hops.at(-1)!.status).toBe(200);
    // A second login gets a fresh valid state; its callback is fed the spent code.
    user();
    const { jar, hops } = await signIn(a, '/auth/login', (next) => {
      if (next.pathname === '/auth/callback') next.searchParams.set('code', firstCode);
      return next;
    });
    const last = hops.at(-1)!;
    expect(last.status).toBe(400);
    expect(errorOf(last)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(await last.response.text()).toContain('`invalid_grant` (AADSTS54005)');
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ outcome: 'invalid_grant', aadsts: 'AADSTS54005' });
    noSession(jar, hops);
  });

  async function tamperTransaction(change: (tx: Record<string, unknown>) => void): Promise<{ jar: CookieJar; hops: Hop[] }> {
    const a = await app({ idp: { config: { pkce_enabled: true } } });
    user();
    const jar = new CookieJar();
    const sealer = new TransactionSealer(TX_SECRET);
    const hops = await browse(jar, a.url, `${a.url}/auth/login`, (next) => {
      if (next.pathname === '/auth/callback') {
        const [name, cookie] = [...jar.cookies].find(([n]) => n.startsWith('CF_Login'))!;
        const tx = sealer.open(cookie.value, name)! as unknown as Record<string, unknown>;
        expect(typeof tx.verifier).toBe('string');
        change(tx);
        cookie.value = sealer.seal(tx as never, name);
      }
      return next;
    });
    return { jar, hops };
  }

  it('refuses a wrong PKCE verifier: the mock hashes it and refuses (AADSTS501481)', async () => {
    const { jar, hops } = await tamperTransaction((tx) => {
      tx.verifier = 'A'.repeat(43);
    });
    const last = hops.at(-1)!;
    expect(errorOf(last)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(await last.response.text()).toContain('AADSTS501481');
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ pkce: 'mismatch', outcome: 'invalid_grant' });
    noSession(jar, hops);
  });

  it('refuses a missing PKCE verifier when a challenge was sent (AADSTS50148)', async () => {
    const { jar, hops } = await tamperTransaction((tx) => {
      delete tx.verifier;
    });
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ pkce: 'missing', aadsts: 'AADSTS50148' });
    noSession(jar, hops);
  });

  it('refuses a transaction cookie that was altered without the secret', async () => {
    const a = await app();
    user();
    const jar = new CookieJar();
    const hops = await browse(jar, a.url, `${a.url}/auth/login`, (next) => {
      if (next.pathname === '/auth/callback') {
        const [, cookie] = [...jar.cookies].find(([n]) => n.startsWith('CF_Login'))!;
        const raw = Buffer.from(cookie.value, 'base64url');
        raw[20] = raw[20]! ^ 1;
        cookie.value = raw.toString('base64url');
      }
      return next;
    });
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(entra.login.tokenRequests).toHaveLength(0);
    noSession(jar, hops);
  });

  it('ends in a failure page when Entra returns error=access_denied', async () => {
    const a = await app();
    entra.login.nextError = { error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' };
    const { jar, hops } = await signIn(a);
    const last = hops.at(-1)!;
    expect(last.status).toBe(400);
    expect(errorOf(last)).toBe('ERR_LOGIN_IDP_ERROR');
    expect(last.response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await last.response.text()).toContain('entra refused the login: `access_denied`: AADSTS65004');
    expect(entra.login.authorizations.at(-1)!.outcome).toBe('error');
    // The transaction cookie is cleared too.
    expect(last.setCookies.some((c) => c.startsWith('CF_Login') && c.includes('Max-Age=0'))).toBe(true);
    noSession(jar, hops);
  });

  it('escapes what the callback query carries in the failure page', async () => {
    const a = await app();
    const hop = await fetchWithJar(new CookieJar(), a.url, `${a.url}/auth/callback?error=%3Cscript%3E&error_description=%3Cimg%3E`);
    const html = await hop.response.text();
    expect(errorOf(hop)).toBe('ERR_LOGIN_IDP_ERROR');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img>');
  });

  it('refuses a wrong client secret (invalid_client)', async () => {
    const a = await app({ login: () => ({ clientSecret: 'not-the-secret' }) });
    user();
    const { jar, hops } = await signIn(a);
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(await hops.at(-1)!.response.text()).toContain('`invalid_client` (AADSTS7000215)');
    noSession(jar, hops);
  });

  it('answers 503 when discovery is down, and recovers when it is back', async () => {
    const a = await app();
    entra.faults.down = true;
    try {
      const hop = await fetchWithJar(new CookieJar(), a.url, `${a.url}/auth/login`);
      expect(hop.status).toBe(503);
      expect(errorOf(hop)).toBe('ERR_JWKS_UNAVAILABLE');
      // A 5xx page does not describe the infrastructure (regression: it named the authority tenant).
      const page = await hop.response.text();
      expect(page).toContain('the identity provider or the directory is unavailable: try again in a moment');
      expect(page).not.toContain(entra.tenantId);
    } finally {
      entra.faults.down = false;
    }
    user();
    const { jar } = await signIn(a);
    expect((await me(jar, a)).status).toBe(200);
  });
});

describe('login: one identity pipeline with the directory (issue 11)', () => {
  const DEVS = '5f1c9a7d-0000-4000-8000-0000000000e1';
  const BLOCKED = '5f1c9a7d-0000-4000-8000-0000000000e2';
  const PARENT = '5f1c9a7d-0000-4000-8000-0000000000e3';

  /** An app on a directory index: `u` active in Devs ⊂ Parent; policies Block `BLOCKED`, Allow `DEVS`. */
  async function directoryApp(behavior: 'automatic' | 'reauth' | 'no_action') {
    const index = createDirectoryIndex();
    const u = { oid: randomUUID(), email: `d${randomUUID().slice(0, 6)}@contoso.com` };
    index.upsertUser({ id: 'u1', externalId: u.oid, userName: u.email, emails: [u.email], active: true });
    index.upsertGroup({ id: 'g-devs', externalId: DEVS, displayName: 'Devs' });
    index.upsertGroup({ id: 'g-blocked', externalId: BLOCKED, displayName: 'Blocked' });
    index.upsertGroup({ id: 'g-parent', externalId: PARENT, displayName: 'Parent' });
    index.addMember('g-parent', 'g-devs');
    index.addMember('g-devs', 'u1');
    const a = await app({
      idp: { scim_config: { enabled: true, user_deprovision: true, identity_update_behavior: behavior } },
      gate: {
        groups: createDirectoryGroupSource({ index }),
        tokenGroups: 'ignore',
        applications: {
          portal: {
            policies: [
              { name: 'Block', decision: 'deny', include: [{ azureAD: { id: BLOCKED } }] },
              { name: 'Devs', decision: 'allow', include: [{ azureAD: { id: DEVS } }] },
            ],
          },
        },
      },
    });
    const portal = async (jar: CookieJar) => {
      const who = await a.login.authenticateRequest({ headers: { cookie: jar.header('/') } });
      return a.gate.authorize(who.identity, { application: 'portal' });
    };
    return { a, index, u, portal };
  }

  it('refuses a fresh login of a user the directory holds as inactive, even with a groups claim (regression: the ID token groups let them back in)', async () => {
    const { a, index, u } = await directoryApp('reauth');
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, groups: [DEVS] } };
    const ok = await signIn(a);
    expect(ok.jar.get('CF_Authorization')).toBeDefined();
    index.upsertUser({ id: 'u1', externalId: u.oid, userName: u.email, emails: [u.email], active: false });
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, groups: [DEVS] } };
    const { jar, hops } = await signIn(a);
    const last = hops.at(-1)!;
    expect(last.status).toBe(403);
    expect(errorOf(last)).toBe('ERR_DIRECTORY_USER_INACTIVE');
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });

  it('puts the nested groups the directory knows in the session, from the directory, not the ID token', async () => {
    const { a, u } = await directoryApp('no_action');
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, groups: [randomUUID()] } };
    const { jar } = await signIn(a);
    const who = await me(jar, a);
    expect((who.body.groups as Array<{ id: string }>).map((g) => g.id).sort()).toEqual([DEVS, PARENT].sort());
  });

  it('automatic: a SCIM move into a Block group and out of the Allow group changes the session’s decision without a new login (regression: the login snapshot decided)', async () => {
    const { a, index, u, portal } = await directoryApp('automatic');
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email } };
    const { jar } = await signIn(a);
    expect((await portal(jar)).allowed).toBe(true);
    const before = (await a.login.authenticateRequest({ headers: { cookie: jar.header('/') } })).identity;
    // Unchanged directory: the same identity object on every request (the policies' caches hold).
    expect((await a.login.authenticateRequest({ headers: { cookie: jar.header('/') } })).identity).toBe(before);
    index.addMember('g-blocked', 'u1');
    index.removeMember('g-devs', 'u1');
    const after = await portal(jar);
    expect(after).toMatchObject({ allowed: false, policy: { name: 'Block' } });
    // Deprovisioned in the directory: the session is refused at once, with no revocation needed.
    index.upsertUser({ id: 'u1', externalId: u.oid, userName: u.email, emails: [u.email], active: false });
    const refused = await a.login.authenticateRequest({ headers: { cookie: jar.header('/') } }).then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(refused?.code).toBe('ERR_DIRECTORY_USER_INACTIVE');
  });

  it('no_action: sessions keep the membership captured at login, even on the directory source', async () => {
    const { a, index, u, portal } = await directoryApp('no_action');
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email } };
    const { jar } = await signIn(a);
    index.addMember('g-blocked', 'u1');
    expect((await portal(jar)).allowed).toBe(true);
  });
});

describe('login: transactions per browser', () => {
  it('keeps at most 4 login transactions per browser: 50 abandoned starts evict the oldest, the callback still works (regression: cookies piled up to a 431)', async () => {
    const a = await app();
    user();
    const jar = new CookieJar();
    for (let i = 0; i < 50; i++) await fetchWithJar(jar, a.url, `${a.url}/auth/login`);
    const pending = [...jar.cookies.keys()].filter((n) => n.startsWith('CF_Login_'));
    expect(pending).toHaveLength(4);
    expect(jar.header('/auth/callback').length).toBeLessThan(2_000);
    // The newest login completes (the ones still held are the latest four).
    const hops = await browse(jar, a.url, `${a.url}/auth/login?returnTo=%2Fdone`);
    expect(hops.at(-1)!.url).toBe(`${a.url}/done`);
    expect(jar.get('CF_Authorization')).toBeDefined();
  });

  it('clears a transaction cookie it cannot open (tampered, or sealed with another secret) at the next start', async () => {
    const a = await app();
    const start = await fetch(`${a.url}/auth/login`, { redirect: 'manual', headers: { cookie: 'CF_Login_AAAAAAAAAAAAAAAA=garbage; other=1' } });
    const cleared = start.headers.getSetCookie().filter((c) => c.startsWith('CF_Login_AAAAAAAAAAAAAAAA=;'));
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toContain('Max-Age=0');
  });
});

describe('login: return-to paths', () => {
  for (const evil of [
    'https://evil.example/',
    '//evil.example/x',
    '/\\evil.example',
    'javascript:alert(1)',
    '/%0d%0aLocation:x',
    '\\\\evil',
    '/.//evil.example',
    '/%2e//evil.example',
    '/a/..//evil.example/x?y',
  ]) {
    it(`refuses the open redirect \`${evil}\` and returns to /`, async () => {
      const a = await app();
      user();
      const { hops } = await signIn(a, `/auth/login?returnTo=${encodeURIComponent(evil)}`);
      const callback = hops.find((h) => h.url.includes('/auth/callback'))!;
      expect(callback.status).toBe(302);
      const location = callback.location!;
      expect(location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\')).toBe(true);
      expect(new URL(location, a.url).origin).toBe(a.url);
    });
  }

  it('keeps a relative path with its query', async () => {
    const a = await app();
    user();
    const { hops } = await signIn(a, `/auth/login?returnTo=${encodeURIComponent('/reports/q?year=2025')}`);
    expect(hops.find((h) => h.url.includes('/auth/callback'))!.location).toBe('/reports/q?year=2025');
  });
});

describe('login: groups at login', () => {
  it('resolves overage through the group source with the delegated Graph token and asks for User.Read', async () => {
    const calls: Array<{ graphToken?: string; oid: string; state: string }> = [];
    const g = randomUUID();
    const source: GroupSource = {
      name: 'graph',
      async resolve(identity, ctx) {
        calls.push({ ...(ctx.graphToken ? { graphToken: ctx.graphToken } : {}), oid: identity.oid, state: identity.membership.state });
        return { groups: [{ id: g, name: 'Security Team' }], membership: { state: 'complete', source: 'graph' } };
      },
    };
    const a = await app({ gate: { groups: source } });
    const u = user();
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'x' } } } };
    const { jar } = await signIn(a);
    expect(entra.login.authorizations.at(-1)!.scope!.split(' ')).toContain('User.Read');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.state).toBe('overage');
    expect(calls[0]!.oid).toBe(u.oid);
    // The token handed to the source is the user's delegated token from the token endpoint.
    expect(entra.login.introspect(calls[0]!.graphToken!)).toMatchObject({ kind: 'delegated', oid: u.oid, clientId: entra.clientId });
    const hop = await fetchWithJar(jar, a.url, `${a.url}/cdn-cgi/access/get-identity`);
    expect(((await hop.response.json()) as GetIdentityResponse).groups).toEqual([{ id: g, name: 'Security Team' }]);
  });

  it('resolves overage end to end through the Graph source and the mock Graph, with the delegated token', async () => {
    const graph = await createMockGraph({
      serveTokenEndpoint: false,
      // The mock Graph accepts the delegated tokens the mock Entra issued, bound to their user.
      acceptToken: (t) => {
        const issued = entra.login.introspect(t);
        return issued?.kind === 'delegated' && issued.oid ? { oid: issued.oid } : false;
      },
    });
    try {
      const u = user();
      const parent = randomUUID();
      const child = randomUUID();
      graph.addUser({ id: u.oid });
      graph.addGroup({ id: parent, displayName: 'Engineering' });
      graph.addGroup({ id: child, displayName: 'Platform' });
      graph.addMember(child, u.oid);
      graph.addMember(parent, child);
      const source = createGraphGroupSource({ tenantId: entra.tenantId, graphHost: graph.url });
      const a = await app({ gate: { groups: source } });
      entra.login.nextUser = { claims: { oid: u.oid, email: u.email, hasgroups: true } };
      const { jar } = await signIn(a);
      const hop = await fetchWithJar(jar, a.url, `${a.url}/cdn-cgi/access/get-identity`);
      const body = (await hop.response.json()) as GetIdentityResponse;
      expect(body.membership).toEqual({ state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] });
      expect(body.groups.map((g) => g.id).sort()).toEqual([parent, child].sort());
      expect(graph.requests.some((r) => r.kind === 'graph')).toBe(true);
    } finally {
      await graph.close();
    }
  });

  it('does not call the source when the token lists the groups', async () => {
    let called = 0;
    const source: GroupSource = {
      name: 'graph',
      resolve: async () => {
        called++;
        return { groups: [], membership: { state: 'complete', source: 'graph' } };
      },
    };
    const a = await app({ gate: { groups: source } });
    const u = user();
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, groups: [randomUUID()] } };
    const { jar } = await signIn(a);
    expect(called).toBe(0);
    expect((await me(jar, a)).status).toBe(200);
  });

  it('fails the login (503, no session) when the groups cannot be resolved', async () => {
    const failures: Array<Record<string, unknown>> = [];
    const listener = (m: unknown): void => void failures.push(m as Record<string, unknown>);
    diagnostics.subscribe(LOGIN_CHANNEL_NAMES.login, listener);
    onTestFinished(() => void diagnostics.unsubscribe(LOGIN_CHANNEL_NAMES.login, listener));
    const source: GroupSource = {
      name: 'graph',
      resolve: async () => ({ groups: [], membership: { state: 'unknown', reason: 'graph is throttling', code: 'ERR_GRAPH_REQUEST_FAILED' } }),
    };
    const a = await app({ gate: { groups: source } });
    const u = user();
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, hasgroups: true } };
    const { jar, hops } = await signIn(a);
    const last = hops.at(-1)!;
    expect(last.status).toBe(503);
    // The source's own code: an outage of Graph, not a user problem.
    expect(errorOf(last)).toBe('ERR_GRAPH_REQUEST_FAILED');
    // The reason goes to the operator on the diagnostics channel, not to the browser.
    expect(await last.response.text()).not.toContain('graph is throttling');
    expect(failures.at(-1)).toMatchObject({ event: 'failure', code: 'ERR_GRAPH_REQUEST_FAILED', message: expect.stringContaining('graph is throttling') });
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });
});

describe('sessions: expiry, revocation and bearer tokens', () => {
  it('expires a session at its exp (fake clock), cached or not', async () => {
    const clock = fakeClock();
    const a = await app({ login: () => ({ now: clock.now }), gate: { applications: { portal: { policies: [], session_duration: '1h' } } } });
    user();
    const { jar } = await signIn(a);
    expect((await me(jar, a)).status).toBe(200);
    clock.advance(3_599_000);
    expect((await me(jar, a)).status).toBe(200);
    clock.advance(1_000);
    const cached = await me(jar, a);
    expect(cached.status).toBe(401);
    expect(cached.body.code).toBe('ERR_SESSION_EXPIRED');
    expect(cached.body.message).toMatch(/^the session expired at \d{4}-/);
    a.login.clearSessionCache();
    expect((await me(jar, a)).body.code).toBe('ERR_SESSION_EXPIRED');
  });

  it('revokes a user at the next request (by oid or by email), and a new login after it works', async () => {
    const clock = fakeClock();
    const a = await app({ login: () => ({ now: clock.now }) });
    const u = user('Ada.Lovelace@Contoso.com');
    const { jar } = await signIn(a);
    expect((await me(jar, a)).status).toBe(200);
    const events: unknown[] = [];
    const listener = (m: unknown): void => void events.push(m);
    diagnostics.subscribe(LOGIN_CHANNEL_NAMES.revoked, listener);
    try {
      await a.login.revokeUser(u.oid.toUpperCase());
      const after = await me(jar, a);
      expect(after).toEqual({
        status: 401,
        body: { code: 'ERR_SESSION_REVOKED', message: 'the credential was issued before a revocation of this user or app: sign in again' },
      });
    } finally {
      diagnostics.unsubscribe(LOGIN_CHANNEL_NAMES.revoked, listener);
    }
    expect(events).toContainEqual(expect.objectContaining({ event: 'revoke-user', subjects: 1 }));
    expect(events).toContainEqual({ event: 'refused', user_uuid: u.oid, code: 'ERR_SESSION_REVOKED' });

    // Within the clock tolerance (60 s) after the revocation, a new login is refused with a clear page
    // rather than issuing a session its first request would refuse.
    clock.advance(30_000);
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email } };
    const soon = await signIn(a);
    expect(soon.hops.at(-1)!.status).toBe(401);
    expect(errorOf(soon.hops.at(-1)!)).toBe('ERR_SESSION_REVOKED');
    expect(await soon.hops.at(-1)!.response.text()).toContain('try again in a minute');
    clock.advance(31_000);
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email } };
    const again = await signIn(a);
    expect((await me(again.jar, a)).status).toBe(200);
    await a.login.revokeUser('ada.lovelace@contoso.com');
    expect((await me(again.jar, a)).body.code).toBe('ERR_SESSION_REVOKED');
  });

  it('revokes every session of an app, and only of that app', async () => {
    const clock = fakeClock();
    const revocations = (await import('../../src/login/index.js')).createMemoryRevocationList();
    const a = await app({ login: () => ({ now: clock.now, audience: 'app-a' }), gate: { revocations } });
    const b = await app({ login: () => ({ now: clock.now, audience: 'app-b' }), gate: { revocations } });
    user();
    const sa = await signIn(a);
    user();
    const sb = await signIn(b);
    await a.login.revokeApp();
    expect((await me(sa.jar, a)).body.code).toBe('ERR_SESSION_REVOKED');
    expect((await me(sb.jar, b)).status).toBe(200);
    // Older than the clock tolerance (60 s) before the session was issued.
    await b.login.revokeApp('app-b', Math.floor(clock.now() / 1000) - 65);
    // A revocation before the session was issued leaves it alone.
    expect((await me(sb.jar, b)).status).toBe(200);
  });

  it('ends the session on logout: the old cookie is refused afterwards', async () => {
    const a = await app();
    user();
    const { jar } = await signIn(a);
    const token = jar.get('CF_Authorization')!;
    const out = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, SAME_ORIGIN);
    expect(out.status).toBe(302);
    expect(out.location).toBe('/');
    expect(out.setCookies[0]).toMatch(/^CF_Authorization=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    expect(jar.get('CF_Authorization')).toBeUndefined();
    const replay = await me(new CookieJar(), a, { cookie: `CF_Authorization=${token}` });
    expect(replay.body.code).toBe('ERR_SESSION_REVOKED');
  });

  /**
   * Signs in through an identity store whose `get` or `delete` fails while `store.down`, then
   * signs out while it is down: the logout must answer 503 and still clear the cookie.
   */
  async function signOutWhileDown(failing: 'get' | 'delete'): Promise<{ a: App; token: string; store: { down: boolean } }> {
    const memory = createMemoryIdentityStore();
    const store = { down: false };
    const unavailable = () => Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'the directory store is unreachable'));
    const identities: IdentityStore = {
      get: (nonce) => (store.down && failing === 'get' ? unavailable() : memory.get(nonce)),
      set: (nonce, value, exp) => memory.set(nonce, value, exp),
      delete: (nonce) => (store.down && failing === 'delete' ? unavailable() : memory.delete(nonce)),
    };
    const a = await app({ login: () => ({ identities }) });
    user();
    const { jar } = await signIn(a);
    const token = jar.get('CF_Authorization')!;
    store.down = true;
    const out = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, SAME_ORIGIN);
    expect(out.status).toBe(503);
    expect(errorOf(out)).toBe('ERR_STORE_UNAVAILABLE');
    expect(await out.response.text()).toContain('Sign-out failed');
    expect(out.setCookies[0]).toMatch(/^CF_Authorization=; Path=\/; Max-Age=0/);
    return { a, token, store };
  }

  it('does not report a sign-out it could not record: 503, the cookie cleared, the session still refused nowhere else (regression: a failed delete was swallowed)', async () => {
    const { a, token, store } = await signOutWhileDown('delete');
    // The server could not forget the session: a copy of the cookie still opens it, which is why the page says so.
    expect((await me(new CookieJar(), a, { cookie: `CF_Authorization=${token}` })).status).toBe(200);
    store.down = false;
    const retry = await fetchWithJar(new CookieJar(), a.url, `${a.url}/auth/logout`, { ...SAME_ORIGIN, cookie: `CF_Authorization=${token}` });
    expect(retry.status).toBe(302);
    expect((await me(new CookieJar(), a, { cookie: `CF_Authorization=${token}` })).body.code).toBe('ERR_SESSION_REVOKED');
  });

  it('does not report a sign-out as done when the store cannot even read the session: 503 (regression: the read failure was taken for "nothing to end")', async () => {
    const { a, token, store } = await signOutWhileDown('get');
    store.down = false;
    const retry = await fetchWithJar(new CookieJar(), a.url, `${a.url}/auth/logout`, { ...SAME_ORIGIN, cookie: `CF_Authorization=${token}` });
    expect(retry.status).toBe(302);
    expect((await me(new CookieJar(), a, { cookie: `CF_Authorization=${token}` })).body.code).toBe('ERR_SESSION_REVOKED');
    // A session that is already invalid has nothing left to end: still a plain sign-out.
    const stale = await fetchWithJar(new CookieJar(), a.url, `${a.url}/auth/logout`, { ...SAME_ORIGIN, cookie: `CF_Authorization=${token}` });
    expect(stale.status).toBe(302);
  });

  it('refuses a cross-site logout and a HEAD with a confirmation page (regression: any site could end the session)', async () => {
    const a = await app({ login: () => ({ logoutRevokes: 'user' }) });
    user();
    const { jar } = await signIn(a);
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { origin: 'null' }] as Array<Record<string, string>>) {
      const forced = await fetchWithJar(jar, a.url, `${a.url}/auth/logout?next=%22%3E%3Cscript%3E`, headers);
      expect(forced.status).toBe(200);
      expect(forced.setCookies).toEqual([]);
      const page = await forced.response.text();
      expect(page).toContain('<form method="post" action="/auth/logout"><button type="submit">Sign out</button></form>');
      expect(page).not.toContain('<script>');
    }
    const head = await fetch(`${a.url}/auth/logout`, { method: 'HEAD', headers: { cookie: jar.header('/auth/logout') } });
    expect(head.status).toBe(200);
    expect(head.headers.getSetCookie()).toEqual([]);
    expect((await me(jar, a)).status).toBe(200);
    const confirmed = await fetch(`${a.url}/auth/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header('/auth/logout'), 'sec-fetch-site': 'same-origin', origin: a.url },
    });
    expect(confirmed.status).toBe(302);
    expect(confirmed.headers.getSetCookie()[0]).toMatch(/^CF_Authorization=; /);
    expect((await me(jar, a)).body.code).toBe('ERR_SESSION_REVOKED');
  });

  it('refuses a sign-out posted from a sibling subdomain, and keeps the session (regression: same-site was trusted)', async () => {
    const a = await app({ login: () => ({ logoutRevokes: 'user' }) });
    user();
    const { jar } = await signIn(a);
    const cookie = jar.header('/auth/logout');
    const post = (headers: Record<string, string>) => fetch(`${a.url}/auth/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, ...headers } });
    // A page on evil.example.com (same site as app.example.com) posts the form: Origin is foreign.
    const sibling = await post({ 'sec-fetch-site': 'same-site', origin: 'http://evil.127.0.0.1.nip.io' });
    expect(sibling.status).toBe(403);
    expect(sibling.headers.get('x-entragate-error')).toBe('ERR_LOGIN_ORIGIN_MISMATCH');
    expect(sibling.headers.getSetCookie()).toEqual([]);
    // Without Origin, the Referer decides; a foreign one is refused the same way.
    const byReferer = await post({ referer: 'http://evil.example/page' });
    expect(byReferer.status).toBe(403);
    // Neither header (an old client): the confirmation page, nothing changes.
    const bare = await post({});
    expect(bare.status).toBe(200);
    expect(await bare.text()).toContain('<form method="post"');
    // A same-site GET (a link or an <img> on a sibling subdomain) and an unlabelled GET change nothing either.
    for (const headers of [{ 'sec-fetch-site': 'same-site' }, {}] as Array<Record<string, string>>) {
      const get = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, headers);
      expect(get.status).toBe(200);
      expect(get.setCookies).toEqual([]);
    }
    expect((await me(jar, a)).status).toBe(200);
    // Positive control: the app's own origin signs out.
    const own = await post({ 'sec-fetch-site': 'same-origin', origin: a.url });
    expect(own.status).toBe(302);
    expect((await me(jar, a)).body.code).toBe('ERR_SESSION_REVOKED');
  });

  it('signs out of Entra too when entraLogout is set', async () => {
    const a = await app({ login: () => ({ entraLogout: true, logoutRevokes: 'user' }) });
    user();
    const { jar } = await signIn(a);
    const first = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, SAME_ORIGIN);
    const hops = [first, ...(await browse(jar, a.url, new URL(first.location!, a.url).href))];
    expect(new URL(hops[0]!.location!).pathname).toBe(`/${entra.tenantId}/oauth2/v2.0/logout`);
    expect(entra.login.logouts.at(-1)!.post_logout_redirect_uri).toBe(`${a.url}/`);
    expect(hops.at(-1)!.url).toBe(`${a.url}/`);
  });

  it('takes a bearer token first, and applies user revocations to it', async () => {
    const clock = fakeClock();
    const a = await app({ login: () => ({ now: clock.now }) });
    const oid = randomUUID();
    const token = entra.mintToken({ audience: `api://${entra.clientId}`, claims: { oid, email: 'api@contoso.com' } });
    const ok = await me(new CookieJar(), a, { authorization: `Bearer ${token}` });
    expect(ok).toEqual({ status: 200, body: { kind: 'bearer', email: 'api@contoso.com', oid, groups: [] } });
    const bad = await me(new CookieJar(), a, { authorization: 'Bearer not.a.token' });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe('ERR_TOKEN_MALFORMED');
    clock.advance(60_000);
    await a.login.revokeUser(oid);
    const revoked = await me(new CookieJar(), a, { authorization: `Bearer ${token}` });
    expect(revoked.body.code).toBe('ERR_SESSION_REVOKED');
  });

  it('answers ERR_TOKEN_MISSING with neither a cookie nor a bearer token', async () => {
    const a = await app();
    expect((await me(new CookieJar(), a)).body).toEqual({ code: 'ERR_TOKEN_MISSING', message: 'no session cookie or bearer token was presented' });
  });
});

describe('login: diagnostics', () => {
  it('publishes start, success and failure without tokens, codes or secrets', async () => {
    const a = await app({ idp: { config: { pkce_enabled: true } } });
    const messages: unknown[] = [];
    const listener = (m: unknown): void => void messages.push(m);
    diagnostics.subscribe(LOGIN_CHANNEL_NAMES.login, listener);
    let code = '';
    try {
      const u = user();
      const { jar } = await signIn(a, '/auth/login', (next) => {
        if (next.pathname === '/auth/callback') code = next.searchParams.get('code')!;
        return next;
      });
      entra.login.nextError = { error: 'access_denied', error_description: 'AADSTS65004: declined' };
      await signIn(a);
      const text = JSON.stringify(messages);
      expect(messages).toContainEqual({ event: 'start', pkce: true });
      expect(messages).toContainEqual({ event: 'success', user_uuid: u.oid, duration: 86_400 });
      expect(messages).toContainEqual({ event: 'failure', code: 'ERR_LOGIN_IDP_ERROR', message: 'entra refused the login: `access_denied`: AADSTS65004' });
      expect(text).not.toContain(code);
      expect(text).not.toContain(jar.get('CF_Authorization')!);
      expect(text).not.toContain(entra.clientSecret);
    } finally {
      diagnostics.unsubscribe(LOGIN_CHANNEL_NAMES.login, listener);
    }
  });
});

describe('login: multi-tenant through `organizations`', () => {
  const [HOME, PARTNER, STRANGER] = [randomUUID(), randomUUID(), randomUUID()];
  let multi: MockEntra;
  const started: App[] = [];
  beforeAll(async () => {
    multi = await createMockEntra({ tenants: [HOME, PARTNER, STRANGER] });
  });
  afterEach(async () => {
    while (started.length > 0) await started.pop()!.close();
    multi.login.reset();
  });
  afterAll(async () => {
    await multi.close();
  });

  async function multiApp(tenants: string[] | '*', extra: Partial<LoginOptions> = {}): Promise<App> {
    const a = await startApp(multi, { gate: { tenants }, login: () => ({ authorityTenant: 'organizations', ...extra }) });
    started.push(a);
    return a;
  }

  function signInAs(tenant: string): { oid: string; email: string } {
    const oid = randomUUID();
    const email = `u${oid.slice(0, 6)}@partner.example`;
    multi.login.nextUser = { tenant, claims: { oid, email } };
    return { oid, email };
  }

  async function getIdentity(jar: CookieJar, a: App): Promise<Record<string, unknown>> {
    const hop = await fetchWithJar(jar, a.url, `${a.url}/cdn-cgi/access/get-identity`);
    expect(hop.status).toBe(200);
    return (await hop.response.json()) as Record<string, unknown>;
  }

  it('signs in a user of an allowed tenant through the organizations endpoints (regression: the `{tenantid}` issuer failed off login.microsoftonline.com)', async () => {
    const a = await multiApp([PARTNER]);
    const u = signInAs(PARTNER);
    const jar = new CookieJar();
    const hops = await browse(jar, a.url, `${a.url}/auth/login`);
    expect(new URL(hops[0]!.location!).pathname).toBe('/organizations/oauth2/v2.0/authorize');
    expect(multi.login.tokenRequests.at(-1)).toMatchObject({ tenant: 'organizations', outcome: 'ok' });
    expect(hops.at(-1)!.status).toBe(200);
    expect(await me(jar, a)).toMatchObject({ status: 200, body: { kind: 'session', email: u.email, oid: u.oid } });
    expect(await getIdentity(jar, a)).toMatchObject({ email: u.email, user_uuid: u.oid });
  });

  it('refuses a tenant off the allow-list with no session, and admits any tenant with "*"', async () => {
    const a = await multiApp([PARTNER]);
    signInAs(STRANGER);
    const jar = new CookieJar();
    const hops = await browse(jar, a.url, `${a.url}/auth/login`);
    expect(errorOf(hops.at(-1)!)).toBe('ERR_TOKEN_TENANT_NOT_ALLOWED');
    expect(jar.get('CF_Authorization')).toBeUndefined();

    const open = await multiApp('*');
    const u = signInAs(STRANGER);
    const jar2 = new CookieJar();
    await browse(jar2, open.url, `${open.url}/auth/login`);
    expect(await me(jar2, open)).toMatchObject({ status: 200, body: { email: u.email } });
  });

  it('still checks the nonce, now that only the gate reads the ID token', async () => {
    const a = await multiApp([PARTNER]);
    signInAs(PARTNER);
    const jar = new CookieJar();
    // The mock puts the nonce it is sent into the ID token: send it another one.
    const hops = await browse(jar, a.url, `${a.url}/auth/login`, (next) => {
      if (next.pathname.endsWith('/authorize')) next.searchParams.set('nonce', 'not-the-login-nonce');
      return next;
    });
    expect(multi.login.authorizations.at(-1)!.nonce).toBe('not-the-login-nonce');
    expect(errorOf(hops.at(-1)!)).toBe('ERR_TOKEN_NONCE_MISMATCH');
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });

  it('refuses a discovery document whose issuer belongs to another authority, and a token response without an ID token', async () => {
    const rewrite = (edit: (url: string, body: Record<string, unknown>) => void): typeof fetch =>
      (async (input: string | URL | Request, init?: RequestInit) => {
        const response = await fetch(input, init);
        const url = String(input instanceof Request ? input.url : input);
        const body = (await response.json()) as Record<string, unknown>;
        edit(url, body);
        return Response.json(body, { status: response.status });
      }) as typeof fetch;
    const forged = await multiApp([PARTNER], {
      fetch: rewrite((url, body) => {
        if (url.endsWith('/openid-configuration')) body.issuer = 'https://login.evil.example/{tenantid}/v2.0';
      }),
    });
    const hop = await fetchWithJar(new CookieJar(), forged.url, `${forged.url}/auth/login`);
    expect(hop.status).toBe(503);
    expect(errorOf(hop)).toBe('ERR_JWKS_UNAVAILABLE');

    const stripped = await multiApp([PARTNER], {
      fetch: rewrite((url, body) => {
        if (url.endsWith('/token')) delete body.id_token;
      }),
    });
    signInAs(PARTNER);
    const jar = new CookieJar();
    const hops = await browse(jar, stripped.url, `${stripped.url}/auth/login`);
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(await hops.at(-1)!.response.text()).toContain('no `id_token`');
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });
});

describe('login: the ID token checks openid-client no longer makes (OpenID Connect Core 3.1.3.7)', () => {
  async function loginWith(
    claims: Record<string, unknown>,
    gate: NonNullable<Parameters<typeof startApp>[1]>['gate'] = {},
  ): Promise<{ jar: CookieJar; last: Hop }> {
    const a = await app({ gate });
    entra.login.nextUser = { claims: { oid: randomUUID(), email: 'idt@contoso.com', ...claims } };
    const { jar, hops } = await signIn(a);
    return { jar, last: hops.at(-1)! };
  }

  it('refuses an ID token whose audience is not exactly the client id, though the gate accepts that audience for access tokens', async () => {
    for (const aud of [`api://${entra.clientId}`, 'https://api.contoso.example']) {
      const { jar, last } = await loginWith({ aud }, { audiences: ['https://api.contoso.example'] });
      expect(errorOf(last)).toBe('ERR_TOKEN_AUDIENCE_INVALID');
      expect(jar.get('CF_Authorization')).toBeUndefined();
    }
  });

  it('refuses an ID token authorized for another party (azp), even where app tokens are allowed', async () => {
    const { jar, last } = await loginWith({ azp: randomUUID() }, { allowAppTokens: true });
    expect(errorOf(last)).toBe('ERR_TOKEN_AUDIENCE_INVALID');
    expect(jar.get('CF_Authorization')).toBeUndefined();
    const own = await loginWith({ azp: entra.clientId }, { allowAppTokens: true });
    expect(own.jar.get('CF_Authorization')).toBeDefined();
  });

  it('refuses an ID token without a subject', async () => {
    const { jar, last } = await loginWith({ sub: undefined });
    expect(errorOf(last)).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });

  it('reads the ID token only from `id_token`: a token response carrying the set-aside name itself has none', async () => {
    const a = await app({
      login: () => ({
        fetch: (async (input: string | URL | Request, init?: RequestInit) => {
          const response = await fetch(input, init);
          const url = String(input instanceof Request ? input.url : input);
          if (!url.endsWith('/token')) return response;
          const { id_token: idToken, ...rest } = (await response.json()) as Record<string, unknown>;
          return Response.json({ ...rest, entragate_id_token: idToken }, { status: response.status });
        }) as typeof fetch,
      }),
    });
    user();
    const { jar, hops } = await signIn(a);
    expect(errorOf(hops.at(-1)!)).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(jar.get('CF_Authorization')).toBeUndefined();
  });
});

describe('login: issuerFitsAuthority', () => {
  const MSA = '9188040d-6c67-4c5b-b112-36a304b66dad';
  const T = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const cases: Array<[string, string, string, boolean]> = [
    ['https://login.microsoftonline.com', T, `https://login.microsoftonline.com/${T}/v2.0`, true],
    ['https://login.microsoftonline.com', T.toUpperCase(), `https://login.microsoftonline.com/${T}/v2.0`, true],
    ['https://login.microsoftonline.com', T, `https://login.microsoftonline.com/${randomUUID()}/v2.0`, false],
    ['https://login.microsoftonline.com', T, `https://sts.windows.net/${T}/`, false],
    ['https://login.microsoftonline.com', 'organizations', 'https://login.microsoftonline.com/{tenantid}/v2.0', true],
    ['https://login.microsoftonline.com', 'common', 'https://login.microsoftonline.com/{tenantid}/v2.0', true],
    ['https://login.microsoftonline.com', 'organizations', `https://login.microsoftonline.com/${T}/v2.0`, false],
    ['https://login.microsoftonline.com', 'consumers', `https://login.microsoftonline.com/${MSA}/v2.0`, true],
    // The consumers authority is the one MSA tenant, not any tenant.
    ['https://login.microsoftonline.com', 'consumers', `https://login.microsoftonline.com/${T}/v2.0`, false],
    ['https://login.microsoftonline.com', 'contoso.onmicrosoft.com', `https://login.microsoftonline.com/${T}/v2.0`, true],
    ['https://login.microsoftonline.com', 'contoso.onmicrosoft.com', 'https://login.microsoftonline.com/{tenantid}/v2.0', false],
    ['https://login.microsoftonline.com', 'organizations', 'https://login.evil.example/{tenantid}/v2.0', false],
    ['https://login.microsoftonline.com', 'organizations', 'https://login.microsoftonline.com.evil.example/{tenantid}/v2.0', false],
    ['https://login.microsoftonline.us', 'organizations', 'https://login.microsoftonline.us/{tenantid}/v2.0', true],
    ['https://login.microsoftonline.us', T, `https://login.microsoftonline.us/${T}/v2.0`, true],
    ['https://login.microsoftonline.us', T, `https://login.microsoftonline.com/${T}/v2.0`, false],
    // Azure China (21Vianet) serves login.chinacloudapi.cn but issues as login.partner.microsoftonline.cn
    // (MSAL's AuthorityMetadata: "Issuer differs").
    ['https://login.chinacloudapi.cn', 'organizations', 'https://login.partner.microsoftonline.cn/{tenantid}/v2.0', true],
    ['https://login.chinacloudapi.cn', T, `https://login.partner.microsoftonline.cn/${T}/v2.0`, true],
    ['https://login.chinacloudapi.cn', T, `https://login.chinacloudapi.cn/${T}/v2.0`, true],
    ['https://login.chinacloudapi.cn', T, `https://login.microsoftonline.com/${T}/v2.0`, false],
    ['https://login.microsoftonline.com', T, `https://login.partner.microsoftonline.cn/${T}/v2.0`, false],
  ];
  it.each(cases)('authority %s/%s, issuer %s: %s', (host, tenant, issuer, fits) => {
    expect(issuerFitsAuthority(issuer, host, tenant)).toBe(fits);
  });
});
