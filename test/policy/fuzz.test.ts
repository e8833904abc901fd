import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGatewayRules } from '../../src/policy/index.js';
import { PolicyError } from '../../src/errors/index.js';
import { arbGatewayExpression, arbIdentity } from '../../src/testing/arbitraries.js';
import { runs } from './runs.js';

const CODES = new Set(['ERR_EXPRESSION_SYNTAX', 'ERR_EXPRESSION_TYPE', 'ERR_EXPRESSION_REGEX', 'ERR_POLICY_GROUP_MISSING']);
const TOKENS = [
  'identity.email',
  'identity.name',
  'identity.groups.id',
  'identity.groups',
  '.id',
  '[*]',
  '[',
  ']',
  '*',
  'any(',
  'all(',
  '(',
  ')',
  ' and ',
  ' or ',
  ' xor ',
  ' not ',
  '!',
  '&&',
  '||',
  '^^',
  '==',
  '!=',
  ' eq ',
  ' in ',
  ' contains ',
  ' matches ',
  '~',
  '>=',
  '<',
  '{',
  '}',
  ',',
  '$list',
  '"a"',
  'net.src.ip',
  'net.src.geo.country',
  '10.0.0.0/8',
  '::1',
  '2001:db8::/129',
  '1.2.3.4',
  '"',
  '\\',
  '\\x4',
  '\\777',
  'r#"',
  '"#',
  'r"',
  '(a+)+$',
  '(?i)',
  '\\1',
  '(?=',
  ' ',
  '\n',
  '\t',
  'é',
  '\u0000',
];

const anyEvaluation = fc.option(arbIdentity(), { nil: null });

/** Compiles the fuzzed expression in an allow rule behind a block default; returns the decision or the error. */
function attempt(expression: string): { error?: unknown; compiled?: ReturnType<typeof compileGatewayRules> } {
  try {
    return {
      compiled: compileGatewayRules([{ name: 'fuzz', action: 'allow', precedence: 1, identity: expression }], {
        defaultAction: 'block',
        maxExpressionLength: 512,
        lists: { list: ['a'] },
      }),
    };
  } catch (error) {
    return { error };
  }
}

function checkError(error: unknown): void {
  expect(error).toBeInstanceOf(PolicyError);
  const e = error as PolicyError;
  expect(CODES.has(e.code)).toBe(true);
  if (e.code === 'ERR_EXPRESSION_SYNTAX' && !e.message.startsWith('expression is longer')) {
    expect(e.message).toMatch(/ at \d+(: found .+)?: rules\[0\] `fuzz`\.identity$/);
  }
  if (e.code === 'ERR_EXPRESSION_TYPE' || e.code === 'ERR_EXPRESSION_REGEX') expect(e.message).toMatch(/ at \d+: rules\[0\] `fuzz`\.identity$/);
}

function checkOutcome(expression: string, identity: ReturnType<typeof anyEvaluation extends fc.Arbitrary<infer T> ? () => T : never>): void {
  const { error, compiled } = attempt(expression);
  if (error !== undefined) {
    // INVARIANT: what does not parse yields no evaluator, so nothing is allowed.
    checkError(error);
    expect(compiled).toBeUndefined();
    return;
  }
  const d = (compiled as NonNullable<typeof compiled>).evaluate(identity, {});
  expect(['allow', 'block']).toContain(d.action);
  expect(typeof d.trace.length).toBe('number');
}

describe('expression fuzzing', () => {
  it('random token soup parses or fails with a coded, positioned PolicyError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join('')),
        anyEvaluation,
        (expression, identity) => {
          checkOutcome(expression, identity);
        },
      ),
      runs(3000),
    );
  });

  it('random strings parse or fail with a coded PolicyError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), anyEvaluation, (expression, identity) => {
        checkOutcome(expression, identity);
      }),
      runs(2000),
    );
  });

  it('mutated valid expressions parse or fail with a coded PolicyError', () => {
    const mutated = fc
      .tuple(arbGatewayExpression(), fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...TOKENS)), { minLength: 1, maxLength: 4 }))
      .map(([source, edits]) => {
        let s = source;
        for (const [at, kind, token] of edits) {
          const i = s.length === 0 ? 0 : at % s.length;
          if (kind === 0) s = s.slice(0, i) + s.slice(i + 1);
          else if (kind === 1) s = s.slice(0, i) + token + s.slice(i);
          else if (kind === 2) s = s.slice(0, i) + token + s.slice(i + token.length);
          else s = s.slice(0, i);
        }
        return s;
      });
    fc.assert(
      fc.property(mutated, anyEvaluation, (expression, identity) => {
        checkOutcome(expression, identity);
      }),
      runs(3000),
    );
  });

  it('generated valid expressions always compile', () => {
    fc.assert(
      fc.property(arbGatewayExpression({ depth: 4 }), (expression) => {
        const rules = compileGatewayRules([{ name: 'gen', action: 'allow', precedence: 1, identity: expression }], { maxExpressionLength: 100_000 });
        expect(rules.order).toHaveLength(1);
      }),
      runs(1000),
    );
  });

  it('hostile sizes are refused quickly by the bounds', () => {
    for (const hostile of ['('.repeat(100_000), 'not '.repeat(50_000), `identity.email in {${'"a" '.repeat(50_000)}}`, '"'.repeat(100_000)]) {
      const { error } = attempt(hostile);
      checkError(error);
    }
  });
});
