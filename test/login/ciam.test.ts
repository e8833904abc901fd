import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { issuerFitsAuthority } from '../../src/login/login.js';
import { browse, CookieJar, startApp, type App } from './harness.js';

/** The External ID (CIAM) authority of the tests: served by a mock, reached through a rewriting fetch. */
const CIAM = 'https://contoso.ciamlogin.com';
const ciamIssuer = (tid: string): string => `https://${tid}.ciamlogin.com/${tid}/v2.0`;

describe('issuerFitsAuthority: Entra External ID (CIAM)', () => {
  const T = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const O = randomUUID();
  const cases: Array<[string, string, string, boolean]> = [
    [CIAM, T, ciamIssuer(T), true],
    [CIAM, T.toUpperCase(), ciamIssuer(T), true],
    [CIAM, 'contoso.onmicrosoft.com', ciamIssuer(T), true],
    [CIAM, 'login.contoso.com', ciamIssuer(T), true],
    // Another tenant's issuer, a mixed one, a template, the authority's own host, a lookalike.
    [CIAM, T, ciamIssuer(O), false],
    [CIAM, T, `https://${T}.ciamlogin.com/${O}/v2.0`, false],
    [CIAM, 'organizations', 'https://{tenantid}.ciamlogin.com/{tenantid}/v2.0', false],
    [CIAM, 'organizations', ciamIssuer(T), false],
    [CIAM, T, `${CIAM}/${T}/v2.0`, false],
    [CIAM, T, `https://${T}.ciamlogin.com.evil.example/${T}/v2.0`, false],
    [CIAM, T, `http://${T}.ciamlogin.com/${T}/v2.0`, false],
    [CIAM, T, `https://${T}.ciamlogin.com/${T}/v2.0/`, false],
    // A workforce authority does not take a CIAM issuer, nor a lookalike CIAM host a workforce one.
    ['https://login.microsoftonline.com', T, ciamIssuer(T), false],
    ['https://contoso.ciamlogin.com.evil.example', T, ciamIssuer(T), false],
  ];
  it.each(cases)('authority %s/%s, issuer %s: %s', (host, tenant, issuer, fits) => {
    expect(issuerFitsAuthority(issuer, host, tenant)).toBe(fits);
  });
});

describe('login: an External ID (CIAM) tenant end to end on the mock', () => {
  let entra: MockEntra;
  const apps: App[] = [];
  beforeAll(async () => {
    entra = await createMockEntra({ v2Issuer: ciamIssuer });
  });
  afterEach(async () => {
    while (apps.length > 0) await apps.pop()!.close();
    entra.login.reset();
  });
  afterAll(async () => {
    await entra.close();
  });

  /**
   * What `https://contoso.ciamlogin.com` answers: the mock's, with its own URL in discovery documents
   * written as the CIAM host (as Entra's name their endpoints on the authority host).
   */
  function ciamFetch(mock: MockEntra): typeof fetch {
    return async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const response = await fetch(url.startsWith(CIAM) ? mock.url + url.slice(CIAM.length) : url, init);
      if (!url.includes('/.well-known/openid-configuration')) return response;
      const headers = new Headers(response.headers);
      headers.delete('content-length');
      return new Response((await response.text()).replaceAll(mock.url, CIAM), { status: response.status, headers });
    };
  }

  async function app(mock: MockEntra): Promise<App> {
    const fetch = ciamFetch(mock);
    const a = await startApp(mock, { gate: { authorityHost: CIAM, fetch }, login: () => ({ fetch }) });
    apps.push(a);
    return a;
  }

  /** Signs in, sending the browser to the mock where the app sent it to the CIAM host. */
  async function signIn(a: App, mock: MockEntra) {
    const jar = new CookieJar();
    const hops = await browse(jar, a.url, `${a.url}/auth/login?returnTo=%2Fshop`, (next) =>
      next.origin === CIAM ? new URL(`${mock.url}${next.pathname}${next.search}`) : next,
    );
    return { jar, hops };
  }

  it('signs a customer in: the discovery issuer https://{tid}.ciamlogin.com/{tid}/v2.0 fits, the ID token verifies', async () => {
    const a = await app(entra);
    const oid = randomUUID();
    entra.login.nextUser = { claims: { oid, email: 'customer@example.com' } };
    const { jar, hops } = await signIn(a, entra);
    expect(new URL(hops[0]!.location!).origin).toBe(CIAM);
    expect(hops.at(-1)!.url).toBe(`${a.url}/shop`);
    const session = await a.login.authenticate({ headers: { cookie: jar.header('/') } });
    expect(session.identity).toMatchObject({ oid, email: 'customer@example.com', tid: entra.tenantId });
    // The gate verifies the tenant's bearer tokens, with the CIAM issuer, too.
    const bearer = entra.mintToken({ audience: entra.clientId, claims: { oid, scp: 'orders.read' } });
    expect(JSON.parse(Buffer.from(bearer.split('.')[1]!, 'base64url').toString()).iss).toBe(ciamIssuer(entra.tenantId));
    expect((await a.gate.verifyToken(bearer)).identity.oid).toBe(oid);
  });

  it("refuses a CIAM authority whose discovery names another tenant's issuer (503, no session); a workforce issuer too", async () => {
    const other = randomUUID();
    for (const v2Issuer of [() => ciamIssuer(other), undefined]) {
      const mock = await createMockEntra(v2Issuer === undefined ? {} : { v2Issuer });
      try {
        const a = await app(mock);
        const { jar, hops } = await signIn(a, mock);
        expect(hops[0]!.status).toBe(503);
        expect(hops[0]!.response.headers.get('x-entragate-error')).toBe('ERR_JWKS_UNAVAILABLE');
        expect(jar.get('CF_Authorization')).toBeUndefined();
      } finally {
        await mock.close();
      }
    }
  });
});
