/**
 * A request without a credential on a Gateway target (issue 12, finding 3), in every framework: it is
 * challenged as on an Access target (401 for an API client, the login for a browser), unless the route
 * says `anonymous: 'evaluate'`; an identity rule never reads "no login" as "no groups".
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworks, useStacks, type AuthSummary, type Framework, type Stack } from './harness.js';

const CONTRACTORS = randomUUID();
const STAFF = randomUUID();

describe('identity rules on Gateway targets, for a request without a credential', () => {
  const stacks = useStacks({
    login: true,
    gate: {
      gateway: {
        rules: [{ name: 'Block contractors', action: 'block', precedence: 1, identity: `any(identity.groups.id[*] in {"${CONTRACTORS}"})` }],
        defaultAction: 'allow',
      },
    },
    routes: [
      { at: 'GET /block-contractors' },
      {
        at: 'GET /only-non-contractors',
        gate: {
          gateway: {
            rules: [{ name: 'Everyone but contractors', action: 'allow', precedence: 1, identity: `not(any(identity.groups.id[*] in {"${CONTRACTORS}"}))` }],
            defaultAction: 'block',
          },
        },
      },
      { at: 'GET /evaluate-identity', options: { anonymous: 'evaluate' } },
      {
        at: 'USE /open',
        options: { anonymous: 'evaluate' },
        gate: {
          gateway: {
            rules: [{ name: 'Open area', action: 'allow', precedence: 1, traffic: 'http.request.uri.path matches "^/open/"' }],
            defaultAction: 'block',
          },
        },
      },
    ],
  });

  describe.each(frameworks)('%s', (framework: Framework) => {
    const stack = (): Stack => stacks(framework);

    it("with `anonymous: 'evaluate'`, an identity rule is unknown for a request without a login: the Block that might match denies (regression: no login read as no groups)", async () => {
      const anonymous = await stack().request('GET', '/evaluate-identity', { as: 'api' });
      expect(anonymous.status).toBe(401);
      // Positive control: staff with a token pass the same rule.
      expect((await stack().request('GET', '/evaluate-identity', { token: stack().mint({ groups: [STAFF] }), as: 'api' })).status).toBe(200);
    });

    it.each(['/block-contractors', '/only-non-contractors'])('%s: admits staff and refuses a contractor by token (positive control)', async (path) => {
      const staff = await stack().request('GET', path, { token: stack().mint({ groups: [STAFF] }) });
      expect(staff.status).toBe(200);
      expect(staff.json<AuthSummary>()).toMatchObject({ via: 'bearer' });
      const contractor = await stack().request('GET', path, { token: stack().mint({ groups: [CONTRACTORS] }) });
      expect(contractor.status).toBe(403);
      expect(contractor.json()).toMatchObject({ code: 'ERR_ACCESS_DENIED', decision: { kind: 'gateway', action: 'block' } });
    });

    it.each(['/block-contractors', '/only-non-contractors'])('%s: answers an API client without a credential 401 with the bare challenge', async (path) => {
      const reply = await stack().request('GET', path, { as: 'api' });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Bearer realm="entragate"');
      expect(reply.text).not.toContain('"via"');
    });

    it.each(['/block-contractors', '/only-non-contractors'])('%s: sends a browser without a session to the login', async (path) => {
      const reply = await stack().request('GET', `${path}?tab=1`, { as: 'browser' });
      expect(reply.status).toBe(302);
      expect(reply.headers.location).toBe(`/auth/login?returnTo=${encodeURIComponent(`${path}?tab=1`)}`);
    });

    it('admits a browser once it logged in (positive control)', async () => {
      const cookie = await stack().login({ claims: { email: 'staff@contoso.com', groups: [STAFF] } });
      const reply = await stack().request('GET', '/block-contractors', { cookie, as: 'browser' });
      expect(reply.status).toBe(200);
      expect(reply.json<AuthSummary>()).toMatchObject({ via: 'session', email: 'staff@contoso.com' });
    });

    it("with `anonymous: 'evaluate'`, a rule on the path alone decides for a request without a credential", async () => {
      const open = await stack().request('GET', '/open/page', { as: 'api' });
      expect(open.status).toBe(200);
      expect(open.json<AuthSummary>()).toMatchObject({ via: 'anonymous', policy: 'Open area' });
      // Outside the Allow: the default blocks, and a request without a login is offered the login.
      const outside = await stack().request('GET', '/open', { as: 'api' });
      expect(outside.status).toBe(401);
    });
  });
});
