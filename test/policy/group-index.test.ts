import { describe, expect, it } from 'vitest';
import { compileAccessPolicies, compileGatewayRules } from '../../src/policy/index.js';
import { GroupIndex, candidatePositions, forEachProbe, hasProbe } from '../../src/policy/group-index.js';
import type { GroupRef } from '../../src/types.js';
import { makeIdentity } from './helpers.js';

function held(index: GroupIndex, groups: readonly unknown[]): number[] {
  const out: number[] = [];
  forEachProbe(index.hits(groups as GroupRef[]), (p) => out.push(p));
  return out;
}

const guid = (i: number): string => `${i.toString(16).padStart(8, '0')}-5feb-48dd-814b-7ccd3676ff${(i % 256).toString(16).padStart(2, '0')}`;

describe('group index', () => {
  it('gives equal tests one probe and sets exactly the bits of the probes that hold, across word boundaries', () => {
    const index = new GroupIndex(true);
    const probes = Array.from({ length: 100 }, (_, i) => index.probe('id', [guid(i)]));
    expect(probes).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(index.probe('id', [guid(7).toUpperCase()])).toBe(7);
    const pair = index.probe('id', [guid(31), guid(32)]);
    index.seal();
    expect(index.size).toBe(101);
    const groups = [0, 31, 32, 63, 64, 99, 1000].map((i) => ({ id: guid(i) }));
    expect(held(index, groups)).toEqual([0, 31, 32, 63, 64, 99, pair]);
    expect(hasProbe(index.hits(groups), 33)).toBe(false);
  });

  it('compares case-insensitively when asked, non-ASCII and Unicode case mappings included', () => {
    const index = new GroupIndex(true);
    const ascii = index.probe('id', ['86773093-5FEB-48dd-814b-7ccd3676ff50']);
    const umlautHead = index.probe('id', ['ÄBC-group']);
    const umlautTail = index.probe('id', ['group-Ä']);
    // U+212A KELVIN SIGN lower-cases to an ASCII `k`; U+0130 to two code units.
    const kelvin = index.probe('id', ['group-k']);
    const dotted = index.probe('id', ['İstanbul-group']);
    index.seal();
    expect(held(index, [{ id: '86773093-5feb-48DD-814B-7CCD3676FF50' }])).toEqual([ascii]);
    expect(held(index, [{ id: 'äbc-GROUP' }])).toEqual([umlautHead]);
    expect(held(index, [{ id: 'GROUP-ä' }])).toEqual([umlautTail]);
    expect(held(index, [{ id: 'GROUP-\u212A' }])).toEqual([kelvin]);
    expect(held(index, [{ id: 'İSTANBUL-GROUP' }])).toEqual([dotted]);
  });

  it('never answers from the filter alone: values that fold alike but differ do not match', () => {
    const index = new GroupIndex(true);
    // `@` and a backtick fold to the same filter character.
    const probe = index.probe('id', ['team@']);
    index.seal();
    expect(held(index, [{ id: 'team`' }])).toEqual([]);
    expect(held(index, [{ id: 'TEAM@' }])).toEqual([probe]);
  });

  it('compares bytes exactly when not case-insensitive, per field', () => {
    const index = new GroupIndex(false);
    const name = index.probe('name', ['Finance']);
    const email = index.probe('email', ['fin@example.com']);
    index.seal();
    expect(held(index, [{ id: 'x', name: 'finance' }])).toEqual([]);
    expect(held(index, [{ id: 'x', name: 'Finance' }])).toEqual([name]);
    // The name of one group never answers for the email field.
    expect(held(index, [{ id: 'x', name: 'fin@example.com' }])).toEqual([]);
    expect(held(index, [{ id: 'x', email: 'fin@example.com' }])).toEqual([email]);
  });

  it('skips malformed groups (and groups without a string id) without throwing', () => {
    const index = new GroupIndex(false);
    const probe = index.probe('name', ['finance']);
    index.seal();
    expect(held(index, [null, 1, 'finance', { id: 5, name: 'finance' }, { name: 'finance' }, { id: 'g', name: 7 }])).toEqual([]);
    expect(held(index, [{ id: 'g', name: 'finance' }])).toEqual([probe]);
    expect(index.hits('not an array' as never)).toHaveLength(1);
  });

  it('shares one zero bitset when nothing holds (no allocation per identity)', () => {
    const index = new GroupIndex(true);
    index.probe('id', ['a']);
    index.seal();
    expect(index.hits([{ id: 'b' }])).toBe(index.hits([{ id: 'c' }]));
    expect(index.hits([{ id: 'a' }])).not.toBe(index.hits([{ id: 'c' }]));
  });

  it('merges candidate positions in order without duplicates', () => {
    const hits = new Uint32Array(2);
    hits[0] = (1 << 1) | (1 << 3);
    hits[1] = 1 << 1; // probe 33
    const byProbe: (number[] | undefined)[] = [];
    byProbe[1] = [4, 9];
    byProbe[3] = [9, 2];
    byProbe[33] = [7];
    expect([...candidatePositions(Int32Array.of(0, 5, 8), byProbe, hits)]).toEqual([0, 2, 4, 5, 7, 8, 9]);
    const always = Int32Array.of(1);
    expect(candidatePositions(always, [], hits)).toBe(always);
  });
});

