/**
 * Client certificates over a real mTLS handshake, for the three adapters: each app
 * runs behind a `node:https` server on 127.0.0.1 that asks for a client
 * certificate but lets unverified ones through (`requestCert: true,
 * rejectUnauthorized: false`), so the policies decide; the client is
 * `node:https` with a certificate from test/fixtures/mtls (or none).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import express from 'express';
import Koa from 'koa';
import Fastify, { type FastifyInstance } from 'fastify';
import * as expressAdapter from '../../src/adapters/express.js';
import * as koaAdapter from '../../src/adapters/koa.js';
import * as fastifyAdapter from '../../src/adapters/fastify.js';
import type { Auth } from '../../src/adapters/core.js';
import { createGate, type Gate } from '../../src/index.js';
import { createMockEntra, type MockEntra } from '../../src/testing/index.js';

const pem = (name: string): Buffer => readFileSync(new URL(`../fixtures/mtls/${name}`, import.meta.url));

const CA = pem('ca.crt');
/** The server's TLS: it trusts only the test CA, asks every client for a certificate and refuses none. */
const SERVER_TLS: ServerOptions = { key: pem('server.key'), cert: pem('server.crt'), ca: CA, requestCert: true, rejectUnauthorized: false };

const AGENT_CN = 'build-agent.contoso.com';
const CLIENTS = {
  /** Signed by the test CA, CN `build-agent.contoso.com`. */
  trusted: { cert: pem('client.crt'), key: pem('client.key') },
  /** Signed by the test CA, CN `other-agent.contoso.com`. */
  otherCn: { cert: pem('other-client.crt'), key: pem('other-client.key') },
  /** Signed by another CA the server does not trust, with the same CN as `trusted`. */
  untrusted: { cert: pem('untrusted-client.crt'), key: pem('untrusted-client.key') },
} as const;
type Client = keyof typeof CLIENTS;

/**
 * Three Access applications, one route each: `/certificate` wants any valid client
 * certificate, `/common-name` a valid one for the build agent, and `/loopback`
 * admits every local caller, so its answer shows what the policies saw.
 */
const APPLICATIONS = {
  certificate: { policies: [{ name: 'Trusted client certificate', decision: 'non_identity' as const, include: [{ certificate: {} }] }] },
  'common-name': { policies: [{ name: 'Build agent', decision: 'non_identity' as const, include: [{ common_name: { common_name: AGENT_CN } }] }] },
  loopback: { policies: [{ name: 'Loopback', decision: 'non_identity' as const, include: [{ ip: { ip: '127.0.0.1/32' } }] }] },
};
const ROUTES = Object.keys(APPLICATIONS) as (keyof typeof APPLICATIONS)[];

/** What every route answers: the allowing policy and the request context the policies saw. */
function answer(auth: Auth | null | undefined): Record<string, unknown> {
  return { policy: auth?.decision?.policy?.name, via: auth?.via, context: auth?.context };
}

/** An app listening on 127.0.0.1 at `origin` (`https://…` with {@link SERVER_TLS}, or `http://…`). */
interface Listening {
  origin: string;
  close(): Promise<void>;
}

async function listen(server: Server, scheme: 'https' | 'http'): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function nodeServer(listener: RequestListener, tls: boolean): Promise<Listening> {
  return tls ? listen(createHttpsServer(SERVER_TLS, listener), 'https') : listen(createHttpServer(listener), 'http');
}

