import { readFileSync, writeFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

/**
 * Small dependencies compiled into `dist` instead of installed: neither appears in a
 * public type, and together they kept a verify-only install above three packages.
 * Their licences ship in `dist/THIRD-PARTY-LICENSES.md` (both require the notice).
 */
const bundled = [
  { name: 'lru-cache', license: 'LICENSE.md' },
  { name: 'fastify-plugin', license: 'LICENSE' },
];

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    'testing/arbitraries': 'src/testing/arbitraries-entry.ts',
    graph: 'src/graph/index.ts',
    scim: 'src/scim/index.ts',
    store: 'src/store/index.ts',
    review: 'src/review/index.ts',
    login: 'src/login/index.ts',
    express: 'src/adapters/express.ts',
    koa: 'src/adapters/koa.ts',
    fastify: 'src/adapters/fastify.ts',
    cli: 'src/cli/main.ts',
  },
  // ESM only: Node >= 20.19 (engines) loads it from `require()` too, so CommonJS users get the
  // same module instances as ESM users (one `ConfigError` class, no dual-package hazard).
  format: ['esm'],
  dts: true,
  // No source maps: they pointed at `src/`, which is not shipped, and were 2.4 MB of the tarball.
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  // Keep `node:crypto` as written: a bare `crypto` could be taken for a package by another runtime or bundler.
  removeNodeProtocol: false,
  splitting: true,
  treeshake: true,
  noExternal: bundled.map((b) => b.name),
  async onSuccess() {
    const notices = bundled.map((b) => {
      const manifest = JSON.parse(readFileSync(`node_modules/${b.name}/package.json`, 'utf8')) as { version: string; license: string };
      const text = readFileSync(`node_modules/${b.name}/${b.license}`, 'utf8').trim();
      return `## ${b.name} ${manifest.version} (${manifest.license})\n\n${text}\n`;
    });
    writeFileSync('dist/THIRD-PARTY-LICENSES.md', `# Third-party licences\n\nCode from these packages is compiled into \`dist\`.\n\n${notices.join('\n')}`);
  },
});
