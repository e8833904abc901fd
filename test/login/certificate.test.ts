import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { createTestCertificate } from '../../src/testing/index.js';
import { ConfigError } from '../../src/errors/index.js';
import { createGate } from '../../src/index.js';
import { createLogin, LOGIN_CHANNEL_NAMES } from '../../src/login/index.js';
import { mockEntraSuite, browse, CookieJar, esKey, type startApp, type App } from './harness.js';

const suite = mockEntraSuite();
const app = (options: Parameters<typeof startApp>[1] = {}): Promise<App> => suite.app(options);

async function signIn(a: App): Promise<{ jar: CookieJar; status: number; error: string | null; body: string }> {
  suite.entra.login.nextUser = { claims: { oid: randomUUID(), email: 'ada@contoso.com' } };
  const jar = new CookieJar();
  const hops = await browse(jar, a.url, `${a.url}/auth/login`);
  const last = hops.at(-1)!;
  return { jar, status: last.status, error: last.response.headers.get('x-entragate-error'), body: await last.response.text() };
}

/** The IdP config without a client secret: the certificate is the only credential. */
const NO_SECRET = { config: { client_secret: undefined } };

describe('login: certificate credentials (private_key_jwt)', () => {
  for (const algorithm of ['PS256', 'RS256'] as const) {
    it(`exchanges the code with a ${algorithm} client assertion the mock verifies, and no secret`, async () => {
      const cert = createTestCertificate();
      suite.entra.login.trustCertificate(cert.certificate);
      const a = await app({ idp: NO_SECRET, login: () => ({ clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate, algorithm } }) });
      const { jar, status } = await signIn(a);
      expect(status).toBe(200);
      expect(jar.get('CF_Authorization')).toBeDefined();
      expect(suite.entra.login.tokenRequests.at(-1)).toMatchObject({ grant_type: 'authorization_code', clientAuth: 'private_key_jwt', outcome: 'ok' });
    });
  }

  it("uses the certificate even when the IdP config carries a secret (Cloudflare's JSON may), and accepts a PEM key", async () => {
    const cert = createTestCertificate();
    suite.entra.login.trustCertificate(cert.certificate);
    const pem = cert.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const a = await app({ login: () => ({ clientCertificate: { privateKey: pem, certificate: cert.certificate } }) });
    expect((await signIn(a)).status).toBe(200);
    expect(suite.entra.login.tokenRequests.at(-1)!.clientAuth).toBe('private_key_jwt');
  });

  it('refuses a login whose certificate Entra does not know (wrong thumbprint): coded, no session, no key or assertion in the message', async () => {
    const registered = createTestCertificate();
    suite.entra.login.trustCertificate(registered.certificate);
    const other = createTestCertificate();
    const messages: unknown[] = [];
    const listener = (m: unknown): void => void messages.push(m);
    diagnostics.subscribe(LOGIN_CHANNEL_NAMES.login, listener);
    try {
      const a = await app({ idp: NO_SECRET, login: () => ({ clientCertificate: { privateKey: other.privateKey, certificate: other.certificate } }) });
      const refused = await signIn(a);
      expect(refused.status).toBe(400);
      expect(refused.error).toBe('ERR_LOGIN_EXCHANGE_FAILED');
      expect(refused.body).toContain('`invalid_client` (AADSTS700027)');
      expect(refused.jar.get('CF_Authorization')).toBeUndefined();
      expect(suite.entra.login.tokenRequests.at(-1)).toMatchObject({ clientAuth: 'private_key_jwt', outcome: 'invalid_client', aadsts: 'AADSTS700027' });
      const pem = other.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const said = JSON.stringify(messages) + refused.body;
      expect(said).not.toContain(pem.split('\n')[1]!);
      expect(said).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
      expect(said).not.toContain(suite.entra.clientSecret);
      // Positive control: the registered certificate signs in on a fresh app.
      const b = await app({ idp: NO_SECRET, login: () => ({ clientCertificate: { privateKey: registered.privateKey, certificate: registered.certificate } }) });
      expect((await signIn(b)).status).toBe(200);
    } finally {
      diagnostics.unsubscribe(LOGIN_CHANNEL_NAMES.login, listener);
    }
  });

  it("refuses at construction a key that is not the certificate's, a mix of secret and certificate, and private_key_jwt without one", () => {
    const cert = createTestCertificate();
    const other = createTestCertificate();
    const gate = createGate({ idp: suite.entra.idpConfig(NO_SECRET), authorityHost: suite.entra.url });
    const base = {
      gate,
      redirectUri: 'https://app.example.com/auth/callback',
      keys: { signing: { kid: 'k', alg: 'ES256' as const, privateKey: esKey().privateKey } },
    };
    expect(() => createLogin({ ...base, clientCertificate: { privateKey: other.privateKey, certificate: cert.certificate } })).toThrow(
      'the private key does not belong to the client certificate',
    );
    expect(() => createLogin({ ...base, clientCertificate: { privateKey: 'not a key', certificate: cert.certificate } })).toThrow(ConfigError);
    expect(() => createLogin({ ...base, clientSecret: 's', clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } })).toThrow(
      'not both',
    );
    expect(() =>
      createLogin({ ...base, clientAuth: 'client_secret_basic', clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } }),
    ).toThrow('not `client_secret_basic`');
    expect(() => createLogin({ ...base, clientAuth: 'private_key_jwt', clientSecret: 's' })).toThrow('`private_key_jwt` needs a `clientCertificate`');
    expect(() => createLogin(base)).toThrow('the login needs a client secret or certificate');
    // Positive control: the matching pair constructs.
    expect(() => createLogin({ ...base, clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } })).not.toThrow();
  });
});
