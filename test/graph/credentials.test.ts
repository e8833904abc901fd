import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createGate, ConfigError, type Identity } from '../../src/index.js';
import { createGraphGroupSource, type GraphGroupSourceOptions } from '../../src/graph/index.js';
import { createMockEntra, createTestCertificate, type MockEntra } from '../../src/testing/index.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra({ graph: true });
});
afterEach(() => {
  entra.login.reset();
});
afterAll(async () => {
  await entra.close();
});

function member(): { identity: Identity; group: string } {
  const oid = randomUUID();
  const group = randomUUID();
  entra.graph!.addUser({ id: oid });
  entra.graph!.addGroup({ id: group, displayName: 'Payroll' });
  entra.graph!.addMember(group, oid);
  const identity: Identity = {
    email: 'ada@contoso.com',
    user_uuid: oid,
    idp: { id: 'entra', type: 'azureAD' },
    amr: [],
    groups: [],
    membership: { state: 'overage', signal: 'hasgroups' },
    oidc_fields: {},
    oid,
    tid: entra.tenantId,
    sub: 's',
    iat: 0,
    exp: 0,
    ver: '2.0',
  };
  return { identity, group };
}

/** A gate on the mock whose IdP config has no secret: the credential under test is the only one. */
function source(options: Omit<GraphGroupSourceOptions, 'gate'>) {
  const gate = createGate({ idp: entra.idpConfig({ config: { client_secret: undefined } }), authorityHost: entra.url, graphHost: entra.url });
  return createGraphGroupSource({ gate, maxRetries: 0, ...options });
}

describe('graph source: certificate credentials (private_key_jwt)', () => {
  for (const algorithm of ['PS256', 'RS256'] as const) {
    it(`gets an app token with a ${algorithm} assertion the mock verifies, then the groups`, async () => {
      const cert = createTestCertificate();
      entra.login.trustCertificate(cert.certificate);
      const { identity, group } = member();
      const result = await source({ clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate, algorithm } }).resolve(identity, {
        claims: {},
      });
      expect(result.membership).toMatchObject({ state: 'complete', source: 'graph' });
      expect(result.groups.map((g) => g.id)).toEqual([group]);
      expect(entra.login.tokenRequests.at(-1)).toMatchObject({ grant_type: 'client_credentials', clientAuth: 'private_key_jwt', outcome: 'ok' });
    });
  }

  it('answers unknown (ERR_GRAPH_FORBIDDEN) for a certificate Entra does not know, naming neither key nor assertion', async () => {
    const registered = createTestCertificate();
    entra.login.trustCertificate(registered.certificate);
    const other = createTestCertificate();
    const { identity } = member();
    const result = await source({ clientCertificate: { privateKey: other.privateKey, certificate: other.certificate } }).resolve(identity, { claims: {} });
    expect(result).toEqual({
      groups: [],
      membership: {
        state: 'unknown',
        code: 'ERR_GRAPH_FORBIDDEN',
        reason: 'graph token request refused: `401` `invalid_client`: check clientId, clientCertificate (registered on the app?) and tenant',
      },
    });
    expect(entra.login.tokenRequests.at(-1)).toMatchObject({ clientAuth: 'private_key_jwt', aadsts: 'AADSTS700027' });
    // Positive control: the registered certificate resolves.
    expect(
      (await source({ clientCertificate: { privateKey: registered.privateKey, certificate: registered.certificate } }).resolve(identity, { claims: {} }))
        .membership.state,
    ).toBe('complete');
  });

  it('signs a fresh assertion for every token request (the mock refuses a replayed jti)', async () => {
    const cert = createTestCertificate();
    entra.login.trustCertificate(cert.certificate);
    const graph = source({ clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } });
    const first = member();
    expect((await graph.resolve(first.identity, { claims: {} })).membership.state).toBe('complete');
    graph.clear();
    const second = member();
    expect((await graph.resolve(second.identity, { claims: {} })).membership.state).toBe('complete');
    expect(entra.login.tokenRequests.filter((r) => r.clientAuth === 'private_key_jwt' && r.outcome === 'ok')).toHaveLength(2);
  });

  it('refuses at construction a key of another certificate, and more than one credential', () => {
    const cert = createTestCertificate();
    const other = createTestCertificate();
    expect(() => source({ clientCertificate: { privateKey: other.privateKey, certificate: cert.certificate } })).toThrow(
      'the private key does not belong to the client certificate',
    );
    expect(() => source({ clientSecret: 's', clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } })).toThrow(
      'set one of clientSecret, clientCertificate and credential',
    );
    expect(() => createGraphGroupSource({ clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } })).toThrow(ConfigError);
    // Positive controls: a clientId with its certificate, no gate; the gate's client id with a certificate.
    expect(() =>
      createGraphGroupSource({
        clientId: entra.clientId,
        tenantId: entra.tenantId,
        clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate },
      }),
    ).not.toThrow();
    expect(() => source({ clientCertificate: { privateKey: cert.privateKey, certificate: cert.certificate } })).not.toThrow();
  });
});

