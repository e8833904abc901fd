import { describe, expect, it } from 'vitest';
import { cidrContains, formatIp, parseCidr, parseIp } from '../../src/policy/ip.js';

describe('ip parser', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['2001:db8::', '2001:db8:0:0:0:0:0:0'],
    ['2001:DB8:0:0:8:800:200C:417A', '2001:db8:0:0:8:800:200c:417a'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('parses %s', (text, formatted) => {
    const ip = parseIp(text);
    expect(ip).not.toBeNull();
    expect(formatIp(ip as NonNullable<typeof ip>)).toBe(formatted);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', ':::', 'g::1', '1.2.3.4:80'])(
    'refuses %j',
    (text) => {
      expect(parseIp(text)).toBeNull();
    },
  );

  it('matches CIDRs and masks host bits', () => {
    const net = parseCidr('10.1.2.3/8');
    expect(net?.prefix).toBe(104);
    const inside = parseIp('10.255.0.1');
    const outside = parseIp('11.0.0.1');
    expect(net && inside && cidrContains(net, inside)).toBe(true);
    expect(net && outside && cidrContains(net, outside)).toBe(false);
    const all4 = parseCidr('0.0.0.0/0');
    const v6 = parseIp('2001:db8::1');
    expect(all4 && v6 && cidrContains(all4, v6)).toBe(false);
    const all6 = parseCidr('::/0');
    expect(all6 && v6 && cidrContains(all6, v6)).toBe(true);
    const v6net = parseCidr('2001:db8:abcd::/33');
    expect(v6net && cidrContains(v6net, parseIp('2001:db8:8000::1') as NonNullable<ReturnType<typeof parseIp>>)).toBe(true);
    expect(v6net && cidrContains(v6net, parseIp('2001:db9::') as NonNullable<ReturnType<typeof parseIp>>)).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '::/129', '10.0.0.0/8/8', 'x/8'])('refuses CIDR %j', (text) => {
    expect(parseCidr(text)).toBeNull();
  });
});
