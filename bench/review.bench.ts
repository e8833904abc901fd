/**
 * Access review benchmark: 100,000 users × 1,000 policies (target: under 5 s on this machine).
 *
 * The directory is built in memory with the index's `load` (100,000 users, 2,000 groups nested two levels,
 * each user in 3 groups) and a users repository that pages over the same array, instead of provisioning
 * 100,000 users through SCIM into PGlite (hours of inserts on this machine); the review path is the same
 * (`store.users.query` one page at a time, the directory source, `gate.authorize`). The policies: 900 Allow
 * on a group, 50 Allow on a group that also require an ip range (conditional), 50 Block on a group and a
 * country (conditional), seeded. 1% of the users are inactive.
 *
 * Baseline, in the same run: the floor — the same users through `gate.resolveIdentity` + `gate.authorize`
 * in a plain loop (no paging, no classification, no rows). `ratio` is review time / floor time.
 *
 * Run alone: `npx tsx bench/review.bench.ts` (or `npm run bench -- review`).
 */
import { createDirectoryIndex, type DirectoryGroup, type DirectoryMembership, type DirectoryUser } from '../src/directory/index.js';
import { createDirectoryGroupSource } from '../src/groups/directory-source.js';
import { createGate } from '../src/gate.js';
import type { AccessPolicy } from '../src/policy/types.js';
import { createReviewSummary, reviewAccessRows, type ReviewStore } from '../src/review/index.js';
import type { ResourceQuery, StoredResource } from '../src/store/types.js';
import type { Identity } from '../src/types.js';
import { runIfMain, seededGuid, seededRandom, type BenchResult } from './harness.js';

const USERS = 100_000;
const PARENTS = 200;
const CHILDREN_PER_PARENT = 9;
const POLICIES = 1_000;
const TENANT = '00000000-0000-4000-8000-0000000000d1';

function build(): { store: ReviewStore; groupIds: string[] } {
  const rand = seededRandom(0x5eed);
  const groups: DirectoryGroup[] = [];
  const memberships: DirectoryMembership[] = [];
  for (let p = 0; p < PARENTS; p++) {
    const parent = `p${p}`;
    groups.push({ id: parent, externalId: seededGuid(rand), displayName: `Parent ${p}` });
    for (let c = 0; c < CHILDREN_PER_PARENT; c++) {
      const id = `g${p}-${c}`;
      groups.push({ id, externalId: seededGuid(rand), displayName: `Group ${p}.${c}` });
      memberships.push({ groupId: parent, memberId: id });
    }
  }
  const leaves = groups.filter((g) => g.id.startsWith('g'));
  const users: DirectoryUser[] = [];
  for (let i = 0; i < USERS; i++) {
    const id = `u${String(i).padStart(6, '0')}`;
    users.push({
      id,
      externalId: seededGuid(rand),
      userName: `user${i}@contoso.com`,
      emails: [`user${i}@contoso.com`],
      displayName: `User ${i}`,
      active: rand() >= 0.01,
    });
    for (let k = 0; k < 3; k++) memberships.push({ groupId: leaves[Math.floor(rand() * leaves.length)]!.id, memberId: id });
  }
  const index = createDirectoryIndex();
  index.load({ users, groups, memberships });
  const stored = users.map((u): StoredResource => ({ id: u.id, attributes: {}, created: '', lastModified: '', version: 1 }));
  return {
    store: {
      index,
      users: {
        async query(q: ResourceQuery) {
          const from = q.startIndex - 1;
          return { totalResults: stored.length, resources: stored.slice(from, from + q.count) };
        },
      },
    },
    groupIds: groups.map((g) => g.externalId!),
  };
}

