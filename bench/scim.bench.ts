/**
 * SCIM benchmark: an Entra-like initial sync over real HTTP — 10,000 users and
 * 1,000 groups of 50 members — with 8 requests in flight, on PGlite (a temp
 * folder) and on the local PostgreSQL; then the time until a group change made
 * on one PostgreSQL instance is visible in another instance's index.
 *
 * Request mix, as Entra runs it: per user `GET /Users?filter=userName eq …`
 * (no match) then `POST /Users`; per group `GET /Groups?excludedAttributes=members&filter=displayName eq …`,
 * `POST /Groups`, then 5 `PATCH` adding 10 members each.
 *
 * Baseline (same process, same client, same mix, same warm-up): a `node:http`
 * handler that checks the bearer and parses the body but stores nothing.
 *
 * Fairness: the HTTP client runs in a child process, so client and server do not
 * share one event loop (they still share the machine's cores, as the PostgreSQL
 * server does), and it is a keep-alive `node:http` client, the cheapest at hand,
 * so it leaves the server as much CPU as it can; each target first serves a small
 * warm-up sync that is not timed, so no target pays for the JIT warming up. The
 * server process's CPU time per request is reported too (`process.cpuUsage`: on a
 * loaded machine it varies less than a rate; with PostgreSQL the server's own
 * CPU is not in it).
 *
 * The propagation is also measured in alternating rounds against a pair of instances whose
 * staleness heartbeat is nearly silent (one NOTIFY a minute instead of a second), on the same schema.
 *
 * Run alone: `npx tsx bench/scim.bench.ts` (`SCIM_BENCH_SCALE=0.1` for a quick run;
 * `SCIM_BENCH_ONLY=propagation` for the propagation alone).
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createScimHandler, toNodeListener } from '../src/scim/index.js';
import { openDirectoryStore, type DirectoryStore } from '../src/store/index.js';
import { isMain, report, save, type BenchResult, type Measurement } from './harness.js';
import { createGate } from '../src/gate.js';

const BENCH_GATE = createGate({
  idp: {
    type: 'azureAD',
    name: 'bench',
    config: { client_id: '00000000-0000-4000-8000-00000000b3c0', directory_id: '00000000-0000-4000-8000-00000000b3d0' },
    scim_config: { enabled: true },
  },
});

const SCALE = Number(process.env.SCIM_BENCH_SCALE ?? 1);
const USERS = Math.round(10_000 * SCALE);
const GROUPS = Math.round(1_000 * SCALE);
const MEMBERS = 50;
const PATCH_BATCH = 10;
const IN_FLIGHT = 8;
const CHANGES = 50;
const WARMUP = { users: 200, groups: 20 };
/** Set in the client child process: the sync job it runs. */
const CLIENT_ENV = 'ENTRAGATE_SCIM_BENCH_CLIENT';
const SECRET = 'bench-secret-0123456789abcdef';

interface Target {
  base: string;
  close(): Promise<void>;
}

