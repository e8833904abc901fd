import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import {
  accessServiceTokenContext,
  createAccessIdentityGroupSource,
  createAccessVerifier,
  createDirectoryGroupSource,
  createDirectoryIndex,
  createGate,
  type AccessVerifierOptions,
  type AccessPolicy,
  type GateOptions,
  type GroupSource,
} from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';

// Cloudflare in front, entragate behind: the verified assertion's identity goes through the gate's one
// identity pipeline (`resolveIdentity`, then `authorize`) with the same policies and group sources as an
// Entra token, unchanged. This is the integration the lead wires into `createGate` and the adapters.

let cf: MockCloudflare;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const FINANCE = { id: 'fdaedb59-e9be-4ab7-8001-3e069da54185', name: 'Finance' };
const FINANCE_GROUP_ID = FINANCE.id;
beforeAll(async () => {
  cf = await createMockCloudflare();
});
afterAll(async () => {
  await cf.close();
});

function gateWith(groups: GroupSource, policies: AccessPolicy[], extra: Partial<GateOptions> = {}) {
  return createGate({
    idp: { type: 'azureAD', id: cf.idpId, name: 'Entra ID', config: { client_id: randomUUID(), directory_id: TENANT } },
    groups,
    tokenGroups: 'ignore',
    applications: { portal: { policies, aud: cf.aud } },
    ...extra,
  });
}
const financeOnly: AccessPolicy[] = [{ name: 'finance', decision: 'allow', include: [{ azureAD: { id: FINANCE_GROUP_ID, identity_provider_id: 'IDP' } }] }];
const policiesFor = (idpId: string): AccessPolicy[] => JSON.parse(JSON.stringify(financeOnly).replace('IDP', idpId)) as AccessPolicy[];
const verifier = (overrides: Partial<AccessVerifierOptions> = {}) => createAccessVerifier({ ...cf.accessConfig(), idpId: cf.idpId, ...overrides });

async function decide(gate: ReturnType<typeof gateWith>, token: string, v = verifier()) {
  const result = await v.verify(token);
  if (result.kind !== 'user') throw new Error('expected a user');
  const identity = await gate.resolveIdentity(result.identity, { claims: result.claims });
  return { identity, decision: await gate.authorize(identity, { application: 'portal' }) };
}

