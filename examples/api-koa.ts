/**
 * A Koa API protected with Entra's own controls: any valid token for the API, then delegated scopes
 * (`scp`) per route and an app role (`roles`) for the admin route.
 *
 *   npx tsx examples/api-koa.ts     # runs it against a mock Entra ID and prints what a client gets
 *
 * In your app, import from `entragate` and `entragate/koa` (with your router: @koa/router routes the same way).
 */
import Koa from 'koa';
import type { Gate } from '../src/index.js';
import { authenticate, requiredRoles, requiredScopes } from '../src/adapters/koa.js';
import { run } from './api-story.js';

/** A route: `method` and a path (a trailing `*` matches any rest), then middleware run in order. */
function route(method: string, path: string, ...middleware: Koa.Middleware[]): Koa.Middleware {
  const matches = (p: string) => (path.endsWith('*') ? p.startsWith(path.slice(0, -1)) : p === path);
  return async (ctx, next) => {
    if (ctx.method !== method || !matches(ctx.path)) return next();
    let i = 0;
    const step = async (): Promise<void> => {
      const m = middleware[i++];
      if (m !== undefined) await m(ctx, step);
    };
    await step();
  };
}

export function createApi(gate: Gate): Koa {
  const app = new Koa();
  const user = authenticate(gate);
  app.use(
    route('GET', '/health', (ctx) => {
      ctx.body = { ok: true };
    }),
  );
  app.use(
    route('GET', '/orders', user, requiredScopes('Orders.Read'), (ctx) => {
      ctx.body = { orders: [], caller: ctx.state.auth?.claims?.oid };
    }),
  );
  app.use(
    route('POST', '/orders', user, requiredScopes('Orders.Write'), (ctx) => {
      ctx.status = 201;
      ctx.body = { id: 42 };
    }),
  );
  app.use(
    route('DELETE', '/orders/*', user, requiredRoles('Orders.Admin'), (ctx) => {
      ctx.status = 204;
    }),
  );
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = (await run('Koa API', (gate) => createApi(gate).callback())) ? 0 : 1;
