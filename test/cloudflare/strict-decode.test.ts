import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'node:crypto';
import { createAccessVerifier } from '../../src/index.js';
import { createMockCloudflare, type MockCloudflare } from '../../src/testing/index.js';
import { expectRefused, rejection } from './helpers.js';

// The verifier decodes assertions with the project's `decodeJwt`, which wave2/token makes strict
// (RFC 7515 §5.2: UTF-8 only; §4: a parser may refuse duplicate member names). These tests need that
// decoder: an assertion whose header says `alg` twice, or whose payload names `sub` twice, must not read
// one way here and another way in the next layer; invalid UTF-8 must not become U+FFFD in an email.

let cf: MockCloudflare;
beforeAll(async () => {
  cf = await createMockCloudflare();
});
afterAll(async () => {
  await cf.close();
});

/** Signs raw header and payload texts (any bytes) with the team's current key. */
function signed(header: string | Buffer, payload: string | Buffer): string {
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), cf.currentKey.privateKey).toString('base64url')}`;
}

function claims(extra = ''): string {
  const iat = Math.floor(Date.now() / 1000);
  return `{"aud":["${cf.aud}"],"email":"ada@example.com","exp":${iat + 600},"iat":${iat},"iss":"${cf.teamDomain}","type":"app","identity_nonce":"n","sub":"c0ffee00-0000-4000-8000-000000000001"${extra}}`;
}

describe('strict decoding of assertions', () => {
  it('the same texts without duplicates or bad bytes verify (the positive control)', async () => {
    const token = signed(`{"alg":"RS256","kid":"${cf.currentKey.kid}"}`, claims());
    await expect(createAccessVerifier(cf.accessConfig()).verify(token)).resolves.toMatchObject({ kind: 'user' });
  });

  it('a header naming `alg` (or `kid`) twice is malformed', async () => {
    const v = createAccessVerifier(cf.accessConfig());
    for (const header of [`{"alg":"none","kid":"${cf.currentKey.kid}","alg":"RS256"}`, `{"alg":"RS256","kid":"x","kid":"${cf.currentKey.kid}"}`]) {
      const token = signed(header, claims());
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MALFORMED', token);
    }
  });

  it('a payload naming a claim twice, at any depth, is malformed', async () => {
    const v = createAccessVerifier(cf.accessConfig());
    const header = `{"alg":"RS256","kid":"${cf.currentKey.kid}"}`;
    for (const extra of [
      ',"sub":"c0ffee00-0000-4000-8000-000000000002"',
      ',"type":"org"',
      ',"custom":{"oid":"a","oid":"b"}',
      ',"email":"mallory@example.com"',
    ]) {
      const token = signed(header, claims(extra));
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MALFORMED', token);
    }
  });

  it('a payload that is not valid UTF-8 is malformed', async () => {
    const v = createAccessVerifier(cf.accessConfig());
    const header = `{"alg":"RS256","kid":"${cf.currentKey.kid}"}`;
    const text = claims();
    const at = text.indexOf('ada@');
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const payload = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]);
      const token = signed(header, payload);
      expectRefused(await rejection(v.verify(token)), 'ERR_TOKEN_MALFORMED', token);
    }
  });
});
