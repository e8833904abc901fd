/**
 * The main job, one command: `npm run demo`.
 *
 * Starts the local mock Entra ID on 127.0.0.1, mints tokens for a few users (v1 and v2,
 * one in group overage, one forged) and shows what the gate makes of each.
 */
import { createGate, EntragateError } from '../src/index.js';
import { createMockEntra } from '../src/testing/index.js';

const entra = await createMockEntra();
try {
  const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
  const engineering = '61503835-b6fe-4630-af88-de551dd59a2e';
  const cases: Array<[string, string]> = [
    ['Ada, v2 ID token with groups', entra.mintToken({ claims: { name: 'Ada Lovelace', preferred_username: 'ada@contoso.com', groups: [engineering] } })],
    ['Bob, v1 access token', entra.mintToken({ version: '1.0', audience: `api://${entra.clientId}`, claims: { name: 'Bob', upn: 'bob@contoso.com' } })],
    ['Cy, 200+ groups (overage)', entra.mintToken({ claims: { name: 'Cy', email: 'cy@contoso.com', _claim_names: { groups: 'src1' } } })],
    ['Eve, token signed with her own key', entra.mintToken({ key: entra.createUnpublishedKey(), claims: { name: 'Eve' } })],
    ['Mallory, expired token', entra.mintToken({ issuedAt: Math.floor(Date.now() / 1000) - 7200, claims: { name: 'Mallory' } })],
  ];
  const rows: Array<Record<string, string>> = [];
  for (const [label, token] of cases) {
    try {
      const id = await gate.verify(token);
      rows.push({ case: label, result: 'verified', email: id.email, ver: id.ver, groups: `${id.membership.state} (${id.groups.length})` });
    } catch (error) {
      rows.push({ case: label, result: error instanceof EntragateError ? error.code : String(error), email: '', ver: '', groups: '' });
    }
  }
  console.table(rows);
} finally {
  await entra.close();
}
