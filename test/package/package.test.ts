/**
 * Builds and packs the package, installs the tarball in a temporary folder (its
 * dependencies and optional peers linked from this repository's node_modules: no
 * network), imports every subpath from ESM and CJS, runs the bin, and runs publint
 * and @arethetypeswrong/cli on the tarball.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve('.');
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string; exports: Record<string, unknown> };
const subpaths = Object.keys(manifest.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));

let dir: string;
let tarball: string;
let app: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'entragate-pack-'));
  await run('npm', ['run', 'build', '--silent'], { cwd: repo, timeout: 240_000 });
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: repo, timeout: 60_000 });
  tarball = join(dir, stdout.trim().split('\n').at(-1)!);
  // The app: the tarball unpacked as node_modules/entragate, every other package linked from the repo.
  app = join(dir, 'app');
  const modules = join(app, 'node_modules');
  mkdirSync(join(modules, manifest.name), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', join(modules, manifest.name), '--strip-components=1']);
  for (const entry of readdirSync(join(repo, 'node_modules'))) {
    if (entry === manifest.name || entry.startsWith('.')) continue;
    symlinkSync(join(repo, 'node_modules', entry), join(modules, entry));
  }
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships dist and bin only, with every subpath built', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n');
    expect(files.every((f) => f.startsWith('package/dist/') || f.startsWith('package/bin/') || ['package/package.json', 'package/README.md', 'package/LICENSE'].includes(f))).toBe(true);
    for (const name of ['index', 'testing', 'graph', 'scim', 'store', 'login', 'express', 'koa', 'fastify', 'cli']) {
      for (const ext of ['js', 'cjs', 'd.ts', 'd.cts']) expect(files).toContain(`package/dist/${name}.${ext}`);
    }
  });

  it('imports every subpath from ESM', async () => {
    const script = `const names = ${JSON.stringify(subpaths)};
      const out = {};
      for (const n of names) out[n] = Object.keys(await import(n)).length;
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    const counts = JSON.parse(stdout) as Record<string, number>;
    for (const n of subpaths) expect(counts[n], n).toBeGreaterThan(0);
  }, 60_000);

  it('requires every subpath from CJS', async () => {
    const script = `const names = ${JSON.stringify(subpaths)};
      const out = {};
      for (const n of names) out[n] = Object.keys(require(n)).length;
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: app });
    const counts = JSON.parse(stdout) as Record<string, number>;
    for (const n of subpaths) expect(counts[n], n).toBeGreaterThan(0);
  }, 60_000);

  it('exposes the same adapter API from ESM and CJS', async () => {
    const esm = await run(process.execPath, ['--input-type=module', '-e', `for (const f of ['express','koa','fastify']) console.log(f, Object.keys(await import('entragate/' + f)).sort().join(','))`], { cwd: app });
    const cjs = await run(process.execPath, ['-e', `for (const f of ['express','koa','fastify']) console.log(f, Object.keys(require('entragate/' + f)).sort().join(','))`], { cwd: app });
    expect(cjs.stdout).toBe(esm.stdout);
    expect(esm.stdout).toMatch(/^express .*identityEndpoint,.*loginRoutes,.*protect,.*scimEndpoint/m);
  }, 60_000);

  it('runs the entragate bin', async () => {
    const { stdout } = await run(process.execPath, [join(app, 'node_modules', manifest.name, 'bin', 'entragate.js'), 'help'], { cwd: app });
    expect(stdout).toContain('usage: entragate <command>');
  }, 60_000);

  it('passes publint', async () => {
    const { stdout } = await run('npx', ['--no-install', 'publint', 'run', tarball], { cwd: repo, timeout: 120_000 });
    expect(stdout).toContain('All good!');
  }, 120_000);

  // node10 resolution ignores `exports`, so no subpath resolves there; the package requires
  // Node >= 20.19 (engines), where node16 resolution applies: that is the profile checked.
  it('passes @arethetypeswrong/cli (node16 profile)', async () => {
    const { stdout } = await run('npx', ['--no-install', 'attw', tarball, '--profile', 'node16', '--format', 'ascii'], { cwd: repo, timeout: 180_000 });
    // execFile rejects on a non-zero exit: reaching here means attw found no problem for node16.
    const checked = stdout.split('\n').filter((line) => /^(node16 \(from (CJS|ESM)\)|bundler):/.test(line));
    expect(checked).toHaveLength(3 * (subpaths.length + 1));
    for (const line of checked) expect(line).toContain('🟢');
  }, 180_000);
});
