import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { base64urlJson } from '../token/jwt.js';
import type { IdpConfigInput } from '../config/idp.js';
import { createMockEntraLogin, type MockEntraLogin } from './mock-entra-login.js';
import { createMockGraph, type MockGraph, type MockGraphOptions } from './mock-graph.js';

/** One RSA signing key of the mock, with its `kid`. */
export interface MockSigningKey {
  /** The key id the JWKS and token headers carry (27 random characters, as long as Entra's). */
  kid: string;
  /** The RSA-2048 private key that signs tokens; made fresh per key, never leaves the process. */
  privateKey: KeyObject;
  /** The public half, as the JWKS publishes it (when the key is published). */
  publicKey: KeyObject;
}

/** A route the mock serves: return `true` when it handled the request. */
export type MockRoute = (req: IncomingMessage, res: ServerResponse, url: URL, entra: MockEntra) => boolean | Promise<boolean>;

/** Options of `createMockEntra`. */
export interface MockEntraOptions {
  /** Tenants to serve; the first is the default. @defaultValue one random tenant */
  tenants?: string[];
  /** The app registration's client id. @defaultValue a random GUID */
  clientId?: string;
  /** The app registration's client secret. @defaultValue a random string */
  clientSecret?: string;
  /** The v1 issuer for a tenant. @defaultValue Entra's real `https://sts.windows.net/{tid}/` */
  v1Issuer?: (tid: string) => string;
  /**
   * The v2 issuer for a tenant (`{tenantid}` for the multi-tenant template): what discovery, the key
   * sets and minted tokens say. E.g. an Entra External ID (CIAM) tenant:
   * `(tid) => \`https://${tid}.ciamlogin.com/${tid}/v2.0\``.
   * @defaultValue `<url>/{tid}/v2.0`
   */
  v2Issuer?: (tid: string) => string;
  /** Extra routes, tried in order before the built-in ones. @defaultValue none */
  routes?: MockRoute[];
  /**
   * Whether the v2 key sets give each key Entra's non-standard `issuer` member. `false` publishes
   * them without one, as Entra's v1 key set (`/common/discovery/keys`) always does: then only the
   * discovery document's issuer vouches for a token's `iss`. @defaultValue true
   */
  keyIssuers?: boolean;
  /**
   * Also serve Microsoft Graph (`/v1.0/users/{id}/transitiveMemberOf`, …) on the same host, accepting
   * the access tokens this mock issues (client credentials, and delegated tokens from a login).
   * Point `graphHost` at `entra.url`.
   * @defaultValue `false`
   */
  graph?: boolean | Omit<MockGraphOptions, 'listen' | 'serveTokenEndpoint' | 'acceptToken' | 'tenantId'>;
}

/** What `mintToken` puts in a token. */
export interface MintOptions {
  /** Token version. Default `2.0`. */
  version?: '1.0' | '2.0';
  /** Tenant id (must be one the mock serves for a verifiable token). Default: the first tenant. */
  tenant?: string;
  /** `aud`. Default: the client id. */
  audience?: string;
  /** Claims merged over the defaults (`sub`, `oid`, `name`, `scp: "access_as_user"`, `preferred_username`/`upn`, …); `undefined` deletes one (`scp: undefined` for an ID token or an app-only token). */
  claims?: Record<string, unknown>;
  /** Header parameters merged over `{alg:'RS256', typ:'JWT', kid}`; `undefined` deletes one. */
  header?: Record<string, unknown>;
  /** Lifetime in seconds from `issuedAt`. Default 3600. */
  expiresInSeconds?: number;
  /** `iat` and `nbf` (Unix seconds). Default: now. */
  issuedAt?: number;
  /** Sign with this key instead of the current one. */
  key?: MockSigningKey;
}

/** A fault the mock can be told to inject on discovery and JWKS requests. */
export interface MockFaults {
  /** Every request to discovery/JWKS answers 503. (Close the mock, or use a dead port, for a refused connection.) */
  down: boolean;
  /** Delay before answering, in ms. */
  delayMs: number;
  /**
   * When above 0: answer 200 with the headers at once, then one byte of the body every `dribbleMs`
   * ms, never finishing (a server that stalls mid-body). 0 turns it off.
   */
  dribbleMs: number;
  /** When set: answer `302 Found` with this `Location` instead of the document. */
  redirectTo: string | undefined;
}

