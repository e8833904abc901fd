import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { LOGIN_CHANNEL_NAMES, type IdentityStore } from '../../src/login/index.js';
import { openDirectoryStore } from '../../src/store/index.js';
import { mockEntraSuite, browse, CookieJar, fakeClock, fetchWithJar, type App } from './harness.js';

const suite = mockEntraSuite();

/** Entra's token endpoint as the app reaches it: `down` answers 503, `stripRefresh` drops the refresh token. */
function tokenEndpoint(): { fetch: typeof fetch; down: boolean; stripRefresh: boolean; bodies: string[] } {
  const control = {
    down: false,
    stripRefresh: false,
    bodies: [] as string[],
    fetch: (async (input, init) => {
      const url = String(input);
      if (!url.endsWith('/oauth2/v2.0/token')) return fetch(input, init);
      if (control.down) return Response.json({ error: 'temporarily_unavailable' }, { status: 503 });
      const response = await fetch(input, init);
      const text = await response.text();
      control.bodies.push(text);
      const body = JSON.parse(text) as Record<string, unknown>;
      if (control.stripRefresh) delete body.refresh_token;
      return Response.json(body, { status: response.status });
    }) as typeof fetch,
  };
  return control;
}

async function app(renewAfterSeconds = 600, identities?: IdentityStore) {
  const clock = fakeClock();
  const endpoint = tokenEndpoint();
  const a = await suite.app({ login: () => ({ now: clock.now, renewAfterSeconds, fetch: endpoint.fetch, ...(identities ? { identities } : {}) }) });
  return { a, clock, endpoint };
}

async function signIn(a: App): Promise<{ jar: CookieJar; oid: string }> {
  const oid = randomUUID();
  suite.entra.login.nextUser = { claims: { oid, email: `u${oid.slice(0, 6)}@contoso.com` } };
  const jar = new CookieJar();
  const hops = await browse(jar, a.url, `${a.url}/auth/login`);
  expect(hops.at(-1)!.status).toBe(200);
  return { jar, oid };
}

async function me(a: App, jar: CookieJar): Promise<{ status: number; code?: string }> {
  const hop = await fetchWithJar(jar, a.url, `${a.url}/me`);
  const body = (await hop.response.json()) as { code?: string; message?: string };
  return { status: hop.status, ...(body.code ? { code: body.code } : {}) };
}

const refreshes = () => suite.entra.login.tokenRequests.filter((r) => r.grant_type === 'refresh_token');

