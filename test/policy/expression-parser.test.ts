import { describe, expect, it } from 'vitest';
import { parseExpression, type Expr } from '../../src/policy/index.js';
import { PolicyError } from '../../src/errors/index.js';
import { thrown } from './helpers.js';

const limits = { maxLength: 8192, maxDepth: 64 };
const parse = (source: string): Expr => parseExpression(source, 'rules[0].identity', limits);

/** A compact rendering of the AST, for readable assertions. */
function show(e: Expr): string {
  switch (e.k) {
    case 'logic':
      return `${e.op}(${e.items.map(show).join(', ')})`;
    case 'not':
      return `not(${show(e.arg)})`;
    case 'quant':
      return `${e.q}[${e.field}](${show(e.arg)})`;
    case 'compare': {
      const r = e.rhs;
      const rhs =
        r.k === 'string'
          ? JSON.stringify(r.value)
          : r.k === 'set'
            ? `{${r.values.map((v) => JSON.stringify(v)).join(' ')}}`
            : r.k === 'list'
              ? `$${r.name}`
              : r.k === 'cidrs'
                ? `ip{${r.values.join(' ')}}`
                : `/${r.pattern}/`;
      return `${e.field}${e.each ? '[*]' : ''} ${e.op} ${rhs}`;
    }
  }
}

describe('expression parser: grammar', () => {
  it.each([
    ['identity.email == "a@x"', 'identity.email eq "a@x"'],
    ['identity.email eq "a@x"', 'identity.email eq "a@x"'],
    ['identity.email != "a@x"', 'identity.email ne "a@x"'],
    ['identity.email ne "a@x"', 'identity.email ne "a@x"'],
    ['identity.email in {"a@x" "b@x"}', 'identity.email in {"a@x" "b@x"}'],
    // wirefilter `lex_rhs_values`: items need no separator between two quoted strings.
    ['identity.email in {"a@x""b@x"}', 'identity.email in {"a@x" "b@x"}'],
    ['identity.email wildcard "*@x"', 'identity.email wildcard "*@x"'],
    ['identity.email strict wildcard r"*\\**"', 'identity.email strict_wildcard "*\\\\**"'],
    ['identity.email in {}', 'identity.email in {}'],
    ['identity.email in $6b7a2d1c-0000-4000-8000-000000000001', 'identity.email in $6b7a2d1c-0000-4000-8000-000000000001'],
    ['identity.name contains "Doe"', 'identity.name contains "Doe"'],
    ['identity.email matches ".*@example.com"', 'identity.email matches /.*@example.com/'],
    ['identity.email ~ "^a"', 'identity.email matches /^a/'],
    ['identity.name >= "m"', 'identity.name ge "m"'],
    ['identity.name lt "m"', 'identity.name lt "m"'],
    ['net.src.ip in {10.0.0.0/8 "192.0.2.7" ::1 2001:db8::/32}', 'net.src.ip in ip{10.0.0.0/8 192.0.2.7 ::1 2001:db8::/32}'],
    ['net.src.ip == 192.0.2.7 and net.src.geo.country != "RU"', 'and(net.src.ip eq ip{192.0.2.7}, net.src.geo.country ne "RU")'],
    // The HTTP policy selectors Host, HTTP Method, URL Path, URL Path and Query, URL Query: Bytes fields.
    ['http.request.host == "example.com"', 'http.request.host eq "example.com"'],
    ['http.request.host in $hosts', 'http.request.host in $hosts'],
    ['http.request.method in {"GET" "HEAD"}', 'http.request.method in {"GET" "HEAD"}'],
    ['http.request.uri.path == "/foo/bar"', 'http.request.uri.path eq "/foo/bar"'],
    ['http.request.uri.path matches "^/admin"', 'http.request.uri.path matches /^/admin/'],
    ['http.request.uri.path_and_query == "/foo/bar?ab%242=%2A342"', 'http.request.uri.path_and_query eq "/foo/bar?ab%242=%2A342"'],
    ['http.request.uri.query contains "%2A"', 'http.request.uri.query contains "%2A"'],
    ['http.request.uri.query >= "a"', 'http.request.uri.query ge "a"'],
  ])('%s', (source, expected) => {
    expect(show(parse(source))).toBe(expected);
  });

  it('reads both group syntaxes the same way', () => {
    const a = show(parse('any(identity.groups.id[*] in {"g1"})'));
    const b = show(parse('any(identity.groups[*].id in {"g1"})'));
    expect(a).toBe('any[identity.groups.id](identity.groups.id[*] in {"g1"})');
    expect(b).toBe(a);
  });

  it('reads the doc shorthand `arrayField == "v"` as any(…)', () => {
    expect(show(parse('identity.groups.name == "finance"'))).toBe('any[identity.groups.name](identity.groups.name[*] eq "finance")');
    expect(show(parse('identity.groups.id in {"a" "b"}'))).toBe('any[identity.groups.id](identity.groups.id[*] in {"a" "b"})');
  });

  it('gives or < xor < and precedence and flattens chains', () => {
    expect(show(parse('identity.name == "a" or identity.name == "b" and identity.name == "c"'))).toBe(
      'or(identity.name eq "a", and(identity.name eq "b", identity.name eq "c"))',
    );
    expect(show(parse('identity.name == "a" xor identity.name == "b" and identity.name == "c" or identity.name == "d"'))).toBe(
      'or(xor(identity.name eq "a", and(identity.name eq "b", identity.name eq "c")), identity.name eq "d")',
    );
    expect(show(parse('identity.name == "a" && identity.name == "b" && identity.name == "c"'))).toBe(
      'and(identity.name eq "a", identity.name eq "b", identity.name eq "c")',
    );
    expect(show(parse('identity.name == "a" ^^ identity.name == "b" || identity.name == "c"'))).toBe(
      'or(xor(identity.name eq "a", identity.name eq "b"), identity.name eq "c")',
    );
  });

  it('binds not to the next simple expression', () => {
    expect(show(parse('not identity.email == "x" and identity.name == "y"'))).toBe('and(not(identity.email eq "x"), identity.name eq "y")');
    expect(show(parse('!(identity.email == "x" or identity.name == "y")'))).toBe('not(or(identity.email eq "x", identity.name eq "y"))');
    expect(show(parse('not(any(identity.groups.name[*] in {"Contractors"})) and not(identity.email == "bob@x")'))).toBe(
      'and(not(any[identity.groups.name](identity.groups.name[*] in {"Contractors"})), not(identity.email eq "bob@x"))',
    );
  });

  it('accepts whitespace made of spaces, CR and LF', () => {
    expect(show(parse('\r\n (\nidentity.email\r\n==\n"a" )  '))).toBe('identity.email eq "a"');
  });

  it('decodes only the wirefilter escapes', () => {
    const value = (src: string): string => {
      const e = parse(`identity.name == ${src}`);
      return e.k === 'compare' && e.rhs.k === 'string' ? e.rhs.value : '';
    };
    expect(value('"a\\"b"')).toBe('a"b');
    expect(value('"a\\\\b"')).toBe('a\\b');
    expect(value('"\\x41\\102"')).toBe('AB');
    expect(value('"\\xc3\\xa9"')).toBe('é');
    expect(value('"é"')).toBe('é');
    expect(value('r"a\\nb"')).toBe('a\\nb');
    expect(value('r#"say "hi""#')).toBe('say "hi"');
    expect(value('r##"a"#b"##')).toBe('a"#b');
  });

  it('keeps regex backslashes verbatim except \\" outside a class', () => {
    const pattern = (src: string): string => {
      const e = parse(`identity.email matches ${src}`);
      return e.k === 'compare' && e.rhs.k === 'regex' ? e.rhs.pattern : '';
    };
    expect(pattern('"^.+@example\\.com$"')).toBe('^.+@example\\.com$');
    expect(pattern('"a\\"b"')).toBe('a"b');
    expect(pattern('"[\\"]"')).toBe('[\\"]');
    expect(pattern('"[\\"]x"')).toBe('[\\"]x');
    expect(pattern('"\\d{1,3}"')).toBe('\\d{1,3}');
    expect(pattern('r"\\d+"')).toBe('\\d+');
  });
});

