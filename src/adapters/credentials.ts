/**
 * Reading credentials off a request the way every adapter does: the bearer token, headers, the session
 * cookie counted, service tokens checked in constant time, the client certificate, the host.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { TokenError } from '../errors/index.js';
import { normalizeHost } from '../policy/http-request.js';
import type { NodeHeaders, RequestView } from './types.js';

/**
 * The token of an `Authorization` header with the `Bearer` scheme (RFC 6750 §2.1,
 * scheme case-insensitive): the token, `''` for a bearer header without one, or
 * `undefined` for another scheme.
 */
export function parseBearer(authorization: string): string | undefined {
  const space = authorization.indexOf(' ');
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return undefined;
  return space === -1 ? '' : authorization.slice(space + 1).trim();
}

/** One header of a Node header record; repeated headers are joined (`; ` for cookies). */
export function headerOf(headers: NodeHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined || typeof value === 'string') return value;
  return value.join(name === 'cookie' ? '; ' : ', ');
}

/**
 * The client certificate of a TLS socket, when the server asked for one:
 * `valid` is Node's `authorized` (the chain verified against the server's CAs),
 * `commonName` the subject CN. `undefined` on a plain socket or without a certificate.
 *
 * @example
 * ```ts
 * import { certificateOf } from 'entragate/express';
 * declare const req: import('node:http').IncomingMessage;
 * const cert = certificateOf(req.socket);
 * ```
 */
export function certificateOf(socket: Socket | undefined): { valid: boolean; commonName?: string } | undefined {
  const tls = socket as TLSSocket | undefined;
  if (tls === undefined || tls.encrypted !== true || typeof tls.getPeerCertificate !== 'function') return undefined;
  const cert = tls.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  return commonName === undefined ? { valid: tls.authorized === true } : { valid: tls.authorized === true, commonName };
}

/** How many cookies named `name` a `Cookie` header holds (two `Cookie` headers arrive joined with `; `). */
export function countCookie(header: string | undefined, name: string): number {
  if (header === undefined) return 0;
  const first = header.indexOf(name);
  if (first === -1 || header.indexOf(name, first + name.length) === -1) return first === -1 ? 0 : 1;
  let count = 0;
  for (const part of header.split(';')) {
    const pair = part.trimStart();
    if (pair.length > name.length && pair.startsWith(name) && pair.charCodeAt(name.length) === 61 /* = */) count++;
  }
  return count;
}

/**
 * The host of a request, as Gateway's `http.request.host` compares it: the framework's hostname, else the
 * `Host` header (`:authority` over HTTP/2), without port or trailing dot, in lower case; `""` when none.
 */
export function hostOf(view: RequestView): string {
  const host = view.host !== undefined && view.host !== '' ? view.host : (headerOf(view.headers, 'host') ?? headerOf(view.headers, ':authority') ?? '');
  return normalizeHost(host);
}

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack socket) → `192.0.2.1`, so IPv4 rules match. */
export function stripMappedIpv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** A configured service token: what `service_token` rules name, and the pair that presents it. */
export interface ServiceTokenConfig {
  tokenId: string;
  clientId: string;
  clientSecret: string;
}

/**
 * Compiles the service tokens `protect` accepts (`CF-Access-Client-Id` / `-Secret`, and Cloudflare's
 * `read_service_tokens_from_header` JSON in `header`) into the function that reads a request's: the token
 * id, `undefined` when it presents none, or the error to answer with.
 */
