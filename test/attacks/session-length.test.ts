/**
 * Issue 11 #3, end to end in Express, Koa and Fastify: a session lasts what Cloudflare's precedence says —
 * the deciding policy's `session_duration`, else the application's, else the global one — read from the
 * gate, and checked on every request, not only written into the cookie.
 */
import { describe, expect, it } from 'vitest';
import { frameworks, useStacks } from './harness.js';

const SHORT = '5e550000-0000-4000-8000-000000000030';
const LONG = '5e550000-0000-4000-8000-000000000060';

let t = Date.now();
const clock = { now: () => t, advance: (ms: number) => void (t += ms) };

const stacks = useStacks({
  login: true,
  gate: {
    now: clock.now,
    session_duration: '24h',
    applications: {
      portal: {
        session_duration: '1h',
        policies: [
          { name: 'Short', decision: 'allow', include: [{ azureAD: { id: SHORT } }], session_duration: '30m' },
          { name: 'App length', decision: 'allow', include: [{ azureAD: { id: LONG } }] },
        ],
      },
    },
  },
  routes: [{ at: 'GET /portal', target: { application: 'portal' } }],
});

describe.each(frameworks)('%s: session length from the gate, on every request', (framework) => {
  it('refuses a session older than its deciding policy allows (30m) while the app length (1h) still holds for another policy (regression: 24 h, whatever the policies said)', async () => {
    const stack = stacks(framework);
    // The clock is shared by the frameworks' stacks: each test starts it at the real time (tokens are minted now).
    t = Date.now();
    const short = await stack.attemptLogin({ claims: { email: 'short@contoso.com', groups: [SHORT] } });
    const long = await stack.attemptLogin({ claims: { email: 'long@contoso.com', groups: [LONG] } });
    // The cookie lasts the application's session (1 h), not the global 24 h.
    const cookieLine = ((short.callback.headers['set-cookie'] as string[]) ?? []).find((c) => c.startsWith('CF_Authorization='));
    expect(cookieLine).toContain('Max-Age=3600');
    expect((await stack.request('GET', '/portal', { cookie: short.session!, as: 'api' })).status).toBe(200);
    clock.advance(29 * 60_000);
    expect((await stack.request('GET', '/portal', { cookie: short.session!, as: 'api' })).status).toBe(200);
    clock.advance(2 * 60_000);
    const api = await stack.request('GET', '/portal', { cookie: short.session!, as: 'api' });
    expect(api.status).toBe(401);
    expect(api.json().code).toBe('ERR_SESSION_EXPIRED');
    expect(String(api.headers['www-authenticate'])).toContain('error="invalid_token"');
    // A browser goes back through the login.
    const browser = await stack.request('GET', '/portal', { cookie: short.session!, as: 'browser' });
    expect(browser.status).toBe(302);
    expect(String(browser.headers.location)).toMatch(/^\/auth\/login\?returnTo=/);
    // Positive control: the policy without a duration of its own gets the application's hour.
    expect((await stack.request('GET', '/portal', { cookie: long.session!, as: 'api' })).status).toBe(200);
    clock.advance(30 * 60_000);
    expect((await stack.request('GET', '/portal', { cookie: long.session!, as: 'api' })).status).toBe(401);
  });
});
