import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createGate, type EntragateError, type Gate, type GateOptions } from '../../src/index.js';
import { createLogin, type Login, type LoginOptions } from '../../src/login/index.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createMockEntra, type MockEntra, type MockEntraOptions } from '../../src/testing/index.js';

/** A fixed transaction secret so tests can open and re-seal login transactions. */
export const TX_SECRET = 'test-transaction-secret-0123456789abcdef';

export interface App {
  url: string;
  login: Login;
  gate: Gate;
  close(): Promise<void>;
}

export function esKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** A fake clock starting now. */
export function fakeClock(): { now: () => number; advance(ms: number): void; set(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

/**
 * Starts an app on 127.0.0.1:0 that mounts the login's start/callback/logout, an
 * identity endpoint, and `/me` (authenticateRequest). `build` receives the app's
 * origin so the redirect URI can point at it.
 */
export async function startApp(
  entra: MockEntra,
  options: {
    login?: (origin: string) => Partial<LoginOptions>;
    idp?: Parameters<MockEntra['idpConfig']>[0];
    gate?: Partial<GateOptions>;
  } = {},
): Promise<App> {
  let login!: Login;
  const server: Server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    // The login takes plain request objects (what adapters build), not only WHATWG Requests.
    const request = { url: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers };
    let response: Response;
    if (path === '/auth/login') response = await login.start(request);
    else if (path === '/auth/callback') response = await login.callback(request, { country: 'FR' });
    else if (path === '/auth/logout') response = await login.logout(request);
    else if (path === '/cdn-cgi/access/get-identity') response = await login.identity(request);
    else if (path === '/me') {
      try {
        const who = await login.authenticateRequest(request);
        response = Response.json({ kind: who.kind, email: who.identity.email, oid: who.identity.oid, groups: who.identity.groups });
      } catch (error) {
        const e = error as EntragateError;
        response = Response.json({ code: e.code, message: e.message }, { status: e.status ?? 500 });
      }
    } else response = new Response(`page ${path}`, { status: 200 });
    const headers: Record<string, string | string[]> = {};
    response.headers.forEach((value, key) => {
      if (key !== 'set-cookie') headers[key] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) headers['set-cookie'] = cookies;
    res.writeHead(response.status, headers);
    res.end(Buffer.from(await response.arrayBuffer()));
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const gate = createGate({ idp: entra.idpConfig(options.idp), authorityHost: entra.url, ...(options.gate ?? {}) });
  const key = esKey();
  login = createLogin({
    gate,
    redirectUri: `${url}/auth/callback`,
    keys: { signing: { kid: 'k1', alg: 'ES256', privateKey: key.privateKey } },
    cookie: { secure: false },
    transactionSecret: TX_SECRET,
    ...(options.login?.(url) ?? {}),
  });
  return {
    url,
    login,
    gate,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface JarCookie {
  value: string;
  path: string;
}

/** A small cookie jar: honours Path and Max-Age=0; one origin per jar. */
export class CookieJar {
  readonly cookies = new Map<string, JarCookie>();
  /** Every Set-Cookie line received, in order. */
  readonly received: string[] = [];

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      this.received.push(line);
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const path = attrs.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const maxAge = attrs.find((a) => a.toLowerCase().startsWith('max-age='));
      if (maxAge !== undefined && Number(maxAge.slice(8)) <= 0) this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }

  header(pathname: string): string {
    return [...this.cookies]
      .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map(([n, c]) => `${n}=${c.value}`)
      .join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }
}

export interface Hop {
  url: string;
  status: number;
  location: string | null;
  setCookies: string[];
  response: Response;
}

/** One request with the jar's cookies (only to `appOrigin`), no redirect following. */
export async function fetchWithJar(jar: CookieJar, appOrigin: string, url: string, headers: Record<string, string> = {}): Promise<Hop> {
  const u = new URL(url);
  const cookie = u.origin === appOrigin ? jar.header(u.pathname) : '';
  const response = await fetch(url, { redirect: 'manual', headers: { ...(cookie ? { cookie } : {}), ...headers } });
  const setCookies = response.headers.getSetCookie();
  if (u.origin === appOrigin) jar.store(setCookies);
  return { url, status: response.status, location: response.headers.get('location'), setCookies, response };
}

/**
 * Follows redirects like a browser, with the jar, until a non-redirect answer.
 * `intercept` may rewrite a hop's target (to tamper with the callback).
 */
export async function browse(jar: CookieJar, appOrigin: string, url: string, intercept?: (next: URL) => URL | undefined): Promise<Hop[]> {
  const hops: Hop[] = [];
  let next: string | undefined = url;
  for (let i = 0; next !== undefined && i < 10; i++) {
    const hop = await fetchWithJar(jar, appOrigin, next);
    hops.push(hop);
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      let target: URL = new URL(hop.location, next);
      if (intercept) {
        const changed = intercept(target);
        if (changed === undefined) return hops;
        target = changed;
      }
      next = target.href;
    } else {
      next = undefined;
    }
  }
  return hops;
}

/**
 * A test file's mock Entra and apps: the mock opens before the tests, each test's apps close after it
 * (and the mock's login records are reset), the mock closes at the end.
 */
export function mockEntraSuite(options: MockEntraOptions = {}): { readonly entra: MockEntra; app(appOptions?: Parameters<typeof startApp>[1]): Promise<App> } {
  let entra: MockEntra | undefined;
  const apps: App[] = [];
  beforeAll(async () => {
    entra = await createMockEntra(options);
  });
  afterEach(async () => {
    while (apps.length > 0) await apps.pop()!.close();
    entra?.login.reset();
  });
  afterAll(async () => {
    await entra?.close();
  });
  return {
    get entra() {
      return entra!;
    },
    async app(appOptions = {}) {
      const a = await startApp(entra!, appOptions);
      apps.push(a);
      return a;
    },
  };
}
