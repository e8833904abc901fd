/**
 * The package as npm users get it: `npm pack` (whose `prepack` builds `dist` from a
 * clean clone), then `npm install <tarball>` into empty folders that do not see this
 * repository's node_modules. A verify-only folder gets the tarball alone; a full one
 * adds the optional peers the login, the arbitraries, the pg driver and Fastify load.
 * Every subpath is imported from ESM and required from CommonJS, the bin runs through
 * `npx`, and publint and @arethetypeswrong/cli check the tarball.
 *
 * Installs prefer npm's cache (`--offline`, retried once with `--prefer-offline`), at
 * the versions this repository's lock file installed, so they do not wait on the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const repo = resolve('.');

interface Manifest {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
}
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;
const subpaths = Object.keys(manifest.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));

/**
 * The subpaths that load only with optional peers installed, and which: importing one without
 * them fails at start-up, naming the package. No other subpath imports these.
 */
const needsPeers: Record<string, string[]> = {
  [`${manifest.name}/login`]: ['openid-client', 'jose'],
  [`${manifest.name}/testing/arbitraries`]: ['fast-check'],
};
const peerFree = subpaths.filter((s) => !(s in needsPeers));

/** The peers the full folder installs, at the versions this repository tests with. */
const fullPeers = ['jose', 'openid-client', 'fast-check', 'pg', 'fastify'];
const pinned = (name: string) =>
  `${name}@${(JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;

let dir: string;
let tarball: string;
let verifyApp: string;
let fullApp: string;

/** npm settings a user or CI chose (cache, registry, proxies) pass through; what `npm test` sets about this repo does not. */
const keptNpmConfig = /^npm_config_(cache|registry|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile)$/i;

/** Runs a command without the environment npm gives a script (`npm_config_local_prefix` and the like point at this repo). */
function run(file: string, args: string[], options: { cwd: string; timeout?: number }) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => keptNpmConfig.test(key) || !/^npm_(config|package|lifecycle)_/i.test(key)));
  return exec(file, args, { ...options, env, maxBuffer: 64 * 1024 * 1024, timeout: options.timeout ?? 60_000 });
}

async function install(app: string, specs: string[]): Promise<void> {
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const args = ['install', ...specs, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];
  try {
    await run('npm', [...args, '--offline'], { cwd: app, timeout: 240_000 });
  } catch {
    // Something was not in the cache: fetch it once, still preferring what is cached.
    rmSync(join(app, 'node_modules'), { recursive: true, force: true });
    await run('npm', [...args, '--prefer-offline'], { cwd: app, timeout: 240_000 });
  }
}

const esm = (app: string, code: string) => run(process.execPath, ['--input-type=module', '-e', code], { cwd: app });
const cjs = (app: string, code: string) => run(process.execPath, ['--input-type=commonjs', '-e', code], { cwd: app });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'entragate-pack-'));
  // `npm pack` runs `prepack` (the tsup build): what a clean clone publishes.
  await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: repo, timeout: 600_000 });
  tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  verifyApp = join(dir, 'verify');
  fullApp = join(dir, 'full');
  await Promise.all([install(verifyApp, [tarball]), install(fullApp, [tarball, ...fullPeers.map(pinned)])]);
}, 900_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships dist, bin, LICENSE, README and package.json, with no source maps and every export built', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { cwd: dir });
    const files = stdout.trim().split('\n');
    for (const f of files)
      expect(
        f.startsWith('package/dist/') || f.startsWith('package/bin/') || ['package/package.json', 'package/README.md', 'package/LICENSE'].includes(f),
        f,
      ).toBe(true);
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/THIRD-PARTY-LICENSES.md');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // ESM only: no CommonJS copy whose classes would differ from the ESM ones.
    expect(files.filter((f) => /\.(cjs|d\.cts)$/.test(f))).toEqual([]);
    for (const target of Object.values(manifest.exports)) {
      for (const file of typeof target === 'string' ? [target] : [target.types, target.default]) expect(files).toContain(`package/${file.slice(2)}`);
    }
    for (const bin of Object.values(manifest.bin)) expect(files).toContain(`package/${bin.replace(/^\.\//, '')}`);
  });

  it('is at most 400 kB packed', () => {
    expect(statSync(tarball).size).toBeLessThanOrEqual(400_000);
  });

  it("keeps a bundled dependency's licence beside the code compiled from it", () => {
    const notices = readFileSync(join(verifyApp, 'node_modules', manifest.name, 'dist', 'THIRD-PARTY-LICENSES.md'), 'utf8');
    expect(notices).toContain('## lru-cache');
    expect(notices).toContain('Blue Oak Model License');
    expect(notices).toContain('## fastify-plugin');
    expect(notices).toContain('MIT');
  });

  it('declares every optional peer as optional', () => {
    for (const peer of Object.keys(manifest.peerDependencies)) expect(manifest.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
  });
});

