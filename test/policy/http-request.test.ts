import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileGatewayRules, explain } from '../../src/policy/index.js';
import {
  HttpRequestState,
  normalizeHost,
  normalizePath,
  originForm,
  pathRouting,
  type PathRouting,
  type RoutedHttpRequest,
} from '../../src/policy/http-request.js';
import type { GatewayAction, GatewayDecision, GatewayRule } from '../../src/policy/types.js';
import type { HttpRequestAttributes, Identity, RequestContext } from '../../src/types.js';
import { makeIdentity } from './helpers.js';

const ADMINS = '0b6f1c7e-2222-4333-8444-555566667777';
const user = makeIdentity({ email: 'john.doe@example.com', groups: [{ id: 'g-1', name: 'staff' }] });
const admin = makeIdentity({ email: 'root@example.com', groups: [{ id: ADMINS, name: 'admins' }] });
const overage = makeIdentity({ email: 'x@example.com', membership: { state: 'overage', signal: 'hasgroups' } });

/** The Cloudflare docs' examples, with a host in mixed case and a port. */
const REQUEST: HttpRequestAttributes = { method: 'GET', host: 'App.Example.com:8443', url: '/foo/bar?ab%242=%2A342' };
const lists = { hosts: ['x.example.com', 'APP.EXAMPLE.COM'], paths: ['/foo/bar', '/other'] };

/** Whether one allow rule with this traffic expression matches (default block, so "unknown" reads as false). */
function matches(traffic: string, request: Partial<HttpRequestAttributes> = {}): boolean {
  const compiled = compileGatewayRules([{ name: 'r', action: 'allow', precedence: 1, traffic }], { defaultAction: 'block', lists });
  return compiled.evaluate(user, { request: { ...REQUEST, ...request } }).policy !== undefined;
}

function decide(rules: GatewayRule[], context: RequestContext, identity: Identity | null = user, defaultAction: GatewayAction = 'allow') {
  return compileGatewayRules(rules, { defaultAction, lists }).evaluate(identity, context);
}

