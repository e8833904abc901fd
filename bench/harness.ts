import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured case. */
export interface Measurement {
  name: string;
  opsPerSec: number;
  /** Median ns per op over the sampled batches. */
  medianNs: number;
  iterations: number;
}

/** What every bench file's `run()` returns; `bench/run.ts` prints and saves it. */
export interface BenchResult {
  name: string;
  measurements: Measurement[];
  /** Named ratios against the in-run baseline (higher is better unless the name says otherwise). */
  ratios: Record<string, number>;
  /** Any other numbers worth keeping (ms, MiB, …). */
  extra?: Record<string, number | string>;
}

/**
 * Runs `fn` in batches for about `ms` milliseconds after a warm-up and reports
 * throughput and the median per-op time of the batches. `fn` may be async; it is
 * awaited only when it returns a promise.
 */
export async function measure(name: string, fn: (i: number) => unknown, options: { ms?: number; batch?: number; warmup?: number } = {}): Promise<Measurement> {
  const ms = options.ms ?? 1500;
  const batch = options.batch ?? 200;
  const warmup = options.warmup ?? batch * 5;
  for (let i = 0; i < warmup; i++) {
    const r = fn(i);
    if (r instanceof Promise) await r;
  }
  const samples: number[] = [];
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      const r = fn(iterations + i);
      if (r instanceof Promise) await r;
    }
    now = process.hrtime.bigint();
    samples.push(Number(now - t0) / batch);
    iterations += batch;
  }
  const totalNs = Number(now - start);
  samples.sort((a, b) => a - b);
  return { name, opsPerSec: (iterations / totalNs) * 1e9, medianNs: samples[Math.floor(samples.length / 2)] ?? 0, iterations };
}

/**
 * Measures `candidate` against `baseline` in alternating short rounds. On a shared machine noise
 * only ever adds time, and a burst lands in one round of each side rather than in all of one, so
 * `ratio` compares the best round of each: baseline's lowest median ns/op over candidate's (the
 * throughput ratio at each side's best). `ratios` are the per-round throughput ratios, for the record.
 */
export async function measurePaired(
  baseline: { name: string; fn: (i: number) => unknown },
  candidate: { name: string; fn: (i: number) => unknown },
  options: { rounds?: number; ms?: number; batch?: number } = {},
): Promise<{ baseline: Measurement; candidate: Measurement; ratio: number; ratios: number[] }> {
  const rounds = options.rounds ?? 7;
  const each = { ms: options.ms ?? 400, batch: options.batch ?? 200 };
  const base: Measurement[] = [];
  const cand: Measurement[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const b = await measure(baseline.name, baseline.fn, { ...each, warmup: r === 0 ? each.batch * 5 : each.batch });
    const c = await measure(candidate.name, candidate.fn, { ...each, warmup: r === 0 ? each.batch * 5 : each.batch });
    base.push(b);
    cand.push(c);
    ratios.push(c.opsPerSec / b.opsPerSec);
  }
  const best = (xs: Measurement[]): Measurement => xs.reduce((x, y) => (y.medianNs < x.medianNs ? y : x));
  const b = best(base);
  const c = best(cand);
  return { baseline: b, candidate: c, ratio: b.medianNs / c.medianNs, ratios };
}

/** Prints a table of measurements and the ratios. */
export function report(result: BenchResult): void {
  console.log(`\n## ${result.name}`);
  for (const m of result.measurements) {
    console.log(`  ${m.name.padEnd(58)} ${fmt(m.opsPerSec).padStart(12)} ops/s   median ${m.medianNs.toFixed(0).padStart(9)} ns/op`);
  }
  for (const [k, v] of Object.entries(result.ratios)) console.log(`  ratio ${k.padEnd(52)} ${v.toFixed(2)}×`);
  for (const [k, v] of Object.entries(result.extra ?? {})) console.log(`  ${k.padEnd(58)} ${typeof v === 'number' ? fmt(v) : v}`);
}

/** Writes `bench/results/<name>.json`. */
export function save(file: string, result: BenchResult): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file}.json`);
  writeFileSync(path, `${JSON.stringify({ ...result, node: process.version, date: new Date().toISOString() }, null, 2)}\n`);
  return path;
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(3);
}

/** True when the module is run directly (`npx tsx bench/x.bench.ts`). */
export function isMain(metaUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(metaUrl) === process.argv[1];
}

/** A seeded PRNG (mulberry32) in [0, 1): benchmarks generate the same inputs on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A GUID-shaped id from a seeded PRNG. */
export function seededGuid(rand: () => number): string {
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

/** Runs, prints and saves a benchmark when its file is run directly (`npx tsx bench/x.bench.ts`). */
export async function runIfMain(metaUrl: string, file: string, run: () => Promise<BenchResult>): Promise<void> {
  if (!isMain(metaUrl)) return;
  const result = await run();
  report(result);
  console.log(`  saved ${save(file, result)}`);
}

/**
 * Measures several cases in alternating short rounds (each round runs every case once, in
 * order), and keeps each case's best round (lowest median ns/op): on a shared machine noise only
 * ever adds time, and a burst lands in one round of a case rather than in all of them. `rounds`
 * holds every case's per-round measurements, in the order given, for per-round ratios. `measure`
 * numbers calls from 0 in each round and again after its warm-up: a case that must see a new input
 * on every call keeps its own counter (see `cycle`).
 */
export async function measureRounds(
  cases: ReadonlyArray<{ name: string; fn: (i: number) => unknown }>,
  options: { rounds?: number; ms?: number; batch?: number } = {},
): Promise<{ best: Measurement[]; rounds: Measurement[][] }> {
  const count = options.rounds ?? 7;
  const each = { ms: options.ms ?? 400, batch: options.batch ?? 200 };
  const rounds: Measurement[][] = cases.map(() => []);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < cases.length; c++) {
      rounds[c]!.push(await measure(cases[c]!.name, cases[c]!.fn, { ...each, warmup: r === 0 ? each.batch * 5 : each.batch }));
    }
  }
  const best = rounds.map((xs) => xs.reduce((x, y) => (y.medianNs < x.medianNs ? y : x)));
  return { best, rounds };
}

/**
 * A function that returns the next item of `items` on each call, whatever index it is given:
 * for cases that must never see the same input twice in a row of `items.length` calls.
 */
export function cycle<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => {
    const item = items[next]!;
    next = next + 1 === items.length ? 0 : next + 1;
    return item;
  };
}
