import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIo } from '../../src/cli/main.js';
import { createMockEntra, createMockGraph, type MockEntra, type MockGraph } from '../../src/testing/index.js';
import { createScimHandler, toNodeListener } from '../../src/scim/index.js';
import { openDirectoryStore } from '../../src/store/index.js';
import type { DirectoryStore } from '../../src/store/index.js';
import { scimGate } from '../scim/helpers.js';

const DEVS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e10';
const CONTRACTORS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e12';
const SCIM_SECRET = 'scim-secret-0123456789abcdef';

let dir: string;
let entra: MockEntra;
let graph: MockGraph;
let store: DirectoryStore;
let scimServer: Server;
let scimUrl: string;

function io(isTTY = false): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    isTTY,
    stdout: (text: string) => {
      sink.out += text;
    },
    stderr: (text: string) => {
      sink.err += text;
    },
  };
  return sink;
}

function file(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return path;
}

const config = () => ({
  idp: entra.idpConfig(),
  applications: {
    portal: {
      policies: [
        { name: 'Block contractors', decision: 'deny', include: [{ azureAD: { id: CONTRACTORS } }] },
        { name: 'Devs', decision: 'allow', include: [{ group: { id: 'engineering' } }] },
      ],
    },
  },
  ruleGroups: [{ id: 'engineering', name: 'Engineering', include: [{ azureAD: { id: DEVS } }] }],
  gateway: { rules: [{ name: 'Allow devs', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${DEVS}"})` }], defaultAction: 'block' },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'entragate-cli-'));
  entra = await createMockEntra();
  graph = await createMockGraph({ tenantId: entra.tenantId, acceptToken: (token) => entra.login.introspect(token) !== undefined });
  store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
  scimServer = createServer(toNodeListener(createScimHandler({ store, gate: scimGate(), secrets: [SCIM_SECRET], basePath: '/scim/v2' })));
  await new Promise<void>((resolve) => scimServer.listen(0, '127.0.0.1', resolve));
  scimUrl = `http://127.0.0.1:${(scimServer.address() as AddressInfo).port}/scim/v2`;
});
afterAll(async () => {
  scimServer.closeAllConnections();
  await new Promise((resolve) => scimServer.close(resolve));
  await store.close();
  await graph.close();
  await entra.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('entragate check', () => {
  it('passes a valid configuration', async () => {
    const out = io();
    expect(await main(['check', '--config', file('ok.json', config())], out)).toBe(0);
    expect(out.out).toMatch(/ok\.json: ok \(1 application, 1 rule groups, 1 gateway rules, idp\)/);
  });

  it('reports every problem with its location and exits 1', async () => {
    const bad = config();
    (bad.idp as unknown as { config: Record<string, unknown> }).config.directory_id = 'contoso.onmicrosoft.com';
    bad.applications.portal.policies.push({ name: 'Okta', decision: 'allow', include: [{ okta: { name: 'x' } } as never] });
    bad.ruleGroups.push({ id: 'loop', name: 'Loop', include: [{ group: { id: 'loop' } } as never] });
    bad.gateway.rules.push({ name: 'Broken', action: 'allow', precedence: 2, identity: 'any(identity.groups.id[*] in {"a"' });
    const path = file('bad.json', { ...bad, extra: true });
    const out = io();
    expect(await main(['check', '--config', path], out)).toBe(1);
    const lines = out.out.trim().split('\n');
    expect(lines.at(-1)).toBe('5 problems');
    expect(out.out).toContain(`${path}: extra: unknown key \`extra\``);
    expect(out.out).toMatch(/bad\.json: idp\.config\.directory_id: .*GUID/);
    expect(out.out).toMatch(/bad\.json: applications\.portal: selector `okta` is not supported .*policies\[2\]\.include\[0\] \(ERR_POLICY_UNKNOWN_SELECTOR\)/);
    expect(out.out).toMatch(/bad\.json: ruleGroups\[1\]: rule groups reference each other in a cycle.*\(ERR_POLICY_GROUP_CYCLE\)/);
    expect(out.out).toMatch(/bad\.json: gateway: .*rules\[1\] `Broken`\.identity \(ERR_EXPRESSION_SYNTAX\)/);
  });

  it('names a file that is not JSON, with exit code 2', async () => {
    const out = io();
    expect(await main(['check', '--config', file('broken.json', '{ nope')], out)).toBe(2);
    expect(out.err).toMatch(/broken\.json` is not valid JSON: Expected property name or '}' at line 1, column 3\n$/);
  });

  it('never prints the text of a broken file, which may hold the client secret (regression: the parser excerpt was printed)', async () => {
    const secret = 'Sup3rS3cretValue~q8Z';
    for (const text of [
      `{"idp": {"config": {"client_secret": ${secret}}}}`,
      `{"idp": {"config": {"client_secret": "${secret}",}}}`,
      `{"client_secret": "${secret}"} x`,
    ]) {
      const out = io();
      expect(await main(['check', '--config', file('secret.json', text)], out)).toBe(2);
      expect(out.err).toMatch(/secret\.json` is not valid JSON: /);
      expect(out.err).not.toContain(secret.slice(0, 6));
    }
  });
});

describe('entragate eval', () => {
  it('decides for an identity file and prints the trace', async () => {
    const cfg = file('cfg.json', config());
    const out = io();
    expect(await main(['eval', '--config', cfg, '--identity', file('ada.json', { email: 'ada@contoso.com', groups: [DEVS] })], out)).toBe(0);
    expect(out.out).toContain('access: allowed, action allow (matched)');
    expect(out.out).toContain('decided by');
    expect(out.out).toContain('Devs');
    const json = io();
    await main(['eval', '--config', cfg, '--identity', file('eve.json', { email: 'eve@contoso.com', groups: [DEVS, CONTRACTORS] }), '--json'], json);
    expect(JSON.parse(json.out)).toMatchObject({ allowed: false, action: 'deny', policy: { name: 'Block contractors' } });
    const gw = io();
    await main(['eval', '--config', cfg, '--identity', file('none.json', { groups: [] }), '--gateway'], gw);
    expect(gw.out).toContain('gateway: denied, action block (default)');
  });

  it('verifies a token against the authority host, or a JWKS file', async () => {
    const cfg = file('cfg.json', config());
    const token = entra.mintToken({ claims: { groups: [DEVS] } });
    const out = io();
    expect(await main(['eval', '--config', cfg, '--token', token, '--authority-host', entra.url], out)).toBe(0);
    expect(out.out).toContain('access: allowed');
    const jwks = await (await fetch(`${entra.url}/${entra.tenantId}/discovery/v2.0/keys`)).json();
    const viaFile = io();
    expect(await main(['eval', '--config', cfg, '--token', token, '--jwks', file('jwks.json', jwks)], viaFile)).toBe(0);
    expect(viaFile.out).toContain('access: allowed');
    const forged = entra.mintToken({ key: entra.createUnpublishedKey() });
    const refused = io();
    expect(await main(['eval', '--config', cfg, '--token', forged, '--jwks', file('jwks.json', jwks)], refused)).toBe(1);
    expect(refused.err).toContain('ERR_TOKEN_KEY_NOT_FOUND');
  });
});

describe('entragate test', () => {
  const cases = (n = 0) => [
    { name: 'a dev is allowed', identity: { email: 'ada@contoso.com', groups: [DEVS] }, expect: { allowed: true, policy: 'Devs' } },
    { name: 'a contractor dev is blocked', identity: { groups: [DEVS, CONTRACTORS] }, expect: { allowed: false, action: 'deny', policy: 'Block contractors' } },
    { name: 'unknown membership fails closed', identity: { membership: 'unknown' }, expect: { allowed: false, reason: 'unknown-membership' } },
    { name: 'gateway allows devs', gateway: true, identity: { groups: [DEVS] }, expect: { allowed: true, action: 'allow' } },
    ...Array.from({ length: n }, (_, i) => ({ name: `bulk ${i}`, identity: { groups: [] }, expect: { allowed: false, policy: null } })),
  ];

  it('passes a test file and exits 0', async () => {
    file('entragate.json', config());
    const out = io();
    expect(await main(['test', file('cases.json', { config: 'entragate.json', application: 'portal', cases: cases() })], out)).toBe(0);
    expect(out.out).toContain('  ✓ a dev is allowed');
    expect(out.out).toContain('4 passed');
  });

  it('prints a readable diff and the trace for a failing case, and exits 1', async () => {
    file('entragate.json', config());
    const failing = [...cases(), { name: 'contractors are allowed (wrong)', identity: { groups: [CONTRACTORS] }, expect: { allowed: true, policy: 'Devs' } }];
    const out = io();
    expect(await main(['test', file('failing.json', { config: 'entragate.json', cases: failing })], out)).toBe(1);
    expect(out.out).toContain('  ✗ contractors are allowed (wrong)');
    expect(out.out).toContain('allowed: expected true, got false');
    expect(out.out).toContain('policy: expected "Devs", got "Block contractors"');
    expect(out.out).toContain('| access: denied');
    expect(out.out).toContain('1 failed, 4 passed');
  });

  it('shows progress on a terminal only', async () => {
    file('entragate.json', config());
    const path = file('bulk.json', { config: 'entragate.json', cases: cases(96) });
    const tty = io(true);
    expect(await main(['test', path], tty)).toBe(0);
    expect(tty.err).toContain('100/100 cases');
    const pipe = io(false);
    expect(await main(['test', path], pipe)).toBe(0);
    expect(pipe.err).toBe('');
  });

  it("decides Gateway http.* rules from each case's `context.request`, failing closed without one", async () => {
    const gateway = {
      rules: [
        {
          name: 'Block admin for non-devs',
          action: 'block',
          precedence: 1,
          traffic: 'http.request.uri.path matches "^/admin"',
          identity: `not(any(identity.groups.id[*] in {"${DEVS}"}))`,
        },
        { name: 'Allow the app host', action: 'allow', precedence: 2, traffic: 'http.request.host == "app.example.com"' },
      ],
      defaultAction: 'block',
    };
    file('http.json', { ...config(), gateway });
    const request = (url: string, host = 'App.Example.com:8443') => ({ method: 'GET', host, url });
    const cases = [
      {
        name: 'a non-dev on /admin is blocked',
        identity: { groups: [] },
        context: { request: request('/admin/users?page=2') },
        expect: { allowed: false, policy: 'Block admin for non-devs', reason: 'matched' },
      },
      {
        name: 'a dev on /admin passes to the host rule',
        identity: { groups: [DEVS] },
        context: { request: request('/admin') },
        expect: { allowed: true, policy: 'Allow the app host' },
      },
      {
        name: 'another host gets the default',
        identity: { groups: [] },
        context: { request: request('/', 'other.example.com') },
        expect: { allowed: false, policy: null, reason: 'default' },
      },
      {
        name: 'no request: the block might match, so it denies',
        identity: { groups: [] },
        expect: { allowed: false, action: 'block', policy: 'Block admin for non-devs', reason: 'unknown-request' },
      },
    ];
    const out = io();
    expect(await main(['test', file('http-cases.json', { config: 'http.json', gateway: true, cases })], out)).toBe(0);
    expect(out.out).toContain('4 passed');
    const bad = io();
    const malformed = [{ identity: null, context: { request: { url: '/' } }, expect: { allowed: false } }];
    expect(await main(['test', file('http-bad.json', { config: 'http.json', gateway: true, cases: malformed })], bad)).toBe(2);
    expect(bad.err).toContain('cases[0].context.request: must be an object with string `method`, `host` and `url`');
  });

  it('refuses a case without an expectation, naming it', async () => {
    file('entragate.json', config());
    const out = io();
    expect(await main(['test', file('noexpect.json', { config: 'entragate.json', cases: [{ identity: null }] })], out)).toBe(2);
    expect(out.err).toContain('cases[0]: `expect` is required');
  });
});

describe('entragate doctor', () => {
  const doctorArgs = (idp: unknown) => ['doctor', '--config', file('doctor.json', { idp }), '--authority-host', entra.url, '--graph-host', graph.url];

  it('passes every check against the mock Entra ID, Graph and a SCIM endpoint', async () => {
    const out = io();
    const code = await main([...doctorArgs(entra.idpConfig()), '--scim-url', scimUrl, '--scim-secret', SCIM_SECRET], out);
    expect(out.out).toContain('✓ discovery');
    expect(out.out).toContain('✓ signing keys (JWKS): 1 RSA key');
    expect(out.out).toContain('✓ client secret');
    expect(out.out).toContain('✓ graph permissions');
    expect(out.out).toContain('✓ SCIM endpoint: reachable, refuses requests without a secret, and accepts the secret');
    expect(out.out).toContain('all checks passed');
    expect(code).toBe(0);
    expect(out.out).not.toContain(entra.clientSecret);
  });

  it('says what to fix for a wrong client secret, a missing Graph permission and a wrong SCIM secret', async () => {
    const wrong = io();
    expect(
      await main(
        [...doctorArgs(entra.idpConfig({ config: { client_secret: 'not-the-secret' } })), '--scim-url', scimUrl, '--scim-secret', 'wrong-secret-0123456789'],
        wrong,
      ),
    ).toBe(1);
    expect(wrong.out).toMatch(/✗ client secret: AADSTS7000215.*create a new one/);
    expect(wrong.out).toContain('- graph permissions: needs a client-credentials token');
    expect(wrong.out).toMatch(/✗ SCIM endpoint: the secret was refused/);
    expect(wrong.out).not.toContain('not-the-secret');
    graph.failNext({ status: 403 });
    const forbidden = io();
    expect(await main(doctorArgs(entra.idpConfig()), forbidden)).toBe(1);
    expect(forbidden.out).toMatch(/✗ graph permissions: Authorization_RequestDenied: add the application permission GroupMember\.Read\.All/);
    expect(forbidden.out).toContain('- SCIM endpoint: pass `--scim-url`');
  });

  it('takes the SCIM secret from ENTRAGATE_SCIM_SECRET, keeping it off the command line', async () => {
    const out = io();
    process.env.ENTRAGATE_SCIM_SECRET = SCIM_SECRET;
    try {
      expect(await main([...doctorArgs(entra.idpConfig()), '--scim-url', scimUrl], out)).toBe(0);
    } finally {
      delete process.env.ENTRAGATE_SCIM_SECRET;
    }
    expect(out.out).toContain('✓ SCIM endpoint: reachable, refuses requests without a secret, and accepts the secret');
    expect(out.out).not.toContain(SCIM_SECRET);
  });

  it('refuses a --timeout that is not a number of milliseconds (regression: it was reported as an unreachable host)', async () => {
    const out = io();
    expect(await main([...doctorArgs(entra.idpConfig()), '--timeout', '10s'], out)).toBe(2);
    expect(out.err).toBe('entragate doctor: `--timeout` must be a whole number of milliseconds, not `10s`\n');
    expect(out.out).toBe('');
  });

  it('reports an unknown tenant at discovery', async () => {
    const out = io();
    expect(await main(doctorArgs(entra.idpConfig({ config: { directory_id: '11111111-2222-3333-4444-555555555555' } })), out)).toBe(1);
    expect(out.out).toMatch(/✗ discovery: AADSTS90002.*check `directory_id`/);
  });
});

describe('entragate usage', () => {
  it('prints usage for an unknown command with exit code 2', async () => {
    const out = io();
    expect(await main(['frobnicate'], out)).toBe(2);
    expect(out.err).toContain('unknown command `frobnicate`');
    expect(out.err).toContain('usage: entragate');
  });
});