function policies(groupIds: readonly string[]): AccessPolicy[] {
  const rand = seededRandom(0xfeed);
  const pick = () => groupIds[Math.floor(rand() * groupIds.length)]!;
  const out: AccessPolicy[] = [];
  for (let i = 0; i < POLICIES; i++) {
    if (i % 20 === 5) out.push({ name: `block-${i}`, decision: 'deny', include: [{ azureAD: { id: pick() } }], require: [{ geo: { country_code: 'KP' } }] });
    else if (i % 20 === 15)
      out.push({ name: `office-${i}`, decision: 'allow', include: [{ azureAD: { id: pick() } }], require: [{ ip: { ip: '10.0.0.0/8' } }] });
    else out.push({ name: `allow-${i}`, decision: 'allow', include: [{ azureAD: { id: pick() } }] });
  }
  return out;
}

export async function run(): Promise<BenchResult> {
  let t = performance.now();
  const { store, groupIds } = build();
  const buildMs = performance.now() - t;
  const idp = { type: 'azureAD', name: 'bench', config: { client_id: '00000000-0000-4000-8000-00000000c1d0', directory_id: TENANT } } as const;
  const gate = createGate({
    idp,
    applications: { portal: { policies: policies(groupIds) } },
    groups: createDirectoryGroupSource({ index: store.index }),
    tokenGroups: 'ignore',
  });

  // The floor: the same pipeline calls in a plain loop.
  const floor = async (): Promise<number> => {
    const start = performance.now();
    let allowed = 0;
    for (let i = 0; i < USERS; i++) {
      const u = store.index.getUser(`u${String(i).padStart(6, '0')}`)!;
      const identity: Identity = {
        email: u.emails[0]!,
        user_uuid: u.externalId!,
        idp: { id: 'azureAD', type: 'azureAD' },
        amr: [],
        groups: [],
        membership: { state: 'absent' },
        oidc_fields: {},
        oid: u.externalId!,
        tid: TENANT,
        sub: u.id,
        iat: 0,
        exp: 0,
        ver: '2.0',
      };
      try {
        const resolved = await gate.resolveIdentity(identity, { claims: { preferred_username: u.userName } });
        if ((await gate.authorize(resolved, { application: 'portal', unknownRequestAttributes: true })).allowed) allowed++;
      } catch {
        // inactive
      }
    }
    if (allowed < 0) throw new Error('unreachable');
    return performance.now() - start;
  };
  const review = async (): Promise<{ ms: number; counts: Record<string, number> }> => {
    const start = performance.now();
    const summary = createReviewSummary();
    for await (const row of reviewAccessRows({ gate, store, application: 'portal', pageSize: 1000 })) summary.add(row);
    const ms = performance.now() - start;
    const c = summary.targets()[0]!.current;
    return { ms, counts: { allowed: c.allowed, denied: c.denied, conditional: c.conditional } };
  };

  // Alternate, best of three each (noise on a shared machine only adds time).
  const floors: number[] = [];
  const reviews: number[] = [];
  let counts: Record<string, number> = {};
  const rounds = Number(process.env.REVIEW_BENCH_ROUNDS ?? 3);
  for (let r = 0; r < rounds; r++) {
    floors.push(await floor());
    const result = await review();
    reviews.push(result.ms);
    counts = result.counts;
  }
  const best = (xs: number[]) => Math.min(...xs);
  t = best(reviews);
  return {
    name: 'review',
    measurements: [
      {
        name: `review ${USERS.toLocaleString('en-US')} users × ${POLICIES} policies (best of 3)`,
        opsPerSec: (USERS / t) * 1000,
        medianNs: (t * 1e6) / USERS,
        iterations: USERS * 3,
      },
      {
        name: 'floor: resolveIdentity + authorize loop (best of 3)',
        opsPerSec: (USERS / best(floors)) * 1000,
        medianNs: (best(floors) * 1e6) / USERS,
        iterations: USERS * 3,
      },
    ],
    ratios: { 'review time / floor time (lower is better)': t / best(floors) },
    extra: {
      'review ms, best of 3 (target < 5000)': Math.round(t),
      'review ms, all runs': reviews.map((x) => Math.round(x)).join(', '),
      'directory build (index.load) ms': Math.round(buildMs),
      allowed: counts.allowed ?? 0,
      denied: counts.denied ?? 0,
      conditional: counts.conditional ?? 0,
      'heap MiB after': Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    },
  };
}

await runIfMain(import.meta.url, 'review', run);
