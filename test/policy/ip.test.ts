import { describe, expect, it } from 'vitest';
import { cidrContains, cidrHasHostBits, formatIp, parseCidr, parseIp, parseIpRange, rangeContains } from '../../src/policy/ip.js';

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

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '01.2.3.4',
    '1.2.3.-4',
    'a.b.c.d',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fe80::1%eth0',
    ':::',
    'g::1',
    '1.2.3.4:80',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

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

// Edges a mutation run found unproven (issue 12): each case fails when the check it names is removed.
describe('ip parser: edges', () => {
  it('reads upper-case hex up to F and refuses characters below A', () => {
    expect(formatIp(parseIp('FFFF:ABCD::F') as NonNullable<ReturnType<typeof parseIp>>)).toBe('ffff:abcd:0:0:0:0:0:f');
    for (const text of ['1%::', '@::1', '::1:+', 'G::1']) expect(parseIp(text)).toBeNull();
  });

  it('reads an IPv4 tail only as the last group, and refuses a bad one', () => {
    expect(parseIp('::ffff:1.2.3.256')).toBeNull();
    expect(parseIp('::1.2.3.4:5')).toBeNull();
    expect(parseIp('1:2:3:4:5:6:1.2.3.4:8')).toBeNull();
    expect(formatIp(parseIp('0:0:0:0:0:ffff:1.2.3.4') as NonNullable<ReturnType<typeof parseIp>>)).toBe('1.2.3.4');
  });

  it('formats as dotted only an IPv4-mapped address (the first 80 bits zero, then ffff)', () => {
    const show = (text: string): string => formatIp(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>);
    expect(show('ffff:0:0:0:0:ffff:102:304')).toBe('ffff:0:0:0:0:ffff:102:304');
    expect(show('0:0:1:0:0:ffff:102:304')).toBe('0:0:1:0:0:ffff:102:304');
    expect(show('0:0:0:0:0:fffe:102:304')).toBe('0:0:0:0:0:fffe:102:304');
    expect(show('::ffff:102:304')).toBe('1.2.3.4');
  });

  it('cidrHasHostBits: only a CIDR whose address has bits past its prefix', () => {
    expect(cidrHasHostBits('203.0.113.7/24')).toBe(true);
    expect(cidrHasHostBits('203.0.113.0/24')).toBe(false);
    expect(cidrHasHostBits('203.0.113.7')).toBe(false);
    expect(cidrHasHostBits('nope/24')).toBe(false);
    expect(cidrHasHostBits('10.0.0.1/33')).toBe(false);
  });

  it('parseIpRange: two addresses of one family, the first not after the second', () => {
    const range = parseIpRange('10.0.0.5..10.0.0.9');
    expect(range).not.toBeNull();
    const at = (ip: string): boolean => rangeContains(range as NonNullable<typeof range>, parseIp(ip) as NonNullable<ReturnType<typeof parseIp>>);
    expect([at('10.0.0.5'), at('10.0.0.9'), at('10.0.0.4'), at('10.0.0.10'), at('9.255.255.255')]).toEqual([true, true, false, false, false]);
    expect(parseIpRange('10.0.0.5..10.0.0.5')).not.toBeNull();
    for (const text of ['10.0.0.1', '10.0.0.x..10.0.0.9', '10.0.0.1..10.0.0.x', '10.0.0.9..10.0.0.5', '10.0.0.1..::1', '::2..::1', '10.0.0.0/8..10.1.0.0']) {
      expect(parseIpRange(text)).toBeNull();
    }
    expect(parseIpRange(42 as unknown as string)).toBeNull();
  });
});
