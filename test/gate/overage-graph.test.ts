import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createGate, createGroupSourceChain, createTokenGroupSource } from '../../src/index.js';
import { createGraphGroupSource } from '../../src/graph/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

const DEVS = randomUUID();
const US_DEVS = randomUUID();
const IDP = 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra({ graph: true });
});
afterAll(async () => {
  await entra.close();
});

function gate() {
  const graph = createGraphGroupSource({
    tenantId: entra.tenantId,
    clientId: entra.clientId,
    clientSecret: entra.clientSecret,
    authorityHost: entra.url,
    graphHost: entra.url,
    // Fake time: retries and Retry-After waits do not sleep in tests.
    sleep: () => Promise.resolve(),
  });
  return createGate({
    idp: entra.idpConfig({ id: IDP }),
    authorityHost: entra.url,
    graphHost: entra.url,
    groups: createGroupSourceChain([createTokenGroupSource(), graph]),
    applications: {
      app: { policies: [{ name: 'Devs', decision: 'allow', include: [{ azureAD: { id: DEVS, identity_provider_id: IDP } }] }] },
    },
  });
}

describe('overage resolved through Graph on the one mock Entra host', () => {
  it('a user in US devs (nested in Devs) with 200+ groups is allowed by a policy on Devs', async () => {
    const oid = randomUUID();
    const g = entra.graph!;
    g.addUser({ id: oid, userPrincipalName: 'ada@contoso.com' });
    g.addGroup({ id: DEVS, displayName: 'Devs' });
    g.addGroup({ id: US_DEVS, displayName: 'US devs' });
    g.addMember(DEVS, US_DEVS);
    g.addMember(US_DEVS, oid);
    for (let i = 0; i < 210; i++) {
      const id = randomUUID();
      g.addGroup({ id, displayName: `filler ${i}` });
      g.addMember(id, oid);
    }
    const token = entra.mintToken({
      claims: {
        oid,
        _claim_names: { groups: 'src1' },
        _claim_sources: { src1: { endpoint: `https://graph.windows.net/${entra.tenantId}/users/${oid}/getMemberObjects` } },
      },
    });
    const identity = await gate().identify(token);
    expect(identity.membership).toEqual({ state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] });
    expect(identity.groups.map((x) => x.id)).toEqual(expect.arrayContaining([DEVS, US_DEVS]));
    expect(identity.groups).toHaveLength(212);
    expect(await gate().authorize(token)).toMatchObject({ allowed: true, policy: { name: 'Devs' } });
  });

  it('with Graph down, the decision fails closed and says why', async () => {
    const oid = randomUUID();
    entra.graph!.down();
    try {
      const decision = await gate().authorize(entra.mintToken({ claims: { oid, hasgroups: true } }));
      expect(decision).toMatchObject({ allowed: false, reason: 'unknown-membership' });
      expect(decision.trace[0]?.checks[0]).toMatchObject({ selector: 'azureAD', result: 'unknown' });
    } finally {
      entra.graph!.up();
    }
  });
});
