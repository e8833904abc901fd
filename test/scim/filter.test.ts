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
