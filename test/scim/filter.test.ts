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
    expect(parsePatchPath('members[value eq "7f4b"]')).toEqual({
      attr: 'members',
      filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: '7f4b' },
    });
    expect(parsePatchPath('emails[type eq "work"].value')).toMatchObject({ attr: 'emails', sub: 'value' });
    expect(parsePatchPath('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager')).toEqual({
      schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      attr: 'manager',
    });
    expect(() => parsePatchPath('members[value eq "x"] extra')).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_INVALID_PATH', message: 'invalid patch path: unexpected text after the path' }),
    );
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
    expect(() => parseFilter(terms(65).join(' or '))).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER', message: 'filter has more than 64 terms' }),
    );
    expect(() => parseFilter(terms(65).join(' and '))).toThrow(expect.objectContaining({ message: 'filter has more than 64 terms' }));
    // Terms inside value paths and under `not` count too; the value path is a term itself.
    expect(() => parseFilter(`emails[${terms(39).join(' or ')}] or not (${terms(25).join(' or ')})`)).toThrow(
      expect.objectContaining({ message: 'filter has more than 64 terms' }),
    );
    expect(() => parseFilter(`emails[${terms(38).join(' or ')}] or not (${terms(25).join(' or ')})`)).not.toThrow();
  });

  it('bounds nesting at 16 levels: 16 parse, 17 are refused', () => {
    const nested = (n: number) => `${'('.repeat(n)}userName eq "x"${')'.repeat(n)}`;
    expect(matchesFilter(parseFilter(nested(16)), { userName: 'x' })).toBe(true);
    expect(() => parseFilter(nested(17))).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER', message: 'filter nests deeper than 16' }));
    expect(() => parseFilter(`${'not ('.repeat(17)}userName eq "x"${')'.repeat(17)}`)).toThrow(
      expect.objectContaining({ message: 'filter nests deeper than 16' }),
    );
    expect(parseFilter(`${'not ('.repeat(16)}userName eq "x"${')'.repeat(16)}`)).toMatchObject({ kind: 'not' });
  });

  it('counts the nesting inside a value path from the value path: 15 levels there parse, 16 are refused', () => {
    const inPath = (n: number) => `emails[${'('.repeat(n)}type eq "work"${')'.repeat(n)}]`;
    expect(matchesFilter(parseFilter(inPath(15)), ada)).toBe(true);
    expect(() => parseFilter(inPath(16))).toThrow(expect.objectContaining({ message: 'filter nests deeper than 16' }));
    expect(() => parseFilter(`(${inPath(15)})`)).toThrow(expect.objectContaining({ message: 'filter nests deeper than 16' }));
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
    const pieces = fc.constantFrom(
      'userName',
      'emails',
      '[',
      ']',
      '(',
      ')',
      '"x"',
      ' eq ',
      ' and ',
      ' or ',
      'not',
      ' pr',
      '.value',
      '"',
      '\\',
      'urn:a:b',
      ' ',
      '1',
      'true',
      '__proto__',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.array(pieces, { maxLength: 40 }).map((a) => a.join('')),
        ),
        (input) => {
          try {
            const f = parseFilter(input);
            expect(typeof matchesFilter(f, ada)).toBe('boolean');
          } catch (err) {
            expect(err).toBeInstanceOf(ScimError);
            expect((err as ScimError).code).toBe('ERR_SCIM_INVALID_FILTER');
          }
        },
      ),
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

describe('SCIM filter evaluation, operator by operator (RFC 7644 §3.4.2.2)', () => {
  const EXT = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
  const user: JsonObject = {
    id: 'ID-1',
    userName: 'bea@contoso.com',
    title: 'Engineer',
    nickName: '',
    active: true,
    emails: [{ type: 'work', value: 'Bea@Contoso.com', primary: true }, { type: 'home' }],
    members: [{ value: 'U1', type: 'User' }],
    name: { givenName: 'Bea', alias: ['Bee', 'B'] },
    empties: [[], {}, ''],
    holder: [[1]],
    [EXT]: { level: 5, score: 0, tags: ['a', 'b'], missing: null },
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { manager: { value: 'M-1' } },
  };
  it.each([
    // strings compare case-insensitively, except RFC 7643's caseExact attributes
    ['title co "gine"', true],
    ['title co "xyz"', false],
    ['title sw "ENG"', true],
    ['title sw "neer"', false],
    ['title ew "NEER"', true],
    ['title ew "Eng"', false],
    ['title gt "engineer"', false],
    ['title gt "engine"', true],
    ['title ge "engineer"', true],
    ['title ge "f"', false],
    ['title lt "engineer"', false],
    ['title lt "f"', true],
    ['title le "engineer"', true],
    ['title le "e"', false],
    ['id eq "id-1"', false],
    ['id eq "ID-1"', true],
    ['members.value eq "u1"', false],
    ['members.value eq "U1"', true],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1"', false],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M-1"', true],
    // booleans: equal or not, the operand as a literal or as Entra's strings
    ['active eq true', true],
    ['active eq "True"', true],
    ['active eq "false"', false],
    ['active eq false', false],
    ['active eq "maybe"', false],
    ['active ne "maybe"', true],
    ['active gt false', false],
    ['active gt true', false],
    ['active co "true"', false],
    ['active eq 1', false],
    // numbers (a custom extension keeps them as sent)
    [`${EXT}:level eq 5`, true],
    [`${EXT}:level eq "5"`, true],
    [`${EXT}:level eq 4`, false],
    [`${EXT}:level gt 4`, true],
    [`${EXT}:level gt 5`, false],
    [`${EXT}:level ge 5`, true],
    [`${EXT}:level ge 6`, false],
    [`${EXT}:level lt 6`, true],
    [`${EXT}:level lt 5`, false],
    [`${EXT}:level le 5`, true],
    [`${EXT}:level le 4`, false],
    [`${EXT}:level co "5"`, false],
    [`${EXT}:level eq "five"`, false],
    [`${EXT}:level ne "five"`, true],
    [`${EXT}:score eq ""`, false],
    [`${EXT}:score eq " "`, false],
    [`${EXT}:score eq true`, false],
    [`${EXT}:score eq 0`, true],
    // other types never match a comparison
    ['name eq "Bea"', false],
    ['name ne "Bea"', true],
    // null operands: `eq null` is "absent or empty", `ne null` is "present"; ordering never matches
    ['title eq null', false],
    ['title ne null', true],
    ['nickName eq null', true],
    ['nickName ne null', false],
    ['title gt null', false],
    ['profileUrl eq null', true],
    [`${EXT}:missing eq null`, true],
    // presence: empty strings, arrays and objects are not values
    ['title pr', true],
    ['nickName pr', false],
    ['profileUrl pr', false],
    ['empties pr', false],
    ['holder pr', true],
    ['name pr', true],
    ['name.alias eq "b"', true],
    ['name.alias pr', true],
    ['name.middleName pr', false],
    [`${EXT}:tags eq "B"`, true],
    [`${EXT}:nope pr`, false],
    ['urn:ietf:params:scim:schemas:extension:other:2.0:User:level pr', false],
    ['emails.type pr', true],
    ['emails.display pr', false],
    // value paths: the element filter, then `has` (some element matches)
    ['emails[type eq "home"]', true],
    ['emails[type eq "other"]', false],
    ['emails[type eq "home"].value pr', false],
    ['emails[type eq "work"].value ew "@contoso.com"', true],
    ['emails[type eq "work"] eq "bea@contoso.com"', true],
    ['emails[type eq "work"] pr', true],
    ['emails[type eq "work"] and title pr', true],
    ['emails[type eq "other"] or title eq "x"', false],
    // logic
    ['title eq "x" or userName eq "y"', false],
    ['title eq "x" or userName eq "bea@contoso.com"', true],
    ['title pr and userName eq "y"', false],
    ['not (title pr)', false],
    ['not (title eq "x")', true],
  ])('%s → %s', (filter, expected) => {
    expect(matchesFilter(parseFilter(filter), user)).toBe(expected);
  });

  it("reads Entra's boolean strings in any case, for false as for true", () => {
    for (const operand of ['"False"', '"false"', '"FALSE"', 'false'])
      expect(matchesFilter(parseFilter(`active eq ${operand}`), { active: false }), operand).toBe(true);
    for (const operand of ['"True"', 'true']) expect(matchesFilter(parseFilter(`active eq ${operand}`), { active: false }), operand).toBe(false);
  });

  it('reads exotic shapes without throwing: nulls in arrays, arrays of values, a schema that is not an object, exact key before case-folded key', () => {
    expect(matchesFilter(parseFilter('emails eq "x"'), { emails: [null, 'x'] })).toBe(true);
    expect(matchesFilter(parseFilter('emails.value pr'), { emails: [null, { value: 'x' }] })).toBe(true);
    expect(matchesFilter(parseFilter('emails.value eq null'), { emails: [{ value: null }] })).toBe(true);
    expect(matchesFilter(parseFilter('emails.value eq null'), { emails: [{ value: 'x' }] })).toBe(false);
    expect(matchesFilter(parseFilter('emails pr'), { emails: [{}] })).toBe(false);
    expect(matchesFilter(parseFilter('emails pr'), { emails: [{ type: 'work' }] })).toBe(true);
    expect(matchesFilter(parseFilter('title pr'), { title: null })).toBe(false);
    expect(matchesFilter(parseFilter('title eq null'), { title: null })).toBe(true);
    expect(matchesFilter(parseFilter('urn:x:y:2.0:User:level pr'), {})).toBe(false);
    expect(matchesFilter(parseFilter('urn:x:y:2.0:User:level pr'), { 'urn:x:y:2.0:User': 'text' })).toBe(false);
    expect(matchesFilter(parseFilter('userName eq "b"'), { UserName: 'a', userName: 'b' })).toBe(true);
    expect(matchesFilter(parseFilter('USERNAME eq "a"'), { UserName: 'a', userName: 'b' })).toBe(true);
  });

  it('resolves a core-schema URN only when it names the core schema exactly', () => {
    expect(matchesFilter(parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:title pr'), user)).toBe(true);
    expect(matchesFilter(parseFilter('URN:IETF:params:scim:schemas:core:2.0:group:title pr'), user)).toBe(true);
    expect(matchesFilter(parseFilter('urn:ietf:params:scim:schemas:core:2.0:Users:title pr'), user)).toBe(false);
    expect(matchesFilter(parseFilter('urn:acme:urn:ietf:params:scim:schemas:core:2.0:User:title pr'), user)).toBe(false);
  });
});

describe('SCIM filter parsing edges', () => {
  const refuse = (filter: string) => {
    try {
      parseFilter(filter);
    } catch (err) {
      return err as ScimError;
    }
    throw new Error(`parsed: ${filter}`);
  };

  it('separates tokens on spaces, tabs, newlines and carriage returns', () => {
    expect(parseFilter('userName\teq\n"x"\rand\r\ntitle  pr')).toStrictEqual({
      kind: 'and',
      left: { kind: 'compare', path: { attr: 'userName' }, op: 'eq', value: 'x' },
      right: { kind: 'present', path: { attr: 'title' } },
    });
  });

  it('reads every operator in any case, and unquoted literals as JSON would', () => {
    for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']) {
      expect(parseFilter(`title ${op.toUpperCase()} "x"`)).toMatchObject({ kind: 'compare', op });
    }
    expect(parseFilter('title PR')).toStrictEqual({ kind: 'present', path: { attr: 'title' } });
    const value = (literal: string) => (parseFilter(`x eq ${literal}`) as { value: unknown }).value;
    expect(value('TRUE')).toBe(true);
    expect(value('False')).toBe(false);
    expect(value('NULL')).toBe(null);
    expect(value('123')).toBe(123);
    expect(value('-1.25')).toBe(-1.25);
    expect(value('1e+21')).toBe(1e21);
    expect(value('1e-7')).toBe(1e-7);
    expect(value('1e3')).toBe('1e3');
    expect(value('12a')).toBe('12a');
    expect(value('--1')).toBe('--1');
    // A quoted literal is always text.
    expect(value('"123"')).toBe('123');
    expect(value('"true"')).toBe('true');
    expect(value('"null"')).toBe('null');
  });

  it('builds a value path as `has`, or as a comparison or presence on the element values', () => {
    const work = { kind: 'compare', path: { attr: 'type' }, op: 'eq', value: 'work' };
    expect(parseFilter('emails[type eq "work"]')).toStrictEqual({ kind: 'has', path: { attr: 'emails', filter: work } });
    expect(parseFilter('emails[type eq "work"] or title pr')).toStrictEqual({
      kind: 'or',
      left: { kind: 'has', path: { attr: 'emails', filter: work } },
      right: { kind: 'present', path: { attr: 'title' } },
    });
    expect(parseFilter('emails[type eq "work"] EQ "x"')).toStrictEqual({ kind: 'compare', path: { attr: 'emails', filter: work }, op: 'eq', value: 'x' });
    expect(parseFilter('emails[type eq "work"] Pr')).toStrictEqual({ kind: 'present', path: { attr: 'emails', filter: work } });
    expect(parseFilter('emails[type eq "work"].value sw "a"')).toStrictEqual({
      kind: 'compare',
      path: { attr: 'emails', filter: work, sub: 'value' },
      op: 'sw',
      value: 'a',
    });
    expect(refuse('emails[type eq "work"] ("x")')).toMatchObject({ message: 'filter has unexpected text after the expression' });
  });

  it.each([
    ['("x")', 'filter expected an attribute path'],
    ['"x" eq "y"', 'filter expected an attribute path'],
    ['userName', 'filter expected an operator'],
    ['emails[type eq "work"].value', 'filter expected an operator'],
    ['emails[type eq "work"].value and title pr', 'filter operator `and` is not supported'],
    ['userName (', 'filter expected an operator'],
    ['userName eq (', 'filter expected a value'],
    ['userName eq "\\q"', 'filter has an invalid escape in a string'],
    ['userName eq "a\\u0000b"', 'filter has a NUL character or an unpaired surrogate in a string'],
    ['userName eq a\u0000b', 'filter has a NUL character or an unpaired surrogate'],
    ['1abc eq "x"', '`1abc` is not an attribute path'],
    ['ab!c eq "x"', '`ab!c` is not an attribute path'],
    ['name.1bad eq "x"', '`name.1bad` is not an attribute path'],
    ['name.bad! eq "x"', '`name.bad!` is not an attribute path'],
    ['.__proto__ eq "x"', '`.__proto__` is not a permitted attribute name'],
    ['name.givenName[type eq "x"]', '`name.givenName` cannot take a value filter'],
    ['emails[type eq "work"].1x eq "a"', '`.1x` is not a sub-attribute'],
    ['emails[type eq "work"].prototype eq "a"', '`.prototype` is not a sub-attribute'],
    ['not userName eq "x"', 'filter expected `(`'],
    [`title ${'abcdefghij'.repeat(3)} "x"`, 'filter operator `abcdefghijabcdefghij` is not supported'],
    [`${'a'.repeat(120)}.constructor eq "x"`, `\`${'a'.repeat(100)}\` is not a permitted attribute name`],
    [`${'a'.repeat(120)}.1x eq "x"`, `\`${'a'.repeat(100)}\` is not an attribute path`],
    [`name.givenName${'b'.repeat(100)}[type eq "x"]`, `\`name.givenName${'b'.repeat(86)}\` cannot take a value filter`],
    [`emails[type eq "w"].${'c'.repeat(100)}! eq "x"`, `\`.${'c'.repeat(99)}\` is not a sub-attribute`],
  ])('refuses %j: %s', (filter, message) => {
    expect(refuse(filter)).toMatchObject({ code: 'ERR_SCIM_INVALID_FILTER', status: 400, scimType: 'invalidFilter', message });
  });

  it('parses PATCH paths to exactly the documented shape, and refuses empty and over-long ones with invalidPath', () => {
    expect(parsePatchPath('members[value eq "7f4b"]')).toStrictEqual({
      attr: 'members',
      filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: '7f4b' },
    });
    expect(parsePatchPath('name.givenName')).toStrictEqual({ attr: 'name', sub: 'givenName' });
    expect(parsePatchPath('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager')).toStrictEqual({
      schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      attr: 'manager',
    });
    expect(parsePatchPath('urn:ietf:params:scim:schemas:core:2.0:User:title')).toStrictEqual({ attr: 'title' });
    const pathError = (input: string) => {
      try {
        parsePatchPath(input);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    expect(pathError('')).toMatchObject({ code: 'ERR_SCIM_INVALID_PATH', status: 400, scimType: 'invalidPath', message: 'invalid patch path: path is empty' });
    expect(pathError('a'.repeat(4097))).toMatchObject({
      code: 'ERR_SCIM_INVALID_PATH',
      scimType: 'invalidPath',
      message: 'invalid patch path: path is longer than 4096 characters',
    });
    expect(pathError('a'.repeat(4096))).toBeUndefined();
    expect(pathError('title eq "x"')).toMatchObject({ scimType: 'invalidPath', message: 'invalid patch path: unexpected text after the path' });
  });
});
