/**
 * Directory index benchmark: 100,000 users, 20,000 groups, 1,000,000 direct
 * memberships, nesting 8 levels deep (deterministic, seeded).
 *
 * Measures build time, heap after GC, incremental membership changes (p50/p99),
 * and "all groups of a user" (cold and cached), against a naive baseline in the
 * same process: BFS over adjacency Maps on every query.
 *
 * Run alone: `npx tsx --expose-gc bench/directory.bench.ts` (without
 * `--expose-gc` the heap figure is taken without a forced GC and flagged).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDirectoryIndex } from '../src/directory/index.js';
import type { DirectoryGroup, DirectoryMembership, DirectoryUser } from '../src/directory/index.js';
import type { GroupRef } from '../src/types.js';
import { seededGuid, seededRandom } from './harness.js';

export interface BenchResult {
  name: string;
  params: Record<string, number>;
  metrics: Record<string, number>;
  baseline: Record<string, number>;
  ratios: Record<string, number>;
  targets: Record<string, { limit: number; measured: number; met: boolean }>;
  notes: string[];
}

const USERS = 100_000;
const GROUPS = 20_000;
const MEMBERSHIPS = 1_000_000;
/** Group counts per nesting level, roots first: 8 levels, 20,000 groups. */
const LEVELS = [40, 120, 340, 900, 1_800, 3_300, 5_500, 8_000];
/** Each nested group has one parent, and a second one with this probability. */
const SECOND_PARENT = 0.4;



interface Directory {
  users: DirectoryUser[];
  groups: DirectoryGroup[];
  memberships: DirectoryMembership[];
  levelOf: number[];
}

/** A deterministic directory: groups in 8 levels, each below level 0 nested in one or two groups of the level above. */
export function generateDirectory(seed = 42): Directory {
  const rand = seededRandom(seed);
  const groups: DirectoryGroup[] = [];
  const levelStart: number[] = [];
  const levelOf: number[] = [];
  LEVELS.forEach((count, level) => {
    levelStart.push(groups.length);
    for (let i = 0; i < count; i++) {
      groups.push({ id: `g${groups.length}`, externalId: seededGuid(rand), displayName: `Group ${groups.length} L${level}` });
      levelOf.push(level);
    }
  });
  const memberships: DirectoryMembership[] = [];
  for (let level = 1; level < LEVELS.length; level++) {
    const start = levelStart[level] as number;
    const parentStart = levelStart[level - 1] as number;
    const parentCount = LEVELS[level - 1] as number;
    for (let i = 0; i < (LEVELS[level] as number); i++) {
      const picked = new Set<number>();
      const parents = rand() < SECOND_PARENT ? 2 : 1;
      while (picked.size < parents) picked.add(parentStart + Math.floor(rand() * parentCount));
      for (const p of picked) memberships.push({ groupId: `g${p}`, memberId: `g${start + i}` });
    }
  }
  const users: DirectoryUser[] = [];
  for (let u = 0; u < USERS; u++) {
    const upn = `user${u}@contoso.com`;
    users.push({ id: `u${u}`, externalId: seededGuid(rand), userName: upn, emails: [upn], active: true });
  }
  // The remaining edges are user → group, spread over users, into the three deepest levels.
  const userEdges = MEMBERSHIPS - memberships.length;
  const deepStart = levelStart[LEVELS.length - 3] as number;
  const deepCount = GROUPS - deepStart;
  for (let e = 0; e < userEdges; e++) {
    const u = e % USERS;
    memberships.push({ groupId: `g${deepStart + Math.floor(rand() * deepCount)}`, memberId: `u${u}` });
  }
  return { users, groups, memberships, levelOf };
}

