import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { ConfigError, createGate, explain, GroupsError, parseGoDuration, type GateOptions, type GroupSource } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

const DEVS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e10';
const US_DEVS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e11';
const CONTRACTORS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e12';
const IDP = 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterAll(async () => {
  await entra.close();
});

const portal = {
  policies: [
    { name: 'Block contractors', decision: 'deny' as const, include: [{ azureAD: { id: CONTRACTORS, identity_provider_id: IDP } }] },
    {
      name: 'Devs',
      decision: 'allow' as const,
      include: [{ azureAD: { id: DEVS, identity_provider_id: IDP } }],
      session_duration: '8h',
    },
    { name: 'Admins by email', decision: 'allow' as const, include: [{ email: { email: 'root@contoso.com' } }] },
  ],
};

function gateWith(overrides: Partial<GateOptions> = {}) {
  return createGate({ idp: entra.idpConfig({ id: IDP }), authorityHost: entra.url, applications: { portal }, ...overrides });
}

/** A source that answers with fixed groups, or fails, and counts its calls. */
function fakeSource(answer: 'ok' | 'down', groups: string[] = []): GroupSource & { calls: number } {
  const source = {
    name: 'fake',
    calls: 0,
    async resolve() {
      source.calls++;
      if (answer === 'down') throw new GroupsError('ERR_GRAPH_REQUEST_FAILED', 'graph is down');
      return { groups: groups.map((id) => ({ id })), membership: { state: 'complete' as const, source: 'graph' as const } };
    },
  };
  return source;
}

describe('gate.authorize with Access policies', () => {
  it('allows a member of a nested group listed transitively in the token', async () => {
    const gate = gateWith();
    const decision = await gate.authorize(entra.mintToken({ claims: { groups: [US_DEVS, DEVS] } }));
    expect(decision).toMatchObject({ allowed: true, action: 'allow', reason: 'matched', policy: { name: 'Devs' } });
  });

  it('denies by default and explains each policy considered', async () => {
    const gate = gateWith();
    const decision = await gate.authorize(entra.mintToken({ claims: { groups: [randomUUID()], email: 'nobody@contoso.com' } }));
    expect(decision).toMatchObject({ allowed: false, action: 'deny', reason: 'default' });
    expect(decision.trace.map((t) => [t.policy.name, t.result])).toEqual([
      ['Block contractors', 'no-match'],
      ['Devs', 'no-match'],
      ['Admins by email', 'no-match'],
    ]);
    expect(explain(decision)).toContain('Devs');
  });

  it('completes overage groups from the source chain, and only then', async () => {
    const source = fakeSource('ok', [DEVS]);
    const gate = gateWith({ groups: [source] });
    expect(await gate.authorize(entra.mintToken({ claims: { groups: [DEVS] } }))).toMatchObject({ allowed: true });
    expect(source.calls).toBe(0);
    const decision = await gate.authorize(entra.mintToken({ claims: { _claim_names: { groups: 'src1' } } }));
    expect(decision).toMatchObject({ allowed: true, policy: { name: 'Devs' } });
    expect(source.calls).toBe(1);
  });

  it('fails closed when overage cannot be resolved: a block that might match denies', async () => {
    const gate = gateWith({ groups: fakeSource('down') });
    const token = entra.mintToken({ claims: { _claim_names: { groups: 'src1' }, email: 'root@contoso.com' } });
    const identity = await gate.identify(token);
    expect(identity.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    // Root would be allowed by email, but "Block contractors" comes first and might match.
    const decision = await gate.authorize(identity);
    expect(decision).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(decision.trace[0]).toMatchObject({ policy: { name: 'Block contractors' }, result: 'unknown' });
  });

  it('decides a request without a login (service token) with Bypass and Service Auth only', async () => {
    const gate = gateWith({
      applications: {
        api: {
          policies: [
            { name: 'CI', decision: 'non_identity', include: [{ service_token: { token_id: 'tok-1' } }] },
            { name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] },
          ],
        },
      },
    });
    expect(await gate.authorize(null, { serviceToken: { tokenId: 'tok-1' } })).toMatchObject({ allowed: true, action: 'non_identity' });
    expect(await gate.authorize(null, {})).toMatchObject({ allowed: false });
  });

  it('publishes each decision without the token', async () => {
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    diagnostics.subscribe('entragate:decision', listener);
    try {
      const token = entra.mintToken({ claims: { groups: [DEVS] } });
      await gateWith().authorize(token);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ where: 'applications.portal', allowed: true, policy: { name: 'Devs' } });
      expect(JSON.stringify(seen[0])).not.toContain(token.split('.')[1]!);
    } finally {
      diagnostics.unsubscribe('entragate:decision', listener);
    }
  });

  it('reports a report-only candidate that differs, and enforces the current policies', async () => {
    const differences: unknown[] = [];
    const gate = gateWith({
      reportOnly: {
        applications: { portal: { policies: [{ name: 'Nobody', decision: 'deny', include: [{ everyone: {} }] }] } },
        onDifference: (difference, where) => differences.push({ where, fields: difference.fields }),
      },
    });
    const decision = await gate.authorize(entra.mintToken({ claims: { groups: [DEVS] } }));
    expect(decision.allowed).toBe(true);
    expect(differences).toEqual([{ where: 'applications.portal', fields: ['allowed', 'action', 'policy'] }]);
  });

  it('follows Cloudflare session precedence: policy, application, global', async () => {
    const gate = gateWith({
      session_duration: '12h',
      applications: { portal: { ...portal, session_duration: '2h' }, other: { policies: [{ name: 'All', decision: 'allow', include: [{ everyone: {} }] }] } },
    });
    const devs = await gate.authorize(entra.mintToken({ claims: { groups: [DEVS] } }), { application: 'portal' });
    expect(gate.sessionDuration(devs, 'portal')).toBe(8 * 3600);
    const root = await gate.authorize(entra.mintToken({ claims: { groups: [], email: 'root@contoso.com' } }), { application: 'portal' });
    expect(gate.sessionDuration(root, 'portal')).toBe(2 * 3600);
    const other = await gate.authorize(entra.mintToken(), { application: 'other' });
    expect(gate.sessionDuration(other, 'other')).toBe(24 * 3600);
    expect(gate.sessionDuration(other, 'missing')).toBe(12 * 3600);
  });
});

