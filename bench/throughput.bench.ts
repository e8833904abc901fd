/**
 * Requests per second of an API route (issue 13), per framework, in ONE run: the bare framework (a route
 * answering a small JSON), `authenticate()` on the same route with a cached RS256 Entra token (about
 * 2.1 KB with its signature, 20 groups: the token of bench/api.bench.ts), the same with `requiredScopes` + `requiredRoles`, and the framework's usual JWT
 * plugin verifying the same token with the mock's public key (express-oauth2-jwt-bearer with the JWKS,
 * @fastify/jwt and koa-jwt with the PEM, each with its defaults: no verified-token cache). autocannon
 * runs in-process against 127.0.0.1. Every variant listens at once and the rounds interleave them
 * (each round runs every variant of every framework once, in a rotated order), so a burst of load from
 * elsewhere lands in one round rather than in one variant; the ratios are the medians of the per-round
 * ratios, with the CPU time per request of the process beside them (which load elsewhere changes
 * least). Targets: `authenticate` ≥ 0.9× bare and ≥ 1.0× the plugin.
 *
 *   npx tsx bench/throughput.bench.ts        (BENCH_ROUNDS=5 BENCH_DURATION=5 BENCH_CONNECTIONS=8)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import express from 'express';
import Koa from 'koa';
import Fastify from 'fastify';
import fastifyJwt from '@fastify/jwt';
import koaJwt from 'koa-jwt';
import { auth as expressJwt } from 'express-oauth2-jwt-bearer';
import { createGate, type Gate } from '../src/index.js';
import * as ex from '../src/adapters/express.js';
import * as ko from '../src/adapters/koa.js';
import * as fa from '../src/adapters/fastify.js';
import { createMockEntra, type MockEntra } from '../src/testing/index.js';
import { isMain, report, save, seededGuid, seededRandom, type BenchResult, type Measurement } from './harness.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; average: number };
  non2xx: number;
  errors: number;
  duration: number;
}
type Autocannon = (options: { url: string; connections: number; duration: number; headers: Record<string, string> }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP_S = 1;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const VARIANTS = ['bare', 'authenticate', 'authenticate + checks', 'plugin'] as const;
type Variant = (typeof VARIANTS)[number];
const PLUGIN: Record<string, string> = { express: 'express-oauth2-jwt-bearer', fastify: '@fastify/jwt', koa: 'koa-jwt' };
const BODY = { orders: [{ id: 1, item: 'tea' }] };

interface Setup {
  gate: Gate;
  entra: MockEntra;
  pem: string;
  audience: string;
  issuer: string;
}

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function expressApp(variant: Variant, s: Setup): Server {
  const app = express();
  const handler: express.RequestHandler = (_req, res) => {
    res.json(BODY);
  };
  if (variant === 'bare') app.get('/orders', handler);
  else if (variant === 'authenticate') app.get('/orders', ex.authenticate(s.gate), handler);
  else if (variant === 'authenticate + checks')
    app.get('/orders', ex.authenticate(s.gate), ex.requiredScopes('Orders.Read'), ex.requiredRoles('Orders.Admin'), handler);
  else
    app.get(
      '/orders',
      expressJwt({ audience: s.audience, issuer: s.issuer, jwksUri: `${s.entra.url}/${s.entra.tenantId}/discovery/v2.0/keys`, tokenSigningAlg: 'RS256' }),
      handler,
    );
  return createServer(app);
}

function koaApp(variant: Variant, s: Setup): Server {
  const app = new Koa();
  if (variant === 'authenticate' || variant === 'authenticate + checks') app.use(ko.authenticate(s.gate));
  if (variant === 'authenticate + checks') app.use(ko.requiredScopes('Orders.Read')).use(ko.requiredRoles('Orders.Admin'));
  if (variant === 'plugin') app.use(koaJwt({ secret: s.pem, audience: s.audience, issuer: s.issuer, algorithms: ['RS256'] }));
  app.use((ctx) => {
    ctx.body = BODY;
  });
  return createServer(app.callback());
}

async function fastifyApp(variant: Variant, s: Setup): Promise<Server> {
  const app = Fastify();
  await app.register(async (scope) => {
    if (variant === 'authenticate' || variant === 'authenticate + checks') await scope.register(fa.authenticate(s.gate));
    if (variant === 'plugin') {
      await scope.register(fastifyJwt, { secret: { public: s.pem }, verify: { algorithms: ['RS256'], allowedAud: s.audience, allowedIss: s.issuer } });
      scope.addHook('onRequest', async (request) => {
        await request.jwtVerify();
      });
    }
    const options = variant === 'authenticate + checks' ? { preHandler: [fa.requiredScopes('Orders.Read'), fa.requiredRoles('Orders.Admin')] } : {};
    scope.get('/orders', options, async () => BODY);
  });
  await app.ready();
  return app.server;
}

const FRAMEWORKS: Record<string, (variant: Variant, s: Setup) => Server | Promise<Server>> = { express: expressApp, fastify: fastifyApp, koa: koaApp };

async function load(url: string, headers: Record<string, string>, duration: number, name: string): Promise<AutocannonResult> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration, headers });
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
  return r;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function run(): Promise<BenchResult> {
  const entra = await createMockEntra();
  const servers: Array<{ close(): Promise<void> }> = [];
  try {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    const rand = seededRandom(13);
    const groups = Array.from({ length: 20 }, () => seededGuid(rand));
    const audience = `api://${entra.clientId}`;
    const token = entra.mintToken({
      audience,
      claims: { groups, scp: 'Orders.Read Orders.Write User.Read', roles: ['Orders.Admin', 'Orders.Auditor'], email: 'ada.lovelace@contoso.com', acrs: ['c1'] },
    });
    const setup: Setup = {
      gate,
      entra,
      pem: entra.currentKey.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      audience,
      issuer: entra.issuer('2.0'),
    };
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };

    const targets: Array<{ framework: string; variant: Variant; url: string }> = [];
    for (const [framework, build] of Object.entries(FRAMEWORKS)) {
      for (const variant of VARIANTS) {
        const server = await listen(await build(variant, setup));
        servers.push(server);
        targets.push({ framework, variant, url: server.url });
        await load(server.url, headers, WARMUP_S, `${framework} ${variant}`); // JIT, the token cache, the plugin's JWKS
      }
    }

    const rps = new Map<string, number[]>(targets.map((t) => [`${t.framework} ${t.variant}`, []]));
    const p50 = new Map<string, number[]>(targets.map((t) => [`${t.framework} ${t.variant}`, []]));
    // CPU µs per request of this process (server and autocannon alike): what load elsewhere changes least.
    const cpu = new Map<string, number[]>(targets.map((t) => [`${t.framework} ${t.variant}`, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round: no variant always runs right after the same neighbour.
      const order = targets.map((_, i) => targets[(i + round * 5) % targets.length]!);
      for (const t of order) {
        const name = `${t.framework} ${t.variant}`;
        const before = process.cpuUsage();
        const r = await load(t.url, headers, DURATION_S, name);
        const used = process.cpuUsage(before);
        rps.get(name)!.push(r.requests.total / r.duration);
        cpu.get(name)!.push((used.user + used.system) / r.requests.total);
        p50.get(name)!.push(r.latency.p50);
      }
    }

    const measurements: Measurement[] = [];
    const ratios: Record<string, number> = {};
    const extra: Record<string, number | string> = { connections: CONNECTIONS, durationSeconds: DURATION_S, rounds: ROUNDS, 'token bytes': token.length };
    for (const framework of Object.keys(FRAMEWORKS)) {
      const of = (v: Variant) => rps.get(`${framework} ${v}`)!;
      for (const v of VARIANTS) {
        const name = `${framework} ${v === 'plugin' ? PLUGIN[framework] : v}`;
        measurements.push({
          name: `${name} (req/s, median)`,
          opsPerSec: median(of(v)),
          medianNs: median(p50.get(`${framework} ${v}`)!) * 1e6,
          iterations: of(v).length,
        });
      }
      const perRound = (a: Variant, b: Variant) => median(of(a).map((x, i) => x / of(b)[i]!));
      ratios[`${framework} authenticate / bare (target ≥ 0.9)`] = perRound('authenticate', 'bare');
      ratios[`${framework} authenticate / ${PLUGIN[framework]} (target ≥ 1.0)`] = perRound('authenticate', 'plugin');
      ratios[`${framework} authenticate + checks / authenticate`] = perRound('authenticate + checks', 'authenticate');
      const cpuOf = (v: Variant) => median(cpu.get(`${framework} ${v}`)!);
      for (const v of VARIANTS) extra[`${framework} ${v}: CPU µs/request (median)`] = Number(cpuOf(v).toFixed(1));
      ratios[`${framework} CPU per request: bare / authenticate`] = cpuOf('bare') / cpuOf('authenticate');
      extra[`${framework} per-round authenticate / bare`] = of('authenticate')
        .map((x, i) => (x / of('bare')[i]!).toFixed(2))
        .join(' ');
    }
    return { name: 'throughput: an API route per framework (loaded machine: read the ratios)', measurements, ratios, extra };
  } finally {
    for (const s of servers) await s.close();
    await entra.close();
  }
}

if (isMain(import.meta.url)) {
  const result = await run();
  report(result);
  console.log(`  saved ${save('throughput', result)}`);
}
