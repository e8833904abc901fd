import { describe, expect, it } from 'vitest';
import { claimCheck, claimEquals, claimIncludes, requiredRoles, requiredScopes, scopeIncludesAny, stepUpClaims } from '../../src/index.js';

describe('claim checks (pure)', () => {
  it('requiredScopes reads scp as space-separated whole words; anything but a string is a coded failure', () => {
    const check = requiredScopes('orders.read', 'orders.write');
    expect(check.test({ scp: 'orders.write  orders.read profile' })).toBeUndefined();
    expect(check.test({ scp: 'orders.read' })).toEqual({
      code: 'ERR_INSUFFICIENT_SCOPE',
      message: 'the token lacks the scope `orders.write`',
      scope: 'orders.read orders.write',
    });
    expect(check.test({ scp: 'orders.readorders.write' })?.code).toBe('ERR_INSUFFICIENT_SCOPE');
    for (const scp of [['orders.read', 'orders.write'], 1, null, { 'orders.read': true }]) {
      expect(check.test({ scp })).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', message: 'the token `scp` claim is not a string' });
    }
    expect(check.test({})?.code).toBe('ERR_INSUFFICIENT_SCOPE');
    expect(check.test(undefined)?.code).toBe('ERR_CLAIM_CHECK_FAILED');
  });

  it('scopeIncludesAny needs one of them', () => {
    expect(scopeIncludesAny('a', 'b').test({ scp: 'b' })).toBeUndefined();
    expect(scopeIncludesAny('a', 'b').test({ scp: 'c' })?.scope).toBe('a b');
  });

  it('requiredRoles reads roles as an array of strings; another shape is a coded failure', () => {
    expect(requiredRoles('Orders.Admin').test({ roles: ['Orders.Admin', 'x'] })).toBeUndefined();
    expect(requiredRoles('Orders.Admin').test({ roles: [] })?.code).toBe('ERR_INSUFFICIENT_ROLE');
    for (const roles of ['Orders.Admin', ['Orders.Admin', 1], { length: 1, 0: 'Orders.Admin' }, null]) {
      expect(requiredRoles('Orders.Admin').test({ roles })).toMatchObject({
        code: 'ERR_INSUFFICIENT_ROLE',
        message: 'the token `roles` claim is not an array of strings',
      });
    }
  });

  it('claimEquals is strict and own-property only; claimIncludes reads arrays and space-separated strings', () => {
    expect(claimEquals('ver', '2.0').test({ ver: '2.0' })).toBeUndefined();
    expect(claimEquals('ver', 2).test({ ver: '2' })?.code).toBe('ERR_CLAIM_CHECK_FAILED');
    expect(claimEquals('constructor', 'x').test({})?.code).toBe('ERR_CLAIM_CHECK_FAILED');
    expect(claimIncludes('acrs', 'c1', 'c2').test({ acrs: ['c2', 'c1'] })).toBeUndefined();
    expect(claimIncludes('acrs', 'c1').test({ acrs: ['c2'] })?.code).toBe('ERR_CLAIM_CHECK_FAILED');
    expect(claimIncludes('acrs', 'c1').test({ acrs: { 0: 'c1' } })?.code).toBe('ERR_CLAIM_CHECK_FAILED');
    expect(claimIncludes('wids', 'a').test({ wids: 'a b' })).toBeUndefined();
  });

  it('claimCheck passes only on true: false, truthy non-booleans and throws fail closed', () => {
    expect(claimCheck(() => true).test({})).toBeUndefined();
    for (const fn of [
      () => false,
      () => 1 as unknown as boolean,
      () => 'yes' as unknown as boolean,
      () => {
        throw new Error('x');
      },
    ]) {
      expect(claimCheck(fn, 'mine').test({})).toEqual({ code: 'ERR_CLAIM_CHECK_FAILED', message: 'the token claims fail the check: mine' });
    }
  });

  it('refuses a check without names or with a name no challenge can carry (ConfigError at construction)', () => {
    expect(() => requiredScopes()).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => requiredRoles('a b')).toThrow(/not a scope or role name/);
    expect(() => scopeIncludesAny('a\\b')).toThrow(/not a scope or role name/);
    expect(() => claimIncludes('acrs')).toThrow(/at least one value/);
    expect(requiredScopes('api://x/orders.read').description).toBe('scopes api://x/orders.read');
  });

  it('stepUpClaims: one context is `value`, several `values`, and the ID-token request always `values`', () => {
    expect(stepUpClaims(['c1'])).toEqual({
      accessToken: { access_token: { acrs: { essential: true, value: 'c1' } } },
      idToken: { id_token: { acrs: { essential: true, values: ['c1'] } } },
    });
    expect(stepUpClaims(['c1', 'c2']).accessToken).toEqual({ access_token: { acrs: { essential: true, values: ['c1', 'c2'] } } });
    expect(() => stepUpClaims([])).toThrow(/at least one/);
  });
});
