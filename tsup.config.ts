import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    graph: 'src/graph/index.ts',
    scim: 'src/scim/index.ts',
    store: 'src/store/index.ts',
    login: 'src/login/index.ts',
    express: 'src/adapters/express.ts',
    koa: 'src/adapters/koa.ts',
    fastify: 'src/adapters/fastify.ts',
    cli: 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
});
