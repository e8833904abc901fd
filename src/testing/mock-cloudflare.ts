import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { GroupRef } from '../types.js';
import { signJwt } from './mock-entra.js';
import { selfSignedCertificate } from './certificates.js';

/** One RSA signing key of the mock team, with its `kid` (as Cloudflare's: the SHA-256 of the key, in hex). */
export interface MockAccessKey {
  /** The key id the JWKS and token headers carry: the SHA-256 of the key's SPKI, hex (64 characters). */
  kid: string;
  /** The RSA-2048 private key that signs tokens; made fresh per key, never leaves the process. */
  privateKey: KeyObject;
  /** The public half, as `/cdn-cgi/access/certs` publishes it (when the key is published). */
  publicKey: KeyObject;
  /** The key's self-signed certificate, PEM: what `public_cert` / `public_certs` serve. */
  certificate: string;
}

/** Options of {@link createMockCloudflare}. */
export interface MockCloudflareOptions {
  /**
   * Where the mock team domain listens: `http://127.0.0.1:<port>` or `http://localhost:<port>` (port `0`
   * or none: a random one). @defaultValue `http://127.0.0.1:0`
   */
  teamDomain?: string;
  /** The application's AUD tag minted tokens carry. @defaultValue 64 random hex characters */
  aud?: string;
  /** The Cloudflare identity-provider id get-identity reports as `idp.id`. @defaultValue a random UUID */
  idpId?: string;
  /** The account id get-identity reports. @defaultValue 32 random hex characters */
  accountId?: string;
}

/** What {@link MockCloudflare.mintAppToken} puts in an application token (and the identity get-identity answers for it). */
export interface MintAppTokenOptions {
  /** The token's `email` claim, and the email get-identity answers. @defaultValue `test.user@example.com` */
  email?: string;
  /** Cloudflare's user id. @defaultValue a random UUID */
  sub?: string;
  /** `aud`: one tag or several. @defaultValue the mock's AUD tag */
  aud?: string | string[];
  /** The token's `country` claim (where the user logged in from, ISO 3166-1 alpha-2). @defaultValue `US` */
  country?: string;
  /** The token's `identity_nonce`: the key get-identity answers this token's identity under. @defaultValue 16 random characters */
  identity_nonce?: string;
  /** `app`, or `org` for a global session token. @defaultValue `app` */
  type?: string;
  /** The groups get-identity answers for this token's nonce. @defaultValue `[]` */
  groups?: GroupRef[];
  /** The user's display name in get-identity. @defaultValue `Test User` */
  name?: string;
  /** Fields merged over get-identity's answer for this nonce (`undefined` deletes one, e.g. `{ groups: undefined }`). */
  identity?: Record<string, unknown>;
  /** The token's `custom` claims (custom OIDC claims or SAML attributes). */
  custom?: Record<string, unknown>;
  /** Claims merged over the defaults; `undefined` deletes one. */
  claims?: Record<string, unknown>;
  /** Header parameters merged over `{ alg: 'RS256', kid, typ: 'JWT' }`; `undefined` deletes one. */
  header?: Record<string, unknown>;
  /** Lifetime in seconds from `issuedAt`. @defaultValue 3600 */
  expiresInSeconds?: number;
  /** `iat` and `nbf` (Unix seconds). @defaultValue now */
  issuedAt?: number;
  /** Sign with this key instead of the current one. */
  key?: MockAccessKey;
}

/** What {@link MockCloudflare.mintServiceToken} puts in a service-token assertion. */
export interface MintServiceTokenOptions {
  /** The service token's Client ID (`CF-Access-Client-Id`). @defaultValue 32 random hex characters + `.access` */
  commonName?: string;
  /** `aud`: one tag or several. @defaultValue the mock's AUD tag */
  aud?: string | string[];
  /** Claims merged over the defaults; `undefined` deletes one (`{ exp: undefined }`). @defaultValue none */
  claims?: Record<string, unknown>;
  /** Header parameters merged over `{ alg: 'RS256', kid, typ: 'JWT' }`; `undefined` deletes one. @defaultValue none */
  header?: Record<string, unknown>;
  /** Lifetime in seconds from `issuedAt`. @defaultValue 3600 */
  expiresInSeconds?: number;
  /** `iat` (Unix seconds). @defaultValue now */
  issuedAt?: number;
  /** Sign with this key instead of the current one (a retired or unpublished key, for refusals). @defaultValue the current key */
  key?: MockAccessKey;
}

