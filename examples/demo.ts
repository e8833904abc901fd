/**
 * The main job, one command: `npm run demo`.
 *
 * Starts, on 127.0.0.1 and an embedded PGlite store in a temporary folder: a mock
 * Entra ID, an Express app protected by Access policies and Gateway rules, and its
 * SCIM endpoint. Then plays a story: Entra provisions users and nested groups over
 * SCIM; users log in (authorization code + PKCE); requests are allowed or denied
 * with the reason; a user is deprovisioned and loses access at once.
 *
 * Every step states what it expects; the script prints a table and exits 1 if any
 * step came out otherwise.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createDirectoryGroupSource, createGate, EntragateError } from '../src/index.js';
import { identityEndpoint, loginRoutes, protect, scimEndpoint } from '../src/adapters/express.js';
import { createLogin } from '../src/login/index.js';
import { createScimHandler } from '../src/scim/index.js';
import { openDirectoryStore } from '../src/store/index.js';
import { reviewAccess } from '../src/review/index.js';
import { createMockEntra } from '../src/testing/index.js';

// Entra object ids of the groups (SCIM sends them as `externalId`).
const ENGINEERING = '61503835-b6fe-4630-af88-de551dd59a2e';
const PLATFORM = '8a1f0a3e-2c55-4e0b-9d3c-6f1e2b7c9d01';
const CONTRACTORS = 'c0a7b3d2-5e1f-4a8b-9c6d-2e3f4a5b6c7d';
const SCIM_SECRET = `scim-${randomUUID()}`;

const users = {
  ada: { oid: randomUUID(), email: 'ada@contoso.com', name: 'Ada Lovelace' },
  bob: { oid: randomUUID(), email: 'bob@contoso.com', name: 'Bob Contractor' },
  cy: { oid: randomUUID(), email: 'cy@contoso.com', name: 'Cy Newhire' },
};
type UserName = keyof typeof users;

interface Row {
  step: string;
  expected: string;
  got: string;
  why: string;
  ok: boolean;
}
const rows: Row[] = [];
const started = Date.now();

const dataDir = mkdtempSync(join(tmpdir(), 'entragate-demo-'));
const entra = await createMockEntra();
const store = await openDirectoryStore({ driver: 'pglite', dataDir });
const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

try {
  // The directory Entra keeps in sync over SCIM is where groups (nested ones included) come from, and it
  // has the last word on who may sign in at all. One gate holds the configuration every part reads:
  // Cloudflare's IdP JSON with its `scim_config`, the group source, the revocations.
  const gate = createGate({
    idp: entra.idpConfig({
      config: { pkce_enabled: true },
      // `automatic`: sessions follow the directory's current membership, no new login needed.
      scim_config: { enabled: true, user_deprovision: true, identity_update_behavior: 'automatic' },
    }),
    authorityHost: entra.url,
    groups: createDirectoryGroupSource({ store }),
    tokenGroups: 'ignore',
    revocations: store.revocations,
    applications: {
      portal: {
        policies: [
          { name: 'Block contractors', decision: 'deny', include: [{ azureAD: { id: CONTRACTORS } }] },
          { name: 'Engineering', decision: 'allow', include: [{ azureAD: { id: ENGINEERING } }], session_duration: '8h' },
        ],
      },
    },
    gateway: {
      rules: [{ name: 'Platform team may read reports', action: 'allow', precedence: 10, identity: `any(identity.groups.id[*] in {"${PLATFORM}"})` }],
      defaultAction: 'block',
    },
  });
  const login = createLogin({
    gate,
    redirectUri: `${origin}/auth/callback`,
    keys: { signing: { kid: 'demo', alg: 'ES256', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey } },
    cookie: { secure: false },
  });

  const app = express();
  app.use('/scim/v2', scimEndpoint(createScimHandler({ store, gate, secrets: [SCIM_SECRET] })));
  app.use('/auth', loginRoutes(login));
  const options = { login, loginPath: '/auth/login' };
  app.get('/portal', protect(gate, { application: 'portal' }, options), (req, res) => {
    res.json({ hello: req.auth?.identity?.name, policy: req.auth?.decision?.policy?.name });
  });
  app.get('/reports', protect(gate, { gateway: true }, options), (req, res) => {
    res.json({ reports: ['q3.pdf'], rule: req.auth?.decision?.policy?.name });
  });
  app.get('/cdn-cgi/access/get-identity', protect(gate, { application: 'portal' }, options), identityEndpoint());
  // Entragate's 401 and 503 arrive here as errors carrying `status` and `headers`.
  const onError: express.ErrorRequestHandler = (error, _req, res, next) => {
    if (!(error instanceof EntragateError)) return next(error);
    res
      .status(error.status)
      .set(error.headers)
      .json({ code: error.code, message: error.expose ? error.message : 'temporarily unavailable' });
  };
  app.use(onError);
  server.on('request', app);

  // ---- helpers: an HTTP client with a cookie jar per person, and the story's checks ----
  const jars = new Map<string, Map<string, string>>();
  async function http(who: string, method: string, url: string, init: { headers?: Record<string, string>; body?: unknown } = {}) {
    const jar = jars.get(who) ?? new Map<string, string>();
    jars.set(who, jar);
    const headers: Record<string, string> = { ...init.headers };
    if (jar.size > 0 && url.startsWith(origin)) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.body !== undefined) headers['content-type'] = 'application/scim+json';
    const response = await fetch(url, { method, headers, redirect: 'manual', ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (/max-age=0/i.test(line)) jar.delete(pair!.slice(0, eq));
      else jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: redirects and empty bodies
    }
    return {
      status: response.status,
      location: response.headers.get('location') ?? '',
      challenge: response.headers.get('www-authenticate') ?? '',
      error: response.headers.get('x-entragate-error') ?? '',
      json,
    };
  }
  function record(step: string, expected: string, got: string, why: string): void {
    if (process.env.DEMO_TIMING) console.error(`${((Date.now() - started) / 1000).toFixed(2)} s: ${step}`);
    rows.push({ step, expected, got, why, ok: expected === got });
  }
  const scim = (method: string, path: string, body?: unknown) =>
    http('entra', method, `${origin}/scim/v2${path}`, { headers: { authorization: `Bearer ${SCIM_SECRET}` }, ...(body === undefined ? {} : { body }) });
  const reason = (r: { status: number; json: Record<string, unknown>; challenge: string }): string =>
    typeof r.json.message === 'string'
      ? `${r.json.message}${typeof r.json.code === 'string' && r.status !== 403 ? ` (${r.json.code})` : ''}`
      : typeof r.json.policy === 'string'
        ? `policy \`${r.json.policy}\``
        : r.challenge;

  // ---- 1. Entra provisions users and nested groups over SCIM ----
  const scimIds: Record<string, string> = {};
  for (const [key, u] of Object.entries(users)) {
    const r = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: u.oid,
      userName: u.email,
      active: true,
      displayName: u.name,
      emails: [{ primary: true, type: 'work', value: u.email }],
      name: { formatted: u.name },
    });
    scimIds[key] = String(r.json.id ?? '');
    record(`Entra → SCIM: create user ${u.email}`, '201', String(r.status), 'POST /Users with the bearer secret');
  }
  const group = async (name: string, externalId: string, members: string[]) => {
    const r = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      externalId,
      displayName: name,
      members: members.map((value) => ({ value })),
    });
    scimIds[name] = String(r.json.id ?? '');
    record(`Entra → SCIM: create group ${name}`, '201', String(r.status), members.length === 0 ? 'no members yet' : `${members.length} member(s)`);
  };
  await group('Engineering', ENGINEERING, []);
  await group('Platform', PLATFORM, [scimIds.ada!]);
  await group('Contractors', CONTRACTORS, []);
  // Entra adds members with PATCH, one operation per change: a nested group and a user.
  const nest = await scim('PATCH', `/Groups/${scimIds.Engineering}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'Add', path: 'members', value: [{ value: scimIds.Platform }, { value: scimIds.bob }] }],
  });
  record('Entra → SCIM: Platform and Bob join Engineering', '204', String(nest.status), 'Platform is nested: Ada is in Engineering through it');

  // ---- 2. Requests without a login ----
  const anonymousBrowser = await http('nobody', 'GET', `${origin}/portal`, { headers: { accept: 'text/html' } });
  record(
    'a browser opens /portal without a session',
    '302 /auth/login',
    `${anonymousBrowser.status} ${anonymousBrowser.location.split('?')[0]}`,
    'sent to the login',
  );
  const anonymousApi = await http('nobody', 'GET', `${origin}/portal`, { headers: { accept: 'application/json' } });
  record('an API client calls /portal without a token', '401', String(anonymousApi.status), anonymousApi.challenge);

  // ---- 3. Users log in: authorization code with PKCE against the mock Entra ID ----
  async function logIn(who: UserName): Promise<string> {
    const u = users[who];
    const start = await http(who, 'GET', `${origin}/auth/login?returnTo=/portal`);
    const authorize = new URL(start.location);
    entra.login.nextUser = { claims: { oid: u.oid, email: u.email, name: u.name, preferred_username: u.email } };
    const code = await http(who, 'GET', authorize.href);
    const callback = await http(who, 'GET', code.location);
    const pkce = authorize.searchParams.get('code_challenge_method') ?? 'none';
    const session = jars.get(who)?.has(login.cookieName) ? 'session' : 'no session';
    record(
      `${u.name} logs in`,
      `302 /portal, session, S256`,
      `${callback.status} ${callback.location}, ${session}, ${pkce}`,
      'state, nonce and PKCE checked at the callback',
    );
    return callback.location;
  }
  const portal = async (who: UserName, label: string, expected: string) => {
    const r = await http(who, 'GET', `${origin}/portal`, { headers: { accept: 'application/json' } });
    record(label, expected, String(r.status), reason(r));
    return r;
  };
  await logIn('ada');
  await portal('ada', 'Ada opens /portal (Platform ⊂ Engineering)', '200');
  const identity = await http('ada', 'GET', `${origin}/cdn-cgi/access/get-identity`, { headers: { accept: 'application/json' } });
  const groupNames = (identity.json.groups as Array<{ name?: string }> | undefined)?.map((g) => g.name).join(', ') ?? '';
  record(
    'Ada reads her identity (get-identity)',
    'Engineering, Platform',
    groupNames.split(', ').sort().join(', '),
    'groups from the SCIM directory, nested ones included',
  );
  await logIn('bob');
  await portal('bob', 'Bob opens /portal (Engineering)', '200');
  // Entra adds Bob to Contractors. `identity_update_behavior: 'automatic'`: his session follows the directory.
  const joins = await scim('PATCH', `/Groups/${scimIds.Contractors}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'Add', path: 'members', value: [{ value: scimIds.bob }] }],
  });
  record('Entra → SCIM: Bob joins Contractors', '204', String(joins.status), '`automatic`: no new login needed');
  await portal('bob', 'Bob opens /portal with the same session', '403');
  await logIn('cy');
  await portal('cy', 'Cy opens /portal (no groups)', '403');

  // ---- 4. Gateway rules and API clients with bearer tokens ----
  const reports = await http('ada', 'GET', `${origin}/reports`, { headers: { accept: 'application/json' } });
  record('Ada opens /reports (Gateway rule)', '200', String(reports.status), `rule \`${String(reports.json.rule ?? '')}\``);
  const cyReports = await http('cy', 'GET', `${origin}/reports`, { headers: { accept: 'application/json' } });
  record('Cy opens /reports (Gateway rule)', '403', String(cyReports.status), reason(cyReports));
  const adaToken = entra.mintToken({ claims: { oid: users.ada.oid, email: users.ada.email, name: users.ada.name } });
  const api = await http('ada-api', 'GET', `${origin}/portal`, { headers: { authorization: `Bearer ${adaToken}` } });
  record("Ada's script calls /portal with a bearer token", '200', String(api.status), `policy \`${String(api.json.policy ?? '')}\``);
  const forged = entra.mintToken({ key: entra.createUnpublishedKey(), claims: { oid: users.ada.oid, email: users.ada.email } });
  const forgedCall = await http('mallory', 'GET', `${origin}/portal`, { headers: { authorization: `Bearer ${forged}` } });
  record('Mallory calls /portal with a forged token', '401', String(forgedCall.status), forgedCall.challenge.replace(/^Bearer realm="entragate", /, ''));

  // ---- 4b. Access review: who can reach /portal, and what a policy pull request would change ----
  // Every directory user's decision on their directory identity (the gate's own pipeline), request unknown.
  const review = await reviewAccess({ gate, store, application: 'portal' });
  const outcomeOf = (r: typeof review, name: UserName) => {
    const row = r.rows.find((x) => x.userName === users[name].email)!;
    const d = row.candidate ?? row.current;
    return `${name} ${d.outcome}${d.attributes.length > 0 ? ` (${d.attributes.join(', ')})` : ''}`;
  };
  const who = (r: typeof review) => (['ada', 'bob', 'cy'] as const).map((n) => outcomeOf(r, n)).join(', ');
  record('Access review of /portal', 'ada allowed, bob denied, cy denied', who(review), 'bob: `Block contractors`; cy: no policy');
  // A candidate drops the Block and lets staff in from the office network: `entragate review --candidate` exits 1 on gains.
  const diff = await reviewAccess({
    gate,
    store,
    application: 'portal',
    candidate: {
      applications: {
        portal: {
          policies: [
            { name: 'Engineering', decision: 'allow', include: [{ azureAD: { id: ENGINEERING } }] },
            {
              name: 'Staff from the office',
              decision: 'allow',
              include: [{ email_domain: { domain: 'contoso.com' } }],
              require: [{ ip: { ip: '10.0.0.0/8' } }],
            },
          ],
        },
      },
    },
  });
  record(
    'Candidate policy diff for /portal',
    'ada allowed, bob allowed, cy conditional (ip)',
    who(diff),
    `${diff.targets[0]!.gains} gains: CI would refuse it without --allow-gains`,
  );

  // ---- 5. Entra deprovisions Ada: every session and token of hers stops at once ----
  const deprovision = await scim('PATCH', `/Users/${scimIds.ada}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
  });
  record('Entra → SCIM: deprovision Ada (active "False")', '200', String(deprovision.status), 'user_deprovision revokes her sessions');
  await portal('ada', 'Ada opens /portal with her session', '401');
  const apiAfter = await http('ada-api', 'GET', `${origin}/portal`, { headers: { authorization: `Bearer ${adaToken}` } });
  record("Ada's script calls /portal with her token", '401', String(apiAfter.status), reason(apiAfter));
  const browserAfter = await http('ada', 'GET', `${origin}/portal`, { headers: { accept: 'text/html' } });
  record(
    "Ada's browser opens /portal",
    '302 /auth/login',
    `${browserAfter.status} ${browserAfter.location.split('?')[0]}`,
    'her revoked session sends her back to the login',
  );
  await portal('bob', 'Bob is unaffected', '403');
  // Ada tries again: Entra still lets her sign in (the mock knows nothing of SCIM), but the directory
  // holds her as deprovisioned, and the login asks it what the bearer path asks it.
  const before = jars.get('ada')?.get(login.cookieName);
  const again = await http('ada', 'GET', `${origin}/auth/login?returnTo=/portal`);
  entra.login.nextUser = { claims: { oid: users.ada.oid, email: users.ada.email, name: users.ada.name, preferred_username: users.ada.email } };
  const code = await http('ada', 'GET', again.location);
  const relogin = await http('ada', 'GET', code.location);
  const adaSession = jars.get('ada')?.get(login.cookieName) !== before ? 'new session' : 'no session';
  record(
    'Ada, deprovisioned, logs in again',
    '403 ERR_DIRECTORY_USER_INACTIVE, no session',
    `${relogin.status} ${relogin.error}, ${adaSession}`,
    'the directory holds her as inactive: no session',
  );
} catch (error) {
  rows.push({ step: 'the story stopped', expected: 'no error', got: error instanceof Error ? error.message : String(error), why: '', ok: false });
} finally {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.close();
  await entra.close();
  rmSync(dataDir, { recursive: true, force: true });
}

// ---- the table ----
const widths = { n: String(rows.length).length, step: 0, expected: 8, got: 3 };
for (const r of rows) {
  widths.step = Math.max(widths.step, r.step.length);
  widths.expected = Math.max(widths.expected, r.expected.length);
  widths.got = Math.max(widths.got, r.got.length);
}
const line = (n: string, step: string, expected: string, got: string, mark: string, why: string) =>
  `${n.padStart(widths.n)}  ${step.padEnd(widths.step)}  ${expected.padEnd(widths.expected)}  ${got.padEnd(widths.got)}  ${mark}  ${why}`;
console.log(`entragate demo: mock Entra ID, an Express app and its SCIM endpoint on 127.0.0.1, PGlite in a temporary folder\n`);
console.log(line('#', 'step', 'expected', 'got', ' ', 'why'));
rows.forEach((r, i) => console.log(line(String(i + 1), r.step, r.expected, r.got, r.ok ? '✓' : '✗', r.why)));
const failed = rows.filter((r) => !r.ok).length;
console.log(
  `\n${failed === 0 ? `all ${rows.length} steps went as expected` : `${failed} of ${rows.length} steps did not go as expected`} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
process.exitCode = failed === 0 ? 0 : 1;
