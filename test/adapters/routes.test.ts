import { describe, expect, it } from 'vitest';
import { identityParts } from '../../src/adapters/routes.js';

describe('identity endpoint without protect or login', () => {
  it('answers 401 with a bare Bearer challenge (regression: the 401 had no WWW-Authenticate)', async () => {
    const parts = await identityParts(undefined, {}, { method: 'GET', url: '/cdn-cgi/access/get-identity', headers: {} });
    expect(parts.status).toBe(401);
    expect(parts.headers['www-authenticate']).toBe('Bearer realm="entragate"');
    expect(JSON.parse(parts.body.toString('utf8'))).toEqual({
      error: 'unauthorized',
      code: 'ERR_TOKEN_MISSING',
      message: 'no bearer token or session was presented',
    });
  });
});
