/**
 * The harness itself, in every framework: the legitimate requests attack tests use as positive controls
 * (a token, a login, a SCIM-provisioned user, a served file) get through, and the target is sent as written.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { frameworksWithExpress4, useStacks, type AuthSummary, type Echo } from './harness.js';

const ENGINEERING = randomUUID();

const stacks = useStacks({
  frameworks: frameworksWithExpress4,
  directory: true,
  groups: 'directory',
  login: true,
  gate: {
    tokenGroups: 'ignore',
    applications: { portal: { policies: [{ name: 'Engineering', decision: 'allow', include: [{ azureAD: { id: ENGINEERING } }] }] } },
  },
  files: { 'public/hello.txt': 'hello from the static folder' },
  routes: [
    { at: 'GET /portal', target: { application: 'portal' } },
    { at: 'GET /echo', protect: false, serve: 'echo' },
    { at: 'USE /', protect: false, serve: 'static' },
  ],
});

describe.each(frameworksWithExpress4)('attack harness: %s', (framework) => {
  it('admits a SCIM-provisioned member by bearer token and by session, and refuses a non-member', async () => {
    const stack = stacks(framework);
    const member = await stack.user();
    await stack.group({ name: `Engineering ${randomUUID()}`, objectId: ENGINEERING, members: [member.id] });
    const outsider = await stack.user();

    const bearer = await stack.request('GET', '/portal', { token: stack.mint({ oid: member.oid, email: member.email }) });
    expect(bearer.status).toBe(200);
    expect(bearer.json<AuthSummary>()).toMatchObject({ via: 'bearer', email: member.email, policy: 'Engineering' });

    const cookie = await stack.login({ claims: { oid: member.oid, email: member.email, preferred_username: member.email } });
    const session = await stack.request('GET', '/portal', { cookie, as: 'api' });
    expect(session.status).toBe(200);
    expect(session.json<AuthSummary>()).toMatchObject({ via: 'session', email: member.email });

    const denied = await stack.request('GET', '/portal', { token: stack.mint({ oid: outsider.oid, email: outsider.email }) });
    expect(denied.status).toBe(403);
  });

  it('sends the target as written, and a repeated header as separate lines', async () => {
    const stack = stacks(framework);
    // Nothing on the way removes the dot segment: the file is reached through it, unprotected.
    const file = await stack.request('GET', '/public/../public/hello.txt');
    expect(file.status).toBe(200);
    expect(file.text).toBe('hello from the static folder');
    const raw = await stack.raw(`GET /public/hello.txt HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    const echoed = await stack.request('GET', '/echo#frag', { headers: { 'x-twice': ['one', 'two'] }, token: 't' });
    expect(echoed.json()).toMatchObject({ method: 'GET', url: '/echo#frag' });
    const lines = echoed
      .json<Echo>()
      .rawHeaders.map((v, i, all) => (i % 2 === 0 ? `${v.toLowerCase()}: ${all[i + 1]}` : undefined))
      .filter(Boolean);
    expect(lines).toEqual(expect.arrayContaining(['x-twice: one', 'x-twice: two', 'authorization: Bearer t']));
    const anonymous = await stack.request('GET', '/portal', { as: 'api' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="entragate"');
  });
});
