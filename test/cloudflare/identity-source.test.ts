import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import diagnostics from 'node:diagnostics_channel';
import {
  ACCESS_IDENTITY_CHANNEL,
  createAccessIdentityGroupSource,
  createAccessVerifier,
  createGroupSourceChain,
  ERROR_CODES,
  type AccessIdentityGroupSourceOptions,
  type AccessUserAssertion,
  type GroupResolution,
  type GroupSource,
} from '../../src/index.js';
import { createMockCloudflare, type MintAppTokenOptions, type MockCloudflare } from '../../src/testing/index.js';

// Groups behind Cloudflare Access: get-identity (`GET <team>/cdn-cgi/access/get-identity` with
// `Cookie: CF_Authorization=<token>`, Cloudflare's "Application token" reference) answers the user's
// groups as `[{ id, name, email? }]`. An outage or a bad answer is `unknown` membership, never "no groups".

let cf: MockCloudflare;
beforeAll(async () => {
  cf = await createMockCloudflare();
});
afterAll(async () => {
  await cf.close();
});
afterEach(() => {
  Object.assign(cf.faults.identity, { down: false, garbage: false, body: undefined, delayMs: 0, dribbleMs: 0, redirectTo: undefined });
});

const FINANCE = { id: 'fdaedb59-e9be-4ab7-8001-3e069da54185', name: 'Finance' };
const SECURITY = { id: '86773093-5feb-48dd-814b-7ccd3676ff50', name: 'Security Team', email: 'security@contoso.com' };

async function user(mint: MintAppTokenOptions = {}): Promise<AccessUserAssertion & { token: string }> {
  const token = cf.mintAppToken({ email: 'ada@contoso.com', groups: [FINANCE, SECURITY], ...mint });
  const result = await createAccessVerifier(cf.accessConfig()).verify(token);
  if (result.kind !== 'user') throw new Error('expected a user');
  return { ...result, token };
}

const sourceFor = (overrides: Partial<AccessIdentityGroupSourceOptions> = {}) =>
  createAccessIdentityGroupSource({ teamDomain: cf.teamDomain, timeoutMs: 300, failureBackoffMs: 0, ...overrides });

function expectUnknown(resolution: GroupResolution, code: string, text?: string): void {
  expect(resolution.groups).toEqual([]);
  expect(resolution.membership.state).toBe('unknown');
  if (resolution.membership.state !== 'unknown') return;
  expect(resolution.membership.code).toBe(code);
  if (text !== undefined) expect(resolution.membership.reason).toContain(text);
}

