import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { createGate } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

let entra: MockEntra;
beforeAll(async () => {
  entra = await createMockEntra();
});
afterEach(() => entra.login.reset());
afterAll(async () => {
  await entra.close();
});

const REDIRECT = 'http://127.0.0.1:9/cb';

async function authorize(params: Record<string, string>): Promise<Response> {
  const url = new URL(`${entra.url}/${entra.tenantId}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({
    client_id: entra.clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'openid profile',
    state: 's1',
    ...params,
  })) {
    url.searchParams.set(k, v);
  }
  return fetch(url, { redirect: 'manual' });
}

async function codeFor(params: Record<string, string> = {}): Promise<string> {
  const res = await authorize(params);
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.searchParams.get('state')).toBe(params.state ?? 's1');
  return location.searchParams.get('code')!;
}

async function token(body: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${entra.url}/${entra.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const challengeOf = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

describe('mock Entra: authorize', () => {
  it('refuses an unknown client and an unregistered redirect URI with a page, not a redirect', async () => {
    const unknown = await authorize({ client_id: randomUUID() });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error_description: string }).error_description).toMatch(/^AADSTS700016: /);
    entra.login.redirectUris = ['https://registered.example/cb'];
    const unregistered = await authorize({});
    expect(unregistered.status).toBe(400);
    expect(await unregistered.json()).toMatchObject({ error: 'invalid_request', error_codes: [50011] });
  });

  it('redirects with an error for a missing openid scope, a wrong response_type or a plain challenge method', async () => {
    for (const [params, error] of [
      [{ scope: 'profile' }, 'invalid_scope'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ code_challenge: challengeOf('v'.repeat(43)), code_challenge_method: 'plain' }, 'invalid_request'],
    ] as const) {
      const res = await authorize(params);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('error_description')).toMatch(/^AADSTS\d+: /);
      expect(location.searchParams.get('state')).toBe('s1');
    }
    entra.login.requirePkce = true;
    const noPkce = new URL((await authorize({})).headers.get('location')!);
    expect(noPkce.searchParams.get('error_description')).toMatch(/^AADSTS9002325/);
  });

  it('picks the user by nextUser, then login_hint, then the default', async () => {
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    entra.login.users.set('bob@contoso.com', { claims: { email: 'bob@contoso.com' } });
    const redeem = async (code: string) => {
      const { json } = await token({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        client_id: entra.clientId,
        client_secret: entra.clientSecret,
      });
      return gate.verify(json.id_token as string, { nonce: 'n1' });
    };
    entra.login.nextUser = { claims: { email: 'ada@contoso.com' } };
    expect((await redeem(await codeFor({ nonce: 'n1', login_hint: 'Bob@contoso.com' }))).email).toBe('ada@contoso.com');
    expect((await redeem(await codeFor({ nonce: 'n1', login_hint: 'Bob@contoso.com' }))).email).toBe('bob@contoso.com');
    expect((await redeem(await codeFor({ nonce: 'n1' }))).email).toBe('test.user@example.com');
  });
});

describe('mock Entra: token', () => {
  it('issues an ID token with the nonce and the client id as audience, and a delegated access token', async () => {
    const verifier = 'a'.repeat(20) + 'B'.repeat(23);
    const code = await codeFor({
      nonce: 'n-42',
      code_challenge: challengeOf(verifier),
      code_challenge_method: 'S256',
      scope: 'openid offline_access User.Read',
    });
    const { status, json } = await token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: entra.clientId,
      client_secret: entra.clientSecret,
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ token_type: 'Bearer', expires_in: 3599, scope: 'openid offline_access User.Read' });
    expect(typeof json.refresh_token).toBe('string');
    const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
    const verified = await gate.verifyToken(json.id_token as string, { nonce: 'n-42' });
    expect(verified.claims.aud).toBe(entra.clientId);
    expect(entra.login.introspect(json.access_token as string)).toMatchObject({ kind: 'delegated', scopes: ['User.Read'], oid: verified.identity.oid });
    expect(entra.login.tokenRequests.at(-1)!.pkce).toBe('verified');
  });

  it('spends a code on first use: a replay gets AADSTS54005', async () => {
    const code = await codeFor();
    const body = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: entra.clientId, client_secret: entra.clientSecret };
    expect((await token(body)).status).toBe(200);
    const replay = await token(body);
    expect(replay.status).toBe(400);
    expect(replay.json).toMatchObject({ error: 'invalid_grant', error_codes: [54005] });
  });

  it('checks the redirect URI and the client authentication', async () => {
    const base = { grant_type: 'authorization_code', redirect_uri: REDIRECT, client_id: entra.clientId };
    expect(
      (await token({ ...base, code: await codeFor(), client_secret: entra.clientSecret, redirect_uri: 'http://127.0.0.1:9/other' })).json.error_codes,
    ).toEqual([50011]);
    const wrong = await token({ ...base, code: await codeFor(), client_secret: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect((await token({ ...base, code: await codeFor() })).json.error_codes).toEqual([7000218]);
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(entra.clientId)}:${encodeURIComponent(entra.clientSecret)}`).toString('base64')}`;
    expect((await token({ grant_type: 'authorization_code', redirect_uri: REDIRECT, code: await codeFor() }, { authorization: basic })).status).toBe(200);
    expect(entra.login.tokenRequests.at(-1)!.clientAuth).toBe('client_secret_basic');
    const both = await token({ ...base, code: await codeFor(), client_secret: entra.clientSecret }, { authorization: basic });
    expect(both.json).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses a verifier without a challenge', async () => {
    const res = await token({
      grant_type: 'authorization_code',
      code: await codeFor(),
      redirect_uri: REDIRECT,
      code_verifier: 'x'.repeat(43),
      client_id: entra.clientId,
      client_secret: entra.clientSecret,
    });
    expect(res.json).toMatchObject({ error: 'invalid_grant', error_codes: [50148] });
    expect(entra.login.tokenRequests.at(-1)!.pkce).toBe('unexpected');
  });

  it('serves client credentials with an opaque app token, and refuses a scope without /.default', async () => {
    const ok = await token({
      grant_type: 'client_credentials',
      scope: 'https://graph.microsoft.com/.default',
      client_id: entra.clientId,
      client_secret: entra.clientSecret,
    });
    expect(ok.status).toBe(200);
    expect(entra.login.introspect(ok.json.access_token as string)).toMatchObject({
      kind: 'app',
      tenant: entra.tenantId,
      scopes: ['https://graph.microsoft.com/.default'],
    });
    const bad = await token({ grant_type: 'client_credentials', scope: 'User.Read', client_id: entra.clientId, client_secret: entra.clientSecret });
    expect(bad.json).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
    const grant = await token({ grant_type: 'password', client_id: entra.clientId, client_secret: entra.clientSecret });
    expect(grant.json).toMatchObject({ error: 'unsupported_grant_type' });
  });
});
