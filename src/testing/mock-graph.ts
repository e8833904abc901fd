import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { parseWith } from '../config/idp.js';
import type { Assert, Equal } from '../config/type-equal.js';

/** Options of {@link createMockGraph}. */
export interface MockGraphOptions {
  /** Only this tenant's token endpoint answers. @defaultValue any tenant */
  tenantId?: string | undefined;
  /** The client id the token endpoint accepts. @defaultValue `'mock-graph-client'` */
  clientId?: string | undefined;
  /** The client secret the token endpoint accepts. @defaultValue `'mock-graph-secret'` */
  clientSecret?: string | undefined;
  /** `expires_in` of the tokens the mock issues. @defaultValue `3599` */
  tokenLifetimeSeconds?: number | undefined;
  /**
   * Accepts bearer tokens minted elsewhere (for example by the mock Entra ID).
   * Return `{ oid }` to bind a delegated token to a user for `/me/...`.
   * @defaultValue none: only the mock's own client-credentials tokens are accepted
   */
  acceptToken?: ((token: string) => boolean | { oid: string }) | undefined;
  /** Serve `POST /{tenant}/oauth2/v2.0/token` (client credentials). @defaultValue `true` */
  serveTokenEndpoint?: boolean | undefined;
  /** Start a server on 127.0.0.1 (port 0). Off when mounting {@link MockGraph.handle} in another server. @defaultValue `true` */
  listen?: boolean | undefined;
}

const mockGraphOptions = z.strictObject({
  tenantId: z.string().min(1).optional(),
  clientId: z.string().min(1).default('mock-graph-client'),
  clientSecret: z.string().min(1).default('mock-graph-secret'),
  tokenLifetimeSeconds: z.number().int().positive().default(3599),
  acceptToken: z.custom<(token: string) => boolean | { oid: string }>((v) => typeof v === 'function').optional(),
  serveTokenEndpoint: z.boolean().default(true),
  listen: z.boolean().default(true),
});

// The interface above and the schema cannot drift: this fails to compile if they do.
type _MockGraphOptionsMatch = Assert<Equal<z.input<typeof mockGraphOptions>, MockGraphOptions>>;

/** A fault to inject on the next requests. */
export interface MockGraphFault {
  /** The HTTP status the failing requests answer with, with a Graph error body. */
  status: 429 | 503 | 500 | 501 | 502 | 504 | 403 | 404 | 400 | 401;
  /** `Retry-After` header value, sent as is (fractional seconds such as `2.128` are valid). */
  retryAfter?: string;
  /** How many requests fail. @defaultValue `1` */
  times?: number;
  /** Graph error `code`; a status-specific default otherwise. */
  code?: string;
  /** Which route fails. @defaultValue `'graph'` */
  route?: 'graph' | 'token';
  /**
   * Only requests of this tenant fail (case-insensitive): the token endpoint's `{tenant}`, or for Graph
   * the tenant the bearer token was issued for. Requests of other tenants pass untouched. @defaultValue any tenant
   */
  tenant?: string;
}

/** One request the mock saw. */
export interface MockGraphRequest {
  /** Which route it reached: the token endpoint or a Graph route (requests to neither are not recorded). */
  kind: 'token' | 'graph';
  /** The HTTP method as received (`GET`, `POST`). */
  method: string;
  /** Path and query as received. */
  url: string;
  /** The path alone, without the query, still percent-encoded. */
  path: string;
  /** Decoded query parameters. */
  query: Record<string, string>;
  /** The `ConsistencyLevel` header, when sent. */
  consistencyLevel: string | undefined;
  /** Response status (0 when the connection was dropped). */
  status: number;
}

/** A user of the mock directory. */
export interface MockGraphUser {
  /** The user's object id, as the token's `oid` carries it; matched case-insensitively in `/users/{id}`. */
  id: string;
  /** The UPN, by which `/users/{upn}` finds the user too (case-insensitively); absent: found by id only. */
  userPrincipalName?: string;
  /** The user's display name. */
  displayName?: string;
}