describe('http fields: each field and operator (HTTP policy selectors)', () => {
  it.each([
    // Host: case-insensitive for every operator but `matches`, which runs on the lower-cased host; exact hostname.
    ['http.request.host == "app.example.com"', true],
    ['http.request.host == "APP.example.COM"', true],
    ['http.request.host eq "example.com"', false],
    ['http.request.host != "app.example.com"', false],
    ['http.request.host ne "other.example.com"', true],
    ['http.request.host in {"x.example.com" "App.Example.COM"}', true],
    ['http.request.host in {"example.com"}', false],
    ['http.request.host in $hosts', true],
    ['not(http.request.host in $hosts)', false],
    ['http.request.host matches "^app\\.example\\.com$"', true],
    ['http.request.host matches "App"', false],
    ['http.request.host matches "(?i)App"', true],
    ['http.request.host ~ "example\\.com$"', true],
    ['http.request.host contains "EXAMPLE"', true],
    ['http.request.host > "APP"', true],
    ['http.request.host lt "app.example.com"', false],
    // HTTP Method: exact.
    ['http.request.method == "GET"', true],
    ['http.request.method == "get"', false],
    ['http.request.method != "POST"', true],
    ['http.request.method in {"POST" "PUT"}', false],
    ['http.request.method matches "^(GET|HEAD)$"', true],
    // URL Path: before the `?`, exact.
    ['http.request.uri.path == "/foo/bar"', true],
    ['http.request.uri.path == "/FOO/bar"', false],
    ['http.request.uri.path == "/foo/bar?ab%242=%2A342"', false],
    ['http.request.uri.path in $paths', true],
    ['http.request.uri.path matches "^/foo"', true],
    ['http.request.uri.path matches "^/bar"', false],
    ['http.request.uri.path contains "o/b"', true],
    ['http.request.uri.path <= "/foo/bar"', true],
    ['http.request.uri.path ge "/g"', false],
    // URL Path and Query: as received, percent-encoded.
    ['http.request.uri.path_and_query == "/foo/bar?ab%242=%2A342"', true],
    ['http.request.uri.path_and_query == "/foo/bar?ab$2=*342"', false],
    ['http.request.uri.path_and_query matches "\\?ab%24"', true],
    ['http.request.uri.path_and_query != "/foo/bar"', true],
    // URL Query: after the first `?`, without it.
    ['http.request.uri.query == "ab%242=%2A342"', true],
    ['http.request.uri.query == "?ab%242=%2A342"', false],
    ['http.request.uri.query contains "%2A"', true],
    ['http.request.uri.query in {"a" "ab%242=%2A342"}', true],
    ['http.request.uri.query matches "^ab"', true],
  ])('%s → %s', (traffic, expected) => {
    expect(matches(traffic)).toBe(expected);
  });

  it('splits path and query at the first `?`; no `?` is an empty query', () => {
    expect(matches('http.request.uri.path == "/orders" and http.request.uri.query == ""', { url: '/orders' })).toBe(true);
    expect(matches('http.request.uri.path == "/" and http.request.uri.query == ""', { url: '/?' })).toBe(true);
    expect(matches('http.request.uri.path == "/a" and http.request.uri.query == "b=1?c=2"', { url: '/a?b=1?c=2' })).toBe(true);
    expect(matches('http.request.uri.path_and_query == "/a?b=1?c=2"', { url: '/a?b=1?c=2' })).toBe(true);
  });

  it('reads an absolute-form target by its path, as the frameworks route it', () => {
    const url = 'http://evil.example:81/admin/users?x=1';
    expect(matches('http.request.uri.path == "/admin/users"', { url })).toBe(true);
    expect(matches('http.request.uri.path_and_query == "/admin/users?x=1"', { url })).toBe(true);
    expect(matches('http.request.uri.query == "x=1"', { url })).toBe(true);
    expect(matches('http.request.uri.path == "/"', { url: 'https://evil.example' })).toBe(true);
    expect(matches('http.request.uri.path == "/"', { url: 'https://evil.example?q' })).toBe(true);
  });

  it('normalises the host: no port, no trailing dot, lower case, IPv6 literals in brackets', () => {
    expect(matches('http.request.host == "example.com"', { host: 'Example.COM.' })).toBe(true);
    expect(matches('http.request.host == "example.com"', { host: 'example.com.:80' })).toBe(true);
    expect(matches('http.request.host == "[::1]"', { host: '[::1]:3000' })).toBe(true);
    expect(matches('http.request.host == "[2001:db8::1]"', { host: '[2001:DB8::1]' })).toBe(true);
    expect(matches('http.request.host == "127.0.0.1"', { host: '127.0.0.1:8080' })).toBe(true);
    // Only that hostname, not its subdomains.
    expect(matches('http.request.host == "example.com"', { host: 'api.example.com' })).toBe(false);
    expect(matches('http.request.host == ""', { host: '' })).toBe(true);
  });

  it('normalises a host the rule names whole the same way, so a Block written with a port or trailing dot still blocks', () => {
    expect(matches('http.request.host == "App.Example.com."', { host: 'app.example.com' })).toBe(true);
    expect(matches('http.request.host in {"x.example.com." "APP.example.com"}', { host: 'app.example.com' })).toBe(true);
    expect(matches('http.request.host == "[::1]"', { host: '[::1]:3000' })).toBe(true);
    // A port is not part of the hostname: a rule naming one is refused, not left to never match.
    for (const traffic of [
      'http.request.host == "app.example.com:8443"',
      'http.request.host in {"a.example.com" "b.example.com:443"}',
      'http.request.host != "[::1]:80"',
    ]) {
      expect(() => compileGatewayRules([{ name: 'r', action: 'block', precedence: 1, traffic }], { lists })).toThrow(
        expect.objectContaining({ code: 'ERR_EXPRESSION_TYPE' }),
      );
    }
    expect(matches('http.request.host != "app.example.com."', { host: 'app.example.com' })).toBe(false);
    const block = decide([{ name: 'no admin host', action: 'block', precedence: 1, traffic: 'http.request.host == "admin.example.com."' }], {
      request: { method: 'GET', host: 'admin.example.com', url: '/' },
    });
    expect(block.allowed).toBe(false);
  });

  it('compares the host in the same compiled set across requests (the memo follows the request)', () => {
    const compiled = compileGatewayRules(
      [{ name: 'app', action: 'allow', precedence: 1, traffic: 'http.request.host == "app.example.com" and http.request.uri.path == "/a"' }],
      {
        defaultAction: 'block',
      },
    );
    const at = (host: string, url: string) => compiled.evaluate(user, { request: { method: 'GET', host, url } }).allowed;
    expect(at('app.example.com', '/a')).toBe(true);
    expect(at('other.example.com', '/a')).toBe(false);
    expect(at('APP.example.com', '/a?x')).toBe(true);
    expect(at('app.example.com', '/b')).toBe(false);
    expect(at('app.example.com', '/a')).toBe(true);
  });
});

