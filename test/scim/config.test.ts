import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGate } from '../../src/gate.js';
import { createScimHandler } from '../../src/scim/index.js';
import type { DirectoryStore } from '../../src/store/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';
import { SECRET } from './helpers.js';

// Construction never touches the store: a stand-in is enough.
const store = { users: {}, groups: {} } as unknown as DirectoryStore;
const idp = (scim_config?: Record<string, unknown>) => ({
  type: 'azureAD' as const,
  name: 'Entra ID',
  config: { client_id: '00000000-0000-4000-8000-00000000c1d0', directory_id: '00000000-0000-4000-8000-0000000000d1' },
  ...(scim_config ? { scim_config } : {}),
});

describe('createScimHandler reads scim_config from the gate (one source of configuration)', () => {
  let entra: MockEntra;
  beforeAll(async () => {
    entra = await createMockEntra();
  });
  afterAll(async () => {
    await entra?.close();
  });

  it('fails closed at construction when the gate has no scim_config, naming the field', () => {
    const gate = createGate({ idp: entra.idpConfig() });
    expect(() => createScimHandler({ store, gate, secrets: [SECRET] })).toThrow(
      expect.objectContaining({
        code: 'ERR_CONFIG_INVALID',
        message:
          "invalid SCIM handler options: `gate.idp.scim_config` is missing: add Cloudflare's `scim_config` with `enabled: true` to the identity provider",
      }),
    );
  });

  it('fails closed when scim_config is there but not enabled (Cloudflare default: `enabled: false`)', () => {
    for (const scim_config of [{ user_deprovision: true }, { enabled: false, user_deprovision: true }]) {
      const gate = createGate({ idp: entra.idpConfig({ scim_config }) });
      expect(() => createScimHandler({ store, gate, secrets: [SECRET] })).toThrow(
        expect.objectContaining({
          code: 'ERR_CONFIG_INVALID',
          message:
            'invalid SCIM handler options: `gate.idp.scim_config.enabled` is `false`: SCIM is off for this identity provider (Cloudflare\'s "Enable SCIM for this IdP")',
        }),
      );
    }
  });

  it("accepts a gate whose identity provider enables SCIM (positive control), from the mock and from Cloudflare's JSON", () => {
    expect(typeof createScimHandler({ store, gate: createGate({ idp: entra.idpConfig({ scim_config: { enabled: true } }) }), secrets: [SECRET] })).toBe(
      'function',
    );
    const cloudflare = idp({
      enabled: true,
      user_deprovision: true,
      seat_deprovision: false,
      group_member_deprovision: false,
      identity_update_behavior: 'automatic',
    });
    expect(typeof createScimHandler({ store, gate: createGate({ idp: cloudflare }), secrets: [SECRET] })).toBe('function');
  });

  it('validates a hand-built gate with the identity provider schema', () => {
    expect(() => createScimHandler({ store, gate: { idp: idp({ enabled: true, seat_deprovision: true }) } as never, secrets: [SECRET] })).toThrow(
      expect.objectContaining({
        code: 'ERR_CONFIG_INVALID',
        message: expect.stringContaining('`seat_deprovision` cannot be enabled unless `user_deprovision` is also enabled'),
      }),
    );
    expect(() =>
      createScimHandler({ store, gate: { idp: idp({ enabled: true, identity_update_behavior: 'sometimes' }) } as never, secrets: [SECRET] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => createScimHandler({ store, gate: {} as never, secrets: [SECRET] })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('expected the gate from createGate() (an object with `idp`)') }),
    );
    // The removed option is refused, not silently ignored: no option asks twice.
    expect(() =>
      createScimHandler({ store, gate: createGate({ idp: idp({ enabled: true }) }), secrets: [SECRET], scimConfig: { user_deprovision: true } } as never),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('scimConfig') }));
  });

  it('never puts the SCIM or client secret in a configuration error', () => {
    const secret = 'cloudflare-scim-secret-0123456789';
    const gate = {
      idp: { ...idp({ enabled: true, secret, identity_update_behavior: 'sometimes' }), config: { ...idp().config, client_secret: 'client-secret-0123456789' } },
    };
    let message = '';
    try {
      createScimHandler({ store, gate: gate as never, secrets: [SECRET] });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('identity_update_behavior');
    expect(message).not.toContain(secret);
    expect(message).not.toContain('client-secret-0123456789');
  });
});