/** A group of the mock directory. */
export interface MockGraphGroup {
  /** The group's object id, the `id` Graph answers and `azureAD` rules name. */
  id: string;
  /** The group's display name; answered as `null` when absent. */
  displayName?: string;
  /** The group's mail; `null` or absent: not mail-enabled (`mailEnabled: false`). */
  mail?: string | null;
  /** Graph's `securityEnabled`. @defaultValue `true` */
  securityEnabled?: boolean;
}

/** A running mock of the Microsoft Graph routes entragate uses. */
export interface MockGraph {
  /** Base URL (`http://127.0.0.1:port`); empty when not listening. Use it as both `graphHost` and `authorityHost`. */
  readonly url: string;
  /** Every request seen, in order. */
  readonly requests: MockGraphRequest[];
  /** Adds a user to the mock directory, or replaces the one with the same id (a copy is kept). */
  addUser(user: MockGraphUser): void;
  /** Adds a group to the mock directory, or replaces the one with the same id (a copy is kept); it has no members until `addMember`. */
  addGroup(group: MockGraphGroup): void;
  /** Makes `memberId` (a user or a group) a direct member of `groupId`. */
  addMember(groupId: string, memberId: string): void;
  /** Ends `memberId`'s direct membership of `groupId` (nothing when it had none); transitive memberships through it go too. */
  removeMember(groupId: string, memberId: string): void;
  /**
   * Issues a bearer token: an application token, or a delegated one bound to `oid` (for `/me`), for
   * `tenant` (what a tenant-scoped fault matches). @defaultValue `tenant`: the mock's `tenantId`, else none
   */
  issueToken(oid?: string, tenant?: string): string;
  /** Fails the next request(s) with an HTTP error (Graph error body, optional `Retry-After`). */
  failNext(fault: MockGraphFault): void;
  /** Holds the next request(s) for `ms` before answering (a slow Graph; the client may time out). */
  delayNext(ms: number, times?: number): void;
  /** Drops every connection from now on (Graph unreachable) until {@link MockGraph.up}. */
  down(): void;
  /** Answers requests again after {@link MockGraph.down}; pending faults and delays still apply. */
  up(): void;
  /** Clears the request log and pending faults (the directory stays). */
  reset(): void;
  /**
   * Serves a request if it is one of the mock's routes; returns false otherwise
   * so a host server (the mock Entra ID) can mount these routes next to its own.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Stops the mock's own server, dropping open connections; resolves at once when it was not listening. */
  close(): Promise<void>;
}

const GRAPH_ROUTE = /^\/v1\.0\/(?:users\/([^/]+)|(me))\/transitiveMemberOf(\/microsoft\.graph\.group)?$/;
const TOKEN_ROUTE = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 999;

const ERROR_DEFAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'Request_BadRequest', message: 'Invalid request.' },
  401: { code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' },
  403: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' },
  404: { code: 'Request_ResourceNotFound', message: 'Resource does not exist or one of its queried reference-property objects are not present.' },
  429: { code: 'TooManyRequests', message: 'Please retry again later.' },
  500: { code: 'InternalServerError', message: 'An internal server error occurred.' },
  501: { code: 'NotImplemented', message: 'The request is not implemented.' },
  502: { code: 'BadGateway', message: 'Bad gateway.' },
  503: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable.' },
  504: { code: 'GatewayTimeout', message: 'Gateway timeout.' },
};

/**
 * Starts a mock Microsoft Graph (and its client-credentials token endpoint) on
 * 127.0.0.1, port 0. It serves what the Graph group source calls, with Graph's
 * real behaviour: `transitiveMemberOf` (users and `/me`, with or without the
 * `microsoft.graph.group` cast), transitive expansion through nested groups
 * (cycles handled), paging with `@odata.nextLink`/`$skiptoken` (`$top` up to
 * 999), `$select`, `$count`, `@odata.type` on each element, a 400
 * `Request_BadRequest` when a cast or `$count` comes without
 * `ConsistencyLevel: eventual`, and a 401 without a valid bearer token.
 *
 * Faults: {@link MockGraph.failNext} (429/503/500/403 … with `Retry-After`),
 * {@link MockGraph.delayNext} (slow answers, timeouts), {@link MockGraph.down}.
 *
 * @example
 * ```ts
 * import { createMockGraph } from 'entragate/testing';
 * import { createGraphGroupSource } from 'entragate/graph';
 *
 * const graph = await createMockGraph();
 * graph.addUser({ id: oid });
 * graph.addGroup({ id: groupId, displayName: 'Devs' });
 * graph.addMember(groupId, oid);
 * graph.failNext({ status: 429, retryAfter: '2.128' });
 * const source = createGraphGroupSource({
 *   tenantId, clientId: 'mock-graph-client', clientSecret: 'mock-graph-secret',
 *   graphHost: graph.url, authorityHost: graph.url,
 * });
 * await graph.close();
 * ```
 */