export function createServiceTokens(
  tokens: readonly ServiceTokenConfig[],
  serviceTokenHeader: string | undefined,
): (view: RequestView) => string | TokenError | undefined {
  const serviceTokens = tokens.map((t) => ({ tokenId: t.tokenId, clientId: t.clientId, secretDigest: digest(t.clientSecret) }));
  function matchServiceToken(clientId: string | undefined, secret: string | undefined): string | undefined {
    if (clientId === undefined || secret === undefined) return undefined;
    const presented = digest(secret);
    let found: string | undefined;
    // INVARIANT: every configured token is compared, in constant time, whatever matched.
    for (const t of serviceTokens) {
      const ok = timingSafeEqual(presented, t.secretDigest) && t.clientId === clientId;
      if (ok && found === undefined) found = t.tokenId;
    }
    return found;
  }

  /**
   * The service token a request presents: its id, `undefined` when it presents none, or the error
   * to answer with. The header pair and the single JSON header may both be sent; then each must be
   * valid and both must name the same token.
   */
  return function serviceTokenOf(view: RequestView): string | TokenError | undefined {
    const clientId = headerOf(view.headers, 'cf-access-client-id');
    const clientSecret = headerOf(view.headers, 'cf-access-client-secret');
    let found: string | undefined;
    if (clientId !== undefined || clientSecret !== undefined) {
      found = matchServiceToken(clientId, clientSecret);
      if (found === undefined) return invalidServiceToken('the service token is not valid');
    }
    const single = serviceTokenHeader === undefined ? undefined : headerOf(view.headers, serviceTokenHeader);
    if (single === undefined || (serviceTokenHeader === 'authorization' && parseBearer(single) !== undefined)) return found;
    const pair = parseServiceTokenJson(single);
    if (pair === undefined) {
      return invalidServiceToken(
        `the \`${serviceTokenHeader}\` header is not a service token: expected JSON with \`cf-access-client-id\` and \`cf-access-client-secret\``,
      );
    }
    const fromHeader = matchServiceToken(pair.clientId, pair.clientSecret);
    if (fromHeader === undefined) return invalidServiceToken('the service token is not valid');
    if (found !== undefined && found !== fromHeader) return invalidServiceToken('the request presents two different service tokens');
    return fromHeader;
  };
}

/**
 * Compiles the check for credentials given twice: the first of these headers (lower case) the request
 * carries more than once, or `cookie <name>` for the session cookie named twice, else `undefined`.
 */
export function createRepeatedCheck(names: readonly (string | undefined)[], sessionCookie: string | undefined): (view: RequestView) => string | undefined {
  const single = [...new Set(names.filter((h): h is string => h !== undefined))];
  const singleLengths = new Set(single.map((h) => h.length));
  /** The first credential-bearing header (or the session cookie) the request carries twice, else `undefined`. */
  return function repeatedOf(view: RequestView): string | undefined {
    const raw = view.rawHeaders;
    if (raw !== undefined) {
      // One bit per watched header seen; a name is lower-cased only when its length is a watched one's.
      let seen = 0;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i] as string;
        if (!singleLengths.has(name.length)) continue;
        let at = single.indexOf(name);
        if (at === -1) at = single.indexOf(name.toLowerCase());
        if (at === -1) continue;
        if ((seen & (1 << at)) !== 0) return single[at];
        seen |= 1 << at;
      }
    } else {
      for (const name of single) if (Array.isArray(view.headers[name])) return name;
    }
    if (sessionCookie !== undefined && countCookie(headerOf(view.headers, 'cookie'), sessionCookie) > 1) return `cookie ${sessionCookie}`;
    return undefined;
  };
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function invalidServiceToken(message: string): TokenError {
  return new TokenError('ERR_SERVICE_TOKEN_INVALID', message);
}

/**
 * The value of Cloudflare's single service-token header: a JSON object with string
 * `cf-access-client-id` and `cf-access-client-secret` (names matched case-insensitively,
 * as the header pair's are; each given once). `undefined` for anything else.
 */
function parseServiceTokenJson(value: string): { clientId: string; clientSecret: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = new Map<string, unknown>();
  for (const [key, field] of Object.entries(parsed)) {
    const name = key.toLowerCase();
    // A name given twice (in two cases) is ambiguous: refused rather than picking one.
    if (fields.has(name)) return undefined;
    fields.set(name, field);
  }
  const clientId = fields.get('cf-access-client-id');
  const clientSecret = fields.get('cf-access-client-secret');
  return typeof clientId === 'string' && typeof clientSecret === 'string' ? { clientId, clientSecret } : undefined;
}
