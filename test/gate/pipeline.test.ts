import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import diagnostics from 'node:diagnostics_channel';
import { randomUUID } from 'node:crypto';
import {
  createDirectoryGroupSource,
  createDirectoryIndex,
  createGate,
  createGroupSourceChain,
  createTokenGroupSource,
  EntragateError,
  type GateOptions,
  type GroupSource,
} from '../../src/index.js';
import { createMemoryRevocationList } from '../../src/login/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

const DEVS = '5f1c9a7d-0000-4000-8000-0000000000d1';
const STAFF = '5f1c9a7d-0000-4000-8000-0000000000d2';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

/** A directory with Ada (active, in Devs ⊂ Staff) and Bob (deprovisioned: inactive). */
function directory() {
  const index = createDirectoryIndex();
  const ada = { oid: randomUUID(), email: 'ada@contoso.com' };
  const bob = { oid: randomUUID(), email: 'bob@contoso.com' };
  index.upsertUser({ id: 'u-ada', externalId: ada.oid, userName: ada.email, emails: [ada.email], active: true });
  index.upsertUser({ id: 'u-bob', externalId: bob.oid, userName: bob.email, emails: [bob.email], active: false });
  index.upsertGroup({ id: 'g-devs', externalId: DEVS, displayName: 'Devs' });
  index.upsertGroup({ id: 'g-staff', externalId: STAFF, displayName: 'Staff' });
  index.addMember('g-staff', 'g-devs');
  index.addMember('g-devs', 'u-ada');
  index.addMember('g-devs', 'u-bob');
  return { index, ada, bob };
}