async function listen(listener: Parameters<typeof createServer>[1]): Promise<{ server: Server; base: string }> {
  const server = createServer(listener);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2` };
}

async function storeTarget(store: DirectoryStore): Promise<Target> {
  const { server, base } = await listen(toNodeListener(createScimHandler({ store, gate: BENCH_GATE, secrets: [SECRET], basePath: '/scim/v2' })));
  return { base, close: () => new Promise((r) => server.close(() => r())) };
}

/** Baseline: authenticate, read and parse the body, answer the shape Entra expects; no storage. */
async function nullTarget(): Promise<Target> {
  const { server, base } = await listen((req, res) => {
    if (req.headers.authorization !== `Bearer ${SECRET}`) {
      res.writeHead(401).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : undefined;
      const type = { 'content-type': 'application/scim+json' };
      if (req.method === 'GET')
        res
          .writeHead(200, type)
          .end(
            JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [], startIndex: 1, itemsPerPage: 0 }),
          );
      else if (req.method === 'POST') res.writeHead(201, type).end(JSON.stringify({ ...body, id: randomUUID() }));
      else res.writeHead(204).end();
    });
  });
  return { base, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * One request on a keep-alive `node:http` agent (8 sockets, as many as requests in
 * flight). Not `fetch`: on this 2-core box undici's client burns about three times
 * the CPU per request, which the server then does not get.
 */
const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const url = new URL(`${base}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { authorization: `Bearer ${SECRET}` };
  if (payload !== undefined) {
    headers['content-type'] = 'application/scim+json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${path} → ${res.statusCode} ${text.slice(0, 200)}`));
        else resolve(text ? JSON.parse(text) : undefined);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function pool<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface SyncJob {
  base: string;
  tag: string;
  users: number;
  groups: number;
}

/** The initial sync, run by the client process; returns the request count and the elapsed seconds. */
async function sync({ base, tag, users, groups }: SyncJob): Promise<{ requests: number; seconds: number }> {
  let requests = 0;
  const userIds: string[] = new Array(users);
  const t0 = process.hrtime.bigint();
  await pool(
    Array.from({ length: users }, (_, i) => i),
    async (i) => {
      const userName = `${tag}-user${i}@contoso.com`;
      await call(base, 'GET', `/Users?aadOptscim062020&${new URLSearchParams({ filter: `userName eq "${userName}"` })}`);
      const created = await call(base, 'POST', '/Users?aadOptscim062020', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
        externalId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        userName,
        active: true,
        emails: [{ primary: true, type: 'work', value: userName }],
        meta: { resourceType: 'User' },
        name: { formatted: `Given${i} Family${i}`, familyName: `Family${i}`, givenName: `Given${i}` },
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: `dept${i % 37}` },
      });
      userIds[i] = created.id;
      requests += 2;
    },
  );
  await pool(
    Array.from({ length: groups }, (_, g) => g),
    async (g) => {
      const displayName = `${tag}-group${g}`;
      await call(base, 'GET', `/Groups?aadOptscim062020&excludedAttributes=members&${new URLSearchParams({ filter: `displayName eq "${displayName}"` })}`);
      const group = await call(base, 'POST', '/Groups?aadOptscim062020', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        externalId: `11111111-0000-4000-8000-${String(g).padStart(12, '0')}`,
        displayName,
        meta: { resourceType: 'Group' },
      });
      requests += 2;
      for (let b = 0; b < MEMBERS / PATCH_BATCH; b++) {
        const value = Array.from({ length: PATCH_BATCH }, (_, k) => ({ $ref: null, value: userIds[(g * MEMBERS + b * PATCH_BATCH + k) % users]! }));
        await call(base, 'PATCH', `/Groups/${group.id}?aadOptscim062020`, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'Add', path: 'members', value }],
        });
        requests++;
      }
    },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { requests, seconds };
}

/**
 * Runs one sync in a child process (the HTTP client), so the server's event loop
 * serves only the server and `process.cpuUsage()` here counts only the server.
 */
function syncInChild(target: Target, tag: string, size: { users: number; groups: number }): Promise<{ requests: number; seconds: number }> {
  const job: SyncJob = { base: target.base, tag, ...size };
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, [CLIENT_ENV]: JSON.stringify(job) } });
    child.once('message', (m) => resolve(m as { requests: number; seconds: number }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench client exited with ${code}`)));
  });
}

/** Warms the target up (not timed), then times the full sync and the server's CPU time. */
async function timedSync(target: Target, tag: string): Promise<{ requests: number; seconds: number; serverCpuUs: number }> {
  await syncInChild(target, `${tag}-warmup`, WARMUP);
  const cpu = process.cpuUsage();
  const result = await syncInChild(target, tag, { users: USERS, groups: GROUPS });
  const used = process.cpuUsage(cpu);
  return { ...result, serverCpuUs: used.user + used.system };
}

async function postgresUrl(): Promise<string> {
  const pg = (await import('pg')).default;
  for (const user of ['postgres', userInfo().username]) {
    const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/test`;
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      return url;
    } catch {
      await c.end().catch(() => undefined);
    }
  }
  throw new Error('postgresql at 127.0.0.1:5432/test is not reachable');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