/** A running mock Entra ID on 127.0.0.1. */
export interface MockEntra {
  /** `http://127.0.0.1:<port>`: pass as `authorityHost`. */
  readonly url: string;
  /** The default tenant (the first of `tenants`, lower case): minted tokens' `tid` unless told otherwise. */
  readonly tenantId: string;
  /** Every tenant the mock serves discovery, keys and login for, lower case. */
  readonly tenants: readonly string[];
  /** The mock app registration's client id: minted tokens' default `aud`, and `idpConfig()`'s `client_id`. */
  readonly clientId: string;
  /** The mock app registration's client secret, checked at the token endpoint; a test value, never a real secret. */
  readonly clientSecret: string;
  /** The key that signs new tokens. */
  readonly currentKey: MockSigningKey;
  /** Every key in the JWKS. */
  readonly keys: readonly MockSigningKey[];
  /** Counts of requests by route (`discovery`, `jwks`, and any extra route's name). */
  readonly requests: Record<string, number>;
  /** Fault switches for discovery and JWKS, all off at start: set a field to inject it (`faults.down = true`), reset it by hand. The login and Graph routes ignore them. */
  readonly faults: MockFaults;
  /** The issuer of a token version for a tenant, as the discovery document says. */
  issuer(version: '1.0' | '2.0', tenant?: string): string;
  /** Mints a signed JWT (synchronous; RS256 with the current key unless told otherwise). */
  mintToken(options?: MintOptions): string;
  /** Adds a new key and makes it current; the old key stays published unless `dropOld`. */
  rotateKeys(options?: { dropOld?: boolean }): MockSigningKey;
  /** Makes a fresh key that the JWKS does not publish (for "unknown kid" tests). */
  createUnpublishedKey(): MockSigningKey;
  /**
   * Publishes one more key (not the current one) whose JWKS entry carries this `issuer`, e.g. the
   * consumer-account issuer, for key-issuer tests. Every tenant's JWKS shows it.
   */
  publishKey(options: { issuer: string }): MockSigningKey;
  /** Removes a key from the JWKS (an emergency rollover). */
  withdrawKey(kid: string): void;
  /** Cloudflare identity-provider JSON that points at this mock. */
  idpConfig(overrides?: { config?: Record<string, unknown>; scim_config?: Record<string, unknown>; id?: string }): IdpConfigInput;
  /** Adds a route (for example the Graph or login routes) in front of the built-in ones. */
  addRoute(route: MockRoute): void;
  /** The login endpoints (authorize, token, logout), mounted by default: choose the user, arm errors, read what was checked. */
  readonly login: MockEntraLogin;
  /** The mock Graph on this host, when `graph` was asked for: add users, groups and nesting; inject faults. */
  readonly graph: MockGraph | undefined;
  /** Stops the server, dropping open connections (a dribbling answer included); resolves once it is closed. */
  close(): Promise<void>;
}

/** Creates an RSA-2048 signing key with a random `kid`. */
export function createSigningKey(): MockSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: randomUUID().replace(/-/g, '').slice(0, 27), privateKey, publicKey };
}

/**
 * Signs `header.payload` with RS256 and returns the compact JWS. Exposed so
 * tests can craft hostile tokens (odd headers, wrong keys).
 */
export function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${base64urlJson(header)}.${base64urlJson(payload)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}

/**
 * Starts a local mock of Microsoft Entra ID on 127.0.0.1 (a random port): v1 and v2
 * OpenID discovery and JWKS per tenant (and for `common`/`organizations` with the
 * `{tenantid}` template), token minting with any claims, key rotation, and fault
 * injection. It never reaches the network.
 *
 * @example
 * ```ts
 * import { createMockEntra } from 'entragate/testing';
 * import { createGate } from 'entragate';
 * const entra = await createMockEntra();
 * const gate = createGate({ idp: entra.idpConfig(), authorityHost: entra.url });
 * const identity = await gate.verify(entra.mintToken({ claims: { email: 'ada@example.com' } }));
 * await entra.close();
 * ```
 */