export async function createMockGraph(options: MockGraphOptions = {}): Promise<MockGraph> {
  const config = parseWith(mockGraphOptions, options, 'mock graph');
  const users = new Map<string, MockGraphUser>();
  const groups = new Map<string, MockGraphGroup>();
  /** member id (lowercase) → ids of the groups it is a direct member of. */
  const parents = new Map<string, Set<string>>();
  /** Issued tokens → the user a delegated token is bound to (`''` for an app token) and the tenant it was issued for. */
  const tokens = new Map<string, { oid: string; tenant: string }>();
  const faults: MockGraphFault[] = [];
  const delays: number[] = [];
  const requests: MockGraphRequest[] = [];
  let isDown = false;

  const key = (id: string) => id.toLowerCase();

  function findUser(idOrUpn: string): MockGraphUser | undefined {
    const k = key(idOrUpn);
    for (const user of users.values()) if (key(user.id) === k || (user.userPrincipalName && key(user.userPrincipalName) === k)) return user;
    return undefined;
  }

  function transitiveGroups(memberId: string): MockGraphGroup[] {
    const seen = new Set<string>();
    const out: MockGraphGroup[] = [];
    const queue = [...(parents.get(key(memberId)) ?? [])];
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i] as string;
      if (seen.has(key(id))) continue;
      seen.add(key(id));
      const group = groups.get(key(id));
      if (group) out.push(group);
      for (const p of parents.get(key(id)) ?? []) queue.push(p);
    }
    return out;
  }

  function takeFault(route: 'graph' | 'token', tenant: string): MockGraphFault | undefined {
    const fault = faults.find((f) => (f.route ?? 'graph') === route && (f.tenant === undefined || key(f.tenant) === key(tenant)));
    if (!fault) return undefined;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
    return fault;
  }

  function sendJson(res: ServerResponse, entry: MockGraphRequest, status: number, body: unknown, headers: Record<string, string> = {}): void {
    entry.status = status;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  function graphError(
    res: ServerResponse,
    entry: MockGraphRequest,
    status: number,
    code?: string,
    message?: string,
    headers: Record<string, string> = {},
  ): void {
    const defaults = ERROR_DEFAULTS[status] ?? { code: 'UnknownError', message: 'Error.' };
    sendJson(
      res,
      entry,
      status,
      {
        error: {
          code: code ?? defaults.code,
          message: message ?? defaults.message,
          innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID(), 'client-request-id': randomUUID() },
        },
      },
      headers,
    );
  }

  function bearerOf(req: IncomingMessage): { ok: boolean; oid: string; tenant: string } {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/i.exec(header);
    if (!match) return { ok: false, oid: '', tenant: '' };
    const token = match[1] as string;
    const issued = tokens.get(token);
    if (issued !== undefined) return { ok: true, ...issued };
    const accepted = config.acceptToken?.(token);
    if (accepted === true) return { ok: true, oid: '', tenant: '' };
    if (typeof accepted === 'object' && accepted !== null) return { ok: true, oid: accepted.oid, tenant: '' };
    return { ok: false, oid: '', tenant: '' };
  }

  function serveGraph(req: IncomingMessage, res: ServerResponse, entry: MockGraphRequest, match: RegExpExecArray, rawQuery: string): void {
    const auth = bearerOf(req);
    const fault = takeFault('graph', auth.tenant);
    if (fault) {
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
      graphError(res, entry, fault.status, fault.code, undefined, headers);
      return;
    }
    if (req.method !== 'GET') return graphError(res, entry, 405, 'Request_BadRequest', 'Method not allowed.');
    if (!auth.ok) return graphError(res, entry, 401);
    const cast = match[3] !== undefined;
    const countRequested = entry.query.$count === 'true';
    // Graph refuses advanced queries without the header, on every page.
    if ((cast || countRequested) && entry.consistencyLevel?.toLowerCase() !== 'eventual') {
      return graphError(res, entry, 400, 'Request_BadRequest', '$count is not currently supported.');
    }
    let userId: string;
    if (match[2] === 'me') {
      if (!auth.oid) return graphError(res, entry, 400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
      userId = auth.oid;
    } else {
      const decoded = decodePathSegment(match[1] as string);
      if (decoded === undefined) return graphError(res, entry, 400, 'Request_BadRequest', 'Invalid object identifier.');
      userId = decoded;
    }
    const user = findUser(userId);
    if (!user)
      return graphError(
        res,
        entry,
        404,
        'Request_ResourceNotFound',
        `Resource '${userId}' does not exist or one of its queried reference-property objects are not present.`,
      );

    const all = transitiveGroups(user.id);
    const top = Math.min(MAX_PAGE, Math.max(1, Number.parseInt(entry.query.$top ?? `${DEFAULT_PAGE}`, 10) || DEFAULT_PAGE));
    let offset = 0;
    if (entry.query.$skiptoken !== undefined) {
      const decoded = decodeSkipToken(entry.query.$skiptoken);
      if (decoded === undefined) return graphError(res, entry, 400, 'Request_BadRequest', 'Invalid skip token.');
      offset = decoded;
    }
    const select = entry.query.$select
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const page = all.slice(offset, offset + top).map((g) => shape(g, select));
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    const body: Record<string, unknown> = {
      '@odata.context': `${base}/v1.0/$metadata#${cast ? 'groups' : 'directoryObjects'}${select ? `(${select.join(',')})` : ''}`,
    };
    if (countRequested && offset === 0) body['@odata.count'] = all.length;
    if (offset + top < all.length) body['@odata.nextLink'] = `${base}${entry.path}?${withSkipToken(rawQuery, encodeSkipToken(offset + top))}`;
    body.value = page;
    sendJson(res, entry, 200, body);
  }

  function serveToken(req: IncomingMessage, res: ServerResponse, entry: MockGraphRequest, tenant: string): void {
    const fault = takeFault('token', tenant);
    if (fault) {
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
      sendJson(res, entry, fault.status, { error: fault.code ?? 'temporarily_unavailable', error_description: 'AADSTS50196: injected fault.' }, headers);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      let clientId = form.get('client_id');
      let clientSecret = form.get('client_secret');
      const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        const [id, secret] = Buffer.from(basic[1] as string, 'base64')
          .toString('utf8')
          .split(':');
        clientId = decodeURIComponent(id ?? '');
        clientSecret = decodeURIComponent(secret ?? '');
      }
      const oauthError = (status: number, error: string, description: string) =>
        sendJson(res, entry, status, { error, error_description: description, error_codes: [Number(description.slice(6, description.indexOf(':')))] });
      if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'AADSTS900561: The endpoint only accepts POST requests.');
      if (config.tenantId !== undefined && tenant.toLowerCase() !== config.tenantId.toLowerCase()) {
        return oauthError(400, 'invalid_request', `AADSTS90002: Tenant '${tenant}' not found.`);
      }
      if (form.get('grant_type') !== 'client_credentials') {
        return oauthError(400, 'unsupported_grant_type', 'AADSTS70003: The app requested an unsupported grant type.');
      }
      if (clientId !== config.clientId)
        return oauthError(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId ?? ''}' was not found.`);
      if (clientSecret !== config.clientSecret) return oauthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
      const scope = form.get('scope') ?? '';
      if (!scope.endsWith('/.default'))
        return oauthError(400, 'invalid_scope', `AADSTS70011: The provided value for the input parameter 'scope' is not valid.`);
      const token = issue('', tenant);
      sendJson(res, entry, 200, {
        token_type: 'Bearer',
        expires_in: config.tokenLifetimeSeconds,
        ext_expires_in: config.tokenLifetimeSeconds,
        access_token: token,
      });
    });
  }

  function issue(oid: string, tenant: string): string {
    const token = `mock-graph.${randomBytes(24).toString('base64url')}`;
    tokens.set(token, { oid, tenant });
    return token;
  }

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const rawQuery = q < 0 ? '' : raw.slice(q + 1);
    const graphMatch = GRAPH_ROUTE.exec(path);
    const tokenMatch = config.serveTokenEndpoint ? TOKEN_ROUTE.exec(path) : null;
    if (!graphMatch && !tokenMatch) return false;
    const entry: MockGraphRequest = {
      kind: graphMatch ? 'graph' : 'token',
      method: req.method ?? 'GET',
      url: raw,
      path,
      query: Object.fromEntries(new URLSearchParams(rawQuery)),
      consistencyLevel: headerValue(req.headers.consistencylevel),
      status: 0,
    };
    requests.push(entry);
    if (isDown) {
      req.socket.destroy();
      return true;
    }
    const respond = () => {
      if (graphMatch) serveGraph(req, res, entry, graphMatch, rawQuery);
      else serveToken(req, res, entry, (tokenMatch as RegExpExecArray)[1] as string);
    };
    const delay = delays.shift();
    if (delay === undefined) respond();
    else {
      const timer = setTimeout(respond, delay);
      // A client that gave up must not keep the timer (and the test) alive.
      res.on('close', () => clearTimeout(timer));
    }
    return true;
  }

  let server: Server | undefined;
  let url = '';
  if (config.listen) {
    server = createServer((req, res) => {
      if (!handle(req, res)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'Request_ResourceNotFound', message: 'Unknown route.' } }));
      }
    });
    await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  return {
    get url() {
      return url;
    },
    requests,
    addUser(user) {
      users.set(key(user.id), { ...user });
    },
    addGroup(group) {
      groups.set(key(group.id), { ...group });
    },
    addMember(groupId, memberId) {
      const set = parents.get(key(memberId)) ?? new Set<string>();
      set.add(groupId);
      parents.set(key(memberId), set);
    },
    removeMember(groupId, memberId) {
      parents.get(key(memberId))?.delete(groupId);
    },
    issueToken(oid = '', tenant = config.tenantId ?? '') {
      return issue(oid, tenant);
    },
    failNext(fault) {
      faults.push({ ...fault, times: fault.times ?? 1 });
    },
    delayNext(ms, times = 1) {
      for (let i = 0; i < times; i++) delays.push(ms);
    },
    down() {
      isDown = true;
    },
    up() {
      isDown = false;
    },
    reset() {
      requests.length = 0;
      faults.length = 0;
      delays.length = 0;
      isDown = false;
    },
    handle,
    close() {
      return new Promise<void>((resolve, reject) => {
        if (!server) return resolve();
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      });
    },
  };
}

