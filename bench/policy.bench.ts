/**
 * Policy engine throughput, one process, deterministic inputs (seeded PRNG):
 * - 1,000 Access policies against an identity with 200 (transitive) groups out of 20,000,
 *   with the same identity object (the gate caches identities per token) and a fresh one per call
 *   (a new object and a new groups array, as a group source returns for each request), and 64
 *   identities the token cache keeps, in turn;
 * - 1,000 Gateway rules (`any(identity.groups.id[*] in {…})`) against the same identity;
 * - median ns per decision for 100 mixed Access policies;
 * - compile time for 10,000 Access policies and 10,000 Gateway rules;
 * - baseline: node-casbin enforcing the equivalent RBAC model with a group hierarchy
 *   (`g = _, _`, first match via `priority(p.eft) || deny`) on the same data.
 *
 * Run alone: `npx tsx bench/policy.bench.ts`.
 */
import { newEnforcer, newModelFromString } from 'casbin';
import { compileAccessPolicies, compileGatewayRules } from '../src/policy/index.js';
import type { AccessPolicy, GatewayRule } from '../src/policy/types.js';
import type { Identity } from '../src/types.js';
import { isMain, measure, report, save, type BenchResult, seededGuid, seededRandom } from './harness.js';

const POOL = 20_000;
const IDENTITY_GROUPS = 200;
const DIRECT_GROUPS = 50;
const POLICIES = 1_000;

interface Data {
  pool: string[];
  /** The identity's transitive groups; the first DIRECT_GROUPS are direct, the rest are their ancestors. */
  member: string[];
  /** child → parent links that make `member` transitive from the direct groups. */
  links: [string, string][];
  /** Per policy: the group it names and whether it blocks. */
  policies: { group: string; deny: boolean }[];
  identity: Identity;
}

function makeData(seed: number, policyCount: number): Data {
  const rand = seededRandom(seed);
  const pool = Array.from({ length: POOL }, () => seededGuid(rand));
  const picked = new Set<number>();
  while (picked.size < IDENTITY_GROUPS) picked.add(Math.floor(rand() * POOL));
  const member = [...picked].map((i) => pool[i] as string);
  const links: [string, string][] = [];
  for (let i = DIRECT_GROUPS; i < IDENTITY_GROUPS; i++) {
    // Each ancestor hangs above one group that comes before it: nesting up to several levels.
    links.push([member[Math.floor(rand() * i)] as string, member[i] as string]);
  }
  const memberSet = new Set(member);
  const outside = pool.filter((g) => !memberSet.has(g));
  // Policies name groups the user is not in, except one allow near the end (index 90%): a realistic worst case
  // where both engines scan most of the list before deciding.
  const decider = Math.floor(policyCount * 0.9);
  const policies = Array.from({ length: policyCount }, (_, i) => ({
    group: i === decider ? (member[IDENTITY_GROUPS - 1] as string) : (outside[Math.floor(rand() * outside.length)] as string),
    deny: i !== decider && rand() < 0.2,
  }));
  const identity: Identity = {
    email: 'bench.user@example.com',
    name: 'Bench User',
    user_uuid: 'u-1',
    idp: { id: 'entra', type: 'azureAD' },
    amr: ['pwd', 'mfa'],
    groups: member.map((id, i) => ({ id, name: `group-${i}` })),
    membership: { state: 'complete', source: 'graph' },
    oidc_fields: {},
    oid: 'u-1',
    tid: 't',
    sub: 's',
    iat: 0,
    exp: 0,
    ver: '2.0',
  };
  return { pool, member, links, policies, identity };
}

function accessPolicies(data: Data): AccessPolicy[] {
  return data.policies.map((p, i) => ({
    id: `p${i}`,
    name: `policy ${i}`,
    decision: p.deny ? 'deny' : 'allow',
    include: [{ azureAD: { id: p.group, identity_provider_id: 'entra' } }],
  }));
}

function gatewayRules(data: Data): GatewayRule[] {
  return data.policies.map((p, i) => ({
    id: `r${i}`,
    name: `rule ${i}`,
    action: p.deny ? 'block' : 'allow',
    precedence: (i + 1) * 10,
    identity: `any(identity.groups.id[*] in {"${p.group}"})`,
  }));
}

/** 100 policies mixing selectors, the shape of a real application's list. */
function mixedPolicies(data: Data, rand: () => number): AccessPolicy[] {
  const out: AccessPolicy[] = [];
  for (let i = 0; i < 100; i++) {
    const g = data.pool[Math.floor(rand() * POOL)] as string;
    const kind = i % 5;
    const include =
      kind === 0 ? [{ email_domain: { domain: `d${i}.example.org` } }] : kind === 1 ? [{ email: { email: `u${i}@example.com` } }] : [{ azureAD: { id: g } }];
    const policy: AccessPolicy = { name: `mixed ${i}`, decision: i % 9 === 0 ? 'deny' : 'allow', include };
    if (kind === 3) policy.require = [{ auth_method: { auth_method: 'mfa' } }];
    if (kind === 4) policy.exclude = [{ ip: { ip: '203.0.113.0/24' } }];
    out.push(policy);
  }
  out.push({
    name: 'members',
    decision: 'allow',
    include: [{ azureAD: { id: data.member[5] as string } }],
    require: [{ auth_method: { auth_method: 'mfa' } }],
  });
  return out;
}

