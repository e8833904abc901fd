import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { createGate, type Gate } from '../../src/gate.js';
import { createGraphGroupSource, type GraphGroupSourceOptions } from '../../src/graph/index.js';
import { createMockGraph, type MockGraph } from '../../src/testing/mock-graph.js';
import { identity } from '../groups/identity-fixtures.js';

/*
 * Issue 14: the gate is the single source of configuration. The Graph source reads the client id and secret
 * from the gate's identity provider and the hosts from `gate.hosts`; explicit options still override.
 */

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OID = 'a62060da-1ae3-44eb-8988-1197a68ff41e';
const CLIENT_ID = '535fb089-9ff3-47b6-9bfb-4f1264799865';
const CLIENT_SECRET = 'test-secret-value-not-real';
const COMPLETE = { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] };
const GROUP = '00000000-0000-4000-8000-000000000001';

let graph: MockGraph;

beforeEach(async () => {
  graph = await createMockGraph({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  graph.addUser({ id: OID });
  graph.addGroup({ id: GROUP, displayName: 'Devs', mail: 'devs@contoso.com' });
  graph.addMember(GROUP, OID);
});

afterEach(async () => {
  await graph.close();
});

function gateWith(
  config: { client_secret?: string },
  hosts: { authorityHost?: string; graphHost?: string } = { authorityHost: graph.url, graphHost: graph.url },
): Gate {
  return createGate({
    idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: CLIENT_ID, directory_id: TENANT, ...config } },
    ...hosts,
  });
}

const fake = { now: () => 1_700_000_000_000, sleep: () => Promise.resolve(), maxRetries: 0 } satisfies Partial<GraphGroupSourceOptions>;
const tokenRequests = () => graph.requests.filter((r) => r.kind === 'token');