function gateWith(overrides: Partial<GateOptions>) {
  return createGate({
    idp: entra.idpConfig(),
    authorityHost: entra.url,
    applications: { portal: { policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } },
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

describe('the identity pipeline (gate.identify / gate.resolveIdentity)', () => {
  it('refuses a user the directory holds as inactive even when the token lists their groups and `prefer` would take them (regression: the token groups won)', async () => {
    const { index, ada, bob } = directory();
    const gate = gateWith({ groups: [createTokenGroupSource(), createDirectoryGroupSource({ index })], tokenGroups: 'prefer' });
    const bobToken = entra.mintToken({ claims: { oid: bob.oid, email: bob.email, groups: [DEVS] } });
    const refused = await rejection(gate.identify(bobToken));
    expect(refused.code).toBe('ERR_DIRECTORY_USER_INACTIVE');
    expect(refused.status).toBe(403);
    // An `everyone` policy does not let them in either: the refusal comes before any policy.
    expect((await rejection(gate.authorize(bobToken, { application: 'portal' }))).code).toBe('ERR_DIRECTORY_USER_INACTIVE');
    // Positive control: Ada, active, with the same kind of token.
    const adaIdentity = await gate.identify(entra.mintToken({ claims: { oid: ada.oid, email: ada.email, groups: [DEVS] } }));
    expect(adaIdentity.membership).toMatchObject({ state: 'complete', source: 'token' });
  });

  it('with `tokenGroups: ignore` answers from the directory, nested groups included, names known', async () => {
    const { index, ada } = directory();
    const gate = gateWith({ groups: createDirectoryGroupSource({ index }), tokenGroups: 'ignore' });
    const identity = await gate.identify(entra.mintToken({ claims: { oid: ada.oid, email: ada.email, groups: [randomUUID()] } }));
    expect(identity.membership).toEqual({ state: 'complete', source: 'directory', fields: ['id', 'name'] });
    expect(identity.groups.map((g) => g.name).sort()).toEqual(['Devs', 'Staff']);
  });

  it('answers a user the directory does not hold as unknown membership, not refused', async () => {
    const { index } = directory();
    const gate = gateWith({ groups: createDirectoryGroupSource({ index }), tokenGroups: 'ignore' });
    const stranger = await gate.identify(entra.mintToken({ claims: { oid: randomUUID(), email: 'stranger@contoso.com' } }));
    expect(stranger.membership).toMatchObject({ state: 'unknown', code: 'ERR_DIRECTORY_USER_UNKNOWN' });
  });

  it('fails closed with a 503 when the directory cannot say (a stale store), whatever the token says', async () => {
    const { index, ada } = directory();
    let fresh = false;
    const gate = gateWith({ groups: createDirectoryGroupSource({ store: { index, isFresh: () => fresh } }), tokenGroups: 'prefer' });
    const token = entra.mintToken({ claims: { oid: ada.oid, email: ada.email, groups: [DEVS] } });
    const stale = await rejection(gate.identify(token));
    expect(stale.status).toBe(503);
    expect(stale.code).toBe('ERR_STORE_STALE');
    fresh = true;
    expect((await gate.identify(token)).oid).toBe(ada.oid);
  });

  it('returns the same identity object while the directory answers the same, and a new one after a change', async () => {
    const { index, ada } = directory();
    const gate = gateWith({ groups: createDirectoryGroupSource({ index }), tokenGroups: 'ignore' });
    const token = entra.mintToken({ claims: { oid: ada.oid, email: ada.email } });
    const first = await gate.identify(token);
    expect(await gate.identify(token)).toBe(first);
    index.removeMember('g-devs', 'u-ada');
    const after = await gate.identify(token);
    expect(after).not.toBe(first);
    expect(after.groups).toEqual([]);
  });

  it('passes its home tenant to the sources, so UPN matching works for its own users', async () => {
    const index = createDirectoryIndex();
    // Entra's default mapping: externalId is the mailNickname, so only the UPN can match.
    index.upsertUser({ id: 'u1', externalId: 'ada', userName: 'ada@contoso.com', emails: [], active: true });
    index.upsertGroup({ id: 'g1', externalId: DEVS, displayName: 'Devs' });
    index.addMember('g1', 'u1');
    const gate = gateWith({ groups: createDirectoryGroupSource({ index }), tokenGroups: 'ignore' });
    const identity = await gate.identify(entra.mintToken({ claims: { oid: randomUUID(), preferred_username: 'ada@contoso.com' } }));
    expect(identity.groups.map((g) => g.id)).toEqual([DEVS]);
  });

  it('a chain refuses when any member refuses, and states the fields every member supplies', async () => {
    const { index, bob } = directory();
    const chain = createGroupSourceChain([createTokenGroupSource(), createDirectoryGroupSource({ index })]);
    expect(chain.fields).toEqual(['id']);
    const bobIdentity = await createGate({ idp: entra.idpConfig(), authorityHost: entra.url }).verify(
      entra.mintToken({ claims: { oid: bob.oid, email: bob.email } }),
    );
    expect(chain.standing!(bobIdentity, { claims: {}, homeTenant: entra.tenantId })).toMatchObject({ state: 'refused' });
    const custom: GroupSource = { name: 'custom', resolve: async () => ({ groups: [], membership: { state: 'absent' } }) };
    expect(createGroupSourceChain([custom, createDirectoryGroupSource({ index })]).fields).toBeUndefined();
  });
});

describe('revocations on the one path', () => {
  it('refuses a bearer token issued within the clock tolerance after a revocation (issuer clock ahead; regression: it was allowed)', async () => {
    const revocations = createMemoryRevocationList();
    const now = Math.floor(Date.now() / 1000);
    const gate = gateWith({ revocations });
    const oid = randomUUID();
    // Entra's clock runs 40 s ahead: the token says it was issued at now + 40, before the revocation at now + 1.
    const ahead = entra.mintToken({ claims: { oid, email: 'ada@contoso.com', iat: now + 40, nbf: now + 40 } });
    revocations.revokeUser([oid], now + 1);
    const refused = await rejection(gate.identify(ahead));
    expect(refused.code).toBe('ERR_SESSION_REVOKED');
    expect(refused.status).toBe(401);
    // Positive control: a token of another user at the same time is fine.
    expect((await gate.identify(entra.mintToken({ claims: { oid: randomUUID(), iat: now + 40, nbf: now + 40 } }))).iat).toBe(now + 40);
  });

  it('matches a revocation by the UPN claim too (SCIM revokes by userName)', async () => {
    const revocations = createMemoryRevocationList();
    const gate = gateWith({ revocations });
    const token = entra.mintToken({ claims: { oid: randomUUID(), email: 'ada@contoso.com', preferred_username: 'ada.l@contoso.onmicrosoft.com' } });
    expect((await gate.identify(token)).email).toBe('ada@contoso.com');
    revocations.revokeUser(['ada.l@contoso.onmicrosoft.com'], Math.floor(Date.now() / 1000) + 5);
    expect((await rejection(gate.identify(token))).code).toBe('ERR_SESSION_REVOKED');
  });

  it('answers 503, never an allow, when the revocation list cannot say', async () => {
    const unknown = { revokeUser: () => undefined, revokeApp: () => undefined, isRevoked: () => 'unknown' as unknown as boolean };
    const gate = gateWith({ revocations: unknown });
    const error = await rejection(gate.identify(entra.mintToken({ claims: { oid: randomUUID() } })));
    expect(error.status).toBe(503);
    expect(error.code).toBe('ERR_STORE_STALE');
  });

  it('applies `revokeApp` of the application a token is presented to', async () => {
    const revocations = createMemoryRevocationList();
    const gate = gateWith({
      revocations,
      applications: { portal: { aud: 'portal-aud', policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } },
    });
    const token = entra.mintToken({ claims: { oid: randomUUID() } });
    revocations.revokeApp('portal-aud', Math.floor(Date.now() / 1000) + 5);
    expect((await rejection(gate.authorize(token, { application: 'portal' }))).code).toBe('ERR_SESSION_REVOKED');
    // The same token on a Gateway target (no application) is not covered by the app's revocation.
    expect((await gate.identify(token)).oid).toBeTruthy();
  });
});

describe('gate configuration read by the other parts', () => {
  it('reads identity_update_behavior from the IdP scim_config, the deprecated group_member_deprovision as reauth', () => {
    expect(gateWith({}).identityUpdateBehavior).toBe('no_action');
    expect(gateWith({ idp: entra.idpConfig({ scim_config: { identity_update_behavior: 'automatic' } }) }).identityUpdateBehavior).toBe('automatic');
    expect(gateWith({ idp: entra.idpConfig({ scim_config: { group_member_deprovision: true } }) }).identityUpdateBehavior).toBe('reauth');
  });
});

describe('group fields a source supplies (issue 12 #4)', () => {
  const CONTRACTORS = '5f1c9a7d-0000-4000-8000-0000000000c0';
  const blockByName = {
    rules: [{ name: 'Block contractors', action: 'block' as const, precedence: 1, identity: 'any(identity.groups.name[*] in {"Contractors"})' }],
  };

  it('warns at construction when a rule reads a field no configured answer supplies, and publishes it', () => {
    const seen: unknown[] = [];
    const listener = (m: unknown): void => void seen.push(m);
    diagnostics.subscribe('entragate:gate:warning', listener);
    try {
      const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, gateway: blockByName });
      expect(gate.warnings).toHaveLength(1);
      expect(gate.warnings[0]).toMatch(/rule `Block contractors`.*reads `identity\.groups\.name`/);
      expect(seen).toHaveLength(1);
    } finally {
      diagnostics.unsubscribe('entragate:gate:warning', listener);
    }
    // The directory supplies names: no warning.
    const { index } = directory();
    expect(
      createGate({
        idp: entra.idpConfig(),
        authorityHost: entra.url,
        gateway: blockByName,
        groups: createDirectoryGroupSource({ index }),
        tokenGroups: 'ignore',
      }).warnings,
    ).toEqual([]);
  });

  it('a Block on a group name denies a token that lists ids only (regression: names read as "none", so it allowed); the directory\'s names decide', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, gateway: { ...blockByName, defaultAction: 'allow' } });
    const contractor = await gate.authorize(entra.mintToken({ claims: { groups: [CONTRACTORS] } }), { gateway: true });
    expect(contractor).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    // Positive control: with the directory as source, names are known and a non-contractor passes.
    const { index, ada } = directory();
    const withNames = createGate({
      idp: entra.idpConfig(),
      authorityHost: entra.url,
      gateway: { ...blockByName, defaultAction: 'allow' },
      groups: createDirectoryGroupSource({ index }),
      tokenGroups: 'ignore',
    });
    expect((await withNames.authorize(entra.mintToken({ claims: { oid: ada.oid, email: ada.email } }), { gateway: true })).allowed).toBe(true);
  });
});
