import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** `entragate/…` as the examples import it, mapped to the sources (the same mapping as tsconfig.json's `paths`). */
const subpaths: Record<string, string> = {
  entragate: 'src/index.ts',
  'entragate/testing': 'src/testing/index.ts',
  'entragate/testing/arbitraries': 'src/testing/arbitraries-entry.ts',
  'entragate/graph': 'src/graph/index.ts',
  'entragate/scim': 'src/scim/index.ts',
  'entragate/store': 'src/store/index.ts',
  'entragate/review': 'src/review/index.ts',
  'entragate/login': 'src/login/index.ts',
  'entragate/express': 'src/adapters/express.ts',
  'entragate/koa': 'src/adapters/koa.ts',
  'entragate/fastify': 'src/adapters/fastify.ts',
};

export default defineConfig({
  resolve: {
    alias: Object.entries(subpaths).map(([name, file]) => ({
      find: new RegExp(`^${name.replaceAll('/', '\\/')}$`),
      replacement: fileURLToPath(new URL(file, import.meta.url)),
    })),
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});
