import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createGate } from '../../src/gate.js';
import { createScimHandler, toNodeListener, type ScimGate, type ScimHandlerOptions } from '../../src/scim/index.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';

export const SECRET = 'test-secret-0123456789abcdef';
export const PREVIOUS_SECRET = 'previous-secret-0123456789abcdef';

export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/scim/${name}`, import.meta.url), 'utf8')) as T;
}

export interface ScimServer {
  base: string;
  server: Server;
  request(
    method: string,
    path: string,
    body?: unknown,
    init?: { secret?: string | null; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; json: any }>;
  close(): Promise<void>;
}

/**
 * A real gate for an identity provider whose Cloudflare `scim_config` is `{ enabled: true, ...scimConfig }`
 * (no key is fetched until a token is verified, so no Entra is needed).
 */
export function scimGate(scimConfig: Record<string, unknown> = {}): ScimGate {
  return createGate({
    idp: {
      type: 'azureAD',
      name: 'Entra ID (SCIM tests)',
      config: { client_id: '00000000-0000-4000-8000-00000000c1d0', directory_id: '00000000-0000-4000-8000-0000000000d1' },
      scim_config: { enabled: true, ...scimConfig },
    },
  });
}

/**
 * Mounts a SCIM handler on a real `node:http` server on 127.0.0.1, port 0, under `/scim/v2` with Entra's flag on the tenant URL.
 * The handler reads its lifecycle from `gate`, or from a gate built with {@link scimGate} from `scimConfig` (a test shorthand).
 */
export async function startScimServer(
  options: Omit<ScimHandlerOptions, 'secrets' | 'gate'> & { secrets?: string[]; gate?: ScimGate; scimConfig?: Record<string, unknown> },
): Promise<ScimServer> {
  const { scimConfig, gate, ...rest } = options;
  const handler = createScimHandler({ secrets: [SECRET], gate: gate ?? scimGate(scimConfig), ...rest });
  const server = createServer(toNodeListener(handler));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/scim/v2`;
  return {
    base,
    server,
    async request(method, path, body, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const secret = init.secret === undefined ? SECRET : init.secret;
      if (secret !== null) headers.authorization = `Bearer ${secret}`;
      let payload: string | undefined = init.raw;
      if (body !== undefined) payload = JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] ??= 'application/scim+json';
      const res = await fetch(`${base}${path}`, { method, headers, body: payload });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const PG_CANDIDATES = ['postgres', userInfo().username];

/** A connection string for the local PostgreSQL (trust auth, database `test`): user `postgres`, else the OS user. Throws when unreachable, so PostgreSQL tests fail rather than skip. */
export async function postgresUrl(): Promise<string> {
  const pg = (await import('pg')).default;
  let last: unknown;
  for (const user of PG_CANDIDATES) {
    const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:5432/test`;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.end();
      return url;
    } catch (err) {
      last = err;
      await client.end().catch(() => undefined);
    }
  }
  throw new Error(`postgresql at 127.0.0.1:5432/test is not reachable: ${String(last)}`);
}

export function uniqueSchema(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

export type StoreFactory = () => Promise<{ store: DirectoryStore; cleanup: () => Promise<void> }>;

export const pgliteFactory: StoreFactory = async () => {
  const store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
  return { store, cleanup: () => store.close() };
};

export const postgresFactory: StoreFactory = async () => {
  const url = await postgresUrl();
  const schema = uniqueSchema('scim');
  const store = await openDirectoryStore({ driver: 'postgres', connectionString: url, schema });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropSchema(url, schema);
    },
  };
};

/** Resolves with the first change a store reports that satisfies `predicate` (no fixed sleeps). */
export function nextChange(store: DirectoryStore, predicate: (c: Parameters<Parameters<DirectoryStore['onChange']>[0]>[0]) => boolean) {
  return new Promise<Parameters<Parameters<DirectoryStore['onChange']>[0]>[0]>((resolve) => {
    const off = store.onChange((c) => {
      if (predicate(c)) {
        off();
        resolve(c);
      }
    });
  });
}
