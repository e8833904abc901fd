import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../../src/errors/index.js';
import { matchesFilter, parseFilter, parsePatchPath } from '../../src/scim/index.js';
import type { JsonObject } from '../../src/store/index.js';

const ada: JsonObject = {
  id: 'ID-1',
  userName: 'Ada@Contoso.com',
  externalId: 'Oid-1',
  active: false,
  emails: [
    { type: 'work', value: 'ada@contoso.com', primary: true },
    { type: 'other', value: 'lovelace@example.com' },
  ],
  roles: [{ primary: true, value: 'Admin' }],
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Math', manager: { value: 'M-1' } },
  meta: { lastModified: '2025-02-01T00:00:00.000Z' },
};

describe('SCIM filters', () => {
  it.each([
    ['userName eq "ada@contoso.com"', true],
    ['USERNAME EQ "ADA@CONTOSO.COM"', true],
    ['externalId eq "oid-1"', false],
    ['externalId eq Oid-1', true],
    ['emails[type eq "work"].value eq "ADA@contoso.com"', true],
    ['emails[type eq "other"].value eq "ada@contoso.com"', false],
    ['emails eq "lovelace@example.com"', true],
    ['emails[type eq "work" and primary eq true]', true],
    ['roles[primary eq "True"].value eq "Admin"', true],
    ['active eq false and not (userName sw "bob")', true],
    ['name.familyName co "love" or userName eq "x"', true],
    ['(userName ew ".com") and (title pr)', false],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "math"', true],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M-1"', true],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@contoso.com"', true],
    ['meta.lastModified gt "2025-01-01T00:00:00Z"', true],
    ['title eq null', true],
    ['externalId eq 00123', false],
    ['userName ne "ada@contoso.com"', false],
  ])('%s → %s', (filter, expected) => {
    expect(matchesFilter(parseFilter(filter), ada)).toBe(expected);
  });

  it.each([
    ['userName eq "x" or 1 eq 1', '`1` is not an attribute path'],
    ['userName eq', 'filter expected a value'],
    ['userName like "x"', 'filter operator `like` is not supported'],
    ['userName eq "x', 'filter has an unterminated string'],
    ['(userName eq "x"', 'filter expected `)`'],
    ['emails[type eq "work" and x[y eq 1]]', 'filter nests a value path inside a value path'],
    ['userName eq "x" garbage', 'filter has unexpected text after the expression'],
    ['constructor eq "x"', '`constructor` is not a permitted attribute name'],
    ['', 'filter is empty'],
  ])('refuses %j with ERR_SCIM_INVALID_FILTER', (filter, message) => {
    const err = (() => {
      try {
        parseFilter(filter);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ScimError);
    expect(err).toMatchObject({ code: 'ERR_SCIM_INVALID_FILTER', status: 400, scimType: 'invalidFilter', message });
  });

  it('parses PATCH paths with filters and URNs, and refuses bad ones with ERR_SCIM_INVALID_PATH', () => {
    expect(parsePatchPath('members[value eq "7f4b"]')).toEqual({ attr: 'members', filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: '7f4b' } });
    expect(parsePatchPath('emails[type eq "work"].value')).toMatchObject({ attr: 'emails', sub: 'value' });
    expect(parsePatchPath('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager')).toEqual({ schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', attr: 'manager' });
    expect(() => parsePatchPath('members[value eq "x"] extra')).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_PATH', message: 'invalid patch path: unexpected text after the path' }));
  });

  it('keeps an unquoted value that is not a canonical number as text (regression: `00123` matched `123`)', () => {
    const user: JsonObject = { externalId: '00123', employeeNumber: '1e3', title: '123' };
    expect(matchesFilter(parseFilter('externalId eq 00123'), user)).toBe(true);
    expect(matchesFilter(parseFilter('externalId eq 123'), user)).toBe(false);
    expect(matchesFilter(parseFilter('employeeNumber eq 1e3'), user)).toBe(true);
    expect(matchesFilter(parseFilter('title eq 123'), user)).toBe(true);
    expect(parseFilter('externalId eq 00123')).toEqual({ kind: 'compare', path: { attr: 'externalId' }, op: 'eq', value: '00123' });
  });

  it('bounds a filter at 64 terms: 64 parse, 65 are refused, wherever they sit', () => {
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `title eq "t${i}"`);
    expect(matchesFilter(parseFilter(terms(64).join(' or ')), { title: 't63' })).toBe(true);
    expect(() => parseFilter(terms(65).join(' or '))).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER', message: 'filter has more than 64 terms' }));
    expect(() => parseFilter(terms(65).join(' and '))).toThrow(expect.objectContaining({ message: 'filter has more than 64 terms' }));
    // Terms inside value paths and under `not` count too; the value path is a term itself.
    expect(() => parseFilter(`emails[${terms(39).join(' or ')}] or not (${terms(25).join(' or ')})`)).toThrow(expect.objectContaining({ message: 'filter has more than 64 terms' }));
    expect(() => parseFilter(`emails[${terms(38).join(' or ')}] or not (${terms(25).join(' or ')})`)).not.toThrow();
  });

  it('bounds nesting at 16 levels: 16 parse, 17 are refused', () => {
    const nested = (n: number) => `${'('.repeat(n)}userName eq "x"${')'.repeat(n)}`;
    expect(matchesFilter(parseFilter(nested(16)), { userName: 'x' })).toBe(true);
    expect(() => parseFilter(nested(17))).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER', message: 'filter nests deeper than 16' }));
    expect(() => parseFilter(`${'not ('.repeat(17)}userName eq "x"${')'.repeat(17)}`)).toThrow(expect.objectContaining({ message: 'filter nests deeper than 16' }));
    expect(parseFilter(`${'not ('.repeat(16)}userName eq "x"${')'.repeat(16)}`)).toMatchObject({ kind: 'not' });
  });

  it('bounds a filter at 4096 characters', () => {
    const at = (n: number) => `userName eq "${'a'.repeat(n - 'userName eq ""'.length)}"`;
    expect(at(4096)).toHaveLength(4096);
    expect(parseFilter(at(4096))).toMatchObject({ kind: 'compare' });
    expect(() => parseFilter(at(4097))).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER', message: 'filter is longer than 4096 characters' }));
  });

  it('`ne` on a multi-valued attribute matches only when no value equals the operand', () => {
    // RFC 7644 §3.4.2.2: a filter on a multi-valued attribute "matches if any of the values …
    // match the specified criterion". entragate reads `ne` as the complement of `eq` over the
    // whole attribute (as pingidentity/scim2's FilterEvaluator does): `emails ne "x"` never
    // selects a user who has `x`, and always agrees with `not (emails eq "x")`.
    const cases: [string, boolean][] = [
      ['emails ne "ada@contoso.com"', false],
      ['emails ne "LOVELACE@example.com"', false],
      ['emails.value ne "lovelace@example.com"', false],
      ['emails ne "nobody@contoso.com"', true],
      ['emails[type eq "work"].value ne "lovelace@example.com"', true],
      ['emails[type eq "other"].value ne "lovelace@example.com"', false],
      ['roles.value ne "Admin"', false],
      ['emails.primary ne true', false],
      ['emails.primary ne false', true],
      ['title ne "x"', true],
    ];
    for (const [filter, expected] of cases) {
      expect(matchesFilter(parseFilter(filter), ada), filter).toBe(expected);
      const negated = filter.replace(/ ne /, ' eq ');
      expect(matchesFilter(parseFilter(`not (${negated})`), ada), negated).toBe(expected);
    }
  });

  it('never throws anything but a ScimError on arbitrary input (property)', () => {
    const pieces = fc.constantFrom('userName', 'emails', '[', ']', '(', ')', '"x"', ' eq ', ' and ', ' or ', 'not', ' pr', '.value', '"', '\\', 'urn:a:b', ' ', '1', 'true', '__proto__');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(pieces, { maxLength: 40 }).map((a) => a.join(''))), (input) => {
        try {
          const f = parseFilter(input);
          expect(typeof matchesFilter(f, ada)).toBe('boolean');
        } catch (err) {
          expect(err).toBeInstanceOf(ScimError);
          expect((err as ScimError).code).toBe('ERR_SCIM_INVALID_FILTER');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a generated `attr eq "value"` round-trips for any string value (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (value) => {
        const f = parseFilter(`userName eq ${JSON.stringify(value)}`);
        expect(matchesFilter(f, { userName: value.toUpperCase() })).toBe(value.toUpperCase().toLowerCase() === value.toLowerCase());
        expect(f).toEqual({ kind: 'compare', path: { attr: 'userName' }, op: 'eq', value });
      }),
    );
  });
});