describe('group index in the evaluators (regressions of the per-identity Set it replaced)', () => {
  const ids = Array.from({ length: 70 }, (_, i) => guid(i));

  it('access: a group named past the first 32 probes matches, in any case, for fresh identity objects', () => {
    const policies = ids.map((id, i) => ({ name: `p${i}`, decision: 'allow' as const, include: [{ azureAD: { id: id.toUpperCase() } }] }));
    const compiled = compileAccessPolicies(policies);
    for (const i of [0, 31, 32, 64, 69]) {
      const d = compiled.evaluate(makeIdentity({ groups: [ids[i] as string, guid(500)] }), {});
      expect(d).toMatchObject({ allowed: true, policy: { name: `p${i}` } });
    }
    expect(compiled.evaluate(makeIdentity({ groups: [guid(500)] }), {})).toMatchObject({ allowed: false, reason: 'default' });
  });

  it('access: require and exclude rules and rule groups read the same probes', () => {
    const [a, b, c] = ids as [string, string, string];
    const compiled = compileAccessPolicies(
      [{ name: 'p', decision: 'allow', include: [{ everyone: {} }], require: [{ group: { id: 'rg' } }], exclude: [{ azureAD: { id: c } }] }],
      { groups: [{ id: 'rg', name: 'RG', include: [{ azureAD: { id: a } }], require: [{ azureAD: { id: b } }] }] },
    );
    expect(compiled.evaluate(makeIdentity({ groups: [a, b] }), {}).allowed).toBe(true);
    expect(compiled.evaluate(makeIdentity({ groups: [a] }), {}).allowed).toBe(false);
    expect(compiled.evaluate(makeIdentity({ groups: [a, b, c.toUpperCase()] }), {}).allowed).toBe(false);
  });

  it('gateway: probes per field, exact bytes, past the first 32 probes, and under not()', () => {
    const rules = ids.map((id, i) => ({ name: `r${i}`, action: 'block' as const, precedence: i + 1, identity: `any(identity.groups.id[*] in {"${id}"})` }));
    rules.push({ name: 'names', action: 'block', precedence: 100, identity: 'any(identity.groups.name[*] == "Finance")' });
    rules.push({ name: 'not-eng', action: 'block', precedence: 101, identity: 'not(any(identity.groups.email[*] in {"eng@example.com"}))' });
    const compiled = compileGatewayRules(rules);
    const decide = (groups: { id: string; name?: string; email?: string }[]): string | undefined =>
      compiled.evaluate(makeIdentity({ groups }), {}).policy?.name;
    expect(decide([{ id: ids[40] as string, email: 'eng@example.com' }])).toBe('r40');
    expect(decide([{ id: (ids[40] as string).toUpperCase(), email: 'eng@example.com' }])).toBeUndefined();
    expect(decide([{ id: guid(500), name: 'Finance' }])).toBe('names');
    expect(decide([{ id: guid(500), name: 'finance', email: 'eng@example.com' }])).toBeUndefined();
    expect(decide([{ id: guid(500), name: 'finance' }])).toBe('not-eng');
  });

  it('the per-identity cache gives each identity its own view, whatever the interleaving and recurrence', () => {
    const policies = ids.map((id, i) => ({ name: `p${i}`, decision: 'allow' as const, include: [{ azureAD: { id } }] }));
    const compiled = compileAccessPolicies(policies);
    // 40 identities, each in its own group; visited in patterns that hit the last-used slot, the
    // ring of recent identities (second sight), the long-lived map (later sights) and misses.
    const people = Array.from({ length: 40 }, (_, i) => makeIdentity({ email: `u${i}@example.com`, groups: [ids[i] as string] }));
    const order = [0, 0, 1, 0, 1, 2, ...Array.from({ length: 40 }, (_, i) => i), ...Array.from({ length: 40 }, (_, i) => 39 - i), 5, 5, 17, 3, 39, 0];
    for (const i of order) {
      expect(compiled.evaluate(people[i]!, {}).policy?.name).toBe(`p${i}`);
      // A fresh copy of someone else in between never leaks into a cached identity.
      expect(compiled.evaluate({ ...people[(i + 1) % 40]!, groups: [] }, {}).allowed).toBe(false);
    }
  });
});