/** The baseline: adjacency Maps, BFS up the parents on every query. */
function createNaive(dir: Directory) {
  const groupsOfMember = new Map<string, string[]>();
  const refs = new Map<string, GroupRef>();
  for (const g of dir.groups) refs.set(g.id, { id: g.externalId ?? g.id, name: g.displayName });
  for (const m of dir.memberships) {
    const list = groupsOfMember.get(m.memberId);
    if (list === undefined) groupsOfMember.set(m.memberId, [m.groupId]);
    else list.push(m.groupId);
  }
  return {
    groupsOfUser(userId: string): GroupRef[] {
      const seen = new Set<string>();
      const out: GroupRef[] = [];
      const queue = [...(groupsOfMember.get(userId) ?? [])];
      for (let i = 0; i < queue.length; i++) {
        const g = queue[i] as string;
        if (seen.has(g)) continue;
        seen.add(g);
        out.push(refs.get(g) as GroupRef);
        for (const p of groupsOfMember.get(g) ?? []) queue.push(p);
      }
      return out;
    },
    addMember(groupId: string, memberId: string): void {
      const list = groupsOfMember.get(memberId);
      if (list === undefined) groupsOfMember.set(memberId, [groupId]);
      else if (!list.includes(groupId)) list.push(groupId);
    },
    removeMember(groupId: string, memberId: string): void {
      const list = groupsOfMember.get(memberId);
      const i = list?.indexOf(groupId) ?? -1;
      if (list && i >= 0) list.splice(i, 1);
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function summarize(samplesNs: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean };
}

const now = () => process.hrtime.bigint();
const ns = (start: bigint) => Number(process.hrtime.bigint() - start);

function gc(): boolean {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) return false;
  collect();
  collect();
  return true;
}

/** Times a batch of calls and returns ns per call (timer overhead amortised over the batch). */
function perCall(batch: number, fn: (i: number) => void): number {
  const start = now();
  for (let i = 0; i < batch; i++) fn(i);
  return ns(start) / batch;
}

export async function run(): Promise<BenchResult> {
  const notes: string[] = [];
  const rand = seededRandom(7);
  const dir = generateDirectory();
  const pick = (n: number) => Math.floor(rand() * n);

  const gcAvailable = gc();
  if (!gcAvailable) notes.push('heap measured without a forced GC (run with --expose-gc for a precise figure)');
  const heapBefore = process.memoryUsage().heapUsed;

  // ---- build
  const buildStart = now();
  const buildCpu = process.cpuUsage();
  const index = createDirectoryIndex({ users: dir.users, groups: dir.groups, memberships: dir.memberships });
  const buildMs = ns(buildStart) / 1e6;
  // CPU time beside wall time: on a shared machine the wall figure also counts other processes.
  const cpu = process.cpuUsage(buildCpu);
  const buildCpuMs = (cpu.user + cpu.system) / 1e3;
  gc();
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

  const naiveStart = now();
  const naive = createNaive(dir);
  const naiveBuildMs = ns(naiveStart) / 1e6;

  // ---- all groups of a user
  const sampleUsers = Array.from({ length: 20_000 }, () => `u${pick(USERS)}`);
  const sizes = sampleUsers.slice(0, 2_000).map((u) => index.groupsOfUser(u).length).sort((a, b) => a - b);
  const medianGroups = percentile(sizes, 50);
  // Check the index against the baseline on a sample before timing anything.
  for (const u of sampleUsers.slice(0, 200)) {
    const a = index.groupsOfUser(u).map((r) => r.id).sort();
    const b = naive.groupsOfUser(u).map((r) => r.id).sort();
    if (a.join() !== b.join()) throw new Error(`index disagrees with baseline for ${u}`);
  }

  // Cold: a fresh index per measurement set would be slow to build, so cold
  // answers are forced by invalidating each user (a user edge change) first.
  const coldSamples: number[] = [];
  for (let i = 0; i < 5_000; i++) {
    const u = sampleUsers[i] as string;
    const g = `g${pick(GROUPS)}`;
    index.addMember(g, u);
    index.removeMember(g, u);
    const start = now();
    index.groupsOfUser(u);
    coldSamples.push(ns(start));
  }
  const cold = summarize(coldSamples);
  for (const u of sampleUsers) index.groupsOfUser(u);
  const cachedRounds = Array.from({ length: 15 }, () => perCall(sampleUsers.length, (i) => index.groupsOfUser(sampleUsers[i] as string)));
  const cachedMedianNs = percentile([...cachedRounds].sort((a, b) => a - b), 50);
  const naiveRounds = Array.from({ length: 5 }, () => perCall(2_000, (i) => naive.groupsOfUser(sampleUsers[i] as string)));
  const naiveMedianNs = percentile([...naiveRounds].sort((a, b) => a - b), 50);

  // ---- incremental membership changes
  const userEdgeSamples: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const u = `u${pick(USERS)}`;
    const g = `g${pick(GROUPS)}`;
    let start = now();
    index.addMember(g, u);
    userEdgeSamples.push(ns(start));
    start = now();
    index.removeMember(g, u);
    userEdgeSamples.push(ns(start));
  }
  const groupEdgeSamples: number[] = [];
  const groupEdgeThenQuery: number[] = [];
  const levelStarts = LEVELS.map((_, l) => LEVELS.slice(0, l).reduce((a, b) => a + b, 0));
  for (let i = 0; i < 5_000; i++) {
    // A new nesting between a random group and one at the level above it (any depth).
    const child = 40 + pick(GROUPS - 40);
    const level = dir.levelOf[child] as number;
    const parent = (levelStarts[level - 1] as number) + pick(LEVELS[level - 1] as number);
    const u = sampleUsers[i] as string;
    let start = now();
    index.addMember(`g${parent}`, `g${child}`);
    groupEdgeSamples.push(ns(start));
    start = now();
    index.groupsOfUser(u);
    groupEdgeThenQuery.push(ns(start));
    start = now();
    index.removeMember(`g${parent}`, `g${child}`);
    groupEdgeSamples.push(ns(start));
  }
  const naiveChange: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const u = `u${pick(USERS)}`;
    const g = `g${pick(GROUPS)}`;
    const start = now();
    naive.addMember(g, u);
    naive.removeMember(g, u);
    naiveChange.push(ns(start) / 2);
  }
  // Worst case for memory: every user's answer cached.
  for (let u = 0; u < USERS; u++) index.groupsOfUser(`u${u}`);
  gc();
  const heapAllCachedMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

  const userEdge = summarize(userEdgeSamples);
  const groupEdge = summarize(groupEdgeSamples);
  const afterGroupEdge = summarize(groupEdgeThenQuery);
  const allChanges = summarize([...userEdgeSamples, ...groupEdgeSamples]);
  const naiveEdge = summarize(naiveChange);

  const metrics = {
    buildMs,
    buildCpuMs,
    heapMiB,
    heapAllCachedMiB,
    medianGroupsPerUser: medianGroups,
    groupsOfUserCachedMedianNs: cachedMedianNs,
    groupsOfUserColdP50Ns: cold.p50,
    groupsOfUserColdP99Ns: cold.p99,
    changeP50Ns: allChanges.p50,
    changeP99Ns: allChanges.p99,
    userEdgeChangeP50Ns: userEdge.p50,
    userEdgeChangeP99Ns: userEdge.p99,
    groupEdgeChangeP50Ns: groupEdge.p50,
    groupEdgeChangeP99Ns: groupEdge.p99,
    groupsOfUserAfterGroupEdgeP50Ns: afterGroupEdge.p50,
    groupsOfUserAfterGroupEdgeP99Ns: afterGroupEdge.p99,
  };
  const baseline = {
    buildMs: naiveBuildMs,
    groupsOfUserMedianNs: naiveMedianNs,
    userEdgeChangeP50Ns: naiveEdge.p50,
  };
  const ratios = {
    groupsOfUserCachedSpeedup: naiveMedianNs / cachedMedianNs,
    groupsOfUserColdSpeedup: naiveMedianNs / cold.p50,
  };
  const targets = {
    buildMs: { limit: 3_000, measured: buildMs, met: buildMs < 3_000 },
    heapMiB: { limit: 1_024, measured: heapAllCachedMiB, met: heapAllCachedMiB < 1_024 },
    changeP99Ms: { limit: 1, measured: allChanges.p99 / 1e6, met: allChanges.p99 < 1e6 },
    groupsOfUserMedianUs: { limit: 5, measured: cachedMedianNs / 1e3, met: cachedMedianNs < 5_000 },
  };
  notes.push(
    'groups-of-user median is the cached answer (the steady state); cold = the first query after a change to that user',
    'group edge changes invalidate lazily: their cost is in groupsOfUserAfterGroupEdge*',
  );
  return {
    name: 'directory',
    params: { users: USERS, groups: GROUPS, memberships: dir.memberships.length, depth: LEVELS.length },
    metrics,
    baseline,
    ratios,
    targets,
    notes,
  };
}

