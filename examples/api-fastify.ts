/**
 * A Fastify API protected with Entra's own controls: any valid token for the API in the `/orders`
 * scope, then delegated scopes (`scp`) per route and an app role (`roles`) for the admin route, as
 * `preHandler` hooks.
 *
 *   npx tsx examples/api-fastify.ts     # runs it against a mock Entra ID and prints what a client gets
 *
 * In your app, import from `entragate` and `entragate/fastify`, and create the gate with your tenant.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Gate } from '../src/index.js';
import { authenticate, requiredRoles, requiredScopes } from '../src/adapters/fastify.js';
import { run } from './api-story.js';

export async function createApi(gate: Gate): Promise<FastifyInstance> {
  const app = Fastify();
  app.get('/health', async () => ({ ok: true }));
  // `authenticate` protects the scope it is registered in: give the scope the prefix, not the plugin.
  await app.register(
    async (orders) => {
      await orders.register(authenticate(gate));
      orders.get('/', { preHandler: requiredScopes('Orders.Read') }, async (request) => ({ orders: [], caller: request.auth?.claims?.oid }));
      orders.post('/', { preHandler: requiredScopes('Orders.Write') }, async (_request, reply) => reply.code(201).send({ id: 42 }));
      orders.delete('/:id', { preHandler: requiredRoles('Orders.Admin') }, async (_request, reply) => reply.code(204).send());
    },
    { prefix: '/orders' },
  );
  await app.ready();
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = (await run('Fastify API', async (gate) => (await createApi(gate)).server)) ? 0 : 1;
