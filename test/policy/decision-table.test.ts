import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, explain } from '../../src/policy/index.js';
import { PolicyError } from '../../src/errors/index.js';
import type { AccessPolicy, AccessRuleGroup } from '../../src/policy/types.js';
import type { RequestContext } from '../../src/types.js';
import { makeIdentity, type IdentityShorthand } from './helpers.js';

interface Case {
  description: string;
  variant?: string;
  policiesOverride?: AccessPolicy[];
  identity?: IdentityShorthand | null;
  context?: RequestContext;
  expected?: { allowed: boolean; action: string; policy: string | null; reason: string; sessionDuration?: string };
  expectedError?: { code: string; message: string };
  explainContains?: string;
}

interface Fixture {
  description: string;
  policies: AccessPolicy[];
  groups?: AccessRuleGroup[];
  lists?: Record<string, string[]>;
  variants?: Record<string, AccessPolicy[] | { policies: AccessPolicy[]; groups: AccessRuleGroup[] }>;
  expectedOrder?: string[];
  cases: Case[];
}

const dir = join(import.meta.dirname, '../fixtures/policy');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('access decision table (test/fixtures/policy)', () => {
  it('has fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  for (const file of files) {
    const fixture = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Fixture;
    describe(`${file}: ${fixture.description}`, () => {
      if (fixture.expectedOrder) {
        it('orders the policies as the reference says', () => {
          const compiled = compileAccessPolicies(fixture.policies, { groups: fixture.groups ?? [], lists: fixture.lists ?? {} });
          expect(compiled.order.map((p) => p.name)).toEqual(fixture.expectedOrder);
        });
      }
      for (const c of fixture.cases) {
        it(c.description, () => {
          let policies = fixture.policies;
          let groups = fixture.groups ?? [];
          if (c.variant !== undefined) {
            const v = fixture.variants?.[c.variant];
            if (v === undefined) throw new Error(`fixture variant ${c.variant} is missing`);
            if (Array.isArray(v)) policies = v;
            else ({ policies, groups } = v);
          }
          if (c.policiesOverride) policies = c.policiesOverride;
          const compile = () => compileAccessPolicies(policies, { groups, lists: fixture.lists ?? {} });
          if (c.expectedError) {
            expect(compile).toThrow(PolicyError);
            try {
              compile();
            } catch (err) {
              expect((err as PolicyError).code).toBe(c.expectedError.code);
              expect((err as PolicyError).message).toContain(c.expectedError.message);
            }
            return;
          }
          const identity = c.identity === null ? null : makeIdentity(c.identity);
          const decision = compile().evaluate(identity, c.context ?? {});
          const e = c.expected as NonNullable<Case['expected']>;
          expect({
            allowed: decision.allowed,
            action: decision.action,
            policy: decision.policy?.name ?? null,
            reason: decision.reason,
          }).toEqual({ allowed: e.allowed, action: e.action, policy: e.policy, reason: e.reason });
          if (e.sessionDuration !== undefined) expect(decision.sessionDuration).toBe(e.sessionDuration);
          if (c.explainContains !== undefined) expect(explain(decision)).toContain(c.explainContains);
        });
      }
    });
  }
});