/** Faults the mock injects on one endpoint (`faults.certs` or `faults.identity`). */
export interface MockCloudflareFaults {
  /** Answer 503. */
  down: boolean;
  /** Answer 200 with a body that is not JSON. */
  garbage: boolean;
  /** Answer 200 with this JSON instead (`{ keys: [] }`, a wrong shape). */
  body: unknown;
  /** Wait this long before answering, ms (a slow endpoint). */
  delayMs: number;
  /** When above 0: the headers at once, then one byte of the body every `dribbleMs` ms, never finishing. */
  dribbleMs: number;
  /** Answer `302 Found` to this location. */
  redirectTo: string | undefined;
}

/** A running mock Cloudflare Access team domain on a loopback address. */
export interface MockCloudflare {
  /** `http://127.0.0.1:<port>`: the team domain, and every token's `iss`. */
  readonly teamDomain: string;
  /** The application's AUD tag. */
  readonly aud: string;
  /** The identity-provider id get-identity reports. */
  readonly idpId: string;
  /** The key that signs new tokens. */
  readonly currentKey: MockAccessKey;
  /** The keys `/cdn-cgi/access/certs` publishes: the current one, and the previous one after a rotation. */
  readonly keys: readonly MockAccessKey[];
  /** Requests by endpoint: `certs`, `identity`. */
  readonly requests: { certs: number; identity: number };
  /** The `Cookie` headers get-identity received (to check that the assertion, and only it, was sent). */
  readonly identityCookies: readonly string[];
  /** The fault switches of each endpoint, all off at start: set a field to inject it (`faults.certs.down = true`), reset it by hand. */
  readonly faults: { certs: MockCloudflareFaults; identity: MockCloudflareFaults };
  /** `{ teamDomain, aud }` for `createAccessVerifier`. */
  accessConfig(): { teamDomain: string; aud: string };
  /** Mints an application token (RS256, current key) and registers get-identity's answer for its nonce. */
  mintAppToken(options?: MintAppTokenOptions): string;
  /** Mints a service-token assertion: `common_name` set, `sub` empty, no email. */
  mintServiceToken(options?: MintServiceTokenOptions): string;
  /** Sets (or with `undefined`, removes) the identity get-identity answers for a nonce. */
  setIdentity(nonce: string, identity: Record<string, unknown> | undefined): void;
  /**
   * Rotates as Cloudflare does: a new key signs from now on, the current one stays published as the
   * previous key (the 7-day overlap), and the one before it is dropped. Returns the new key.
   */
  rotateKeys(): MockAccessKey;
  /** Drops the previous key (the overlap is over). */
  retirePreviousKey(): void;
  /** A fresh key the certs do not publish ("another team", unknown kid). */
  createUnpublishedKey(): MockAccessKey;
  /** Stops the server, dropping open connections (a dribbling answer included); resolves once it is closed. */
  close(): Promise<void>;
}

/**
 * Starts a local mock of a Cloudflare Access team domain on a loopback address: `/cdn-cgi/access/certs`
 * (`{ keys, public_cert, public_certs }`, with rotation and overlap), minting of application tokens and
 * service-token assertions, and `/cdn-cgi/access/get-identity` answering the identity registered for the
 * token's `identity_nonce` (it checks the `CF_Authorization` cookie's signature and expiry, as Cloudflare
 * would), with fault switches (down, garbage, slow, dribbling, redirecting). It never reaches the network.
 * The verifier accepts its `http:` team domain because it is on loopback.
 *
 * @example
 * ```ts
 * import { createMockCloudflare } from 'entragate/testing';
 * import { createAccessVerifier } from 'entragate';
 *
 * const cloudflare = await createMockCloudflare();
 * const access = createAccessVerifier(cloudflare.accessConfig());
 * const result = await access.verify(cloudflare.mintAppToken({ email: 'ada@example.com' }));
 * await cloudflare.close();
 * ```
 */
