/**
 * A 5xx reaches the client with the public text only (issue 12, finding 13), through each framework's
 * default error handling: Fastify's default handler sends `message` whatever `expose` says, and Express's
 * shows the error's stack outside production. The internal detail (which tenant's keys, which host, the
 * fetch error) stays on the server, as the error's `cause`.
 */
import { describe, expect, it } from 'vitest';
import { frameworksWithExpress4, useStacks, type Framework, type Stack } from './harness.js';

const PUBLIC_TEXT = 'the identity provider or the directory is unavailable';

const stacks = useStacks({
  frameworks: frameworksWithExpress4,
  gate: { applications: { portal: { policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } } },
  routes: [
    // A gate that never fetched keys: with the mock's endpoints down, its first verification is a 503.
    {
      at: 'GET /cold',
      target: { application: 'portal' },
      gate: {
        applications: { portal: { policies: [{ name: 'Everyone', decision: 'allow', include: [{ everyone: {} }] }] } },
        jwks: { timeoutMs: 500, failureBackoffMs: 0, cooldownMs: 0 },
      },
    },
  ],
});

describe.each(frameworksWithExpress4)('%s', (framework: Framework) => {
  const stack = (): Stack => stacks(framework);

  it('answers a cold key cache with the IdP down 503 and Retry-After, without the internal message, through the default error handler', async () => {
    const entra = stack().backend.entra;
    // Each framework's app has its own gate for the route (made per app), so its key cache is cold here.
    entra.faults.down = true;
    let reply;
    try {
      reply = await stack().request('GET', '/cold', { token: stack().mint() });
    } finally {
      entra.faults.down = false;
    }
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('30');
    for (const internal of ['signing keys', 'fetch failed', 'unavailable:', entra.tenantId, new URL(entra.url).host, 'ECONNREFUSED', 'discovery']) {
      expect(reply.text, internal).not.toContain(internal);
    }
    // Fastify's handler sends the (public) message; Express shows the stack outside production; Koa the status text.
    if (framework === 'fastify') expect(reply.json()).toMatchObject({ statusCode: 503, code: 'ERR_JWKS_UNAVAILABLE', message: PUBLIC_TEXT });
    if (framework === 'express' || framework === 'express4') expect(reply.text).toContain(PUBLIC_TEXT);
    if (framework === 'koa') expect(reply.text).toBe('Service Unavailable');
    // Positive control: the same route admits the token once the IdP is back.
    const after = await stack().request('GET', '/cold', { token: stack().mint() });
    expect(after.status).toBe(200);
  });
});