describe('get-identity answers', () => {
  it('the groups, complete, with ids and names, and a mail only where Cloudflare gave one', async () => {
    const u = await user();
    const resolution = await sourceFor().resolve(u.identity, { claims: u.claims });
    expect(resolution.groups).toEqual([FINANCE, SECURITY]);
    expect(resolution.membership).toEqual({ state: 'complete', source: 'cloudflare', fields: ['id', 'name'] });
    // It asked with the assertion as the CF_Authorization cookie, and nothing else.
    expect(cf.identityCookies.at(-1)).toBe(`CF_Authorization=${u.token}`);
    expect(sourceFor().fields).toEqual(['id', 'name']);
  });

  it('a user in no group: complete and empty (a known answer)', async () => {
    const u = await user({ groups: [] });
    expect(await sourceFor().resolve(u.identity, { claims: u.claims })).toMatchObject({ groups: [], membership: { state: 'complete' } });
  });

  it('an answer without `groups` (a login method that does not send them) is absent: a chain moves on', async () => {
    const u = await user({ identity: { groups: undefined } });
    const source = sourceFor();
    expect(await source.resolve(u.identity, { claims: u.claims })).toEqual({ groups: [], membership: { state: 'absent' } });
    const next: GroupSource = { name: 'next', resolve: async () => ({ groups: [{ id: 'g' }], membership: { state: 'complete', source: 'static' } }) };
    expect(await createGroupSourceChain([source, next]).resolve(u.identity, { claims: u.claims })).toMatchObject({ groups: [{ id: 'g' }] });
  });

  it('is cached per identity_nonce: one call per login, the same object; another nonce is asked afresh; the TTL bounds it', async () => {
    let now = 1_800_000_000_000;
    const source = sourceFor({ now: () => now, ttlMs: 60_000 });
    const u = await user();
    const before = cf.requests.identity;
    const first = await source.resolve(u.identity, { claims: u.claims });
    expect(await source.resolve(u.identity, { claims: u.claims })).toBe(first);
    // Another assertion of the same login (same nonce) shares the entry.
    const again = await user({ identity_nonce: u.identity.identity_nonce, sub: u.identity.sub });
    expect(await source.resolve(again.identity, { claims: again.claims })).toBe(first);
    expect(cf.requests.identity).toBe(before + 1);
    const other = await user();
    await source.resolve(other.identity, { claims: other.claims });
    expect(cf.requests.identity).toBe(before + 2);
    now += 60_000;
    expect(await source.resolve(u.identity, { claims: u.claims })).not.toBe(first);
    expect(cf.requests.identity).toBe(before + 3);
  });

  it('concurrent lookups of one login share a single call', async () => {
    const source = sourceFor();
    const u = await user();
    const before = cf.requests.identity;
    cf.faults.identity.delayMs = 50;
    const answers = await Promise.all(Array.from({ length: 20 }, () => source.resolve(u.identity, { claims: u.claims })));
    expect(cf.requests.identity).toBe(before + 1);
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]!.membership.state).toBe('complete');
  });

  it('takes the assertion from `context.accessAssertion` too', async () => {
    const u = await user();
    const resolution = await sourceFor().resolve(u.identity, { claims: { ...u.claims }, accessAssertion: u.token } as never);
    expect(resolution.membership.state).toBe('complete');
  });

  it('checks the login method when `idpId` is set', async () => {
    const u = await user();
    expect((await sourceFor({ idpId: cf.idpId }).resolve(u.identity, { claims: u.claims })).membership.state).toBe('complete');
    const elsewhere = await user({ identity: { idp: { id: 'a1b2c3d4-0000-4000-8000-00000000otp0', type: 'onetimepin' } } });
    const resolution = await sourceFor({ idpId: cf.idpId }).resolve(elsewhere.identity, { claims: elsewhere.claims });
    expectUnknown(resolution, 'ERR_ACCESS_IDENTITY_IDP_MISMATCH', 'not the Entra login method');
    expect(ERROR_CODES.ERR_ACCESS_IDENTITY_IDP_MISMATCH.status).toBe(403);
    const none = await user({ identity: { idp: undefined } });
    expectUnknown(await sourceFor({ idpId: cf.idpId }).resolve(none.identity, { claims: none.claims }), 'ERR_ACCESS_IDENTITY_IDP_MISMATCH');
  });
});