function shape(group: MockGraphGroup, select: string[] | undefined): Record<string, unknown> {
  const full: Record<string, unknown> = {
    id: group.id,
    displayName: group.displayName ?? null,
    mail: group.mail ?? null,
    mailEnabled: Boolean(group.mail),
    securityEnabled: group.securityEnabled ?? true,
    description: null,
  };
  const out: Record<string, unknown> = { '@odata.type': '#microsoft.graph.group' };
  for (const [k, v] of Object.entries(full)) if (!select || select.includes(k)) out[k] = v;
  return out;
}

function encodeSkipToken(offset: number): string {
  return Buffer.from(`RFNwdAIAAQAAA:${offset}`).toString('base64url');
}

function decodeSkipToken(token: string): number | undefined {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const match = /^RFNwdAIAAQAAA:(\d+)$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The original query with `$skiptoken` replaced: Graph keeps every original parameter in the next link. */
function withSkipToken(rawQuery: string, skipToken: string): string {
  const parts = rawQuery.split('&').filter((p) => p !== '' && !/^(\$|%24)skiptoken=/i.test(p));
  parts.push(`$skiptoken=${skipToken}`);
  return parts.join('&');
}

/** A path segment percent-decoded, or `undefined` when its escapes are malformed (a client's bad input is a 400, not a crash). */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