describe('http fields: helpers', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM:8443', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com..:80', 'example.com'],
    ['[::1]:3000', '[::1]'],
    ['[::1]', '[::1]'],
    ['[2001:DB8::A]:443', '[2001:db8::a]'],
    ['', ''],
  ])('normalizeHost(%j) → %j', (raw, expected) => {
    expect(normalizeHost(raw)).toBe(expected);
  });

  it.each([
    ['/a?b', '/a?b'],
    ['http://h/a?b', '/a?b'],
    ['HTTPS://h:443', '/'],
    ['http://h?b', '/?b'],
    ['*', '*'],
  ])('originForm(%j) → %j', (url, expected) => {
    expect(originForm(url)).toBe(expected);
  });

  it('the state loads each request, re-splitting only when the URL or host changes, and forgets a missing request', () => {
    const state = new HttpRequestState();
    const fields = () => [state.method, state.host, state.path, state.query, state.pathAndQuery];
    state.load({ request: { method: 'GET', host: 'A.example:1', url: '/a?x=1' } });
    expect(fields()).toEqual(['GET', 'a.example', '/a', 'x=1', '/a?x=1']);
    state.load({ request: { method: 'POST', host: 'b.example', url: '/b' } });
    expect(fields()).toEqual(['POST', 'b.example', '/b', '', '/b']);
    state.load({});
    expect(fields()).toEqual([undefined, undefined, undefined, undefined, undefined]);
    state.load({ request: { method: 'GET', host: 'A.example:1', url: '/a?x=1' } });
    expect(fields()).toEqual(['GET', 'a.example', '/a', 'x=1', '/a?x=1']);
    state.load({ request: { method: 7, host: 'c', url: null } } as unknown as RequestContext);
    expect(fields()).toEqual([undefined, 'c', undefined, undefined, undefined]);
  });
});

