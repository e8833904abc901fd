import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGate } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { resolveEmail } from '../../src/token/identity.js';

// A configuration key that names a claim (`email_claim_name`, the `claims` copied into
// `oidc_fields`) is looked up among the token's own claims only (issue 12, own-property lookups).

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

describe('claims named like Object.prototype members', () => {
  it('email_claim_name and claims naming a prototype member read nothing when the token lacks them, and never crash', async () => {
    for (const name of PROTOTYPE_NAMES) {
      const gate = createGate({ idp: entra.idpConfig({ config: { email_claim_name: name, claims: [name, 'department'] } }), authorityHost: entra.url });
      const identity = await gate.verify(entra.mintToken({ claims: { email: 'ada@contoso.com', department: 'R&D' } }));
      expect(identity.email).toBe('ada@contoso.com');
      expect(identity.oidc_fields).toEqual({ department: 'R&D' });
      expect(Object.getPrototypeOf(identity.oidc_fields)).toBe(Object.prototype);
    }
  });

  it('reads them when the token does carry them as its own claims (the positive control)', async () => {
    for (const name of ['constructor', 'toString', 'valueOf']) {
      const gate = createGate({ idp: entra.idpConfig({ config: { email_claim_name: name, claims: [name] } }), authorityHost: entra.url });
      const identity = await gate.verify(entra.mintToken({ claims: { [name]: 'own@contoso.com', email: 'ada@contoso.com' } }));
      expect(identity.email).toBe('own@contoso.com');
      expect(Object.hasOwn(identity.oidc_fields, name)).toBe(true);
      expect(identity.oidc_fields[name]).toBe('own@contoso.com');
    }
    // A token's own `__proto__` claim is a plain claim for the email, and is never copied into oidc_fields.
    const gate = createGate({ idp: entra.idpConfig({ config: { email_claim_name: '__proto__', claims: ['__proto__'] } }), authorityHost: entra.url });
    const identity = await gate.verify(
      entra.mintToken({ claims: JSON.parse('{"__proto__":"proto@contoso.com","email":"ada@contoso.com"}') as Record<string, unknown> }),
    );
    expect(identity.email).toBe('proto@contoso.com');
    expect(Object.keys(identity.oidc_fields)).toEqual([]);
    expect(Object.getPrototypeOf(identity.oidc_fields)).toBe(Object.prototype);
  });

  it('a polluted Object.prototype never supplies the email or a copied claim', async () => {
    const gate = createGate({ idp: entra.idpConfig({ config: { email_claim_name: 'mail_id', claims: ['mail_id'] } }), authorityHost: entra.url });
    const polluted = Object.prototype as Record<string, unknown>;
    polluted.mail_id = 'mallory@evil.example';
    try {
      const identity = await gate.verify(entra.mintToken({ claims: { email: 'ada@contoso.com' } }));
      expect(identity.email).toBe('ada@contoso.com');
      expect(Object.hasOwn(identity.oidc_fields, 'mail_id')).toBe(false);
      expect(resolveEmail({ upn: 'bob@contoso.com' }, 'mail_id')).toBe('bob@contoso.com');
    } finally {
      delete polluted.mail_id;
    }
    // The same configuration with the claim in the token reads it.
    expect((await gate.verify(entra.mintToken({ claims: { mail_id: 'mail@contoso.com', email: 'ada@contoso.com' } }))).email).toBe('mail@contoso.com');
  });
});