describe('a verify-only install (the tarball alone)', () => {
  it('installs at most three packages: entragate and its dependencies', () => {
    const installed = readdirSync(join(verifyApp, 'node_modules'))
      .filter((entry) => !entry.startsWith('.'))
      .flatMap((entry) => (entry.startsWith('@') ? readdirSync(join(verifyApp, 'node_modules', entry)).map((e) => `${entry}/${e}`) : [entry]))
      .sort();
    expect(installed).toEqual([manifest.name, ...Object.keys(manifest.dependencies)].sort());
    expect(installed.length).toBeLessThanOrEqual(3);
  });

  it('imports every subpath without an optional peer from ESM and requires it from CommonJS', async () => {
    const script = (load: string) =>
      `const out = {}; for (const n of ${JSON.stringify(peerFree)}) out[n] = Object.keys(${load}).length; console.log(JSON.stringify(out));`;
    const fromEsm = JSON.parse((await esm(verifyApp, script('await import(n)'))).stdout) as Record<string, number>;
    const fromCjs = JSON.parse((await cjs(verifyApp, script('require(n)'))).stdout) as Record<string, number>;
    for (const n of peerFree) {
      expect(fromEsm[n], n).toBeGreaterThan(0);
      expect(fromCjs[n], n).toBe(fromEsm[n]);
    }
    expect(peerFree).toContain(`${manifest.name}/testing`);
  }, 60_000);

  it('verifies a token minted by entragate/testing without fast-check, from ESM and CommonJS, and refuses a forged one', async () => {
    const body = `
      const entra = await createMockEntra();
      try {
        const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
        const identity = await gate.verify(entra.mintToken({ claims: { groups: ['g1'] } }));
        let refused;
        try { await gate.verify(entra.mintToken({ key: entra.createUnpublishedKey() })); } catch (e) { refused = [e.code, e instanceof EntragateError]; }
        console.log(JSON.stringify({ verified: typeof identity === 'object' && identity !== null, refused }));
      } finally { await entra.close(); }`;
    const expected = { verified: true, refused: ['ERR_TOKEN_KEY_NOT_FOUND', true] };
    const fromEsm = await esm(
      verifyApp,
      `import { createGate, EntragateError } from 'entragate'; import { createMockEntra } from 'entragate/testing'; ${body}`,
    );
    expect(JSON.parse(fromEsm.stdout)).toEqual(expected);
    const fromCjs = await cjs(
      verifyApp,
      `const { createGate, EntragateError } = require('entragate'); const { createMockEntra } = require('entragate/testing'); (async () => { ${body} })().catch((e) => { console.error(e); process.exitCode = 1; });`,
    );
    expect(JSON.parse(fromCjs.stdout)).toEqual(expected);
  }, 60_000);

  it('names the package to install when a subpath needs a missing peer', async () => {
    const { stdout } = await esm(
      verifyApp,
      `
      const out = {};
      for (const n of ${JSON.stringify(Object.keys(needsPeers))}) { try { await import(n); out[n] = 'loaded'; } catch (e) { out[n] = e.message; } }
      const { openDirectoryStore } = await import('entragate/store');
      const { EntragateError } = await import('entragate');
      try { await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' }); } catch (e) { out.pglite = [e.code, e.message, e instanceof EntragateError]; }
      console.log(JSON.stringify(out));`,
    );
    const out = JSON.parse(stdout) as Record<string, unknown>;
    for (const [n, peers] of Object.entries(needsPeers)) expect(out[n], n).toMatch(new RegExp(`'(${peers.join('|')})'`));
    expect(out.pglite).toEqual([
      'ERR_STORE_UNAVAILABLE',
      'package `@electric-sql/pglite` is not installed: run `npm install @electric-sql/pglite` to use this store driver',
      true,
    ]);
  }, 60_000);
});

