/**
 * A small Fastify app protected by entragate (Gateway rules on one scope, an
 * Access application on one route): copy it and fill in your tenant.
 *
 *   ENTRA_TENANT_ID=… ENTRA_CLIENT_ID=… npx tsx examples/fastify-app.ts
 *
 * In your app, import from `entragate` and `entragate/fastify`.
 */
import Fastify from 'fastify';
import { createGate } from 'entragate';
import { protect, protectHook } from 'entragate/fastify';

const env = (name: string): string => process.env[name] ?? '';
const FINANCE = '86773093-5feb-48dd-814b-7ccd3676ff50'; // an Entra group Object Id

const gate = createGate({
  idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: env('ENTRA_CLIENT_ID'), directory_id: env('ENTRA_TENANT_ID') } },
  applications: { admin: { policies: [{ name: 'Admins', decision: 'allow', include: [{ email: { email: 'admin@contoso.com' } }] }] } },
  gateway: {
    rules: [{ name: 'Finance reads reports', action: 'allow', precedence: 10, identity: `any(identity.groups.id[*] in {"${FINANCE}"})` }],
    defaultAction: 'block',
  },
});

const app = Fastify({ trustProxy: false });
// Every route registered in this scope is decided by the Gateway rules.
await app.register(async (reports) => {
  await reports.register(protect(gate, { gateway: true }));
  reports.get('/reports', async (request) => ({ reports: ['q3.pdf'], for: request.auth?.identity?.email }));
});
// One route decided by an Access application.
app.get('/admin', { onRequest: protectHook(gate, { application: 'admin' }) }, async (request) => ({ admin: request.auth?.identity?.email }));

if (import.meta.url === `file://${process.argv[1]}`) await app.listen({ port: 3000, host: '127.0.0.1' });
export { app };
