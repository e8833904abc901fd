/**
 * An Express API protected with Entra's own controls: any valid token for the API, then delegated
 * scopes (`scp`) per route and an app role (`roles`) for the admin route.
 *
 *   npx tsx examples/api-express.ts     # runs it against a mock Entra ID and prints what a client gets
 *
 * In your app, import from `entragate` and `entragate/express`, and create the gate with your tenant.
 */
import express from 'express';
import type { Gate } from '../src/index.js';
import { authenticate, requiredRoles, requiredScopes } from '../src/adapters/express.js';
import { run } from './api-story.js';

export function createApi(gate: Gate): express.Express {
  const app = express();
  app.get('/health', (_req, res) => res.json({ ok: true }));
  // Every route below needs a valid Entra token for this API (revocations and the directory apply).
  app.use('/orders', authenticate(gate));
  app.get('/orders', requiredScopes('Orders.Read'), (req, res) => res.json({ orders: [], caller: req.auth?.claims?.oid }));
  app.post('/orders', requiredScopes('Orders.Write'), (_req, res) => res.status(201).json({ id: 42 }));
  app.delete('/orders/:id', requiredRoles('Orders.Admin'), (_req, res) => res.status(204).end());
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`)
  process.exitCode = (await run('Express API', (gate) => createApi(gate) as unknown as import('node:http').RequestListener)) ? 0 : 1;
