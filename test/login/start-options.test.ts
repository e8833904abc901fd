import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { openDirectoryStore } from '../../src/store/index.js';
import { mockEntraSuite, browse, CookieJar, fetchWithJar, type startApp, type App, type Hop } from './harness.js';

const suite = mockEntraSuite();
const app = (options: Parameters<typeof startApp>[1] = {}): Promise<App> => suite.app(options);

function user(): { oid: string; email: string } {
  const oid = randomUUID();
  const email = `u${oid.slice(0, 8)}@contoso.com`;
  suite.entra.login.nextUser = { claims: { oid, email } };
  return { oid, email };
}

async function signIn(a: App, path: string): Promise<{ jar: CookieJar; hops: Hop[] }> {
  const jar = new CookieJar();
  return { jar, hops: await browse(jar, a.url, `${a.url}${path}`) };
}

const errorOf = (hop: Hop): string | null => hop.response.headers.get('x-entragate-error');

/** What the step-up redirect of the adapters carries (issue 13): an essential `acrs` claim of the ID token. */
const STEP_UP = { id_token: { acrs: { essential: true, values: ['c1'] } } };

describe('login.start: per-request login_hint, domain_hint, prompt and claims', () => {
  it('sends login_hint, domain_hint and prompt from the start route query to Entra', async () => {
    const a = await app();
    suite.entra.login.users.set('ada@contoso.com', { claims: { oid: randomUUID(), email: 'ada@contoso.com' } });
    const { jar, hops } = await signIn(a, '/auth/login?login_hint=ada%40contoso.com&domain_hint=contoso.com&prompt=login');
    expect(hops.at(-1)!.status).toBe(200);
    expect(suite.entra.login.authorizations.at(-1)).toMatchObject({
      login_hint: 'ada@contoso.com',
      domain_hint: 'contoso.com',
      prompt: 'login',
      claims: null,
      outcome: 'code',
    });
    // The mock signed in the hinted user.
    const who = await a.login.authenticate({ headers: { cookie: jar.header('/') } });
    expect(who.identity.email).toBe('ada@contoso.com');
  });

  it('takes the options of login.start over the query, and overrides the IdP prompt', async () => {
    const a = await app({ idp: { config: { prompt: 'select_account' } } });
    user();
    const response = await a.login.start(new Request(`${a.url}/auth/login?prompt=consent&login_hint=other%40contoso.com`), {
      returnTo: '/reports',
      loginHint: 'grace@contoso.com',
      domainHint: 'organizations',
      prompt: 'none',
      claims: STEP_UP,
    });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.searchParams.get('login_hint')).toBe('grace@contoso.com');
    expect(location.searchParams.get('domain_hint')).toBe('organizations');
    expect(location.searchParams.get('prompt')).toBe('none');
    expect(JSON.parse(location.searchParams.get('claims')!)).toEqual(STEP_UP);
    // Positive control: without per-request options the IdP's prompt applies and no hint is sent.
    const plain = new URL((await a.login.start(new Request(`${a.url}/auth/login`))).headers.get('location')!);
    expect(plain.searchParams.get('prompt')).toBe('select_account');
    expect(plain.searchParams.has('login_hint')).toBe(false);
    expect(plain.searchParams.has('claims')).toBe(false);
  });

  it('treats empty hint and prompt query values as absent', async () => {
    const a = await app();
    const response = await a.login.start({ url: '/auth/login?login_hint=&domain_hint=&prompt=', headers: {} });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(['login_hint', 'domain_hint', 'prompt'].some((p) => location.searchParams.has(p))).toBe(false);
  });

  const refused: Array<[string, string, string]> = [
    ['prompt=create', 'ERR_LOGIN_PARAMETER_INVALID', 'is not one of none, login, consent, select_account'],
    ['prompt=none%20login', 'ERR_LOGIN_PARAMETER_INVALID', 'is not one of'],
    ['prompt=none&prompt=login', 'ERR_LOGIN_PARAMETER_INVALID', 'is given 2 times'],
    ['login_hint=a%0d%0ab', 'ERR_LOGIN_PARAMETER_INVALID', '`login_hint`'],
    [`login_hint=${'a'.repeat(321)}`, 'ERR_LOGIN_PARAMETER_INVALID', '`login_hint`'],
    ['domain_hint=evil.com%2Fx', 'ERR_LOGIN_PARAMETER_INVALID', '`domain_hint`'],
    ['claims=%7Bnot%20json', 'ERR_LOGIN_CLAIMS_INVALID', 'is not JSON'],
    ['claims=', 'ERR_LOGIN_CLAIMS_INVALID', 'is not JSON'],
    ['claims=%5B%5D', 'ERR_LOGIN_CLAIMS_INVALID', 'must be a JSON object'],
    ['claims=null', 'ERR_LOGIN_CLAIMS_INVALID', 'must be a JSON object'],
    ['claims=%22c1%22', 'ERR_LOGIN_CLAIMS_INVALID', 'must be a JSON object'],
    [`claims=${encodeURIComponent(JSON.stringify({ evil: {} }))}`, 'ERR_LOGIN_CLAIMS_INVALID', 'is not one of id_token, userinfo, access_token'],
    [`claims=${encodeURIComponent(JSON.stringify({ id_token: 'acrs' }))}`, 'ERR_LOGIN_CLAIMS_INVALID', 'must be an object'],
    [`claims=${encodeURIComponent(JSON.stringify({ id_token: { acrs: { values: ['x'.repeat(2100)] } } }))}`, 'ERR_LOGIN_CLAIMS_INVALID', 'over 2048 bytes'],
    [
      `claims=${encodeURIComponent(JSON.stringify(STEP_UP))}&claims=${encodeURIComponent(JSON.stringify(STEP_UP))}`,
      'ERR_LOGIN_PARAMETER_INVALID',
      'is given 2 times',
    ],
  ];
  for (const [query, code, message] of refused) {
    it(`refuses \`${query.slice(0, 60)}\` with a coded 400, and nothing reaches Entra`, async () => {
      const a = await app();
      const before = suite.entra.login.authorizations.length;
      const jar = new CookieJar();
      const hop = await fetchWithJar(jar, a.url, `${a.url}/auth/login?${query}`);
      expect(hop.status).toBe(400);
      expect(errorOf(hop)).toBe(code);
      expect(await hop.response.text()).toContain(message);
      expect(hop.setCookies).toEqual([]);
      expect(suite.entra.login.authorizations.length).toBe(before);
    });
  }

  it('refuses the same bad values given as options (positive control: a valid one passes)', async () => {
    const a = await app();
    const start = (claims: unknown) => a.login.start({ url: '/auth/login', headers: {} }, { claims: claims as never });
    expect((await start(STEP_UP)).status).toBe(302);
    expect((await start(JSON.stringify(STEP_UP))).status).toBe(302);
    const cyclic: Record<string, unknown> = {};
    cyclic.id_token = cyclic;
    for (const bad of [[], 'x', { id_token: { big: 'é'.repeat(1100) } }, Object.create({ id_token: {} }) as object, { id_token: { n: 10n } }]) {
      const r = await start(bad);
      expect(r.status).toBe(400);
      expect(r.headers.get('x-entragate-error')).toBe('ERR_LOGIN_CLAIMS_INVALID');
    }
    const prompt = await a.login.start({ url: '/auth/login', headers: {} }, { prompt: 'create' as never });
    expect(prompt.headers.get('x-entragate-error')).toBe('ERR_LOGIN_PARAMETER_INVALID');
  });
});