describe('gate.authorize with Gateway rules', () => {
  it('evaluates the canonical group expression and the default action', async () => {
    const gate = gateWith({
      gateway: {
        rules: [
          { name: 'Block contractors', action: 'block', precedence: 10, identity: `any(identity.groups.id[*] in {"${CONTRACTORS}"})` },
          { name: 'Allow devs', action: 'allow', precedence: 20, identity: `any(identity.groups.id[*] in {"${DEVS}"})` },
        ],
        defaultAction: 'block',
      },
    });
    expect(await gate.authorize(entra.mintToken({ claims: { groups: [DEVS] } }), { gateway: true })).toMatchObject({
      kind: 'gateway',
      allowed: true,
      policy: { name: 'Allow devs' },
    });
    expect(await gate.authorize(entra.mintToken({ claims: { groups: [] } }), { gateway: true })).toMatchObject({ allowed: false, reason: 'default' });
  });
});

describe('gate configuration errors are thrown at construction, with a location', () => {
  it('names the application and the rule of an unknown selector', () => {
    expect(() => gateWith({ applications: { portal: { policies: [{ name: 'x', decision: 'allow', include: [{ okta: { name: 'g' } } as never] }] } } })).toThrow(
      /^applications\.portal: .*okta/,
    );
  });

  it('refuses a report-only application that is not enforced', () => {
    expect(() => gateWith({ reportOnly: { applications: { ghost: { policies: [] } } } })).toThrow(ConfigError);
  });

  it('refuses a bad identity-provider document, naming the field', () => {
    const idp = entra.idpConfig({ config: { directory_id: 'contoso.onmicrosoft.com' } });
    expect(() => createGate({ idp })).toThrow(/directory \(tenant\) id must be a GUID[\s\S]*idp\.config\.directory_id/);
  });

  it('keeps the client secret out of configuration errors', () => {
    const idp = entra.idpConfig({ config: { client_secret: 'sup3r-s3cret', prompt: 'never' } });
    try {
      createGate({ idp });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).code).toBe('ERR_CONFIG_INVALID');
      expect((error as Error).message).toContain('idp.config.prompt');
      expect((error as Error).message).not.toContain('sup3r-s3cret');
    }
  });

  it('rejects an authorize call for an unknown application', async () => {
    await expect(gateWith().authorize(null, { application: 'nope' })).rejects.toThrow('no application `nope`');
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('90s')).toBe(90_000);
    expect(() => parseGoDuration('1 day')).toThrow(ConfigError);
  });
});