describe('http fields: fail closed without HTTP attributes', () => {
  const blockAdmin: GatewayRule = {
    name: 'block admin for non-admins',
    action: 'block',
    precedence: 1,
    traffic: 'http.request.uri.path matches "^/admin"',
    identity: `not(any(identity.groups.id[*] in {"${ADMINS}"}))`,
  };

  it('a Block rule that might match denies, and says the request has no HTTP attributes', () => {
    const d = decide([blockAdmin], {});
    expect(d).toMatchObject({ allowed: false, action: 'block', policy: { name: 'block admin for non-admins' }, reason: 'unknown-request' });
    const text = explain(d);
    expect(text).toContain('gateway: denied, action block (unknown-request)');
    expect(text).toContain(
      '1. block "block admin for non-admins" (precedence 1): unknown (might match: fail closed, block (the request has no HTTP attributes))',
    );
    expect(text).toContain('traffic http.request.uri.path matches "^/admin" : unknown (http.request.uri.path is unknown: the request has no HTTP attributes)');
  });

  it('with the request, the same rule decides on the path', () => {
    const request = (url: string): RequestContext => ({ request: { method: 'GET', host: 'app.example.com', url } });
    expect(decide([blockAdmin], request('/admin/users'))).toMatchObject({ allowed: false, reason: 'matched' });
    expect(decide([blockAdmin], request('/orders'))).toMatchObject({ allowed: true, reason: 'default' });
    expect(decide([blockAdmin], request('/admin/users'), admin)).toMatchObject({ allowed: true, reason: 'default' });
    // Known false on another part: an admin's request without HTTP attributes is not blocked.
    expect(decide([blockAdmin], {}, admin)).toMatchObject({ allowed: true, reason: 'default' });
  });

  it('`!=` and `not(…)` are unknown too, never true', () => {
    expect(decide([{ name: 'b', action: 'block', precedence: 1, traffic: 'http.request.method != "GET"' }], {})).toMatchObject({
      allowed: false,
      reason: 'unknown-request',
    });
    expect(decide([{ name: 'b', action: 'block', precedence: 1, traffic: 'not(http.request.uri.path == "/public")' }], {})).toMatchObject({
      allowed: false,
      reason: 'unknown-request',
    });
    const allowNotAdmin: GatewayRule = { name: 'a', action: 'allow', precedence: 1, traffic: 'not(http.request.uri.path matches "^/admin")' };
    expect(decide([allowNotAdmin], {}, user, 'block')).toMatchObject({ allowed: false, reason: 'unknown-request' });
  });

  it('an Allow rule that might match does not allow: the default (block) applies, and says why', () => {
    const allowApp: GatewayRule = { name: 'app host', action: 'allow', precedence: 1, traffic: 'http.request.host == "app.example.com"' };
    const d = decide([allowApp], {}, user, 'block');
    expect(d).toMatchObject({ allowed: false, action: 'block', reason: 'unknown-request' });
    expect(d.policy).toBeUndefined();
    expect(explain(d)).toContain('1. allow "app host" (precedence 1): unknown (might match: not counted as a match (the request has no HTTP attributes))');
    // A default allow is still an allow: nothing restricting might have matched.
    expect(decide([allowApp], {}, user, 'allow')).toMatchObject({ allowed: true, reason: 'default' });
    // A later block that matches says the earlier allow was unknown.
    const later: GatewayRule = { name: 'block rest', action: 'block', precedence: 2 };
    expect(decide([allowApp, later], {})).toMatchObject({ allowed: false, policy: { name: 'block rest' }, reason: 'unknown-request' });
  });

  it('the unknown goes through three-valued logic: `or` with a true side is true, `and` with a false side is false', () => {
    const orRule: GatewayRule = { name: 'or', action: 'allow', precedence: 1, traffic: 'http.request.uri.path == "/x" or net.src.geo.country == "PT"' };
    expect(decide([orRule], { country: 'PT' }, user, 'block')).toMatchObject({ allowed: true, reason: 'matched' });
    expect(decide([orRule], { country: 'FR' }, user, 'block')).toMatchObject({ allowed: false, reason: 'unknown-request' });
    const andRule: GatewayRule = { name: 'and', action: 'block', precedence: 1, traffic: 'http.request.uri.path == "/x" and net.src.geo.country == "PT"' };
    expect(decide([andRule], { country: 'FR' })).toMatchObject({ allowed: true, reason: 'default' });
    expect(decide([andRule], { country: 'PT' })).toMatchObject({ allowed: false, reason: 'unknown-request' });
  });

  it('a restricting action other than block fails closed as a block', () => {
    const iso: GatewayRule = { name: 'iso', action: 'isolate', precedence: 1, traffic: 'http.request.host matches "\\.internal$"' };
    expect(decide([iso], {})).toMatchObject({ allowed: false, action: 'block', policy: { name: 'iso' }, reason: 'unknown-request' });
  });

  it('a request without the string a field reads is unknown for that field only', () => {
    const rules: GatewayRule[] = [{ name: 'b', action: 'block', precedence: 1, traffic: 'http.request.host == "a.example"' }];
    const broken = { request: { method: 'GET', url: '/' } } as unknown as RequestContext;
    const d = decide(rules, broken);
    expect(d).toMatchObject({ allowed: false, reason: 'unknown-request' });
    expect(explain(d)).toContain('http.request.host is unknown: `request.host` is not a string');
    expect(explain(d)).toContain("(the request's HTTP attributes are incomplete)");
    expect(decide([{ name: 'b', action: 'block', precedence: 1, traffic: 'http.request.uri.path == "/x"' }], broken)).toMatchObject({
      allowed: true,
      reason: 'default',
    });
  });

  it('names membership when the rule reads groups that are not complete, the request otherwise', () => {
    const groupsAndPath: GatewayRule = {
      name: 'g',
      action: 'block',
      precedence: 1,
      traffic: 'http.request.uri.path == "/x"',
      identity: `any(identity.groups.id[*] in {"${ADMINS}"})`,
    };
    expect(decide([groupsAndPath], {}, overage)).toMatchObject({ allowed: false, reason: 'unknown-membership' });
    expect(decide([groupsAndPath], { request: { method: 'GET', host: 'h', url: '/x' } }, overage)).toMatchObject({
      allowed: false,
      reason: 'unknown-membership',
    });
    const pathOnly: GatewayRule = { name: 'p', action: 'block', precedence: 1, traffic: 'http.request.uri.path == "/x"' };
    expect(decide([pathOnly], {}, overage)).toMatchObject({ allowed: false, reason: 'unknown-request' });
    expect(decide([pathOnly], {}, null)).toMatchObject({ allowed: false, reason: 'unknown-request' });
    // An unknown-membership allow earlier wins over an unknown-request one later.
    const allowGroup: GatewayRule = { name: 'ag', action: 'allow', precedence: 1, identity: `any(identity.groups.id[*] in {"${ADMINS}"})` };
    const allowPath: GatewayRule = { name: 'ap', action: 'allow', precedence: 2, traffic: 'http.request.uri.path == "/x"' };
    expect(decide([allowPath, allowGroup], {}, overage, 'block')).toMatchObject({ allowed: false, reason: 'unknown-membership' });
  });
});