describe('graph source: a token credential (managed identity / workload identity, @azure/identity TokenCredential shape)', () => {
  /** Gets real app tokens from the mock with the client secret, as a managed identity endpoint would hand them out. */
  function mockCredential(calls: Array<string | string[]>) {
    return {
      async getToken(scopes: string | string[]) {
        calls.push(scopes);
        const response = await fetch(`${entra.url}/${entra.tenantId}/oauth2/v2.0/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: entra.clientId, client_secret: entra.clientSecret, scope: String(scopes) }),
        });
        const body = (await response.json()) as { access_token: string; expires_in: number };
        return { token: body.access_token, expiresOnTimestamp: Date.now() + body.expires_in * 1000 };
      },
    };
  }

  it('asks the credential for <graphHost>/.default, caches its token, and resolves the groups', async () => {
    const calls: Array<string | string[]> = [];
    const graph = source({ credential: mockCredential(calls), cache: { ttlMs: 0 } });
    const a = member();
    const b = member();
    expect((await graph.resolve(a.identity, { claims: {} })).groups.map((g) => g.id)).toEqual([a.group]);
    expect((await graph.resolve(b.identity, { claims: {} })).groups.map((g) => g.id)).toEqual([b.group]);
    expect(calls).toEqual([`${entra.url}/.default`]);
  });

  it('fails closed when the credential throws, returns null or a token Graph refuses, without its error message', async () => {
    const { identity } = member();
    const thrown = await source({ credential: { getToken: () => Promise.reject(new Error('IMDS at 169.254.169.254 said: secret=hunter2')) } }).resolve(
      identity,
      { claims: {} },
    );
    expect(thrown.membership).toEqual({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph credential failed: `Error`' });
    expect(JSON.stringify(thrown)).not.toContain('hunter2');
    const none = await source({ credential: { getToken: () => Promise.resolve(null) } }).resolve(identity, { claims: {} });
    expect(none.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_FORBIDDEN' });
    const malformed = await source({ credential: { getToken: () => Promise.resolve({ token: '', expiresOnTimestamp: Date.now() + 60_000 }) } }).resolve(
      identity,
      { claims: {} },
    );
    expect(malformed.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_FORBIDDEN' });
    const forged = await source({
      credential: { getToken: () => Promise.resolve({ token: 'not-a-mock-token', expiresOnTimestamp: Date.now() + 60_000 }) },
    }).resolve(identity, { claims: {} });
    expect(forged.membership.state).toBe('unknown');
    const hanging = await source({ timeoutMs: 50, credential: { getToken: () => new Promise(() => undefined) } }).resolve(identity, { claims: {} });
    expect(hanging.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph credential timed out after 50 ms' });
    // Positive control: a working credential resolves the same user.
    expect((await source({ credential: mockCredential([]) }).resolve(identity, { claims: {} })).membership.state).toBe('complete');
  });

  it('refuses a credential without getToken, and beside a clientId', () => {
    expect(() => source({ credential: {} as never })).toThrow('must have a `getToken(scopes)` method');
    expect(() => createGraphGroupSource({ clientId: entra.clientId, credential: mockCredential([]) })).toThrow(ConfigError);
  });
});
