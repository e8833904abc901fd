/**
 * Gateway path rules read the path the framework will route (issue 12, findings 1 and 2), in every
 * framework end to end: an Allow for `^/public/` never admits a dot-segment or encoded escape from it,
 * and a Block for `/admin` blocks every spelling the framework routes to the `/admin` handler.
 */
import { describe, expect, it } from 'vitest';
import { frameworks, frameworksWithExpress4, useStacks, type AuthSummary, type Framework, type Stack } from './harness.js';

const SECRET = 'the secret file';
const README = 'the public readme';

describe('an Allow on `^/public/` in front of a static folder (finding 1)', () => {
  const stacks = useStacks({
    gate: {
      gateway: {
        rules: [{ name: 'Public files', action: 'allow', precedence: 1, traffic: 'http.request.uri.path matches "^/public/"' }],
        defaultAction: 'block',
      },
    },
    files: { 'public/readme.txt': README, 'secret.txt': SECRET, 'admin/report.txt': 'the admin report' },
    frameworks: frameworksWithExpress4,
    routes: [
      // `/admin` is a mount of its own: a dot segment must not carry the Allow for /public into it.
      { at: 'USE /admin', options: { anonymous: 'evaluate' } },
      { at: 'USE /', options: { anonymous: 'evaluate' }, serve: 'static' },
    ],
  });

  // Each spelling reaches `secret.txt` through the static server when nothing stops it.
  const escapes = [
    '/public/../secret.txt',
    '/public/%2e%2e/secret.txt',
    '/public/%2E%2E/secret.txt',
    '/public/.%2e/secret.txt',
    '/public/%2e./secret.txt',
    '/public/..%2fsecret.txt',
    '/public/..%2Fsecret.txt',
    '/public/%2e%2e%2fsecret.txt',
    '/public//../secret.txt',
    '/public/./../secret.txt',
    '/public/x/../../secret.txt',
    '/public/..\\secret.txt',
    '/public/..%5csecret.txt',
    '/public/../secret.txt#frag',
    '/public/../secret.txt?x=/public/',
  ];

  describe.each(frameworksWithExpress4)('%s', (framework: Framework) => {
    const stack = (): Stack => stacks(framework);

    it('serves the allowed file, with and without a token (positive control)', async () => {
      for (const init of [{}, { token: stack().mint() }]) {
        const reply = await stack().request('GET', '/public/readme.txt', init);
        expect(reply.status).toBe(200);
        expect(reply.text).toBe(README);
      }
      // Cloudflare's normalisation: an encoded unreserved character is the character, a backslash a slash.
      for (const spelling of ['/public/%72eadme.txt', '/%70ublic/readme.txt', '/public//readme.txt']) {
        const reply = await stack().request('GET', spelling);
        expect(reply.status, spelling).toBe(200);
        expect(reply.text).toBe(README);
      }
    });

    it('refuses the file outside /public: 401 without a token, 403 with one', async () => {
      const anonymous = await stack().request('GET', '/secret.txt', { as: 'api' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="entragate"');
      const denied = await stack().request('GET', '/secret.txt', { token: stack().mint() });
      expect(denied.status).toBe(403);
      expect(denied.json()).toMatchObject({ code: 'ERR_ACCESS_DENIED', decision: { kind: 'gateway', reason: 'default' } });
    });

    it.each(escapes)('never serves the secret through `%s`, with or without a token', async (target) => {
      const anonymous = await stack().request('GET', target, { as: 'api' });
      expect(anonymous.text).not.toContain(SECRET);
      expect([400, 401]).toContain(anonymous.status);
      const withToken = await stack().request('GET', target, { token: stack().mint() });
      expect(withToken.text).not.toContain(SECRET);
      // The framework itself may refuse a bad target with 400 first; otherwise the rules fail closed.
      if (withToken.status !== 400) {
        expect(withToken.status).toBe(403);
        expect(withToken.json()).toMatchObject({ code: 'ERR_ACCESS_DENIED', decision: { kind: 'gateway', action: 'block' } });
        expect(['default', 'unknown-request']).toContain(withToken.json<{ decision: { reason: string } }>().decision.reason);
      }
    });

    it('reads a path with a dot segment as unknown, so the Allow does not admit `/admin/../public/…` into the /admin mount', async () => {
      const reply = await stack().request('GET', '/admin/../public/readme.txt', { token: stack().mint() });
      expect(reply.status).toBe(403);
      expect(reply.json()).toMatchObject({ decision: { kind: 'gateway', reason: 'unknown-request' } });
      expect(reply.text).not.toContain('"via"');
    });
  });
});

describe('a Block on `(?i)^/admin$` with the default routing of each framework (finding 2)', () => {
  const stacks = useStacks({
    gate: {
      gateway: {
        rules: [
          { name: 'No admin', action: 'block', precedence: 1, traffic: 'http.request.uri.path matches "(?i)^/admin$"' },
          { name: 'No exact admin', action: 'block', precedence: 2, traffic: 'http.request.uri.path == "/settings"' },
        ],
        defaultAction: 'allow',
      },
    },
    frameworks: frameworksWithExpress4,
    routes: [{ at: 'GET /admin' }, { at: 'GET /settings' }, { at: 'GET /hello' }],
  });

  describe.each(frameworksWithExpress4)('%s', (framework: Framework) => {
    const stack = (): Stack => stacks(framework);
    const reached = (reply: { status: number; text: string }) => reply.status === 200 && reply.text.includes('"via"');

    it('lets a user reach another route (positive control)', async () => {
      const reply = await stack().request('GET', '/hello?x=1', { token: stack().mint() });
      expect(reply.status).toBe(200);
      expect(reply.json<AuthSummary>()).toMatchObject({ via: 'bearer', reason: 'default', action: 'allow' });
    });

    it.each(['/admin', '/ADMIN', '/admin/', '/Admin/?x=1', '/admin#x', '/admin/#x', '/%61dmin', '/%41dmin/', '//admin', '/admin//'])(
      'never lets `%s` reach the /admin handler',
      async (target) => {
        const reply = await stack().request('GET', target, { token: stack().mint() });
        expect(reached(reply)).toBe(false);
      },
    );

    it('blocks `/admin/` and `/Admin/?x=1` where the framework routes them to /admin, and says which rule', async () => {
      // Express and @koa/router route both to `/admin` by default; Fastify routes neither (404).
      for (const target of ['/admin/', '/Admin/?x=1', '/admin#x']) {
        const reply = await stack().request('GET', target, { token: stack().mint() });
        if (framework === 'fastify' && target !== '/admin#x') {
          expect(reply.status).toBe(404);
        } else {
          expect(reply.status, target).toBe(403);
          expect(reply.json()).toMatchObject({ decision: { kind: 'gateway', reason: 'matched', policy: { name: 'No admin' } } });
        }
      }
    });

    it('blocks every spelling of `/settings` the framework routes to it, though the rule names it exactly', async () => {
      for (const target of ['/settings', '/Settings', '/SETTINGS/', '/settings#top', '/settings?tab=1']) {
        const reply = await stack().request('GET', target, { token: stack().mint() });
        expect(reached(reply), target).toBe(false);
      }
    });
  });
});

describe('the framework settings decide which spellings are one path', () => {
  const gate = {
    gateway: {
      rules: [
        { name: 'No admin', action: 'block' as const, precedence: 1, traffic: 'http.request.uri.path == "/admin"' },
        { name: 'No key', action: 'block' as const, precedence: 2, traffic: 'http.request.uri.path == "/key"' },
        { name: 'No strict admin', action: 'block' as const, precedence: 3, traffic: 'http.request.uri.path == "/strict/admin"' },
      ],
      defaultAction: 'allow' as const,
    },
  };
  const routes = [{ at: 'GET /admin' }, { at: 'GET /key' }, { at: 'GET /Mixed' }];

  describe('case-sensitive, strict (Express `case sensitive routing` + `strict routing`, Fastify defaults, @koa/router `sensitive` + `strict`)', () => {
    // Express and Fastify read their own settings; Koa has no router to read, so its routes say it.
    const stacks = useStacks({
      gate,
      routes: routes.map((r) => ({
        ...r,
        options: (_b: unknown, framework: Framework) => (framework === 'koa' ? { routing: { caseSensitive: true, ignoreTrailingSlash: false } } : {}),
      })),
      routing: { caseSensitive: true, ignoreTrailingSlash: false },
    });

    it.each(frameworks)('%s: blocks `/admin`; `/Admin` and `/admin/` reach no handler; a mixed-case route is still allowed', async (framework) => {
      const stack = stacks(framework);
      const token = stack.mint();
      expect((await stack.request('GET', '/admin', { token })).status).toBe(403);
      expect((await stack.request('GET', '/Admin', { token })).status).toBe(404);
      expect((await stack.request('GET', '/admin/', { token })).status).toBe(404);
      // Positive control: the path keeps its case when the router does.
      const mixed = await stack.request('GET', '/Mixed', { token });
      expect(mixed.status).toBe(200);
      expect(mixed.json<{ request: { url: string } }>()).toMatchObject({ via: 'bearer', request: { url: '/Mixed' } });
    });
  });

  describe('Fastify `caseSensitive: false`, `ignoreTrailingSlash: true`, `useSemicolonDelimiter: true`', () => {
    const stacks = useStacks({
      gate,
      routes,
      routing: { caseSensitive: false, ignoreTrailingSlash: true, useSemicolonDelimiter: true },
      frameworks: ['fastify'],
    });

    it.each(['/admin', '/ADMIN/', '/%41dmin', '/admin;jsessionid=1', '/Admin;x?y=1', '/admin/;x'])(
      'blocks `%s`, which find-my-way routes to /admin',
      async (target) => {
        const stack = stacks('fastify');
        const reply = await stack.request('GET', target, { token: stack.mint() });
        expect(reply.status).toBe(403);
        expect(reply.json()).toMatchObject({ decision: { reason: 'matched', policy: { name: 'No admin' } } });
      },
    );

    it('blocks `/%E2%84%AAey`: find-my-way lower-cases the decoded Kelvin sign to `k` and routes it to /key', async () => {
      const stack = stacks('fastify');
      const reply = await stack.request('GET', '/%E2%84%AAey', { token: stack.mint() });
      expect(reply.status).toBe(403);
      expect(reply.json()).toMatchObject({ decision: { policy: { name: 'No key' } } });
    });

    it('lets another path through (positive control)', async () => {
      const stack = stacks('fastify');
      const reply = await stack.request('GET', '/mixed;x', { token: stack.mint() });
      expect(reply.status).toBe(200);
    });
  });

  describe('Express and Koa read the `routing` option over their defaults (an `express.Router({ caseSensitive: true })`, a strict @koa/router)', () => {
    const stacks = useStacks({
      gate,
      routes: [{ at: 'GET /admin' }, { at: 'USE /strict', options: { routing: { caseSensitive: true, ignoreTrailingSlash: false } } }],
      frameworks: ['express', 'koa'],
    });

    it.each(['express', 'koa'] as const)('%s: a route under the option keeps case and trailing slash; the default routes fold them', async (framework) => {
      const stack = stacks(framework);
      const token = stack.mint();
      expect((await stack.request('GET', '/ADMIN/', { token })).status).toBe(403);
      expect((await stack.request('GET', '/strict/admin', { token })).status).toBe(403);
      const strict = await stack.request('GET', '/strict/Admin/', { token });
      expect(strict.status).toBe(200);
      expect(strict.json()).toMatchObject({ via: 'bearer', reason: 'default' });
    });
  });
});