/** Time until a group change committed on A shows in B's index (LISTEN/NOTIFY), `changes` times. */
async function propagation(a: DirectoryStore, b: DirectoryStore, changes = CHANGES): Promise<{ fromStart: number[]; fromCommit: number[] }> {
  const group = (await a.groups.create({ displayName: `propagation-${randomUUID()}` }, [])).resource!;
  const users: string[] = [];
  for (let i = 0; i < changes; i++) users.push((await a.users.create({ userName: `prop-${i}-${randomUUID()}@contoso.com` })).resource!.id);
  const fromStart: number[] = [];
  const fromCommit: number[] = [];
  for (const id of users) {
    if (!b.isFresh()) throw new Error('instance B went stale during the measurement');
    const seen = new Promise<number>((resolve) => {
      const off = b.onChange((c) => {
        if (c.resourceId === group.id && c.members?.added.includes(id)) {
          off();
          resolve(performance.now());
        }
      });
    });
    const t0 = performance.now();
    await a.groups.update(group.id, { members: [{ op: 'add', ids: [id] }] });
    const t1 = performance.now();
    const t2 = await seen;
    if (!b.index.directMembers(group.id).includes(id)) throw new Error('change event fired before the index had the member');
    fromStart.push(t2 - t0);
    fromCommit.push(Math.max(0, t2 - t1));
  }
  return { fromStart: fromStart.sort((x, y) => x - y), fromCommit: fromCommit.sort((x, y) => x - y) };
}

/**
 * Propagation with the staleness heartbeat on (the default: a NOTIFY per instance every second)
 * against a pair whose heartbeat is nearly silent (one a minute), in alternating rounds on the
 * same schema, so the heartbeat's cost on the A → B path shows beside its own baseline.
 */
async function propagationRounds(url: string, schema: string, a: DirectoryStore, b: DirectoryStore): Promise<{ on: number[]; quiet: number[] }> {
  const qa = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, heartbeatMs: 60_000, maxStalenessMs: 600_000 });
  const qb = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, heartbeatMs: 60_000, maxStalenessMs: 600_000 });
  const on: number[] = [];
  const quiet: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      on.push(...(await propagation(a, b, CHANGES_PER_ROUND)).fromStart);
      quiet.push(...(await propagation(qa, qb, CHANGES_PER_ROUND)).fromStart);
    }
  } finally {
    await qa.close();
    await qb.close();
  }
  return { on: on.sort((x, y) => x - y), quiet: quiet.sort((x, y) => x - y) };
}

const ROUNDS = 8;
const CHANGES_PER_ROUND = 50;

async function dropBenchSchema(url: string, schema: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}

/** `SCIM_BENCH_ONLY=propagation`: only the A → B propagation, heartbeat on vs. nearly silent. */
async function runPropagationOnly(): Promise<BenchResult> {
  const url = await postgresUrl();
  const schema = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  const b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  const extra: Record<string, number | string> = { rounds: ROUNDS, changesPerRound: CHANGES_PER_ROUND };
  try {
    const { on, quiet } = await propagationRounds(url, schema, a, b);
    recordPropagation(extra, on, quiet);
  } finally {
    await a.close();
    await b.close();
    await dropBenchSchema(url, schema);
  }
  return { name: 'scim-propagation', measurements: [], ratios: {}, extra };
}

