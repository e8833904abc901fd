/**
 * What the three API examples (`api-express.ts`, `api-koa.ts`, `api-fastify.ts`) run when started on
 * their own: a mock Entra ID on 127.0.0.1, a gate for its app registration (`api://…` audience, app-only
 * tokens accepted for app roles), tokens as Entra issues them for the API's scopes and roles, and the
 * requests an API client makes. Every step states what it expects; it prints a table and `run` resolves
 * `false` if any step came out otherwise.
 *
 * In your app you need none of this: create the gate with your tenant's IdP JSON (see the README's
 * "Protect an API") and Entra issues the tokens.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGate, type Gate } from '../src/index.js';
import { createMockEntra } from '../src/testing/index.js';

/** The gate of the API: Entra's tokens for it, app-only tokens too (for app roles). */
export function apiGate(idp: Parameters<typeof createGate>[0]['idp'], authorityHost?: string): Gate {
  return createGate({ idp, allowAppTokens: true, ...(authorityHost === undefined ? {} : { authorityHost }) });
}

/** Starts the mock Entra ID and the app `build` makes with its gate, plays the client's requests, prints what happened. */
export async function run(name: string, build: (gate: Gate) => RequestListener | Server | Promise<RequestListener | Server>): Promise<boolean> {
  const entra = await createMockEntra();
  const gate = apiGate(entra.idpConfig(), entra.url);
  const built = await build(gate);
  const server = typeof built === 'function' ? createServer(built) : built;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Tokens as Entra issues them to a client of this API (audience `api://<client id>`): delegated ones
  // carry the consented scopes in `scp`; an app-only token (client credentials) the app roles in `roles`.
  const audience = `api://${entra.clientId}`;
  const reader = entra.mintToken({ audience, claims: { scp: 'Orders.Read' } });
  const writer = entra.mintToken({ audience, claims: { scp: 'Orders.Read Orders.Write' } });
  const daemonId = '5d3c2b1a-0000-4000-8000-00000000d43e';
  const daemon = entra.mintToken({
    audience,
    claims: {
      sub: daemonId,
      oid: daemonId,
      idtyp: 'app',
      scp: undefined,
      roles: ['Orders.Admin'],
      name: undefined,
      preferred_username: undefined,
      email: undefined,
    },
  });
  const steps: Array<{ step: string; method: string; path: string; token?: string; expected: number }> = [
    { step: 'health check, no token', method: 'GET', path: '/health', expected: 200 },
    { step: 'list orders without a token', method: 'GET', path: '/orders', expected: 401 },
    { step: 'list orders with Orders.Read', method: 'GET', path: '/orders', token: reader, expected: 200 },
    { step: 'create an order with Orders.Read only', method: 'POST', path: '/orders', token: reader, expected: 403 },
    { step: 'create an order with Orders.Write', method: 'POST', path: '/orders', token: writer, expected: 201 },
    { step: 'delete an order as a user without the app role', method: 'DELETE', path: '/orders/42', token: writer, expected: 403 },
    { step: 'delete an order as the daemon with Orders.Admin', method: 'DELETE', path: '/orders/42', token: daemon, expected: 204 },
  ];
  let ok = true;
  const rows: Array<Record<string, string>> = [];
  try {
    for (const s of steps) {
      const res = await fetch(`${origin}${s.path}`, {
        method: s.method,
        headers: { accept: 'application/json', ...(s.token === undefined ? {} : { authorization: `Bearer ${s.token}` }) },
      });
      const body = res.status === 204 ? '' : await res.text();
      const challenge = res.headers.get('www-authenticate') ?? '';
      ok &&= res.status === s.expected;
      rows.push({
        step: s.step,
        expected: String(s.expected),
        got: String(res.status),
        why: challenge || body.slice(0, 80),
        ok: res.status === s.expected ? 'yes' : 'NO',
      });
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await entra.close();
  }
  console.log(`\n${name}`);
  console.table(rows);
  return ok;
}