describe('http fields: the trace', () => {
  it('shows the host, method and path read, never the query', () => {
    const compiled = compileGatewayRules(
      [
        { name: 'q', action: 'block', precedence: 1, traffic: 'http.request.uri.query contains "nope"' },
        { name: 'pq', action: 'block', precedence: 2, traffic: 'http.request.uri.path_and_query == "/nope"' },
        { name: 'hm', action: 'allow', precedence: 3, traffic: 'http.request.host == "app.example.com" and http.request.method == "POST"' },
      ],
      { defaultAction: 'block' },
    );
    const d = compiled.evaluate(user, { request: { method: 'POST', host: 'APP.example.com:443', url: '/cb?code=s3cr3t-value' } });
    expect(d).toMatchObject({ allowed: true, policy: { name: 'hm' } });
    const text = explain(d);
    expect(text).toContain('traffic http.request.uri.query contains "nope" : no-match (http.request.uri.query is 17 characters (not shown))');
    expect(text).toContain('traffic http.request.uri.path_and_query == "/nope" : no-match (http.request.uri.path_and_query is `/cb?…` (query not shown))');
    expect(text).toContain('traffic http.request.host == "app.example.com" : match (http.request.host is `app.example.com`)');
    expect(text).toContain('traffic http.request.method == "POST" : match (http.request.method is `POST`)');
    expect(text).not.toContain('s3cr3t');
    expect(JSON.stringify(d)).not.toContain('s3cr3t');
  });

  it('an evaluation re-entered from the context (a getter, a posture iterator) decides on its own request', () => {
    const rules = compileGatewayRules([
      { name: 'office', action: 'allow', precedence: 1, traffic: 'net.src.ip in {10.0.0.0/8}' },
      { name: 'admin', action: 'block', precedence: 2, traffic: 'http.request.uri.path matches "^/admin"' },
    ]);
    let inner: GatewayDecision | undefined;
    const context: RequestContext = {
      request: { method: 'GET', host: 'app.example.com', url: '/admin/users' },
      // App code that reads the context may itself ask the same rules about another request.
      get ip(): string {
        inner = rules.evaluate(user, { request: { method: 'GET', host: 'app.example.com', url: '/public' } });
        // Reading the inner decision's trace (it loads its request again) must not leak into the outer one either.
        void inner.trace;
        return '192.0.2.1';
      },
    };
    const outer = rules.evaluate(user, context);
    expect(inner).toMatchObject({ allowed: true, reason: 'default' });
    expect(outer).toMatchObject({ allowed: false, policy: { name: 'admin' }, reason: 'matched' });
    expect(explain(outer)).toContain('(http.request.uri.path is `/admin/users`)');
  });

  it('a trace read later describes its own request, not the last one evaluated', () => {
    const compiled = compileGatewayRules([{ name: 'p', action: 'block', precedence: 1, traffic: 'http.request.uri.path == "/a"' }]);
    const first = compiled.evaluate(user, { request: { method: 'GET', host: 'h', url: '/a?1' } });
    const second = compiled.evaluate(user, { request: { method: 'GET', host: 'h', url: '/b?2' } });
    expect(first.allowed).toBe(false);
    expect(second.allowed).toBe(true);
    expect(explain(first)).toContain('(http.request.uri.path is `/a`)');
    expect(explain(second)).toContain('(http.request.uri.path is `/b`)');
  });
});

