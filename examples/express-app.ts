/**
 * A small Express app protected by entragate: copy it and fill in your tenant.
 *
 *   ENTRA_TENANT_ID=… ENTRA_CLIENT_ID=… ENTRA_CLIENT_SECRET=… SESSION_KEY_PEM="$(cat session-key.pem)" \
 *   APP_ORIGIN=http://localhost:3000 npx tsx examples/express-app.ts
 *
 * In your app, import from `entragate`, `entragate/express` and `entragate/login`.
 */
import express from 'express';
import { createGate, EntragateError } from 'entragate';
import { identityEndpoint, loginRoutes, protect } from 'entragate/express';
import { createLogin } from 'entragate/login';

const env = (name: string): string => process.env[name] ?? '';
const ENGINEERING = '61503835-b6fe-4630-af88-de551dd59a2e'; // an Entra group Object Id

const gate = createGate({
  idp: {
    type: 'azureAD',
    name: 'Entra ID',
    config: {
      client_id: env('ENTRA_CLIENT_ID'),
      client_secret: env('ENTRA_CLIENT_SECRET'),
      directory_id: env('ENTRA_TENANT_ID'),
      support_groups: true,
      pkce_enabled: true,
    },
  },
  applications: {
    portal: { policies: [{ name: 'Engineering', decision: 'allow', include: [{ azureAD: { id: ENGINEERING } }] }] },
  },
});
const login = createLogin({
  gate,
  redirectUri: `${env('APP_ORIGIN')}/auth/callback`,
  keys: { signing: { kid: 'session-1', alg: 'ES256', privateKey: env('SESSION_KEY_PEM') } },
  cookie: { secure: env('APP_ORIGIN').startsWith('https:') },
});

const app = express();
app.set('trust proxy', 'loopback'); // req.ip, and so IP rules, honour X-Forwarded-For from a local proxy only
app.use('/auth', loginRoutes(login));
const guard = protect(gate, { application: 'portal' }, { login, loginPath: '/auth/login', countryHeader: 'cf-ipcountry' });
app.get('/', guard, (req, res) => {
  res.json({ hello: req.auth?.identity?.name, allowedBy: req.auth?.decision?.policy?.name });
});
app.get('/cdn-cgi/access/get-identity', guard, identityEndpoint());
// 401 and 503 arrive as errors with `status` and `headers` (WWW-Authenticate, Retry-After).
const onError: express.ErrorRequestHandler = (error, _req, res, next) => {
  if (!(error instanceof EntragateError)) return next(error);
  res
    .status(error.status)
    .set(error.headers)
    .json({ code: error.code, message: error.expose ? error.message : 'temporarily unavailable' });
};
app.use(onError);

if (import.meta.url === `file://${process.argv[1]}`) app.listen(3000, '127.0.0.1', () => console.log('listening on http://127.0.0.1:3000'));
export { app };
