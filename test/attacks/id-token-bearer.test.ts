/**
 * ID tokens are not bearer credentials, end to end in Express, Koa and Fastify: the sign-out at Entra
 * (`entraLogout.idTokenHint`) hands the login's ID token to the browser in the `id_token_hint` of its
 * redirect (OpenID Connect RP-Initiated Logout §2), where history, proxies and Entra's logs keep it. It
 * must not open the app as an `Authorization: Bearer` token afterwards. Each attack beside a control.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks } from './harness.js';

const portal = { session_duration: '24h', policies: [{ name: 'Staff', decision: 'allow' as const, include: [{ everyone: {} }] }] };

const stacks = useStacks({
  login: { entraLogout: { idTokenHint: true } },
  gate: { applications: { portal } },
  routes: [{ at: 'GET /portal', target: { application: 'portal' } }],
});

describe.each(frameworks)('%s: ID tokens as bearer tokens', (framework) => {
  it("the ID token of a sign-out's id_token_hint does not open the app as a bearer token", async () => {
    const stack = stacks(framework);
    const oid = randomUUID();
    const email = `i${oid.slice(0, 6)}@contoso.com`;
    const cookie = await stack.login({ claims: { oid, email } });
    // Positive controls: the session works, and so does the user's access token for the app.
    expect((await stack.request('GET', '/portal', { cookie, as: 'api' })).status).toBe(200);
    expect((await stack.request('GET', '/portal', { token: stack.mint({ oid, email, scp: 'access_as_user' }), as: 'api' })).status).toBe(200);

    const out = await stack.request('GET', '/auth/logout', { cookie, headers: { 'sec-fetch-site': 'same-origin' } });
    expect(out.status).toBe(302);
    const idToken = new URL(String(out.headers.location)).searchParams.get('id_token_hint');
    expect(idToken).toMatch(/^eyJ/);
    const replay = await stack.request('GET', '/portal', { token: idToken!, as: 'api' });
    expect(replay.status).toBe(401);
    expect(replay.json().code).toBe('ERR_TOKEN_CLAIM_INVALID');
    expect(replay.text).not.toContain(idToken!);
  });
});