describe('get-identity groups through the gate', () => {
  it('a member of the group is allowed, a non-member denied, and an outage fails closed with a 503 code', async () => {
    const gate = gateWith(createAccessIdentityGroupSource({ teamDomain: cf.teamDomain, idpId: cf.idpId, failureBackoffMs: 0 }), policiesFor(cf.idpId));
    const member = await decide(gate, cf.mintAppToken({ email: 'ada@contoso.com', groups: [FINANCE] }));
    expect(member.decision).toMatchObject({ allowed: true, policy: { name: 'finance' } });
    expect(member.identity.groups).toEqual([FINANCE]);
    const outsider = await decide(gate, cf.mintAppToken({ email: 'bob@contoso.com', groups: [{ id: randomUUID(), name: 'Sales' }] }));
    expect(outsider.decision.allowed).toBe(false);
    expect(outsider.decision.reason).not.toBe('unknown-membership');

    cf.faults.identity.down = true;
    try {
      const down = await decide(gate, cf.mintAppToken({ email: 'carol@contoso.com', groups: [FINANCE] }));
      expect(down.decision).toMatchObject({ allowed: false, reason: 'unknown-membership' });
      expect(down.identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_ACCESS_IDENTITY_UNAVAILABLE' });
    } finally {
      cf.faults.identity.down = false;
    }
  });

  it('a login through another login method is not an Entra member, whatever groups it lists', async () => {
    const gate = gateWith(createAccessIdentityGroupSource({ teamDomain: cf.teamDomain, idpId: cf.idpId }), policiesFor(cf.idpId));
    const { decision, identity } = await decide(gate, cf.mintAppToken({ groups: [FINANCE], identity: { idp: { id: randomUUID(), type: 'github' } } }));
    expect(decision).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_ACCESS_IDENTITY_IDP_MISMATCH' });
  });
});

describe('the SCIM directory behind Cloudflare Access', () => {
  function directory() {
    const index = createDirectoryIndex();
    index.upsertUser({
      id: 'u-ada',
      externalId: '1b3e7a52-8d6c-4f0e-9a1b-2c3d4e5f6a7b',
      userName: 'ada@contoso.com',
      emails: ['ada@contoso.com'],
      active: true,
    });
    index.upsertGroup({ id: 'g-fin', externalId: FINANCE_GROUP_ID, displayName: 'Finance' });
    index.addMember('g-fin', 'u-ada');
    return createDirectoryGroupSource({ index, tenantId: TENANT });
  }

  it('without an object id or a tenant, the identity matches nobody: unknown, never allowed', async () => {
    const gate = gateWith(directory(), policiesFor(cf.idpId));
    const { decision, identity } = await decide(gate, cf.mintAppToken({ email: 'ada@contoso.com' }));
    expect(decision.allowed).toBe(false);
    expect(identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_DIRECTORY_USER_UNKNOWN' });
  });

  it('with `oidClaim`, the Entra object id Cloudflare passes through matches the directory user (immutable id)', async () => {
    const gate = gateWith(directory(), policiesFor(cf.idpId));
    const v = verifier({ oidClaim: 'oid' });
    const ada = await decide(gate, cf.mintAppToken({ email: 'someone-else@contoso.com', custom: { oid: '1b3e7a52-8d6c-4f0e-9a1b-2c3d4e5f6a7b' } }), v);
    expect(ada.decision).toMatchObject({ allowed: true, policy: { name: 'finance' } });
    expect(ada.identity.groups).toEqual([{ id: FINANCE_GROUP_ID, name: 'Finance' }]);
    const stranger = await decide(gate, cf.mintAppToken({ email: 'ada@contoso.com', custom: { oid: randomUUID() } }), v);
    expect(stranger.decision.allowed).toBe(false);
  });

  it("with `tenantId`, the email matches within the directory's tenant; another tenant's is not trusted", async () => {
    const gate = gateWith(directory(), policiesFor(cf.idpId));
    const ada = await decide(gate, cf.mintAppToken({ email: 'ada@contoso.com' }), verifier({ tenantId: TENANT }));
    expect(ada.decision).toMatchObject({ allowed: true });
    const elsewhere = await decide(gate, cf.mintAppToken({ email: 'ada@contoso.com' }), verifier({ tenantId: randomUUID() }));
    expect(elsewhere.decision.allowed).toBe(false);
    expect(elsewhere.identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_DIRECTORY_USER_UNKNOWN' });
  });
});

describe('service tokens through the gate', () => {
  it('pass a Service Auth policy on their own, with no identity, and are never a user', async () => {
    const policies: AccessPolicy[] = [{ name: 'ci', decision: 'non_identity', include: [{ any_valid_service_token: {} }] }, ...policiesFor(cf.idpId)];
    const gate = gateWith(createAccessIdentityGroupSource({ teamDomain: cf.teamDomain }), policies);
    const result = await verifier().verify(cf.mintServiceToken({ commonName: 'e367826f93b8d71185e03fe518aff3b4.access' }));
    expect(result.kind).toBe('service');
    if (result.kind !== 'service') return;
    const decision = await gate.authorize(null, { application: 'portal', serviceToken: accessServiceTokenContext(result) });
    expect(decision).toMatchObject({ allowed: true, policy: { name: 'ci' } });
    // Without a Service Auth policy, a service token alone is denied: it is no member of anything.
    const strict = gateWith(createAccessIdentityGroupSource({ teamDomain: cf.teamDomain }), policiesFor(cf.idpId));
    expect((await strict.authorize(null, { application: 'portal', serviceToken: accessServiceTokenContext(result) })).allowed).toBe(false);
  });
});