const CASBIN_MODEL = `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;

async function casbinEnforcer(data: Data): Promise<Awaited<ReturnType<typeof newEnforcer>>> {
  const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL));
  await enforcer.addPolicies(data.policies.map((p) => [p.group, 'app', 'access', p.deny ? 'deny' : 'allow']));
  const grouping: string[][] = data.member.slice(0, DIRECT_GROUPS).map((g) => ['user-1', g]);
  for (const [child, parent] of data.links) grouping.push([child, parent]);
  await enforcer.addGroupingPolicies(grouping);
  return enforcer;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export async function run(): Promise<BenchResult> {
  const data = makeData(0xc0ffee, POLICIES);
  const access = compileAccessPolicies(accessPolicies(data));
  const gateway = compileGatewayRules(gatewayRules(data));
  const enforcer = await casbinEnforcer(data);

  // Same decision from all three engines, or the comparison means nothing.
  const expected = access.evaluate(data.identity, {});
  const gw = gateway.evaluate(data.identity, {});
  const cb = enforcer.enforceSync('user-1', 'app', 'access');
  if (!expected.allowed || !gw.allowed || !cb || expected.policy?.id !== `p${Math.floor(POLICIES * 0.9)}`) {
    throw new Error(`engines disagree: access=${expected.allowed} gateway=${gw.allowed} casbin=${cb}`);
  }

  const identity = data.identity;
  // What the gate gets when groups come from Graph or the directory: a new identity and a new array of the same groups.
  const fresh = (): Identity => ({ ...identity, groups: [...identity.groups] });
  // The headline rows (100 policies) first: later rows leave the heap to the collector in a state that adds noise.
  const mixed = compileAccessPolicies(mixedPolicies(data, seededRandom(7)));
  const ctx = { ip: '192.0.2.10' };
  if (!mixed.evaluate(identity, ctx).allowed) throw new Error('the 100-policy set should allow');
  const hundred = await measure('access: 100 mixed policies, same identity', () => mixed.evaluate(identity, ctx), { batch: 1000 });
  const hundredCold = await measure('access: 100 mixed policies, fresh identity each call', () => mixed.evaluate(fresh(), ctx), { batch: 200 });

  const accessHot = await measure('access: 1,000 policies, 200/20,000 groups, same identity', () => access.evaluate(identity, {}), { batch: 1000 });
  const accessCold = await measure('access: 1,000 policies, fresh identity each call', () => access.evaluate(fresh(), {}), { batch: 200 });
  const gatewayHot = await measure('gateway: 1,000 rules, 200/20,000 groups, same identity', () => gateway.evaluate(identity, {}), { batch: 200 });
  const gatewayCold = await measure('gateway: 1,000 rules, fresh identity each call', () => gateway.evaluate(fresh(), {}), { batch: 100 });
  // Many users whose identities the token cache keeps (same objects, interleaved): the long-lived per-identity cache.
  const users = Array.from({ length: 64 }, (_, i) => ({ ...identity, user_uuid: `u-${i}` }));
  const accessUsers = await measure('access: 1,000 policies, 64 cached identities in turn', (i) => access.evaluate(users[i % 64] as Identity, {}), {
    batch: 1000,
  });
  const casbin = await measure('casbin: 1,000 policies, RBAC g = _, _ (enforceSync)', () => enforcer.enforceSync('user-1', 'app', 'access'), {
    batch: 10,
    warmup: 50,
  });

  const big = makeData(0xbeef, 10_000);
  const bigAccess = accessPolicies(big);
  const bigGateway = gatewayRules(big);
  const compileAccessMs: number[] = [];
  const compileGatewayMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    compileAccessPolicies(bigAccess);
    compileAccessMs.push(performance.now() - t);
    t = performance.now();
    compileGatewayRules(bigGateway);
    compileGatewayMs.push(performance.now() - t);
  }

  return {
    name: 'policy',
    measurements: [accessHot, accessCold, accessUsers, gatewayHot, gatewayCold, casbin, hundred, hundredCold],
    ratios: {
      'access same identity / casbin (target ≥ 20)': accessHot.opsPerSec / casbin.opsPerSec,
      'access fresh identity / casbin': accessCold.opsPerSec / casbin.opsPerSec,
      'gateway same identity / casbin': gatewayHot.opsPerSec / casbin.opsPerSec,
      'gateway fresh identity / casbin': gatewayCold.opsPerSec / casbin.opsPerSec,
    },
    extra: {
      'median ns per decision, 100 policies (target < 2000)': Math.round(hundred.medianNs),
      'median ns per decision, 100 policies, fresh identity': Math.round(hundredCold.medianNs),
      'compile 10,000 access policies, median ms': Number(median(compileAccessMs).toFixed(1)),
      'compile 10,000 gateway rules, median ms': Number(median(compileGatewayMs).toFixed(1)),
      'casbin median ns per decision': Math.round(casbin.medianNs),
    },
  };
}

if (isMain(import.meta.url)) {
  const result = await run();
  report(result);
  console.log(`  saved ${save('policy', result)}`);
}
