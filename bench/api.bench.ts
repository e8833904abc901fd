/**
 * What the claim checks of an API cost (issue 13): `authenticate` on a cached, realistic token (about
 * 1.5 KB, 20 groups, delegated scopes and app roles) through the framework-free core, against the same
 * with `requiredScopes` + `requiredRoles` after it, measured paired in the same run. Target: the checks
 * add ≤ 100 ns per request (median).
 *
 *   npx tsx --expose-gc bench/api.bench.ts
 */
import { createGate, requiredRoles, requiredScopes, type ClaimCheck } from '../src/index.js';
import { createProtector } from '../src/adapters/core.js';
import { passMemo, runChecks } from '../src/adapters/checks.js';
import type { RequestView } from '../src/adapters/types.js';
import { createMockEntra } from '../src/testing/index.js';
import { measurePaired, runIfMain, seededGuid, seededRandom, type BenchResult } from './harness.js';

export async function run(): Promise<BenchResult> {
  const entra = await createMockEntra();
  try {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, allowAppTokens: true });
    const rand = seededRandom(13);
    const groups = Array.from({ length: 20 }, () => seededGuid(rand));
    const token = entra.mintToken({
      audience: `api://${entra.clientId}`,
      claims: { groups, scp: 'Orders.Read Orders.Write User.Read', roles: ['Orders.Admin', 'Orders.Auditor'], email: 'ada.lovelace@contoso.com', acrs: ['c1'] },
    });
    const protector = createProtector(gate, { authenticate: true });
    const checks = [requiredScopes('Orders.Read', 'Orders.Write'), requiredRoles('Orders.Admin')];
    const raw = {};
    const view: RequestView = { method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, ip: '127.0.0.1' };
    const first = await protector.decide(view);
    if (first.kind !== 'allow') throw new Error(`the bench token was not admitted: ${first.kind}`);
    if (runChecks(checks, first.auth, raw, view.headers) !== undefined) throw new Error('the bench token fails the checks');

    const authenticateOnly = async () => {
      const outcome = await protector.decide(view);
      if (outcome.kind !== 'allow') throw new Error('denied');
    };
    // As the adapters run them: `requiredScopes(…)` and `requiredRoles(…)` are two middleware, each with
    // the pass memo of a built-in check; `checkClaims(…)` (an app's checks) has none.
    const [scopes, roles] = checks as [ClaimCheck, ClaimCheck];
    const scopesMemo = passMemo();
    const rolesMemo = passMemo();
    const withChecks = async () => {
      const outcome = await protector.decide(view);
      if (
        outcome.kind !== 'allow' ||
        runChecks([scopes], outcome.auth, raw, view.headers, scopesMemo) !== undefined ||
        runChecks([roles], outcome.auth, raw, view.headers, rolesMemo) !== undefined
      ) {
        throw new Error('denied');
      }
    };
    const withUnmemoizedChecks = async () => {
      const outcome = await protector.decide(view);
      if (outcome.kind !== 'allow' || runChecks(checks, outcome.auth, raw, view.headers) !== undefined) throw new Error('denied');
    };
    // The checks alone on an admitted request (the difference, without the noise of `decide`).
    const auth = first.auth;
    const noop = () => auth.via;
    const checksOnly = () => runChecks(checks, auth, raw, view.headers);

    const pipeline = await measurePaired(
      { name: 'authenticate (cached token)', fn: authenticateOnly },
      { name: 'authenticate + requiredScopes + requiredRoles', fn: withChecks },
    );
    const unmemoized = await measurePaired(
      { name: 'authenticate (cached token)', fn: authenticateOnly },
      { name: 'authenticate + the same checks via checkClaims (no memo)', fn: withUnmemoizedChecks },
    );
    const alone = await measurePaired(
      { name: 'baseline: read auth.via', fn: noop },
      { name: 'requiredScopes + requiredRoles alone', fn: checksOnly },
      { batch: 2000 },
    );
    return {
      name: 'api: claim checks on a cached token',
      measurements: [pipeline.baseline, pipeline.candidate, unmemoized.candidate, alone.baseline, alone.candidate],
      ratios: { 'authenticate + checks vs authenticate (throughput)': pipeline.ratio },
      extra: {
        'token bytes': token.length,
        'checks added, median ns/req (paired)': Math.round(pipeline.candidate.medianNs - pipeline.baseline.medianNs),
        'checks via checkClaims (no memo) added, median ns/req (paired)': Math.round(unmemoized.candidate.medianNs - unmemoized.baseline.medianNs),
        'checks alone, median ns/req': Math.round(alone.candidate.medianNs - alone.baseline.medianNs),
      },
    };
  } finally {
    await entra.close();
  }
}

await runIfMain(import.meta.url, 'api', run);