describe('step-up: an auth_context rule allows after the login asked Entra for the authentication context', () => {
  const gate = {
    applications: {
      payroll: {
        policies: [
          {
            name: 'Payroll needs c1',
            decision: 'allow' as const,
            include: [{ everyone: {} }],
            require: [{ auth_context: { id: 'ctx-1', ac_id: 'c1', identity_provider_id: 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415' } }],
          },
        ],
      },
    },
  };

  it("a plain login is denied for want of c1; the adapters' step-up redirect logs in with acrs and is allowed", async () => {
    const a = await app({ idp: { config: { conditional_access_enabled: true } }, gate });
    const u = user();
    const plain = await signIn(a, '/auth/login');
    const first = await a.login.authenticate({ headers: { cookie: plain.jar.header('/') } });
    const denied = await a.gate.authorize(first.identity, { application: 'payroll' });
    expect(denied.allowed).toBe(false);
    expect('missingAuthContext' in denied && denied.missingAuthContext).toEqual(['c1']);

    // What the adapters redirect a browser to (issue 13): the login path with returnTo and the claims request.
    suite.entra.login.nextUser = { claims: { oid: u.oid, email: u.email } };
    const stepped = await signIn(a, `/auth/login?returnTo=%2Fpayroll&claims=${encodeURIComponent(JSON.stringify(STEP_UP))}`);
    expect(stepped.hops.at(-1)!.url).toBe(`${a.url}/payroll`);
    expect(JSON.parse(suite.entra.login.authorizations.at(-1)!.claims!)).toEqual(STEP_UP);
    const session = await a.login.authenticate({ headers: { cookie: stepped.jar.header('/') } });
    expect(session.identity.acrs).toEqual(['c1']);
    const allowed = await a.gate.authorize(session.identity, { application: 'payroll' });
    expect(allowed).toMatchObject({ allowed: true, policy: { name: 'Payroll needs c1' } });
  });

  it("keeps the acrs through the directory store's identities (regression: the store dropped them) and under automatic updates", async () => {
    const store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
    try {
      for (const behavior of ['no_action', 'automatic'] as const) {
        const a = await app({
          idp: { config: { conditional_access_enabled: true }, scim_config: { identity_update_behavior: behavior } },
          gate,
          login: () => ({ identities: store.identities }),
        });
        user();
        const { jar } = await signIn(a, `/auth/login?claims=${encodeURIComponent(JSON.stringify(STEP_UP))}`);
        a.login.clearSessionCache();
        const session = await a.login.authenticate({ headers: { cookie: jar.header('/') } });
        expect(session.identity.acrs).toEqual(['c1']);
        expect((await a.gate.authorize(session.identity, { application: 'payroll' })).allowed).toBe(true);
        // Positive control on the same store: a login without the step-up is denied.
        user();
        const plain = await signIn(a, '/auth/login');
        const other = await a.login.authenticate({ headers: { cookie: plain.jar.header('/') } });
        expect(other.identity.acrs).toBeUndefined();
        expect((await a.gate.authorize(other.identity, { application: 'payroll' })).allowed).toBe(false);
      }
    } finally {
      await store.close();
    }
  });
});

describe('offline_access only when asked (refreshTokens)', () => {
  /** A fetch that records whether each token response carried a refresh token (never its value). */
  function recordingFetch(seen: boolean[]): typeof fetch {
    return async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).endsWith('/oauth2/v2.0/token')) seen.push(Object.hasOwn((await response.clone().json()) as object, 'refresh_token'));
      return response;
    };
  }

  it('asks for no refresh token by default, and for one with refreshTokens: true', async () => {
    const seen: boolean[] = [];
    const plain = await app({ login: () => ({ fetch: recordingFetch(seen) }) });
    user();
    expect((await signIn(plain, '/auth/login')).hops.at(-1)!.status).toBe(200);
    expect(suite.entra.login.authorizations.at(-1)!.scope!.split(' ')).not.toContain('offline_access');
    const asked = await app({ login: () => ({ fetch: recordingFetch(seen), refreshTokens: true }) });
    user();
    expect((await signIn(asked, '/auth/login')).hops.at(-1)!.status).toBe(200);
    expect(suite.entra.login.authorizations.at(-1)!.scope!.split(' ')).toEqual(['openid', 'profile', 'email', 'offline_access']);
    expect(seen).toEqual([false, true]);
  });

  it('adds offline_access to explicit scopes once, and keeps explicit scopes that list it', async () => {
    const a = await app({ login: () => ({ scopes: ['openid', 'email'], refreshTokens: true }) });
    const b = await app({ login: () => ({ scopes: ['openid', 'offline_access'], refreshTokens: true }) });
    const url = (r: Response) => new URL(r.headers.get('location')!).searchParams.get('scope');
    expect(url(await a.login.start({ url: '/auth/login', headers: {} }))).toBe('openid email offline_access');
    expect(url(await b.login.start({ url: '/auth/login', headers: {} }))).toBe('openid offline_access');
  });
});
