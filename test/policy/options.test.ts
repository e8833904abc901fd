/** The compile options, validated by hand in the pure core (no zod): defaults, and every refusal coded. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { resolveAccessOptions, resolveGatewayOptions } from '../../src/policy/options.js';

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('policy compile options', () => {
  it('fills in the defaults and keeps valid values (positive control)', () => {
    expect(resolveAccessOptions(undefined)).toEqual({ groups: [], lists: new Map(), maxGroupDepth: 32, authContexts: false });
    const a = resolveAccessOptions({ maxGroupDepth: 256, authContexts: true, lists: { vips: ['a@x'] } });
    expect([a.maxGroupDepth, a.authContexts, a.lists.get('vips')]).toEqual([256, true, ['a@x']]);
    const g = resolveGatewayOptions({ defaultAction: 'block', filter: 'http', groupFields: ['id'], maxExpressionDepth: 1 });
    expect(g).toMatchObject({
      defaultAction: 'block',
      filter: 'http',
      groupFields: ['id'],
      maxExpressionDepth: 1,
      maxExpressionLength: 8192,
      matchExtendedEmail: false,
    });
    expect(resolveGatewayOptions({}).groupFields).toEqual(['id', 'name', 'email']);
  });

  it('reads a list named `__proto__` as a list, never as the prototype', () => {
    const lists = resolveGatewayOptions(JSON.parse('{"lists":{"__proto__":["x"],"constructor":["y"]}}')).lists;
    expect([lists.get('__proto__'), lists.get('constructor'), lists.get('toString')]).toEqual([['x'], ['y'], undefined]);
  });

  it.each([
    ['an unknown key', () => resolveAccessOptions({ extra: true }), 'Unrecognized key: "extra"'],
    ['options that are not an object', () => resolveGatewayOptions('x'), 'expected object'],
    ['a depth out of range', () => resolveAccessOptions({ maxGroupDepth: 0 }), 'maxGroupDepth'],
    ['a depth that is not an integer', () => resolveAccessOptions({ maxGroupDepth: 1.5 }), 'expected int'],
    ['a boolean that is a string', () => resolveAccessOptions({ authContexts: 'true' }), 'authContexts'],
    ['a list that is not an array of strings', () => resolveAccessOptions({ lists: { l: 'a@x' } }), 'lists.l'],
    ['an empty list id', () => resolveGatewayOptions({ lists: { '': [] } }), 'lists'],
    ['an unknown action', () => resolveGatewayOptions({ defaultAction: 'deny' }), 'defaultAction'],
    ['an unknown group field', () => resolveGatewayOptions({ groupFields: ['upn'] }), 'groupFields[0]'],
  ])('refuses %s with ERR_CONFIG_INVALID', (_, run, message) => {
    const error = refusal(run);
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.message).toMatch(/^invalid (access policy|gateway rule) configuration:\n✖ /);
    expect(error.message).toContain(message);
  });
});
