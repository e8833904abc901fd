import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGraphGroupSource } from '../../src/graph/index.js';
import { createGroupSourceChain, createTokenGroupSource, resolveGroups } from '../../src/groups/index.js';
import { compileAccessPolicies } from '../../src/policy/index.js';
import { createMockGraph, type MockGraph } from '../../src/testing/index.js';
import { V1_OVERAGE_CLAIMS, identity } from '../groups/identity-fixtures.js';

const OID = 'a62060da-1ae3-44eb-8988-1197a68ff41e';
const DEVS = '86773093-5feb-48dd-814b-7ccd3676ff50';

let graph: MockGraph;

beforeEach(async () => {
  graph = await createMockGraph();
  graph.addUser({ id: OID });
  graph.addGroup({ id: DEVS, displayName: 'Devs' });
  graph.addGroup({ id: '11111111-0000-4000-8000-000000000001', displayName: 'US devs' });
  graph.addMember('11111111-0000-4000-8000-000000000001', OID);
  graph.addMember(DEVS, '11111111-0000-4000-8000-000000000001');
});

afterEach(async () => {
  await graph.close();
});

describe('overage → Graph → Access policy', () => {
  const policies = compileAccessPolicies([{ name: 'Devs', decision: 'allow', include: [{ azureAD: { id: DEVS } }] }]);
  const groups = () =>
    createGroupSourceChain([
      createTokenGroupSource(),
      createGraphGroupSource({
        clientId: 'mock-graph-client',
        clientSecret: 'mock-graph-secret',
        graphHost: graph.url,
        authorityHost: graph.url,
        maxRetries: 1,
        sleep: () => Promise.resolve(),
      }),
    ]);

  it('allows a member of a nested group once Graph resolves the overage', async () => {
    const resolved = await resolveGroups(identity({ membership: { state: 'overage', signal: 'claim_names' } }), groups(), { claims: V1_OVERAGE_CLAIMS });
    expect(resolved.membership).toEqual({ state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] });
    expect(policies.evaluate(resolved, {}).allowed).toBe(true);
  });

  it('fails closed when Graph is down: membership unknown, the decision denies and says why', async () => {
    graph.down();
    const resolved = await resolveGroups(identity({ membership: { state: 'overage', signal: 'claim_names' } }), groups(), { claims: V1_OVERAGE_CLAIMS });
    expect(resolved.membership).toMatchObject({ state: 'unknown', code: 'ERR_GRAPH_REQUEST_FAILED' });
    const decision = policies.evaluate(resolved, {});
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toBe('unknown-membership');
  });
});