describe('renewal (renewAfterSeconds): sessions confirmed by Entra again with the refresh token', () => {
  it('asks for offline_access, keeps the refresh token server-side only, and renews (with the rotated token) once due', async () => {
    const { a, clock, endpoint } = await app(600);
    const { jar } = await signIn(a);
    expect(suite.entra.login.authorizations.at(-1)!.scope!.split(' ')).toContain('offline_access');
    const refreshToken = (JSON.parse(endpoint.bodies[0]!) as { refresh_token: string }).refresh_token;
    expect(refreshToken).toMatch(/^mock-rt\./);
    // Never in a cookie, and sealed in the identity store.
    expect(jar.received.join('\n')).not.toContain(refreshToken);
    const session = await a.login.authenticate({ headers: { cookie: jar.header('/') } });
    const stored = await a.login.identities.get(session.session.identity_nonce);
    expect(stored!.sealed).toBeDefined();
    expect(JSON.stringify(stored)).not.toContain(refreshToken);

    // Not due yet: no call to Entra.
    clock.advance(599_000);
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes()).toHaveLength(0);
    clock.advance(2_000);
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes().map((r) => r.outcome)).toEqual(['ok']);
    // Confirmed again: not due for another 600 s; then renewed with the rotated token (the mock spent the old one).
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes()).toHaveLength(1);
    clock.advance(601_000);
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes().map((r) => r.outcome)).toEqual(['ok', 'ok']);
  });

  it('ends the session of a user Entra disabled at the next renewal (invalid_grant, AADSTS50057); another user is renewed', async () => {
    const { a, clock } = await app(600);
    const disabled = await signIn(a);
    const active = await signIn(a);
    suite.entra.login.disabledUsers.add(disabled.oid);
    const messages: unknown[] = [];
    const listener = (m: unknown): void => void messages.push(m);
    diagnostics.subscribe(LOGIN_CHANNEL_NAMES.login, listener);
    try {
      clock.advance(601_000);
      expect(await me(a, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_RENEWAL_FAILED' });
      expect(refreshes().at(-1)).toMatchObject({ outcome: 'invalid_grant', aadsts: 'AADSTS50057' });
      // Ended, not merely refused once: its identity is gone, so no copy of the cookie opens it.
      expect(await me(a, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
      // Positive control.
      expect(await me(a, active.jar)).toEqual({ status: 200 });
      expect(refreshes().at(-1)!.outcome).toBe('ok');
      expect(messages).toContainEqual({ event: 'renewal', outcome: 'refused', code: 'ERR_SESSION_RENEWAL_FAILED', user_uuid: disabled.oid });
      expect(JSON.stringify(messages)).not.toContain('mock-rt.');
    } finally {
      diagnostics.unsubscribe(LOGIN_CHANNEL_NAMES.login, listener);
    }
  });

  it('answers 503 while Entra is down and keeps the session; renews once Entra is back', async () => {
    const { a, clock, endpoint } = await app(600);
    const { jar } = await signIn(a);
    clock.advance(601_000);
    endpoint.down = true;
    expect(await me(a, jar)).toEqual({ status: 503, code: 'ERR_SESSION_RENEWAL_UNAVAILABLE' });
    expect(await me(a, jar)).toEqual({ status: 503, code: 'ERR_SESSION_RENEWAL_UNAVAILABLE' });
    endpoint.down = false;
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes().map((r) => r.outcome)).toEqual(['ok']);
  });

  it('renews once for concurrent requests of one session (single flight)', async () => {
    const { a, clock } = await app(600);
    const { jar } = await signIn(a);
    clock.advance(601_000);
    const results = await Promise.all(Array.from({ length: 6 }, () => me(a, jar)));
    expect(results).toEqual(Array.from({ length: 6 }, () => ({ status: 200 })));
    expect(refreshes()).toHaveLength(1);
  });

  it('ends a due session that holds no refresh token (createSession), and refuses a login whose token response has none', async () => {
    const { a, clock, endpoint } = await app(600);
    const { jar } = await signIn(a);
    const session = await a.login.authenticate({ headers: { cookie: jar.header('/') } });
    const issued = await a.login.createSession(session.identity);
    const custom = new CookieJar();
    custom.store([issued.setCookie]);
    expect(await me(a, custom)).toEqual({ status: 200 });
    clock.advance(601_000);
    expect(await me(a, custom)).toEqual({ status: 401, code: 'ERR_SESSION_RENEWAL_FAILED' });
    expect(await me(a, jar)).toEqual({ status: 200 });

    endpoint.stripRefresh = true;
    const refused = new CookieJar();
    suite.entra.login.nextUser = { claims: { oid: randomUUID(), email: 'x@contoso.com' } };
    const hops = await browse(refused, a.url, `${a.url}/auth/login`);
    expect(hops.at(-1)!.status).toBe(400);
    expect(hops.at(-1)!.response.headers.get('x-entragate-error')).toBe('ERR_LOGIN_EXCHANGE_FAILED');
    expect(refused.get('CF_Authorization')).toBeUndefined();
  });

  it("renews through the directory store's identities (the record is replaced), and ends a disabled user's session there", async () => {
    const store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
    try {
      const { a, clock } = await app(600, store.identities);
      const kept = await signIn(a);
      const disabled = await signIn(a);
      suite.entra.login.disabledUsers.add(disabled.oid);
      clock.advance(601_000);
      expect(await me(a, kept.jar)).toEqual({ status: 200 });
      a.login.clearSessionCache();
      expect(await me(a, kept.jar)).toEqual({ status: 200 });
      expect(await me(a, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_RENEWAL_FAILED' });
      expect(await me(a, disabled.jar)).toEqual({ status: 401, code: 'ERR_SESSION_REVOKED' });
      clock.advance(601_000);
      expect(await me(a, kept.jar)).toEqual({ status: 200 });
      expect(refreshes().map((r) => r.outcome)).toEqual(['ok', 'invalid_grant', 'ok']);
    } finally {
      await store.close();
    }
  });

  it('without renewAfterSeconds, a session is never sent to Entra again (positive control of the opt-in)', async () => {
    const clock = fakeClock();
    const a = await suite.app({ login: () => ({ now: clock.now }) });
    const { jar } = await signIn(a);
    clock.advance(3_600_000);
    expect(await me(a, jar)).toEqual({ status: 200 });
    expect(refreshes()).toHaveLength(0);
  });
});