describe('expression parser: errors', () => {
  const cases: [string, string, string][] = [
    ['(identity.email == "a" and', 'ERR_EXPRESSION_SYNTAX', 'expected a field, `(`, `not`, `any(` or `all(` at 27: found end of input'],
    ['(identity.email == "a" identity.name == "b")', 'ERR_EXPRESSION_SYNTAX', 'expected `)` at 24: found `identity.name`'],
    ['identity.email == "a" identity.name', 'ERR_EXPRESSION_SYNTAX', 'expected `and`, `or`, `xor` or the end of the expression at 23: found `identity.name`'],
    ['(identity.email == "a"', 'ERR_EXPRESSION_SYNTAX', 'expected `)` at 23: found end of input'],
    ['identity.email == "a\\n"', 'ERR_EXPRESSION_SYNTAX', 'invalid character escape `\\n` at 21'],
    ['identity.email == "a', 'ERR_EXPRESSION_SYNTAX', 'missing ending quote of the string opened at 19'],
    ['identity.email == "\\x4"', 'ERR_EXPRESSION_SYNTAX', '`\\x` needs two hex digits at 20'],
    ['identity.email == "\\400"', 'ERR_EXPRESSION_SYNTAX', 'an octal escape needs three digits up to `\\377` at 20'],
    ['identity.email == "\\xff"', 'ERR_EXPRESSION_SYNTAX', 'string literal is not valid UTF-8 at 19'],
    ['identity.email == r#"a"', 'ERR_EXPRESSION_SYNTAX', 'missing ending quote of the raw string opened at 19'],
    ['identity.email in {"a" "b"', 'ERR_EXPRESSION_SYNTAX', 'expected a string or `}` at 27: found end of input'],
    ['identity.email in "a"', 'ERR_EXPRESSION_SYNTAX', 'expected `{` or `$` at 19: found `"`'],
    ['identity.email ==', 'ERR_EXPRESSION_SYNTAX', 'expected a string at 18: found end of input'],
    [
      'identity.email\t== "a"',
      'ERR_EXPRESSION_SYNTAX',
      'expected a comparison operator (`==`, `!=`, `in`, `contains`, `matches`, `wildcard`, …) at 15: found `\\t`',
    ],
    [
      'identity.email in {"a@x", "b@x"}',
      'ERR_EXPRESSION_SYNTAX',
      'a comma does not separate set items (wirefilter separates them with spaces: `{"a" "b"}`) at 25',
    ],
    ['identity.email', 'ERR_EXPRESSION_TYPE', 'field `identity.email` is not a boolean: expected a comparison operator at 15'],
    ['identity.phone == "1"', 'ERR_EXPRESSION_TYPE', 'unknown field `identity.phone` at 1'],
    ['dns.content_category == "1"', 'ERR_EXPRESSION_TYPE', 'unknown field `dns.content_category` at 1'],
    ['http.request.uri == "/"', 'ERR_EXPRESSION_TYPE', 'unknown field `http.request.uri` at 1'],
    ['any(http.request.domains[*] == "a")', 'ERR_EXPRESSION_TYPE', 'unknown field `http.request.domains` at 5'],
    ['any(http.request.host[*] == "a")', 'ERR_EXPRESSION_TYPE', '`[*]` applies to array fields; `http.request.host` is not one at 5'],
    ['http.request.uri.path in {10.0.0.0/8}', 'ERR_EXPRESSION_SYNTAX', 'expected a string at 27: found `10.0.0.0`'],
    ['identity.groups.id[*] == "g"', 'ERR_EXPRESSION_TYPE', '`identity.groups.id[*]` yields an array: wrap it in `any(…)` or `all(…)` at 1'],
    ['identity.groups.id contains "g"', 'ERR_EXPRESSION_TYPE', '`identity.groups.id` is an array: write `any(identity.groups.id[*] …)`'],
    ['identity.email[*] == "a"', 'ERR_EXPRESSION_TYPE', '`[*]` applies to array fields; `identity.email` is not one at 1'],
    ['any(identity.email == "a")', 'ERR_EXPRESSION_TYPE', 'inside `any(…)`/`all(…)` every comparison must use an array field with `[*]` at 5'],
    ['any(identity.groups.id[*] == "a" and identity.groups.name[*] == "b")', 'ERR_EXPRESSION_TYPE', 'cannot mix'],
    ['any(any(identity.groups.id[*] == "a"))', 'ERR_EXPRESSION_TYPE', '`any(…)` cannot be nested at 5'],
    ['identity.groups.id[0] == "a"', 'ERR_EXPRESSION_TYPE', 'only the `[*]` index is supported at 19'],
    ['identity.email bitwise_and "*@x"', 'ERR_EXPRESSION_TYPE', 'operator `bitwise_and` is not supported on these fields at 16'],
    ['identity.email === "a"', 'ERR_EXPRESSION_SYNTAX', 'expected a string at 18: found `='],
    ['', 'ERR_EXPRESSION_SYNTAX', 'expected a field, `(`, `not`, `any(` or `all(` at 1: found end of input'],
  ];
  it.each(cases)('%s', (source, code, message) => {
    const err = thrown(() => parse(source));
    expect(err).toBeInstanceOf(PolicyError);
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
    expect(err.message).toMatch(/: rules\[0\]\.identity$/);
  });

  it('bounds nesting depth without exhausting the stack', () => {
    const deep = `${'('.repeat(5000)}identity.email == "a"${')'.repeat(5000)}`;
    const err = thrown(() => parseExpression(deep, 'x', { maxLength: 100_000, maxDepth: 64 }));
    expect(err.code).toBe('ERR_EXPRESSION_SYNTAX');
    expect(err.message).toContain('expression nests deeper than 64 at 65');
    const nots = thrown(() => parseExpression(`${'not '.repeat(100)}identity.email == "a"`, 'x', limits));
    expect(nots.message).toContain('nests deeper than 64');
    expect(show(parseExpression(`${'('.repeat(60)}identity.email == "a"${')'.repeat(60)}`, 'x', limits))).toBe('identity.email eq "a"');
  });

  it('bounds input length', () => {
    const err = thrown(() => parseExpression(`identity.email == "${'a'.repeat(9000)}"`, 'x', limits));
    expect(err.code).toBe('ERR_EXPRESSION_SYNTAX');
    expect(err.message).toBe('expression is longer than 8192 characters: x');
  });

  it('parses long flat chains iteratively', () => {
    const chain = Array.from({ length: 300 }, (_, i) => `identity.name == "${i}"`).join(' or ');
    const e = parseExpression(chain, 'x', { maxLength: 100_000, maxDepth: 8 });
    expect(e.k === 'logic' && e.items.length).toBe(300);
  });
});
