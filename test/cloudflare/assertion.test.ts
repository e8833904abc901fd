import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessAssertionOf, accessServiceTokenContext, createAccessVerifier, EntragateError, TokenError } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';

// Cloudflare's "Validate JWTs": "We recommend validating the Cf-Access-Jwt-Assertion header instead of the
// CF_Authorization cookie, since the cookie is not guaranteed to be passed." Header first, cookie as a
// fallback; two different assertions at once are refused, never one picked.

let cf: MockCloudflare;
let a: string;
let b: string;
beforeAll(async () => {
  cf = await createMockCloudflare();
  a = cf.mintAppToken({ email: 'ada@example.com' });
  b = cf.mintAppToken({ email: 'mallory@example.com' });
});
afterAll(async () => {
  await cf.close();
});

function ambiguity(read: () => unknown): TokenError {
  let caught: unknown;
  try {
    read();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TokenError);
  const error = caught as TokenError;
  expect(error.code).toBe('ERR_ACCESS_ASSERTION_AMBIGUOUS');
  expect(error.status).toBe(400);
  expect(error.headers['WWW-Authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_request"/);
  for (const token of [a, b]) expect(error.message).not.toContain(token.slice(-20));
  return error;
}

describe('accessAssertionOf', () => {
  it('reads the header first, the CF_Authorization cookie as a fallback, and nothing else', () => {
    expect(accessAssertionOf({ 'cf-access-jwt-assertion': a })).toBe(a);
    expect(accessAssertionOf({ cookie: `theme=dark; CF_Authorization=${a}; other=1` })).toBe(a);
    expect(accessAssertionOf({ 'cf-access-jwt-assertion': a, cookie: `CF_Authorization=${a}` })).toBe(a);
    expect(accessAssertionOf({ cookie: `CF_Authorization="${a}"` })).toBe(a);
    expect(accessAssertionOf({})).toBeUndefined();
    expect(accessAssertionOf({ authorization: `Bearer ${a}`, cookie: `cf_authorization=${a}; CF_Authorization_x=${a}` })).toBeUndefined();
    // An empty header is none: the cookie answers.
    expect(accessAssertionOf({ 'cf-access-jwt-assertion': '', cookie: `CF_Authorization=${a}` })).toBe(a);
    // A fetch `Headers` works the same.
    expect(accessAssertionOf(new Headers({ 'Cf-Access-Jwt-Assertion': a }))).toBe(a);
    expect(accessAssertionOf(new Headers({ cookie: `CF_Authorization=${a}` }))).toBe(a);
  });

  it('refuses a header and a cookie that carry different assertions', () => {
    ambiguity(() => accessAssertionOf({ 'cf-access-jwt-assertion': a, cookie: `CF_Authorization=${b}` }));
    ambiguity(() => accessAssertionOf(new Headers({ 'cf-access-jwt-assertion': a, cookie: `CF_Authorization=${b}` })));
  });

  it('refuses the header given twice with different values, as an array or joined with a comma', () => {
    ambiguity(() => accessAssertionOf({ 'cf-access-jwt-assertion': [a, b] }));
    ambiguity(() => accessAssertionOf({ 'cf-access-jwt-assertion': `${a}, ${b}` }));
    const headers = new Headers();
    headers.append('cf-access-jwt-assertion', a);
    headers.append('cf-access-jwt-assertion', b);
    ambiguity(() => accessAssertionOf(headers));
    // The same value twice is one assertion.
    expect(accessAssertionOf({ 'cf-access-jwt-assertion': [a, a] })).toBe(a);
  });

  it('refuses the cookie named twice with different values, in one Cookie header or several', () => {
    ambiguity(() => accessAssertionOf({ cookie: `CF_Authorization=${a}; CF_Authorization=${b}` }));
    ambiguity(() => accessAssertionOf({ cookie: [`CF_Authorization=${a}`, `CF_Authorization=${b}`] }));
    expect(accessAssertionOf({ cookie: [`CF_Authorization=${a}`, `x=1; CF_Authorization=${a}`] })).toBe(a);
  });

  it('feeds the verifier: the picked assertion verifies, a missing one is ERR_TOKEN_MISSING', async () => {
    const v = createAccessVerifier(cf.accessConfig());
    await expect(v.verify(accessAssertionOf({ cookie: `CF_Authorization=${a}` }))).resolves.toMatchObject({
      kind: 'user',
      identity: { email: 'ada@example.com' },
    });
    const missing = await v.verify(accessAssertionOf({})).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(EntragateError);
    expect((missing as EntragateError).code).toBe('ERR_TOKEN_MISSING');
  });
});

describe('accessServiceTokenContext', () => {
  it('maps the Client ID Cloudflare names to the token id service_token rules name', async () => {
    const v = createAccessVerifier(cf.accessConfig());
    const service = await v.verify(cf.mintServiceToken({ commonName: 'e367826f93b8d71185e03fe518aff3b4.access' }));
    if (service.kind !== 'service') throw new Error('expected a service token');
    const known = [{ tokenId: '3b1d8d84-0b5f-4b39-9b8a-2a6c9d3f1e77', clientId: 'e367826f93b8d71185e03fe518aff3b4.access' }];
    expect(accessServiceTokenContext(service, known)).toEqual({ tokenId: '3b1d8d84-0b5f-4b39-9b8a-2a6c9d3f1e77' });
    // An unlisted one keeps its Client ID: a valid service token (any_valid_service_token), no listed one.
    expect(accessServiceTokenContext(service)).toEqual({ tokenId: 'e367826f93b8d71185e03fe518aff3b4.access' });
  });
});
