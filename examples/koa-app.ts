/**
 * A small Koa app protected by entragate (bearer tokens): copy it and fill in your tenant.
 *
 *   ENTRA_TENANT_ID=… ENTRA_CLIENT_ID=… [CI_CLIENT_ID=… CI_CLIENT_SECRET=…] npx tsx examples/koa-app.ts
 *
 * In your app, import from `entragate` and `entragate/koa`.
 */
import Koa from 'koa';
import { createGate } from 'entragate';
import { protect } from 'entragate/koa';

const env = (name: string): string => process.env[name] ?? '';

const gate = createGate({
  idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: env('ENTRA_CLIENT_ID'), directory_id: env('ENTRA_TENANT_ID') } },
  applications: {
    api: {
      policies: [
        { name: 'CI pipeline', decision: 'non_identity', include: [{ service_token: { token_id: 'ci' } }] },
        { name: 'Staff', decision: 'allow', include: [{ email_domain: { domain: 'contoso.com' } }] },
      ],
    },
  },
});

// `proxy: true` makes ctx.ip (and IP rules) honour X-Forwarded-For: only behind a proxy you run.
const app = new Koa({ proxy: false });
// The CI service token exists only when its id and secret are set: never ship a default secret.
const ci = env('CI_CLIENT_ID') && env('CI_CLIENT_SECRET') ? [{ tokenId: 'ci', clientId: env('CI_CLIENT_ID'), clientSecret: env('CI_CLIENT_SECRET') }] : [];
app.use(protect(gate, { application: 'api' }, { serviceTokens: ci }));
app.use((ctx) => {
  const auth = ctx.state.auth;
  ctx.body = { caller: auth?.identity?.email ?? auth?.serviceToken?.tokenId, via: auth?.via, allowedBy: auth?.decision?.policy?.name };
});

if (import.meta.url === `file://${process.argv[1]}`) app.listen(3000, '127.0.0.1', () => console.log('listening on http://127.0.0.1:3000'));
export { app };