export async function createMockCloudflare(options: MockCloudflareOptions = {}): Promise<MockCloudflare> {
  const listen = parseListen(options.teamDomain);
  const aud = options.aud ?? randomBytes(32).toString('hex');
  const idpId = options.idpId ?? randomUUID();
  const accountId = options.accountId ?? randomBytes(16).toString('hex');
  let current = createAccessKey();
  let previous: MockAccessKey | undefined;
  const requests = { certs: 0, identity: 0 };
  const identityCookies: string[] = [];
  const identities = new Map<string, Record<string, unknown>>();
  const noFaults = (): MockCloudflareFaults => ({ down: false, garbage: false, body: undefined, delayMs: 0, dribbleMs: 0, redirectTo: undefined });
  const faults = { certs: noFaults(), identity: noFaults() };
  let teamDomain = '';

  const published = (): MockAccessKey[] => (previous === undefined ? [current] : [current, previous]);
  const now = (): number => Math.floor(Date.now() / 1000);

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };

  /** Applies an endpoint's faults; true when one answered. */
  const faulted = async (res: ServerResponse, f: MockCloudflareFaults): Promise<boolean> => {
    if (f.delayMs > 0) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.down) {
      json(res, 503, { success: false, errors: [{ code: 503, message: 'service unavailable' }] });
      return true;
    }
    if (f.redirectTo !== undefined) {
      res.writeHead(302, { location: f.redirectTo });
      res.end();
      return true;
    }
    if (f.dribbleMs > 0) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.write('{');
      const timer = setInterval(() => res.write(' '), f.dribbleMs);
      res.on('close', () => clearInterval(timer));
      return true;
    }
    if (f.garbage) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end('<html><body>502 Bad Gateway</body></html>');
      return true;
    }
    if (f.body !== undefined) {
      json(res, 200, f.body);
      return true;
    }
    return false;
  };

  const certs = (): Record<string, unknown> => {
    const keys = published();
    return {
      keys: keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, kty: 'RSA', alg: 'RS256', use: 'sig' })),
      public_cert: { kid: current.kid, cert: current.certificate },
      public_certs: keys.map((k) => ({ kid: k.kid, cert: k.certificate })),
    };
  };

  /** The claims of a `CF_Authorization` cookie this mock signed and that has not expired, else undefined. */
  const cookieClaims = (cookie: string | undefined): Record<string, unknown> | undefined => {
    const value = cookie
      ?.split(';')
      .map((p) => p.trim())
      .find((p) => p.startsWith('CF_Authorization='))
      ?.slice('CF_Authorization='.length);
    const parts = value?.split('.');
    if (parts === undefined || parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      const key = published().find((k) => k.kid === header.kid);
      if (key === undefined || header.alg !== 'RS256') return undefined;
      if (!verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), key.publicKey, Buffer.from(parts[2]!, 'base64url'))) return undefined;
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      return typeof claims.exp === 'number' && claims.exp > now() ? claims : undefined;
    } catch {
      return undefined;
    }
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', teamDomain).pathname;
    if (req.method === 'GET' && path === '/cdn-cgi/access/certs') {
      requests.certs++;
      if (await faulted(res, faults.certs)) return;
      json(res, 200, certs());
      return;
    }
    if (req.method === 'GET' && path === '/cdn-cgi/access/get-identity') {
      requests.identity++;
      identityCookies.push(req.headers.cookie ?? '');
      if (await faulted(res, faults.identity)) return;
      const claims = cookieClaims(req.headers.cookie);
      if (claims === undefined) {
        json(res, 401, { err: 'invalid or missing CF_Authorization' });
        return;
      }
      const identity = typeof claims.identity_nonce === 'string' ? identities.get(claims.identity_nonce) : undefined;
      if (identity === undefined) {
        json(res, 404, { err: 'no identity for this nonce' });
        return;
      }
      json(res, 200, identity);
      return;
    }
    json(res, 404, { err: 'not found' });
  };

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { err: error instanceof Error ? error.message : String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  teamDomain = `http://${listen.host === '::1' ? '[::1]' : listen.hostname}:${(server.address() as AddressInfo).port}`;

  const mock: MockCloudflare = {
    get teamDomain() {
      return teamDomain;
    },
    aud,
    idpId,
    get currentKey() {
      return current;
    },
    get keys() {
      return published();
    },
    requests,
    identityCookies,
    faults,
    accessConfig: () => ({ teamDomain, aud }),
    mintAppToken(mint = {}) {
      const key = mint.key ?? current;
      const iat = mint.issuedAt ?? now();
      const sub = mint.sub ?? randomUUID();
      const email = mint.email ?? 'test.user@example.com';
      const nonce = mint.identity_nonce ?? randomBytes(12).toString('base64url');
      const country = mint.country ?? 'US';
      const payload = strip({
        aud: typeof (mint.aud ?? aud) === 'string' ? [mint.aud ?? aud] : mint.aud,
        email,
        exp: iat + (mint.expiresInSeconds ?? 3600),
        iat,
        nbf: iat,
        iss: teamDomain,
        type: mint.type ?? 'app',
        identity_nonce: nonce,
        sub,
        country,
        ...(mint.custom === undefined ? {} : { custom: mint.custom }),
        ...(mint.claims ?? {}),
      });
      identities.set(
        nonce,
        strip({
          id: randomBytes(24).toString('base64url'),
          name: mint.name ?? 'Test User',
          email,
          amr: ['pwd'],
          groups: mint.groups ?? [],
          idp: { id: idpId, type: 'azureAD' },
          geo: { country },
          user_uuid: sub,
          account_id: accountId,
          iat,
          ip: '127.0.0.1',
          auth_status: 'NONE',
          common_name: '',
          service_token_id: '',
          service_token_status: false,
          is_warp: false,
          is_gateway: false,
          version: 2,
          device_sessions: {},
          ...(mint.custom === undefined ? {} : { oidc_fields: mint.custom }),
          ...(mint.identity ?? {}),
        }),
      );
      return signJwt(strip({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...(mint.header ?? {}) }), payload, key.privateKey);
    },
    mintServiceToken(mint = {}) {
      const key = mint.key ?? current;
      const iat = mint.issuedAt ?? now();
      const payload = strip({
        type: 'app',
        aud: typeof (mint.aud ?? aud) === 'string' ? [mint.aud ?? aud] : mint.aud,
        exp: iat + (mint.expiresInSeconds ?? 3600),
        iss: teamDomain,
        common_name: mint.commonName ?? `${randomBytes(16).toString('hex')}.access`,
        iat,
        sub: '',
        ...(mint.claims ?? {}),
      });
      return signJwt(strip({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...(mint.header ?? {}) }), payload, key.privateKey);
    },
    setIdentity(nonce, identity) {
      if (identity === undefined) identities.delete(nonce);
      else identities.set(nonce, identity);
    },
    rotateKeys() {
      previous = current;
      current = createAccessKey();
      return current;
    },
    retirePreviousKey() {
      previous = undefined;
    },
    createUnpublishedKey: createAccessKey,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return mock;
}

/** An RSA-2048 key with Cloudflare's kind of `kid` (the SHA-256 of its SPKI, hex) and a self-signed certificate. */
export function createAccessKey(): MockAccessKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const kid = createHash('sha256').update(spki).digest('hex');
  return { kid, privateKey, publicKey, certificate: selfSignedCertificate(spki, privateKey, `mock access ${kid.slice(0, 16)}`) };
}

function parseListen(teamDomain: string | undefined): { host: string; hostname: string; port: number } {
  if (teamDomain === undefined) return { host: '127.0.0.1', hostname: '127.0.0.1', port: 0 };
  const url = new URL(teamDomain);
  const hostname = url.hostname;
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(hostname) || url.pathname !== '/' || url.search || url.hash) {
    throw new TypeError(
      `createMockCloudflare: \`teamDomain\` must be http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port>, got \`${teamDomain}\``,
    );
  }
  return { host: hostname === '[::1]' ? '::1' : hostname, hostname, port: url.port === '' ? 0 : Number(url.port) };
}

function strip(record: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record;
}