const FRAMEWORKS: { name: string; start(gate: Gate, tls: boolean): Promise<Listening> }[] = [
  {
    name: 'express',
    start(gate, tls) {
      const app = express();
      for (const route of ROUTES) app.get(`/${route}`, expressAdapter.protect(gate, { application: route }), (req, res) => void res.json(answer(req.auth)));
      return nodeServer(app, tls);
    },
  },
  {
    name: 'koa',
    start(gate, tls) {
      const app = new Koa();
      app.silent = true;
      const guards = new Map(ROUTES.map((route) => [`/${route}`, koaAdapter.protect(gate, { application: route })]));
      app.use(async (ctx, next) => {
        const guard = guards.get(ctx.path);
        if (guard === undefined) return next();
        await guard(ctx, async () => {
          ctx.body = answer(ctx.state.auth as Auth | undefined);
        });
      });
      return nodeServer(app.callback(), tls);
    },
  },
  {
    name: 'fastify',
    async start(gate, tls) {
      const app = (tls ? Fastify({ https: SERVER_TLS }) : Fastify()) as FastifyInstance;
      for (const route of ROUTES)
        app.get(`/${route}`, { onRequest: fastifyAdapter.protectHook(gate, { application: route }) }, async (request) => answer(request.auth));
      await app.listen({ host: '127.0.0.1', port: 0 });
      return { origin: `${tls ? 'https' : 'http'}://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
    },
  },
];

interface Reply {
  status: number;
  challenge: string | undefined;
  body: Record<string, unknown>;
  /** Whether the TLS session was resumed (always `false` over http). */
  resumed: boolean;
}

/**
 * `GET origin + path` on a fresh connection (no agent, no pooling), presenting the
 * `client` certificate over https. The client checks the server against the test CA.
 * `onSession` receives the TLS session to resume later; `session` resumes one.
 */
function get(origin: string, path: string, client?: Client, tls: { session?: Buffer; onSession?: (session: Buffer) => void } = {}): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const socket = res.socket as Partial<TLSSocket>;
        resolve({
          status: res.statusCode ?? 0,
          challenge: res.headers['www-authenticate'],
          body: text.length > 0 && res.headers['content-type']?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {},
          resumed: typeof socket.isSessionReused === 'function' && socket.isSessionReused(),
        });
      });
    };
    const url = new URL(path, origin);
    const req =
      url.protocol === 'https:'
        ? httpsRequest(
            url,
            { agent: false, ca: CA, ...(client === undefined ? {} : CLIENTS[client]), ...(tls.session === undefined ? {} : { session: tls.session }) },
            onResponse,
          )
        : httpRequest(url, { agent: false }, onResponse);
    if (tls.onSession !== undefined) {
      const onSession = tls.onSession;
      req.on('socket', (socket) => socket.once('session', onSession));
    }
    req.on('error', reject);
    req.end();
  });
}

const REFUSED = 'Bearer realm="entragate"';

let entra: MockEntra;
let gate: Gate;
beforeAll(async () => {
  entra = await createMockEntra();
  gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url, applications: APPLICATIONS });
});
afterAll(async () => {
  await entra.close();
});

for (const framework of FRAMEWORKS) {
  describe(`${framework.name}: client certificates over a real mTLS handshake`, () => {
    let secure: Listening;
    let plain: Listening;
    beforeAll(async () => {
      secure = await framework.start(gate, true);
      plain = await framework.start(gate, false);
      expect(secure.origin).toMatch(/^https:/);
      expect(plain.origin).toMatch(/^http:/);
    });
    afterAll(async () => {
      await secure.close();
      await plain.close();
    });

    it('admits a client certificate signed by the trusted CA, and passes it to the policies as valid with its CN', async () => {
      const any = await get(secure.origin, '/certificate', 'trusted');
      expect(any.status).toBe(200);
      expect(any.body).toEqual({
        policy: 'Trusted client certificate',
        via: 'anonymous',
        context: {
          ip: '127.0.0.1',
          certificate: { valid: true, commonName: AGENT_CN },
          request: expect.objectContaining({ method: 'GET', host: '127.0.0.1', url: '/certificate' }),
        },
      });
      const named = await get(secure.origin, '/common-name', 'trusted');
      expect(named.status).toBe(200);
      expect(named.body).toMatchObject({ policy: 'Build agent', context: { certificate: { valid: true, commonName: AGENT_CN } } });
    });

    it('refuses a client certificate signed by an untrusted CA, which the policies see as not valid', async () => {
      for (const path of ['/certificate', '/common-name']) {
        const refused = await get(secure.origin, path, 'untrusted');
        expect(refused.status).toBe(401);
        expect(refused.challenge).toBe(REFUSED);
      }
      // Same CN as the trusted one: only the chain differs.
      const seen = await get(secure.origin, '/loopback', 'untrusted');
      expect(seen.status).toBe(200);
      expect(seen.body).toMatchObject({ policy: 'Loopback', context: { certificate: { valid: false, commonName: AGENT_CN } } });
    });

    it('refuses a TLS client without a certificate, and gives the policies none', async () => {
      for (const path of ['/certificate', '/common-name']) {
        const refused = await get(secure.origin, path);
        expect(refused.status).toBe(401);
        expect(refused.challenge).toBe(REFUSED);
      }
      const seen = await get(secure.origin, '/loopback');
      expect(seen.status).toBe(200);
      expect(seen.body).toEqual({
        policy: 'Loopback',
        via: 'anonymous',
        context: { ip: '127.0.0.1', request: expect.objectContaining({ method: 'GET', host: '127.0.0.1', url: '/loopback' }) },
      });
    });

    it('refuses a trusted certificate with another CN on the common_name policy, and admits it on the certificate policy', async () => {
      const refused = await get(secure.origin, '/common-name', 'otherCn');
      expect(refused.status).toBe(401);
      expect(refused.challenge).toBe(REFUSED);
      const any = await get(secure.origin, '/certificate', 'otherCn');
      expect(any.status).toBe(200);
      expect(any.body).toMatchObject({
        policy: 'Trusted client certificate',
        context: { certificate: { valid: true, commonName: 'other-agent.contoso.com' } },
      });
    });

    it('gives the policies no certificate over plain http', async () => {
      for (const path of ['/certificate', '/common-name']) {
        const refused = await get(plain.origin, path);
        expect(refused.status).toBe(401);
        expect(refused.challenge).toBe(REFUSED);
      }
      const seen = await get(plain.origin, '/loopback');
      expect(seen.status).toBe(200);
      expect(seen.body).toEqual({
        policy: 'Loopback',
        via: 'anonymous',
        context: { ip: '127.0.0.1', request: expect.objectContaining({ method: 'GET', host: '127.0.0.1', url: '/loopback' }) },
      });
    });

    it('still sees the certificate, valid or not, on a resumed TLS session (where the client does not send it again)', async () => {
      for (const [client, valid, status] of [
        ['trusted', true, 200],
        ['untrusted', false, 401],
      ] as const) {
        let onSession!: (session: Buffer) => void;
        const ticket = new Promise<Buffer>((resolve) => (onSession = resolve));
        const first = await get(secure.origin, '/common-name', client, { onSession });
        expect(first.status).toBe(status);
        expect(first.resumed).toBe(false);
        const session = await ticket;
        const resumed = await get(secure.origin, '/common-name', client, { session });
        expect(resumed.resumed).toBe(true);
        expect(resumed.status).toBe(status);
        const seen = await get(secure.origin, '/loopback', client, { session });
        expect(seen.resumed).toBe(true);
        expect(seen.body).toMatchObject({ context: { certificate: { valid, commonName: AGENT_CN } } });
      }
    });
  });
}