describe('http fields: the path as the edge normalises it (Cloudflare URL normalisation)', () => {
  it.each([
    // https://developers.cloudflare.com/rules/normalization/how-it-works/ and its examples page.
    ['/hello', '/hello'],
    ['/%68ello', '/hello'],
    ['/%68ello//pa\\th', '/hello/pa/th'],
    ['\\hello', '/hello'],
    ['/en/hello/', '/en/hello/'],
    ['/en/hello./', '/en/hello./'],
    ['/en//%68ello\\path', '/en/hello/path'],
    // Unreserved characters decoded (letters, digits, `-._~`), other escapes upper-cased, reserved ones kept.
    ['/%41%5a%30%2D%2e%5F%7E', '/AZ0-._~'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%3bb%3Dc%40d', '/a%3Bb%3Dc%40d'],
    ['/a%25b', '/a%25b'],
    ['/a;b=1,c', '/a;b=1,c'],
    ["/a:@!$&'()*+,;=[]", "/a:@!$&'()*+,;=[]"],
    // Printable characters outside unreserved and reserved are percent-encoded.
    ['/a b"c<d>e^f`g{h|i}', '/a%20b%22c%3Cd%3Ee%5Ef%60g%7Bh%7Ci%7D'],
    // Not dot segments.
    ['/.well-known/openid-configuration', '/.well-known/openid-configuration'],
    ['/a/..b/c.', '/a/..b/c.'],
    ['/a/...', '/a/...'],
    ['*', '*'],
    ['/', '/'],
    ['//', '/'],
  ])('normalizePath(%j) → %j', (path, expected) => {
    expect(normalizePath(path)).toBe(expected);
  });

  it.each([
    ['/public/../secret.txt', 'segment'],
    ['/public/%2e%2e/secret.txt', 'segment'],
    ['/public/%2E%2E', 'segment'],
    ['/public/.%2e/x', 'segment'],
    ['/public/./x', 'segment'],
    ['/public/.', 'segment'],
    ['/a//../b', 'segment'],
    ['/a\\..\\b', 'segment'],
    ['../a', 'segment'],
    ['.', 'segment'],
    ['/public/..%2fsecret.txt', '%2F'],
    ['/a%2Fb', '%2F'],
    ['/a%5cb', '%5C'],
    ['/a%00', 'NUL'],
    ['/a\u0000', 'NUL'],
    ['/a%', '`%` not followed'],
    ['/a%2', '`%` not followed'],
    ['/a%g0', '`%` not followed'],
    ['/%C0%AF', 'UTF-8'],
    ['/%ED%A0%80', 'UTF-8'],
    ['/%FF', 'UTF-8'],
    ['/%E2%84', 'UTF-8'],
    ['/caf\u00e9', 'raw non-ASCII'],
    ['/a\tb', 'control'],
    ['/a\u007fb', 'control'],
  ])('normalizePath(%j) has no normalised form (%s)', (path, why) => {
    const result = normalizePath(path);
    expect(typeof result).toBe('object');
    expect((result as { problem: string }).problem).toContain(why);
  });

  it('folds case and drops a trailing slash as the framework routes', () => {
    const express: PathRouting = { caseInsensitive: true, ignoreTrailingSlash: true };
    expect(normalizePath('/Admin/', express)).toBe('/admin');
    expect(normalizePath('/ADMIN', express)).toBe('/admin');
    expect(normalizePath('/%41dmin/', express)).toBe('/admin');
    // Escapes keep their upper-case hex; non-ASCII is not folded for a router that matches the encoded path.
    expect(normalizePath('/A%C3%89%3B', express)).toBe('/a%C3%89%3B');
    expect(normalizePath('/%E2%84%AAey', express)).toBe('/%E2%84%AAey');
    expect(normalizePath('/', express)).toBe('/');
    expect(normalizePath('//a//', express)).toBe('/a');
    // find-my-way decodes, then lower-cases as JavaScript does: the Kelvin sign becomes `k`.
    const fastify: PathRouting = { caseInsensitive: true, matchesDecoded: true };
    expect(normalizePath('/CAF%C3%89', fastify)).toBe('/caf%C3%A9');
    expect(normalizePath('/%E2%84%AAey', fastify)).toBe('/key');
    expect(normalizePath('/admin/', fastify)).toBe('/admin/');
    // Exact routing keeps the path as Cloudflare normalises it.
    expect(normalizePath('/Admin/', {})).toBe('/Admin/');
    expect(normalizePath('/Admin/', { ignoreTrailingSlash: true })).toBe('/Admin');
  });

  it('pathRouting gives one shared frozen object per combination', () => {
    const a = pathRouting({ caseInsensitive: true, ignoreTrailingSlash: true });
    expect(pathRouting({ ignoreTrailingSlash: true, caseInsensitive: true })).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(pathRouting({})).not.toBe(a);
  });

  it('the state drops the fragment, splits at `;` only with the semicolon delimiter, and says why a path is unknown', () => {
    const state = new HttpRequestState();
    const fields = () => [state.path, state.query, state.pathAndQuery, state.pathProblem];
    const load = (url: string, routing?: PathRouting) =>
      state.load({ request: { method: 'GET', host: 'h', url, ...(routing ? { routing } : {}) } as RoutedHttpRequest });
    load('/a?x=1#frag');
    expect(fields()).toEqual(['/a', 'x=1', '/a?x=1', undefined]);
    load('/a#frag?x=1');
    expect(fields()).toEqual(['/a', '', '/a', undefined]);
    load('/%61/b;c?d');
    expect(fields()).toEqual(['/a/b;c', 'd', '/a/b;c?d', undefined]);
    load('/%61/b;c?d', { semicolonDelimiter: true });
    expect(fields()).toEqual(['/a/b', 'c?d', '/a/b;c?d', undefined]);
    load('/Admin/?x', { caseInsensitive: true, ignoreTrailingSlash: true });
    expect(fields()).toEqual(['/admin', 'x', '/admin?x', undefined]);
    // The same URL under another routing is split again.
    load('/Admin/?x');
    expect(fields()).toEqual(['/Admin/', 'x', '/Admin/?x', undefined]);
    load('/public/../secret.txt?q=1');
    expect(fields()).toEqual([undefined, 'q=1', undefined, expect.stringContaining('`..` segment')]);
    expect(state.unknownReason('http.request.uri.path')).toMatch(/^the path cannot be normalised: it holds a `\.` or `\.\.` segment/);
    expect(state.unknownReason('http.request.uri.query')).toBeUndefined();
    load('http://h/a%2Fb');
    expect(fields()).toEqual([undefined, '', undefined, expect.stringContaining('`%2F`')]);
    state.load({});
    expect(fields()).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('http fields: rules on a path without a normalised form fail closed', () => {
  const allowPublic: GatewayRule = { name: 'public', action: 'allow', precedence: 1, traffic: 'http.request.uri.path matches "^/public/"' };
  const blockAdmin: GatewayRule = { name: 'no admin', action: 'block', precedence: 1, traffic: 'http.request.uri.path matches "^/admin"' };
  const at = (url: string, routing?: PathRouting): RequestContext => ({
    request: { method: 'GET', host: 'app.example.com', url, ...(routing ? { routing } : {}) } as RoutedHttpRequest,
  });

  it('an Allow on the path does not admit a dot segment or an encoded slash out of it', () => {
    expect(decide([allowPublic], at('/public/readme.txt'), user, 'block')).toMatchObject({ allowed: true, reason: 'matched' });
    expect(decide([allowPublic], at('/public/%72eadme.txt'), user, 'block')).toMatchObject({ allowed: true, reason: 'matched' });
    for (const url of ['/public/../secret.txt', '/public/%2e%2e/secret.txt', '/public/..%2Fsecret.txt', '/public/..%5Csecret.txt']) {
      expect(decide([allowPublic], at(url), user, 'block'), url).toMatchObject({ allowed: false, reason: 'unknown-request' });
    }
  });

  it('a Block on the path denies a path it cannot read, and one spelt as the router folds it', () => {
    expect(decide([blockAdmin], at('/orders'))).toMatchObject({ allowed: true, reason: 'default' });
    expect(decide([blockAdmin], at('/a/..%2Fadmin'))).toMatchObject({ allowed: false, reason: 'unknown-request' });
    expect(decide([blockAdmin], at('/%61dmin'))).toMatchObject({ allowed: false, reason: 'matched' });
    expect(decide([blockAdmin], at('/Admin'))).toMatchObject({ allowed: true, reason: 'default' });
    expect(decide([blockAdmin], at('/Admin', { caseInsensitive: true }))).toMatchObject({ allowed: false, reason: 'matched' });
  });

  it('a rule that does not read the path is not affected by it', () => {
    const host: GatewayRule = {
      name: 'host',
      action: 'allow',
      precedence: 1,
      traffic: 'http.request.host == "app.example.com" and http.request.uri.query == ""',
    };
    expect(decide([host], at('/public/../secret.txt'), user, 'block')).toMatchObject({ allowed: true, reason: 'matched' });
  });
});

describe('http fields: the UTF-8 check of escaped bytes agrees with decodeURIComponent', () => {
  it('refuses exactly the byte sequences decodeURIComponent refuses (overlongs, surrogates, past U+10FFFF, truncated)', () => {
    const bytes = fc.array(
      fc.oneof(fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x41), fc.constantFrom(0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0x80, 0x9f, 0xa0, 0xbf, 0x8f, 0x90)),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(bytes, fc.boolean(), (list, rawLetter) => {
        const escaped = list.map((b) => (b === 0x41 && rawLetter ? 'A' : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
        let valid = true;
        try {
          decodeURIComponent(escaped);
        } catch {
          valid = false;
        }
        const result = normalizePath(`/${escaped}`);
        expect(typeof result === 'string').toBe(valid);
        if (!valid) expect(result).toMatchObject({ problem: 'its percent-escapes are not valid UTF-8' });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('http fields: normalisation is a normal form', () => {
  const part = fc.constantFrom('/', '//', '\\', '.', '..', 'a', 'B', '%2e', '%41', '%7e', '%3b', '%3B', '%c3%a9', '%E2%84%AA', ';', '~', '-', ' ', '<', '%25');
  const path = fc.array(part, { maxLength: 10 }).map((parts) => `/${parts.join('')}`);
  const routing = fc.record({ caseInsensitive: fc.boolean(), matchesDecoded: fc.boolean(), ignoreTrailingSlash: fc.boolean() });

  it('normalising a normalised path changes nothing, and the result has no dot segment, no `//`, no `\\`', () => {
    fc.assert(
      fc.property(path, routing, (p, r) => {
        const once = normalizePath(p, r);
        if (typeof once !== 'string') return;
        expect(normalizePath(once, r)).toBe(once);
        expect(once).not.toMatch(/\/\/|\\|(^|\/)\.\.?(\/|$)/);
        expect(once).not.toMatch(/%[0-9A-F]?[a-f]/);
      }),
      { numRuns: 2000 },
    );
  });
});
