import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openDirectoryStore } from '../../src/store/index.js';
import { mockEntraSuite, browse, CookieJar, fetchWithJar, type startApp, type App } from './harness.js';

const suite = mockEntraSuite();
const app = (options: Parameters<typeof startApp>[1] = {}): Promise<App> => suite.app(options);

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' } as const;

/** Signs in a user whose ID token carries the `login_hint` optional claim (Entra's opaque value). */
async function signIn(a: App, loginHint: string | null = `O.${randomUUID()}`): Promise<{ jar: CookieJar; loginHint: string | null }> {
  suite.entra.login.nextUser = { claims: { oid: randomUUID(), email: 'ada@contoso.com', ...(loginHint === null ? {} : { login_hint: loginHint }) } };
  const jar = new CookieJar();
  const hops = await browse(jar, a.url, `${a.url}/auth/login`);
  expect(hops.at(-1)!.status).toBe(200);
  return { jar, loginHint };
}

/** Logs out with a same-origin GET and follows the redirects; returns the first hop's Location. */
async function logout(a: App, jar: CookieJar, headers: Record<string, string> = SAME_ORIGIN): Promise<{ status: number; location: URL | undefined }> {
  const first = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, headers);
  if (first.location !== null) await browse(jar, a.url, new URL(first.location, a.url).href);
  return { status: first.status, location: first.location === null ? undefined : new URL(first.location, a.url) };
}

describe('logout: sign-out at Entra with logout_hint and id_token_hint', () => {
  it("sends the session's login_hint claim as logout_hint (entraLogout: true), and no ID token", async () => {
    const a = await app({ login: () => ({ entraLogout: true }) });
    const { jar, loginHint } = await signIn(a);
    const out = await logout(a, jar);
    expect(out.location!.pathname).toBe(`/${suite.entra.tenantId}/oauth2/v2.0/logout`);
    expect(suite.entra.login.logouts.at(-1)).toMatchObject({ post_logout_redirect_uri: `${a.url}/`, logout_hint: loginHint, id_token_hint: null });
    // The session is over.
    expect((await fetchWithJar(jar, a.url, `${a.url}/me`)).status).toBe(401);
  });

  it('leaves logout_hint out when the ID token had no login_hint claim (the optional claim is not configured)', async () => {
    const a = await app({ login: () => ({ entraLogout: true }) });
    const { jar } = await signIn(a, null);
    await logout(a, jar);
    expect(suite.entra.login.logouts.at(-1)).toMatchObject({ post_logout_redirect_uri: `${a.url}/`, logout_hint: null, id_token_hint: null });
  });

  it('sends the ID token kept server-side as id_token_hint when asked, and it is the one the login received', async () => {
    const seen: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).endsWith('/oauth2/v2.0/token')) seen.push(((await response.clone().json()) as { id_token: string }).id_token);
      return response;
    };
    const a = await app({ login: () => ({ entraLogout: { idTokenHint: true, logoutHint: false }, fetch: recording }) });
    const { jar } = await signIn(a);
    // Never in the cookie: the session token stays small and carries no ID token.
    expect(jar.get('CF_Authorization')!.length).toBeLessThan(seen[0]!.length);
    await logout(a, jar);
    expect(suite.entra.login.logouts.at(-1)).toMatchObject({ id_token_hint: seen[0], logout_hint: null });
  });

  it('keeps the sealed ID token through the directory store, bound to its session', async () => {
    const store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
    try {
      const a = await app({ login: () => ({ entraLogout: { idTokenHint: true }, identities: store.identities }) });
      const { jar, loginHint } = await signIn(a);
      a.login.clearSessionCache();
      await logout(a, jar);
      const record = suite.entra.login.logouts.at(-1)!;
      expect(record.logout_hint).toBe(loginHint);
      expect(record.id_token_hint).toMatch(/^eyJ/);
      // A sealed value moved to another session does not open there: no hint, the sign-out still happens.
      const one = await signIn(a);
      const two = await signIn(a);
      const token = (jar: CookieJar) => jar.get('CF_Authorization')!;
      const nonce = (t: string) => (JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { identity_nonce: string }).identity_nonce;
      const first = await store.identities.get(nonce(token(one.jar)));
      const second = await store.identities.get(nonce(token(two.jar)));
      await store.identities.delete(nonce(token(two.jar)));
      await store.identities.set(nonce(token(two.jar)), { ...second!, sealed: first!.sealed! }, Math.floor(Date.now() / 1000) + 3600);
      a.login.clearSessionCache();
      const out = await logout(a, two.jar);
      expect(out.status).toBe(302);
      expect(suite.entra.login.logouts.at(-1)).toMatchObject({ id_token_hint: null, logout_hint: two.loginHint });
    } finally {
      await store.close();
    }
  });

  it('keeps the CSRF check: a cross-site GET gets the confirmation page and reaches neither the session nor Entra', async () => {
    const a = await app({ login: () => ({ entraLogout: true }) });
    const { jar } = await signIn(a);
    const cross = await fetchWithJar(jar, a.url, `${a.url}/auth/logout`, { 'sec-fetch-site': 'cross-site' });
    expect(cross.status).toBe(200);
    expect(await cross.response.text()).toContain('<form method="post"');
    expect(suite.entra.login.logouts).toEqual([]);
    expect((await fetchWithJar(jar, a.url, `${a.url}/me`)).status).toBe(200);
    // Positive control: the same-origin sign-out reaches Entra.
    await logout(a, jar);
    expect(suite.entra.login.logouts).toHaveLength(1);
  });

  it('without entraLogout, signs out locally only (positive control of the opt-in)', async () => {
    const a = await app();
    const { jar } = await signIn(a);
    const out = await logout(a, jar);
    expect(out.location!.href).toBe(`${a.url}/`);
    expect(suite.entra.login.logouts).toEqual([]);
  });
});