function recordPropagation(extra: Record<string, number | string>, on: number[], quiet: number[]): void {
  extra['propagation median ms, heartbeat 1 s (write start → B index)'] = Number(percentile(on, 0.5).toFixed(2));
  extra['propagation p99 ms, heartbeat 1 s (write start → B index)'] = Number(percentile(on, 0.99).toFixed(2));
  extra['propagation median ms, heartbeat 60 s (baseline)'] = Number(percentile(quiet, 0.5).toFixed(2));
  extra['propagation p99 ms, heartbeat 60 s (baseline)'] = Number(percentile(quiet, 0.99).toFixed(2));
}

export async function run(): Promise<BenchResult> {
  if (process.env.SCIM_BENCH_ONLY === 'propagation') return runPropagationOnly();
  const measurements: Measurement[] = [];
  const extra: Record<string, number | string> = {
    users: USERS,
    groups: GROUPS,
    membersPerGroup: MEMBERS,
    inFlight: IN_FLIGHT,
    client: 'node:http keep-alive, child process',
  };
  const record = (name: string, r: { requests: number; seconds: number; serverCpuUs: number }): number => {
    const rps = r.requests / r.seconds;
    measurements.push({ name, opsPerSec: rps, medianNs: (r.seconds / r.requests) * 1e9, iterations: r.requests });
    extra[`${name} seconds`] = Number(r.seconds.toFixed(2));
    extra[`${name} server process CPU µs/request`] = Math.round(r.serverCpuUs / r.requests);
    return rps;
  };

  const baselineTarget = await nullTarget();
  const baseline = record('http sync, no store (baseline)', await timedSync(baselineTarget, 'baseline'));
  await baselineTarget.close();

  const dir = mkdtempSync(join(tmpdir(), 'entragate-scim-bench-'));
  const lite = await openDirectoryStore({ driver: 'pglite', dataDir: dir });
  const liteTarget = await storeTarget(lite);
  const pglite = record('http sync on PGlite (req/s)', await timedSync(liteTarget, 'lite'));
  await liteTarget.close();
  await lite.close();
  rmSync(dir, { recursive: true, force: true });

  const url = await postgresUrl();
  const schema = `bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const a = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema, poolSize: 16 });
  const b = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  let postgres = 0;
  let prop: { fromStart: number[]; fromCommit: number[] };
  try {
    const pgTarget = await storeTarget(a);
    postgres = record('http sync on PostgreSQL (req/s)', await timedSync(pgTarget, 'pg'));
    await pgTarget.close();
    prop = await propagation(a, b);
    const rounds = await propagationRounds(url, schema, a, b);
    recordPropagation(extra, rounds.on, rounds.quiet);
    extra['instance B users after sync'] = b.index.size.users;
  } finally {
    await a.close();
    await b.close();
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
  extra['propagation median ms (write start → B index)'] = Number(percentile(prop.fromStart, 0.5).toFixed(2));
  extra['propagation p99 ms (write start → B index)'] = Number(percentile(prop.fromStart, 0.99).toFixed(2));
  extra['propagation median ms (A commit → B index)'] = Number(percentile(prop.fromCommit, 0.5).toFixed(2));
  extra['propagation p99 ms (A commit → B index)'] = Number(percentile(prop.fromCommit, 0.99).toFixed(2));
  extra['target PGlite ≥ 500 req/s'] = pglite >= 500 ? 'met' : 'missed';
  extra['target PostgreSQL ≥ 1000 req/s'] = postgres >= 1000 ? 'met' : 'missed';
  extra['target propagation p99 ≤ 100 ms'] = percentile(prop.fromStart, 0.99) <= 100 ? 'met' : 'missed';
  return {
    name: 'scim',
    measurements,
    ratios: { 'PGlite / no-store baseline': pglite / baseline, 'PostgreSQL / no-store baseline': postgres / baseline },
    extra,
  };
}

const clientJob = process.env[CLIENT_ENV];
if (clientJob !== undefined && process.send) {
  process.send(await sync(JSON.parse(clientJob) as SyncJob), () => process.exit(0));
} else if (isMain(import.meta.url)) {
  const result = await run();
  report(result);
  console.log(`\nwrote ${save('scim', result)}`);
}