describe('never "no groups" when it does not know', () => {
  it('get-identity down is unknown (503), not cached, and fails fast within the backoff', async () => {
    let now = 1_800_000_000_000;
    const source = sourceFor({ now: () => now, failureBackoffMs: 5_000 });
    const u = await user();
    const v = await user();
    cf.faults.identity.down = true;
    const before = cf.requests.identity;
    expectUnknown(await source.resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'answered HTTP 503');
    expect(ERROR_CODES.ERR_ACCESS_IDENTITY_UNAVAILABLE.status).toBe(503);
    // Within the backoff another login is not asked for.
    expectUnknown(await source.resolve(v.identity, { claims: v.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'not asked again');
    expect(cf.requests.identity).toBe(before + 1);
    cf.faults.identity.down = false;
    now += 5_000;
    expect((await source.resolve(u.identity, { claims: u.claims })).membership.state).toBe('complete');
  });

  it.each([
    ['garbage (not JSON)', { garbage: true }, 'is not JSON'],
    ['a JSON array', { body: [] }, 'something other than a JSON object'],
    ["the Pages plugin's `groups: string[]`", { body: 'pages' }, 'a group that is not an object'],
    ['`groups` that is not an array', { body: 'object-groups' }, 'not an array'],
    ['a group without a name', { body: 'nameless' }, 'without a string `id` and `name`'],
    ['a group with an empty id', { body: 'empty-id' }, 'without a string `id` and `name`'],
    ['a group mail that is not a string', { body: 'bad-mail' }, 'not a string'],
    ['another user (user_uuid)', { body: 'other-user' }, 'for another user'],
    ['no user_uuid', { body: 'no-user' }, 'for another user'],
    ['another email', { body: 'other-email' }, 'another `email`'],
  ])('%s is unknown (503)', async (_name, fault, text) => {
    const u = await user();
    const answer = { user_uuid: u.identity.user_uuid, email: 'ada@contoso.com', idp: { id: cf.idpId, type: 'azureAD' } };
    const bodies: Record<string, unknown> = {
      pages: { ...answer, groups: ['Finance'] },
      'object-groups': { ...answer, groups: { [FINANCE.id]: FINANCE } },
      nameless: { ...answer, groups: [{ id: FINANCE.id }] },
      'empty-id': { ...answer, groups: [{ id: '', name: 'x' }] },
      'bad-mail': { ...answer, groups: [{ ...FINANCE, email: ['a@b'] }] },
      'other-user': { ...answer, user_uuid: 'c0ffee00-0000-4000-8000-000000000002', groups: [FINANCE] },
      'no-user': { ...answer, user_uuid: undefined, groups: [FINANCE] },
      'other-email': { ...answer, email: 'mallory@contoso.com', groups: [FINANCE] },
    };
    const f = fault as { garbage?: boolean; body?: unknown };
    Object.assign(cf.faults.identity, f.body === undefined ? f : { body: typeof f.body === 'string' ? bodies[f.body] : f.body });
    const source = sourceFor();
    expectUnknown(await source.resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', text);
    // Not cached: once get-identity answers well, the same source completes (the positive control).
    Object.assign(cf.faults.identity, { garbage: false, body: undefined });
    expect((await source.resolve(u.identity, { claims: u.claims })).membership.state).toBe('complete');
  });

  it('slow, dribbling or redirecting is unknown within the deadline', async () => {
    const u = await user();
    cf.faults.identity.delayMs = 1_000;
    expectUnknown(await sourceFor().resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'timed out after 300 ms');
    cf.faults.identity.delayMs = 0;
    cf.faults.identity.dribbleMs = 5;
    expectUnknown(await sourceFor().resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'timed out after 300 ms');
    cf.faults.identity.dribbleMs = 0;
    cf.faults.identity.redirectTo = `${cf.teamDomain}/cdn-cgi/access/login`;
    expectUnknown(await sourceFor().resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'redirects are not followed');
    const stuck = sourceFor({ fetch: () => new Promise<Response>(() => undefined) });
    expectUnknown(await stuck.resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'timed out');
  });

  it('a refusal of this assertion (a 4xx) is unknown but starts no backoff for other users', async () => {
    const source = sourceFor({ failureBackoffMs: 60_000 });
    const u = await user();
    cf.setIdentity(u.identity.identity_nonce, undefined);
    expectUnknown(await source.resolve(u.identity, { claims: u.claims }), 'ERR_ACCESS_IDENTITY_UNAVAILABLE', 'answered HTTP 404');
    const v = await user();
    expect((await source.resolve(v.identity, { claims: v.claims })).membership.state).toBe('complete');
  });

  it('no assertion in the context (claims copied, or not from the verifier) is unknown, and nothing is sent', async () => {
    const u = await user();
    const before = cf.requests.identity;
    expectUnknown(
      await sourceFor().resolve(u.identity, { claims: { ...u.claims } }),
      'ERR_ACCESS_IDENTITY_UNAVAILABLE',
      'no verified Cloudflare Access assertion',
    );
    expectUnknown(
      await sourceFor().resolve(u.identity, { claims: JSON.parse(JSON.stringify(u.claims)) as Record<string, unknown> }),
      'ERR_ACCESS_IDENTITY_UNAVAILABLE',
    );
    expect(cf.requests.identity).toBe(before);
  });

  it('never repeats the assertion in a reason or a diagnostics message', async () => {
    const messages: unknown[] = [];
    const listener = (m: unknown) => messages.push(m);
    diagnostics.subscribe(ACCESS_IDENTITY_CHANNEL, listener);
    try {
      const u = await user();
      cf.faults.identity.down = true;
      const failed = await sourceFor().resolve(u.identity, { claims: u.claims });
      cf.faults.identity.down = false;
      const ok = await sourceFor().resolve(u.identity, { claims: u.claims });
      expect(ok.membership.state).toBe('complete');
      const text = JSON.stringify([failed, messages]);
      expect(text).not.toContain(u.token.slice(-20));
      expect(text).not.toContain(u.identity.identity_nonce);
      expect(messages).toEqual([
        expect.objectContaining({ ok: false, code: 'ERR_ACCESS_IDENTITY_UNAVAILABLE' }),
        expect.objectContaining({ ok: true, groups: 2 }),
      ]);
    } finally {
      diagnostics.unsubscribe(ACCESS_IDENTITY_CHANNEL, listener);
    }
  });

  it('refuses options it does not know, and a team domain it would send assertions to in clear text', () => {
    expect(() => createAccessIdentityGroupSource({ teamDomain: 'http://contoso.cloudflareaccess.com' })).toThrow(/`teamDomain`/);
    expect(() => createAccessIdentityGroupSource({ teamDomain: 'contoso', ttl: 5 } as never)).toThrow(
      /invalid cloudflare get-identity group source configuration/,
    );
  });
});
