/**
 * Tests that kill the mutants a StrykerJS run (issue 12, `npm run mutate`) left alive in the Access rule
 * files: each guards one check at its boundary, beside the rule that passes it (see docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { compileAccessPolicies } from '../../src/policy/index.js';
import type { AccessRule } from '../../src/policy/types.js';
import { makeIdentity, thrown } from './helpers.js';

const allow = (rule: AccessRule, options: object = {}) => compileAccessPolicies([{ name: 'p', decision: 'allow', include: [rule] }], options);

describe('auth_context: `ac_id` is exactly `c1`…`c99`', () => {
  const withAcrs = (acrs: string[]) => ({ ...makeIdentity(), acrs });

  it('accepts every id from c1 to c99 and matches it (the positive control)', () => {
    for (const acId of ['c1', 'c9', 'c10', 'c19', 'c90', 'c99']) {
      const p = allow({ auth_context: { ac_id: acId } }, { authContexts: true });
      expect(p.evaluate(withAcrs([acId]), {}).allowed).toBe(true);
      expect(p.evaluate(withAcrs(['c100']), {}).allowed).toBe(false);
    }
  });

  it('refuses ids outside the range, with text around them, or in another case', () => {
    for (const acId of ['c0', 'c00', 'c01', 'c100', 'c999', 'xc1', 'c1x', ' c1', 'c1 ', 'C1', 'c', 'cc1', 'c1\n']) {
      const err = thrown(() => allow({ auth_context: { ac_id: acId } }, { authContexts: true }));
      expect(err.code).toBe('ERR_POLICY_INVALID');
      expect(err.message).toContain('is not an authentication context id');
    }
  });
});