function print(result: BenchResult): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  const m = result.metrics;
  const b = result.baseline;
  console.log(`directory index: ${result.params.users} users, ${result.params.groups} groups, ${result.params.memberships} memberships, depth ${result.params.depth}`);
  console.log(`  build                 ${f(m.buildMs as number, 0)} ms wall, ${f(m.buildCpuMs as number, 0)} ms CPU  (baseline adjacency maps ${f(b.buildMs as number, 0)} ms)`);
  console.log(`  heap after GC         ${f(m.heapMiB as number, 0)} MiB (built), ${f(m.heapAllCachedMiB as number, 0)} MiB (every user's answer cached)`);
  console.log(`  groups per user       ${m.medianGroupsPerUser} (median)`);
  console.log(`  groupsOfUser cached   ${f((m.groupsOfUserCachedMedianNs as number) / 1e3, 3)} µs median`);
  console.log(`  groupsOfUser cold     ${f((m.groupsOfUserColdP50Ns as number) / 1e3)} µs p50, ${f((m.groupsOfUserColdP99Ns as number) / 1e3)} µs p99`);
  console.log(`  baseline BFS query    ${f((b.groupsOfUserMedianNs as number) / 1e3)} µs median  → cached ×${f(result.ratios.groupsOfUserCachedSpeedup as number, 0)}, cold ×${f(result.ratios.groupsOfUserColdSpeedup as number, 1)}`);
  console.log(`  change (all)          ${f((m.changeP50Ns as number) / 1e3)} µs p50, ${f((m.changeP99Ns as number) / 1e3)} µs p99`);
  console.log(`  user edge change      ${f((m.userEdgeChangeP50Ns as number) / 1e3)} µs p50, ${f((m.userEdgeChangeP99Ns as number) / 1e3)} µs p99`);
  console.log(`  group edge change     ${f((m.groupEdgeChangeP50Ns as number) / 1e3)} µs p50, ${f((m.groupEdgeChangeP99Ns as number) / 1e3)} µs p99`);
  console.log(`  query after nesting   ${f((m.groupsOfUserAfterGroupEdgeP50Ns as number) / 1e3)} µs p50, ${f((m.groupsOfUserAfterGroupEdgeP99Ns as number) / 1e3)} µs p99`);
  for (const [name, t] of Object.entries(result.targets)) console.log(`  target ${name.padEnd(22)} ${t.met ? 'met' : 'MISSED'} (${f(t.measured, 3)} < ${t.limit})`);
  for (const note of result.notes) console.log(`  note: ${note}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  print(result);
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'directory.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
