/**
 * `npm run bench [-- name …]`: runs every benchmark (or the named ones) one after the other,
 * each in its own process so one's heap and JIT state cannot colour another's. Each prints its
 * measurements with ratios against a baseline measured in the same run, and writes
 * `bench/results/<name>.json`. Benchmarks are not tests: nothing here fails a build.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ALL = ['token', 'policy', 'directory', 'session', 'pipeline', 'adapters', 'scim', 'api', 'throughput', 'review'] as const;
const here = dirname(fileURLToPath(import.meta.url));
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(ALL as readonly string[]).includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.map((n) => `\`${n}\``).join(', ')}: choose from ${ALL.join(', ')}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : [...ALL];
let failed = 0;
for (const name of names) {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(here, `${name}.bench.ts`)], { stdio: 'inherit' });
  console.log(`  (${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (result.status !== 0) {
    failed++;
    console.error(`benchmark \`${name}\` exited with ${result.status ?? result.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
