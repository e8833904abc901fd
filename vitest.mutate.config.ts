import process from 'node:process';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests `npm run mutate` runs against each mutant: the unit tests of the security core (token, policy, SCIM
 * filter). The end-to-end suites (adapters, attacks, login, store) reach this code too, but they start servers and
 * databases and would make each mutant cost minutes on a shared 2-core machine; the score is that of the core's own
 * tests, a lower bound of the whole suite's. (`include` is replaced, not merged: `mergeConfig` would append it.)
 */
// Property tests run a tenth of their cases against each mutant (test/policy/runs.ts); the ordinary suite runs them all.
process.env['ENTRAGATE_PROPERTY_SCALE'] ??= '0.1';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    // `ENTRAGATE_MUTATE_TESTS=test/policy/**/*.test.ts npx stryker run --mutate src/policy/…` narrows it per scope.
    include: process.env['ENTRAGATE_MUTATE_TESTS']?.split(',') ?? ['test/token/**/*.test.ts', 'test/policy/**/*.test.ts', 'test/scim/filter.test.ts'],
    // The machine is shared and loaded: a mock server that resets a connection must not fail the dry run
    // (nor count as a kill); a mutant that breaks a check fails on the retry too.
    retry: 1,
    reporters: ['default'],
    outputFile: {},
  },
});
