import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRevocationList } from '../../src/login/index.js';
import { openDirectoryStore, type DirectoryStore, type ProvisioningPolicy } from '../../src/store/index.js';
import { RevocationSet } from '../../src/session/revocation-set.js';
import { dropSchema, nextChange, postgresUrl, uniqueSchema } from '../scim/helpers.js';

/*
 * Issue 11 #4: revocation ignored clock skew. A token whose issuer clock runs 40 s ahead
 * (inside the gate's 60 s `clockTolerance`) carries `iat = now + 40` although it was issued
 * before a `revokeUser` at `now + 1`: it must count as revoked, on every implementation.
 */
const NOW = 1_800_000_000;

describe('RevocationSet: a credential issued up to toleranceSeconds after a revocation is revoked', () => {
  const set = new RevocationSet();
  set.add('subject', 'ada@contoso.com', NOW + 1);
  set.add('app', 'aud-1', NOW + 1);

  it('an iat 40 s ahead, from before the revocation, is revoked (the default tolerance is 60 s); one issued beyond it is not', () => {
    expect(set.isRevoked({ subjects: ['Ada@Contoso.com'], issuedAt: NOW + 40 })).toBe(true);
    expect(set.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 1 + 60 })).toBe(true);
    // Positive control: a login a second past the tolerance is a new session.
    expect(set.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 1 + 61 })).toBe(false);
    expect(set.isRevoked({ subjects: ['bob@contoso.com'], issuedAt: NOW + 40 })).toBe(false);
  });

  it('applies to app revocations too', () => {
    expect(set.isRevoked({ subjects: [], appId: 'AUD-1', issuedAt: NOW + 40 })).toBe(true);
    expect(set.isRevoked({ subjects: [], appId: 'aud-1', issuedAt: NOW + 62 })).toBe(false);
  });

  it('takes the tolerance from the query', () => {
    expect(set.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 2, toleranceSeconds: 0 })).toBe(false);
    expect(set.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 1, toleranceSeconds: 0 })).toBe(true);
    expect(set.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 300, toleranceSeconds: 300 })).toBe(true);
  });

  it('fails closed on a tolerance that is not a number ≥ 0, or an issuedAt that is not finite', () => {
    for (const toleranceSeconds of [Number.NaN, -1, -Infinity]) {
      expect(set.isRevoked({ subjects: ['nobody@contoso.com'], issuedAt: NOW, toleranceSeconds })).toBe(true);
    }
    expect(set.isRevoked({ subjects: ['nobody@contoso.com'], issuedAt: Number.NaN })).toBe(true);
    expect(new RevocationSet().isRevoked({ subjects: ['nobody@contoso.com'], issuedAt: NOW, toleranceSeconds: -1 })).toBe(true);
  });
});

describe('the memory revocation list shares the rule', () => {
  it('revokes an iat 40 s ahead issued before the revocation, not one past the tolerance', () => {
    const list = createMemoryRevocationList({ now: () => NOW * 1000 });
    list.revokeUser(['ada@contoso.com'], NOW + 1);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 40 })).toBe(true);
    expect(list.isRevoked({ subjects: ['ada@contoso.com'], issuedAt: NOW + 62 })).toBe(false);
  });
});

describe('two store instances whose clocks differ by 40 s', () => {
  let url: string;
  const schema = uniqueSchema('skew');
  // A's clock is right; B's runs 40 s ahead (the issuer of B's sessions stamps `iat` from it).
  let a: DirectoryStore;
  let b: DirectoryStore;
  const deprovision: ProvisioningPolicy = { userDeprovision: true, seatDeprovision: false, identityUpdateBehavior: 'no_action' };

  beforeAll(async () => {
    url = await postgresUrl();
    a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, now: () => Date.now() });
    b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, now: () => Date.now() + 40_000 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await dropSchema(url, schema);
  });

  it('a session B issued before A deprovisioned the user is revoked on both, although its iat is after the revocation', async () => {
    const user = (await a.users.create({ userName: 'ada@contoso.com', externalId: 'oid-ada', active: true })).resource!;
    // B issues a session now, by its clock: 40 s ahead of A's.
    const issuedAt = Math.floor((Date.now() + 40_000) / 1000);
    const session = { subjects: ['oid-ada'], issuedAt };
    expect(a.revocations.isRevoked(session)).toBe(false);
    expect(b.revocations.isRevoked(session)).toBe(false);
    const heard = nextChange(b, (c) => c.resourceId === user.id && c.revocation !== undefined);
    // Then A deprovisions the user: `notBefore` is A's clock, before the session's iat.
    const { change } = await a.users.replace(user.id, { userName: 'ada@contoso.com', externalId: 'oid-ada', active: false }, { provisioning: deprovision });
    await heard;
    expect(change!.revocation!.notBefore).toBeLessThan(issuedAt);
    expect(a.revocations.isRevoked(session)).toBe(true);
    expect(b.revocations.isRevoked(session)).toBe(true);
    // Positive control: a login past the tolerance after the revocation (the user re-enabled) is not revoked.
    const later = { subjects: ['oid-ada'], issuedAt: change!.revocation!.notBefore + 61 };
    expect(a.revocations.isRevoked(later)).toBe(false);
    expect(b.revocations.isRevoked(later)).toBe(false);
  });
});
