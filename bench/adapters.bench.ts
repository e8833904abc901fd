/**
 * Requests per second on a protected "hello" route (cached token: the verified-token
 * cache and a compiled policy) against the same app without entragate, per framework,
 * with autocannon against 127.0.0.1. Target: protected ≥ 0.7× unprotected.
 *
 *   npx tsx bench/adapters.bench.ts
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import { createGate } from '../src/index.js';
import { protect as protectExpress } from '../src/adapters/express.js';
import { protect as protectKoa } from '../src/adapters/koa.js';
import { protect as protectFastify } from '../src/adapters/fastify.js';
import { createMockEntra } from '../src/testing/index.js';
import { isMain, report, save, type BenchResult, type Measurement } from './harness.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
  pipelining?: number;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DEVS = '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e10';
const DURATION_S = Number(process.env.BENCH_DURATION ?? 4);
const CONNECTIONS = 16;

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function load(name: string, url: string, headers: Record<string, string>): Promise<Measurement & { non2xx: number }> {
  await autocannon({ url, connections: CONNECTIONS, duration: 1, headers }); // warm-up (JIT, token cache)
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers });
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
  return { name, opsPerSec: r.requests.average, medianNs: r.latency.p50 * 1e6, iterations: r.requests.total, non2xx: r.non2xx };
}

export async function run(): Promise<BenchResult> {
  const entra = await createMockEntra();
  try {
    const gate = createGate({
      idp: entra.idpConfig(),
      authorityHost: entra.url,
      applications: {
        portal: {
          policies: [
            { name: 'Block contractors', decision: 'deny', include: [{ azureAD: { id: '3f6d3f0e-6d2b-4c59-a8f6-1b1f1c1d1e12' } }] },
            { name: 'Devs', decision: 'allow', include: [{ azureAD: { id: DEVS } }] },
          ],
        },
      },
    });
    const token = entra.mintToken({ claims: { email: 'ada@contoso.com', groups: [DEVS] } });
    const headers = { authorization: `Bearer ${token}` };
    const hello = { hello: 'world' };

    const apps: Record<string, (protectedRoute: boolean) => Promise<Server>> = {
      express: async (p) => {
        const app = express();
        if (p) app.get('/hello', protectExpress(gate, { application: 'portal' }), (_req, res) => res.json(hello));
        else app.get('/hello', (_req, res) => res.json(hello));
        return createServer(app);
      },
      koa: async (p) => {
        const app = new Koa();
        if (p) app.use(protectKoa(gate, { application: 'portal' }));
        app.use((ctx) => {
          ctx.body = hello;
        });
        return createServer(app.callback());
      },
      fastify: async (p) => {
        const app = Fastify();
        await app.register(async (scope) => {
          if (p) await scope.register(protectFastify(gate, { application: 'portal' }));
          scope.get('/hello', async () => hello);
        });
        await app.ready();
        return app.server;
      },
    };

    const measurements: Measurement[] = [];
    const ratios: Record<string, number> = {};
    for (const [name, build] of Object.entries(apps)) {
      const results: Record<string, number> = {};
      for (const p of [false, true]) {
        const server = await listen(await build(p));
        try {
          const m = await load(`${name} ${p ? 'protected (cached token)' : 'unprotected'}`, server.url, headers);
          measurements.push(m);
          results[p ? 'protected' : 'bare'] = m.opsPerSec;
        } finally {
          await server.close();
        }
      }
      ratios[`${name} protected / unprotected (target ≥ 0.7)`] = results.protected! / results.bare!;
    }
    return { name: 'adapters', measurements, ratios, extra: { connections: CONNECTIONS, durationSeconds: DURATION_S } };
  } finally {
    await entra.close();
  }
}

if (isMain(import.meta.url)) {
  const result = await run();
  report(result);
  console.log(`  saved ${save('adapters', result)}`);
}