describe('an install with the optional peers', () => {
  it('imports every subpath from ESM and requires it from CommonJS, with the same exports', async () => {
    const script = (load: string) =>
      `const out = {}; for (const n of ${JSON.stringify(subpaths)}) out[n] = Object.keys(${load}).sort(); console.log(JSON.stringify(out));`;
    const fromEsm = JSON.parse((await esm(fullApp, script('await import(n)'))).stdout) as Record<string, string[]>;
    const fromCjs = JSON.parse((await cjs(fullApp, script('require(n)'))).stdout) as Record<string, string[]>;
    for (const n of subpaths) expect(fromEsm[n]?.length, n).toBeGreaterThan(0);
    expect(fromCjs).toEqual(fromEsm);
    expect(fromEsm[`${manifest.name}/express`]).toEqual(expect.arrayContaining(['identityEndpoint', 'loginRoutes', 'protect', 'scimEndpoint']));
    expect(fromEsm[`${manifest.name}/testing/arbitraries`]).toEqual(expect.arrayContaining(['arbIdentity', 'arbAccessPolicies', 'createPolicyUniverse']));
  }, 60_000);

  it('has one class per error: what require() throws is instanceof what import gives (regression: the CJS copy had its own ConfigError)', async () => {
    const { stdout } = await esm(
      fullApp,
      `
      import { createRequire } from 'node:module';
      import * as imported from 'entragate';
      const required = createRequire(import.meta.url)('entragate');
      const { openDirectoryStore } = createRequire(import.meta.url)('entragate/store');
      let config, store;
      try { required.createGate({}); } catch (e) { config = [e.code, e instanceof imported.ConfigError, e instanceof imported.EntragateError]; }
      // pg is installed: the driver loads, and the refused connection is a StoreError of the one class.
      try { await openDirectoryStore({ driver: 'postgres', connectionString: 'postgres://postgres@127.0.0.1:1/none' }); } catch (e) { store = [e.code, e.message.includes('not installed'), e instanceof imported.EntragateError]; }
      console.log(JSON.stringify({ same: required.ConfigError === imported.ConfigError, config, store }));`,
    );
    expect(JSON.parse(stdout)).toEqual({ same: true, config: ['ERR_CONFIG_INVALID', true, true], store: ['ERR_STORE_UNAVAILABLE', false, true] });
  }, 60_000);

  it('protects a Fastify app with the bundled fastify-plugin: the hook reaches routes outside the plugin', async () => {
    const { stdout } = await cjs(
      fullApp,
      `
      const Fastify = require('fastify');
      const { createGate } = require('entragate');
      const { protect } = require('entragate/fastify');
      const { createMockEntra } = require('entragate/testing');
      (async () => {
        const entra = await createMockEntra();
        const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, applications: { app: { policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } } });
        const app = Fastify();
        await app.register(protect(gate, { application: 'app' }));
        app.get('/hello', async (request) => ({ signedIn: request.auth !== null }));
        const denied = await app.inject({ url: '/hello' });
        const allowed = await app.inject({ url: '/hello', headers: { authorization: 'Bearer ' + entra.mintToken() } });
        console.log(JSON.stringify({ denied: [denied.statusCode, denied.headers['www-authenticate']?.split(' ')[0]], allowed: [allowed.statusCode, allowed.json()] }));
        await app.close();
        await entra.close();
      })().catch((e) => { console.error(e); process.exitCode = 1; });`,
    );
    expect(JSON.parse(stdout)).toEqual({ denied: [401, 'Bearer'], allowed: [200, { signedIn: true }] });
  }, 60_000);
});

describe('the entragate bin', () => {
  it("runs through npx: --version, and a command's --help", async () => {
    const version = await run('npx', ['--no-install', 'entragate', '--version'], { cwd: verifyApp });
    expect(version.stdout).toBe(`${manifest.version}\n`);
    const help = await run('npx', ['--no-install', 'entragate', 'check', '--help'], { cwd: verifyApp });
    expect(help.stdout).toMatch(/^usage: entragate check --config/);
  }, 60_000);

  it('exits 2 on a usage error', async () => {
    const failed = await run('npx', ['--no-install', 'entragate', 'check', '--bogus'], { cwd: verifyApp }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('unknown option `--bogus`');
  }, 60_000);
});

describe('tarball linters', () => {
  it('passes publint', async () => {
    const { stdout } = await run('npx', ['--no-install', 'publint', 'run', tarball], { cwd: repo, timeout: 120_000 });
    expect(stdout).toContain('All good!');
  }, 120_000);

  // node10 resolution ignores `exports`, so no subpath resolves there; the package requires Node >= 20.19
  // (engines), where node16 resolution applies. The package is ESM only: TypeScript's `module: node16`
  // and `node18` refuse `require` of ESM types (`cjs-resolves-to-esm`, ignored here), which
  // `module: node20` / `nodenext` (TypeScript >= 5.8) accept, as Node >= 20.19 does at run time.
  it('passes @arethetypeswrong/cli (node16 profile, ESM only)', async () => {
    const { stdout } = await run(
      'npx',
      ['--no-install', 'attw', tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'ascii'],
      { cwd: repo, timeout: 180_000 },
    );
    // execFile rejects on a non-zero exit: reaching here means attw found no other problem.
    const lines = stdout.split('\n');
    const fromEsm = lines.filter((line) => /^(node16 \(from ESM\)|bundler):/.test(line));
    expect(fromEsm).toHaveLength(2 * (subpaths.length + 1));
    for (const line of fromEsm) expect(line).toContain('🟢');
    const fromCjs = lines.filter((line) => line.startsWith('node16 (from CJS):'));
    expect(fromCjs).toHaveLength(subpaths.length + 1);
    for (const line of fromCjs) expect(line).toMatch(/🟢 \((JSON|ESM)\)/);
  }, 180_000);
});

// The folders must not see this repository's node_modules (Node looks up through parent folders).
it('installs outside the repository', () => {
  expect(dir.startsWith(repo)).toBe(false);
  expect(existsSync(join(dir, 'node_modules'))).toBe(false);
});
