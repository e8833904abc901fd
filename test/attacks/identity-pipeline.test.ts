/**
 * Issue 11, end to end in Express, Koa and Fastify: the login, sessions and bearer tokens answer to the
 * same directory and the same gate. Each attack sits beside a positive control (the legitimate user gets in).
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks, type Stack } from './harness.js';

const STAFF = '5a1f0000-0000-4000-8000-00000000000a';
const BLOCKED = '5a1f0000-0000-4000-8000-00000000000b';
const OTHER_TENANT = '0e7e0000-0000-4000-8000-0000000000ff';
const HOME_TENANT = '1a2b3c4d-0000-4000-8000-000000000001';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const portal = {
  session_duration: '1h',
  policies: [
    { name: 'Block', decision: 'deny' as const, include: [{ azureAD: { id: BLOCKED } }] },
    { name: 'Staff', decision: 'allow' as const, include: [{ azureAD: { id: STAFF } }] },
  ],
};

const stacks = useStacks({
  tenants: [HOME_TENANT, OTHER_TENANT],
  idp: { scim_config: { enabled: true, user_deprovision: true, identity_update_behavior: 'automatic' } },
  directory: true,
  groups: 'directory',
  login: true,
  // A multi-tenant gate: both tenants' tokens verify; the directory is the home tenant's.
  gate: { tokenGroups: 'ignore', tenants: [OTHER_TENANT], applications: { portal } },
  routes: [{ at: 'GET /portal', target: { application: 'portal' } }],
});

/** Groups with the policies' object ids exist once per backend; members are added per test. */
async function policyGroups(stack: Stack): Promise<{ staff: string; blocked: string }> {
  const find = async (objectId: string, name: string): Promise<string> => {
    const found = await stack.scim('GET', `/Groups?filter=${encodeURIComponent(`externalId eq "${objectId}"`)}`);
    const existing = (found.json<{ Resources?: Array<{ id: string }> }>().Resources ?? [])[0];
    return existing?.id ?? (await stack.group({ objectId, name })).id;
  };
  return { staff: await find(STAFF, 'Staff'), blocked: await find(BLOCKED, 'Blocked') };
}

const addMember = (stack: Stack, group: string, member: string) =>
  stack.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: member }] }] });