export async function createMockEntra(options: MockEntraOptions = {}): Promise<MockEntra> {
  const tenants = (options.tenants ?? [randomUUID()]).map((t) => t.toLowerCase());
  const clientId = options.clientId ?? randomUUID();
  const clientSecret = options.clientSecret ?? `secret-${randomUUID()}`;
  const v1Issuer = options.v1Issuer ?? ((tid: string) => `https://sts.windows.net/${tid}/`);
  const routes: MockRoute[] = [...(options.routes ?? [])];
  const keyIssuers = options.keyIssuers ?? true;
  const login = createMockEntraLogin();
  const graph =
    options.graph === undefined || options.graph === false
      ? undefined
      : await createMockGraph({
          ...(options.graph === true ? {} : options.graph),
          tenantId: tenants[0]!,
          listen: false,
          serveTokenEndpoint: false,
          // Graph accepts what this mock's token endpoint issued: app tokens, and user tokens bound to their oid.
          acceptToken: (token) => {
            const issued = login.login.introspect(token);
            if (issued === undefined) return false;
            return issued.kind === 'delegated' && issued.oid !== undefined ? { oid: issued.oid } : true;
          },
        });
  let keys: MockSigningKey[] = [createSigningKey()];
  const fixedIssuers = new Map<string, string>();
  let current = keys[0]!;
  const requests: Record<string, number> = { discovery: 0, jwks: 0 };
  const faults: MockFaults = { down: false, delayMs: 0, dribbleMs: 0, redirectTo: undefined };
  let url = '';

  const count = (name: string): void => {
    requests[name] = (requests[name] ?? 0) + 1;
  };

  const v2Issuer = options.v2Issuer ?? ((tid: string) => `${url}/${tid}/v2.0`);
  const issuer = (version: '1.0' | '2.0', tenant: string = tenants[0]!): string => (version === '2.0' ? v2Issuer(tenant) : v1Issuer(tenant));

  const knownTenant = (t: string): boolean => tenants.includes(t) || t === 'common' || t === 'organizations';

  const discovery = (tenant: string, version: '1.0' | '2.0'): Record<string, unknown> => {
    const template = tenant === 'common' || tenant === 'organizations';
    const iss = template ? issuer(version, '{tenantid}') : issuer(version, tenant);
    const v = version === '2.0' ? '/v2.0' : '';
    return {
      issuer: iss,
      authorization_endpoint: `${url}/${tenant}/oauth2${v}/authorize`,
      token_endpoint: `${url}/${tenant}/oauth2${v}/token`,
      jwks_uri: version === '2.0' ? `${url}/${tenant}/discovery/v2.0/keys` : `${url}/common/discovery/keys`,
      end_session_endpoint: `${url}/${tenant}/oauth2${v}/logout`,
      response_types_supported: ['code', 'id_token', 'code id_token'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'email', 'oid'],
      msgraph_host: 'graph.microsoft.com',
      cloud_instance_name: 'microsoftonline.com',
    };
  };

  const jwks = (tenant: string, version: '1.0' | '2.0'): Record<string, unknown> => ({
    keys: keys.map((k) => ({
      ...k.publicKey.export({ format: 'jwk' }),
      kty: 'RSA',
      use: 'sig',
      kid: k.kid,
      x5t: k.kid,
      // Entra's non-standard per-key issuer: the v2 template for tenant-independent keys.
      ...(fixedIssuers.has(k.kid)
        ? { issuer: fixedIssuers.get(k.kid) }
        : version === '2.0' && keyIssuers
          ? { issuer: tenant === 'common' || tenant === 'organizations' ? issuer('2.0', '{tenantid}') : issuer('2.0', tenant) }
          : {}),
    })),
  });

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'max-age=86400, private' });
    res.end(JSON.stringify(body));
  };

  const builtIn = async (req: IncomingMessage, res: ServerResponse, u: URL): Promise<boolean> => {
    const parts = u.pathname.split('/').filter(Boolean);
    const tenant = parts[0]?.toLowerCase() ?? '';
    const rest = parts.slice(1).join('/');
    const isDiscovery = rest === '.well-known/openid-configuration' || rest === 'v2.0/.well-known/openid-configuration';
    const isJwks = rest === 'discovery/v2.0/keys' || rest === 'discovery/keys';
    if (req.method !== 'GET' || (!isDiscovery && !isJwks)) return false;
    count(isDiscovery ? 'discovery' : 'jwks');
    if (faults.delayMs > 0) await new Promise((r) => setTimeout(r, faults.delayMs));
    if (faults.down) {
      json(res, 503, { error: 'temporarily_unavailable' });
      return true;
    }
    if (faults.redirectTo !== undefined) {
      res.writeHead(302, { location: faults.redirectTo });
      res.end();
      return true;
    }
    if (faults.dribbleMs > 0) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.write('{');
      const timer = setInterval(() => res.write(' '), faults.dribbleMs);
      res.on('close', () => clearInterval(timer));
      return true;
    }
    if (!knownTenant(tenant)) {
      json(res, 400, { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
      return true;
    }
    const version = rest.startsWith('v2.0') || rest === 'discovery/v2.0/keys' ? '2.0' : '1.0';
    json(res, 200, isDiscovery ? discovery(tenant, version) : jwks(tenant, version));
    return true;
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', url);
      try {
        for (const route of routes) if (await route(req, res, u, entra)) return;
        if (graph?.handle(req, res)) return;
        if (await builtIn(req, res, u)) return;
        if (await login.route(req, res, u, entra)) return;
        json(res, 404, { error: 'not_found' });
      } catch (error) {
        if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: error instanceof Error ? error.message : String(error) });
        else res.destroy();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const entra: MockEntra = {
    get url() {
      return url;
    },
    tenantId: tenants[0]!,
    tenants,
    clientId,
    clientSecret,
    get currentKey() {
      return current;
    },
    get keys() {
      return keys;
    },
    requests,
    faults,
    issuer,
    mintToken(mint: MintOptions = {}): string {
      const version = mint.version ?? '2.0';
      const tenant = (mint.tenant ?? tenants[0]!).toLowerCase();
      const key = mint.key ?? current;
      const iat = mint.issuedAt ?? Math.floor(Date.now() / 1000);
      // A user's `sub` is stable across their tokens (a refreshed ID token has the login's), so it is
      // derived from the `oid` asked for, when one is.
      const oid = typeof mint.claims?.oid === 'string' ? mint.claims.oid : randomUUID();
      const base: Record<string, unknown> = {
        aud: mint.audience ?? clientId,
        iss: issuer(version, tenant),
        iat,
        nbf: iat,
        exp: iat + (mint.expiresInSeconds ?? 3600),
        sub: `sub-${oid.slice(0, 8)}`,
        oid,
        tid: tenant,
        name: 'Test User',
        // A delegated access token for the app's API by default, as a bearer token must be one (an ID token
        // carries no `scp`): mint an ID token or an app-only token with `scp: undefined`.
        scp: 'access_as_user',
        ver: version,
        ...(version === '2.0' ? { preferred_username: 'test.user@example.com' } : { upn: 'test.user@example.com', unique_name: 'test.user@example.com' }),
      };
      const payload = strip({ ...base, ...(mint.claims ?? {}) });
      const header = strip({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...(version === '1.0' ? { x5t: key.kid } : {}), ...(mint.header ?? {}) });
      return signJwt(header, payload, key.privateKey);
    },
    rotateKeys(rotate = {}) {
      const next = createSigningKey();
      keys = rotate.dropOld ? [next] : [...keys, next];
      current = next;
      return next;
    },
    createUnpublishedKey: createSigningKey,
    publishKey({ issuer: fixed }) {
      const key = createSigningKey();
      keys = [...keys, key];
      fixedIssuers.set(key.kid, fixed);
      return key;
    },
    withdrawKey(kid) {
      keys = keys.filter((k) => k.kid !== kid);
    },
    idpConfig(overrides = {}) {
      return {
        type: 'azureAD',
        name: 'Entra ID (mock)',
        id: overrides.id ?? 'f174e90a-fafe-4643-bbbc-4a0ed4fc8415',
        config: {
          client_id: clientId,
          client_secret: clientSecret,
          directory_id: tenants[0]!,
          support_groups: true,
          ...(overrides.config ?? {}),
        },
        ...(overrides.scim_config ? { scim_config: overrides.scim_config } : {}),
      } as IdpConfigInput;
    },
    addRoute(route) {
      routes.push(route);
    },
    login: login.login,
    graph,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return entra;
}

function strip(record: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record;
}
