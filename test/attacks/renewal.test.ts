/**
 * Renewal (`renewAfterSeconds`), end to end in Express, Koa and Fastify on the mock Entra ID and the
 * directory store: what a renewal may never do. Each attack sits beside a positive control.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks, type Stack } from './harness.js';

/** The login's clock: real time, moved on by the tests so that sessions fall due. */
let offset = 0;
const now = (): number => Date.now() + offset;

/** The next refresh grant the login sends to Entra waits for `release` (armed by {@link hold}). */
let armed: { reached(): void; released: Promise<void> } | undefined;
function hold(): { reached: Promise<void>; release(): void } {
  let reached!: () => void;
  let release!: () => void;
  const out = { reached: new Promise<void>((resolve) => (reached = resolve)), release: () => release() };
  armed = { reached, released: new Promise<void>((resolve) => (release = resolve)) };
  return out;
}
const loginFetch = (async (input, init) => {
  const waiting = armed;
  if (waiting !== undefined && String(input).endsWith('/oauth2/v2.0/token') && String(init?.body ?? '').includes('grant_type=refresh_token')) {
    armed = undefined;
    waiting.reached();
    await waiting.released;
  }
  return fetch(input, init);
}) as typeof fetch;

const portal = { session_duration: '24h', policies: [{ name: 'Staff', decision: 'allow' as const, include: [{ everyone: {} }] }] };

const spec = {
  login: { renewAfterSeconds: 60, now, fetch: loginFetch },
  gate: { applications: { portal } },
  routes: [{ at: 'GET /portal', target: { application: 'portal' } }],
};
/** The directory store's identities (shared by instances), and the in-memory default. */
const stores = { directory: useStacks({ ...spec, directory: true }), memory: useStacks(spec) };

const signOut = (stack: Stack, cookie: string) => stack.request('GET', '/auth/logout', { cookie, headers: { 'sec-fetch-site': 'same-origin' } });

describe.each(frameworks.flatMap((framework) => (['directory', 'memory'] as const).map((store) => [framework, store] as const)))(
  '%s, %s identities: renewal',
  (framework, store) => {
    it('a sign-out while Entra answers a renewal stays a sign-out: the renewal does not store the session back (regression: it deleted and inserted the record whatever happened meanwhile)', async () => {
      const stack = stores[store](framework);
      const oid = randomUUID();
      const cookie = await stack.login({ claims: { oid, email: `r${oid.slice(0, 6)}@contoso.com` } });
      // Positive control: the session works, and once due it is renewed and still works.
      expect((await stack.request('GET', '/portal', { cookie, as: 'api' })).status).toBe(200);
      offset += 61_000;
      expect((await stack.request('GET', '/portal', { cookie, as: 'api' })).status).toBe(200);
      expect(stack.backend.entra.login.tokenRequests.filter((r) => r.grant_type === 'refresh_token').at(-1)?.outcome).toBe('ok');

      // Due again; a copy of the cookie (another tab, or a thief's) starts the renewal; the user signs out meanwhile.
      offset += 61_000;
      const h = hold();
      const during = stack.request('GET', '/portal', { cookie, as: 'api' });
      await h.reached;
      const out = await signOut(stack, cookie);
      expect(out.status).toBe(302);
      h.release();
      expect((await during).status).toBe(401);
      // The copy of the cookie stays signed out.
      const after = await stack.request('GET', '/portal', { cookie, as: 'api' });
      expect(after.status).toBe(401);
      expect(after.json().code).toBe('ERR_SESSION_REVOKED');
    });
  },
);