describe('createGraphGroupSource({ gate })', () => {
  it('takes the client id, the client secret and the hosts from the gate: nothing typed twice', async () => {
    const gate = gateWith({ client_secret: CLIENT_SECRET });
    const result = await createGraphGroupSource({ gate, ...fake }).resolve(identity(), { claims: {} });
    expect(result).toEqual({ groups: [{ id: GROUP, name: 'Devs', email: 'devs@contoso.com' }], membership: COMPLETE });
    // The token came from the gate's authority host, for the gate's tenant (the token's tid, which the gate pinned to it).
    expect(tokenRequests().map((r) => r.path)).toEqual([`/${TENANT}/oauth2/v2.0/token`]);
  });

  it('takes the secret separately when the identity provider JSON has none (Cloudflare’s API never returns it)', async () => {
    const gate = gateWith({});
    const result = await createGraphGroupSource({ gate, clientSecret: CLIENT_SECRET, ...fake }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual(COMPLETE);
  });

  it('without any secret, has no client credentials (a delegated token still works)', async () => {
    const gate = gateWith({});
    const src = createGraphGroupSource({ gate, ...fake });
    expect((await src.resolve(identity(), { claims: {} })).membership).toEqual({
      state: 'unknown',
      code: 'ERR_GROUPS_UNAVAILABLE',
      reason: 'graph has no credentials: configure clientId and clientSecret, or pass a delegated graphToken',
    });
    expect((await src.resolve(identity(), { claims: {}, graphToken: graph.issueToken(OID) })).membership).toEqual(COMPLETE);
  });

  it('explicit options override the gate: a wrong explicit secret is what is sent (and refused, not repeated)', async () => {
    const gate = gateWith({ client_secret: CLIENT_SECRET });
    const result = await createGraphGroupSource({ gate, clientSecret: 'wrong-secret-value', ...fake }).resolve(identity(), { claims: {} });
    expect(result.membership).toEqual({
      state: 'unknown',
      code: 'ERR_GRAPH_FORBIDDEN',
      reason: 'graph token request refused: `401` `invalid_client`: check clientId, clientSecret and tenant',
    });
    expect(JSON.stringify(result)).not.toContain('wrong-secret-value');
  });

  it('explicit hosts override the gate’s, and so does an explicit cloud', async () => {
    // The gate points at the public cloud; the explicit hosts at the mock.
    const publicGate = gateWith({ client_secret: CLIENT_SECRET }, {});
    const result = await createGraphGroupSource({ gate: publicGate, graphHost: graph.url, authorityHost: graph.url, ...fake }).resolve(identity(), {
      claims: {},
    });
    expect(result.membership).toEqual(COMPLETE);

    const urls: string[] = [];
    const fetch = (input: string | URL | Request) => {
      urls.push(String(input));
      return Promise.resolve(String(input).includes('/oauth2/') ? Response.json({ expires_in: 3599, access_token: 't' }) : Response.json({ value: [] }));
    };
    const mockGate = gateWith({ client_secret: CLIENT_SECRET });
    await createGraphGroupSource({ gate: mockGate, cloud: 'usgov', fetch, ...fake }).resolve(identity(), { claims: {} });
    expect(urls).toEqual([
      `https://login.microsoftonline.us/${TENANT}/oauth2/v2.0/token`,
      `https://graph.microsoft.us/v1.0/users/${OID}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName,mail&$top=999&$count=true`,
    ]);
  });

  it('accepts a plain { idp, hosts } of the same shape', async () => {
    const gate = { idp: { config: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } }, hosts: { authorityHost: graph.url, graphHost: graph.url } };
    expect((await createGraphGroupSource({ gate, ...fake }).resolve(identity(), { claims: {} })).membership).toEqual(COMPLETE);
  });

  it('validates what it reads of a plain object at construction, without echoing the secret', () => {
    const attempts: unknown[] = [
      {
        gate: {
          idp: { config: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } },
          hosts: { authorityHost: 'http://login.example.com', graphHost: graph.url },
        },
      },
      { gate: { idp: { config: { client_secret: CLIENT_SECRET } }, hosts: { authorityHost: graph.url, graphHost: graph.url } } },
      { gate: 'gate' },
      // An explicit client id never borrows the gate's secret (another app's secret is a misconfiguration).
      { gate: gateWith({ client_secret: CLIENT_SECRET }), clientId: 'another-app' },
    ];
    for (const options of attempts) {
      try {
        createGraphGroupSource(options as GraphGroupSourceOptions);
        expect.unreachable(String(options));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
        expect((err as ConfigError).message).toMatch(/^invalid graph group source configuration/);
        expect((err as ConfigError).message).not.toContain(CLIENT_SECRET);
      }
    }
  });

  it('without a gate, a clientSecret alone is still refused (positive control of the pairing rule)', () => {
    expect(() => createGraphGroupSource({ clientSecret: CLIENT_SECRET })).toThrow(ConfigError);
    expect(() => createGraphGroupSource({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })).not.toThrow();
  });
});

describe('createGate({ groups: (gate) => … })', () => {
  it('builds a Graph source from the gate it is given (no credentials typed twice), and refuses a function returning no source', async () => {
    const { createGate } = await import('../../src/index.js');
    const { createGraphGroupSource } = await import('../../src/graph/index.js');
    const { createMockEntra } = await import('../../src/testing/index.js');
    const entra = await createMockEntra();
    try {
      let seen: unknown;
      const gate = createGate({
        idp: entra.idpConfig(),
        authorityHost: entra.url,
        groups: (g) => {
          seen = g;
          return createGraphGroupSource({ gate: g });
        },
      });
      expect(seen).toMatchObject({ idp: { config: { client_id: entra.clientId } }, hosts: { authorityHost: entra.url } });
      expect(gate.groups?.name).toBe('graph');
      expect(() => createGate({ idp: entra.idpConfig(), authorityHost: entra.url, groups: () => ({}) as never })).toThrow(/must return a GroupSource/);
    } finally {
      await entra.close();
    }
  });
});