const removeMember = (stack: Stack, group: string, member: string) =>
  stack.scim('PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'Remove', path: `members[value eq "${member}"]` }] });

describe.each(frameworks)('%s: one identity pipeline', (framework) => {
  it('a deprovisioned user logging in again is refused, even with a groups claim (regression: the login took the ID token groups)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const ada = await stack.user();
    await addMember(stack, groups.staff, ada.id);
    const claims = { oid: ada.oid, email: ada.email, preferred_username: ada.email, groups: [STAFF] };
    // Positive control: active, she logs in and reaches the portal.
    const session = await stack.login({ claims });
    expect((await stack.request('GET', '/portal', { cookie: session, as: 'api' })).status).toBe(200);
    const off = await stack.scim('PATCH', `/Users/${ada.id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(off.status).toBe(200);
    // Her session and her tokens stop (user_deprovision), and a fresh login gets no session.
    expect((await stack.request('GET', '/portal', { cookie: session, as: 'api' })).status).toBe(401);
    const again = await stack.attemptLogin({ claims });
    expect(again.callback.status).toBe(403);
    expect(again.callback.headers['x-entragate-error']).toBe('ERR_DIRECTORY_USER_INACTIVE');
    expect(again.session).toBeUndefined();
    // A user the directory holds as inactive, with no revocation on record, gets no bearer access either.
    const ivy = await stack.user({ active: false });
    await addMember(stack, groups.staff, ivy.id);
    const bearer = await stack.request('GET', '/portal', { token: stack.mint({ oid: ivy.oid, email: ivy.email, groups: [STAFF] }), as: 'api' });
    expect(bearer.status).toBe(403);
    expect(bearer.json().code).toBe('ERR_DIRECTORY_USER_INACTIVE');
    // Another active user still gets in.
    const bob = await stack.user();
    await addMember(stack, groups.staff, bob.id);
    const bobSession = await stack.login({ claims: { oid: bob.oid, email: bob.email, preferred_username: bob.email } });
    expect((await stack.request('GET', '/portal', { cookie: bobSession, as: 'api' })).status).toBe(200);
  });

  it('automatic: moved into Block and out of Staff, the same session is refused at its next request, without a new login (regression: the login snapshot decided)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const cy = await stack.user();
    const dee = await stack.user();
    await addMember(stack, groups.staff, cy.id);
    await addMember(stack, groups.staff, dee.id);
    const cySession = await stack.login({ claims: { oid: cy.oid, email: cy.email, preferred_username: cy.email } });
    const deeSession = await stack.login({ claims: { oid: dee.oid, email: dee.email, preferred_username: dee.email } });
    expect((await stack.request('GET', '/portal', { cookie: cySession, as: 'api' })).status).toBe(200);
    expect((await addMember(stack, groups.blocked, cy.id)).status).toBe(204);
    expect((await removeMember(stack, groups.staff, cy.id)).status).toBe(204);
    const refused = await stack.request('GET', '/portal', { cookie: cySession, as: 'api' });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'ERR_ACCESS_DENIED', decision: { policy: { name: 'Block' } } });
    // Positive control: Dee, untouched, keeps her access with her session.
    expect((await stack.request('GET', '/portal', { cookie: deeSession, as: 'api' })).status).toBe(200);
  });

  it('a bearer token issued up to the clock tolerance after a revocation (issuer clock ahead) is refused (regression: it was allowed)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const eve = await stack.user();
    await addMember(stack, groups.staff, eve.id);
    const now = Math.floor(Date.now() / 1000);
    const ahead = stack.mint({ oid: eve.oid, email: eve.email, preferred_username: eve.email, iat: now + 40, nbf: now + 40 });
    expect((await stack.request('GET', '/portal', { token: ahead, as: 'api' })).status).toBe(200);
    await stack.backend.login!.revokeUser(eve.oid, now + 1);
    const refused = await stack.request('GET', '/portal', { token: ahead, as: 'api' });
    expect(refused.status).toBe(401);
    expect(refused.json().code).toBe('ERR_SESSION_REVOKED');
    // Positive control: another user's token, as far ahead, still passes.
    const fay = await stack.user();
    await addMember(stack, groups.staff, fay.id);
    expect(
      (await stack.request('GET', '/portal', { token: stack.mint({ oid: fay.oid, email: fay.email, iat: now + 40, nbf: now + 40 }), as: 'api' })).status,
    ).toBe(200);
  });

  it("another tenant's user carrying a directory user's email gets none of their groups (regression: the directory matched emails across tenants)", async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    // Provisioned with Entra's default mapping: externalId is the mail nickname, not the object id.
    const victim = await stack.user({ oid: `nick-${randomUUID().slice(0, 6)}` });
    await addMember(stack, groups.staff, victim.id);
    const impostor = stack.backend.entra.mintToken({
      tenant: OTHER_TENANT,
      claims: { oid: randomUUID(), email: victim.email, preferred_username: victim.email },
    });
    const refused = await stack.request('GET', '/portal', { token: impostor, as: 'api' });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ decision: { reason: 'unknown-membership' } });
    // Positive control: the victim, of the home tenant, matched by UPN.
    const own = stack.mint({ oid: randomUUID(), email: victim.email, preferred_username: victim.email });
    expect((await stack.request('GET', '/portal', { token: own, as: 'api' })).status).toBe(200);
  });

  it('an ID token whose `azp` is the client id logs in (OpenID Connect allows it; regression: refused as app-only)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const jo = await stack.user();
    await addMember(stack, groups.staff, jo.id);
    const done = await stack.attemptLogin({ claims: { oid: jo.oid, email: jo.email, preferred_username: jo.email, azp: stack.backend.entra.clientId } });
    expect(done.callback.status).toBe(302);
    expect((await stack.request('GET', '/portal', { cookie: done.session!, as: 'api' })).status).toBe(200);
    // Control: a client-credentials token (no user, no `scp`, `idtyp: app`) is still refused as a bearer token.
    const app = stack.backend.entra.mintToken({
      claims: { oid: randomUUID(), idtyp: 'app', azp: randomUUID(), scp: undefined, preferred_username: undefined, name: undefined },
    });
    expect((await stack.request('GET', '/portal', { token: app, as: 'api' })).status).toBe(401);
  });

  it('a sign-out posted from a sibling subdomain is refused and the session lives on (regression: same-site was trusted)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const gil = await stack.user();
    await addMember(stack, groups.staff, gil.id);
    const session = await stack.login({ claims: { oid: gil.oid, email: gil.email, preferred_username: gil.email } });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const forged = await stack.request('POST', '/auth/logout', {
      cookie: session,
      headers: { ...form, origin: 'http://evil.example.com', 'sec-fetch-site': 'same-site' },
      body: '',
    });
    expect(forged.status).toBe(403);
    expect(forged.headers['x-entragate-error']).toBe('ERR_LOGIN_ORIGIN_MISMATCH');
    expect((await stack.request('GET', '/portal', { cookie: session, as: 'api' })).status).toBe(200);
    // Positive control: the confirmation page's own form (urlencoded, as a browser posts it) signs out.
    const own = await stack.request('POST', '/auth/logout', {
      cookie: session,
      headers: { ...form, origin: stack.backend.login!.issuer, 'sec-fetch-site': 'same-origin' },
      body: '',
    });
    expect(own.status).toBe(302);
    expect((await stack.request('GET', '/portal', { cookie: session, as: 'api' })).status).toBe(401);
  });

  it('fifty abandoned logins neither pile up cookies nor break the next login (regression: the callback got a 431)', async () => {
    const stack = stacks(framework);
    const groups = await policyGroups(stack);
    const hal = await stack.user();
    await addMember(stack, groups.staff, hal.id);
    let held = '';
    for (let i = 0; i < 50; i++) {
      const start = await stack.request('GET', '/auth/login?returnTo=/', held === '' ? {} : { cookie: held });
      const jar = new Map(
        held
          .split('; ')
          .filter(Boolean)
          .map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)] as [string, string]),
      );
      for (const line of (start.headers['set-cookie'] as string[] | undefined) ?? []) {
        const pair = line.split(';')[0]!;
        const name = pair.slice(0, pair.indexOf('='));
        if (/max-age=0/i.test(line)) jar.delete(name);
        else jar.set(name, pair.slice(pair.indexOf('=') + 1));
      }
      held = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    expect(held.split('; ').filter((c) => c.startsWith('CF_Login_'))).toHaveLength(4);
    const done = await stack.attemptLogin({ claims: { oid: hal.oid, email: hal.email, preferred_username: hal.email } }, held);
    expect(done.callback.status).toBe(302);
    expect(done.session).toBeDefined();
    expect((await stack.request('GET', '/portal', { cookie: done.session!, as: 'api' })).status).toBe(200);
  });
});
