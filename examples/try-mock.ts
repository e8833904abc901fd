/**
 * The README's first step: an Express route protected by entragate, tried against the mock Entra ID that
 * ships in `entragate/testing`, so nothing needs a tenant yet. One command:
 *
 *   npx tsx examples/try-mock.ts
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createGate, EntragateError } from 'entragate';
import { protect } from 'entragate/express';
import { createMockEntra } from 'entragate/testing';

const ENGINEERING = '61503835-b6fe-4630-af88-de551dd59a2e'; // an Entra group's Object Id

const entra = await createMockEntra(); // a local Entra ID on 127.0.0.1: discovery, keys, tokens
const gate = createGate({
  idp: entra.idpConfig(), // in production: { type: 'azureAD', name: 'Entra ID', config: { client_id, directory_id } }
  authorityHost: entra.url, // only for the mock
  applications: {
    api: { policies: [{ name: 'Engineering', decision: 'allow', include: [{ azureAD: { id: ENGINEERING } }] }] },
  },
});

const app = express();
app.get('/hello', protect(gate, { application: 'api' }), (req, res) => {
  res.json({ hello: req.auth?.identity?.name, allowedBy: req.auth?.decision?.policy?.name });
});
// A 401 (no or bad token) or a 503 (Entra's keys unreachable) arrives as an EntragateError; a 403 is answered by `protect`.
const onError: express.ErrorRequestHandler = (error, _req, res, next) => {
  if (!(error instanceof EntragateError)) return next(error);
  res.status(error.status).set(error.headers).json({ code: error.code });
};
app.use(onError);

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello`;

// A delegated access token (it has `scp`) for a member of Engineering, and one for someone else.
const member = entra.mintToken({ claims: { scp: 'access_as_user', name: 'Ada', groups: [ENGINEERING] } });
const outsider = entra.mintToken({ claims: { scp: 'access_as_user', name: 'Eve', groups: [] } });
for (const [who, token] of [
  ['no token', undefined],
  ['member', member],
  ['outsider', outsider],
] as const) {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  console.log(`${who}: ${response.status} ${await response.text()}`);
}
server.close();
await entra.close();
