import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { SCIM_CORE, type ScimReply, type ScimRequest } from './handler.js';

const INTERNAL_ERROR = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '500', detail: 'internal error' });

type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

function origin(req: IncomingMessage): string {
  const protocol = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${protocol}://${req.headers.host ?? 'localhost'}`;
}

function hasBody(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/** Answers 500 when writing failed part-way, without saying why. */
function fail(res: ServerResponse): void {
  if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/scim+json' });
  res.end(INTERNAL_ERROR);
}

/** Reads the `node:http` request directly: no WHATWG `Request`, `Headers` or web stream per request. */
function nodeRequest(req: IncomingMessage): ScimRequest {
  const method = req.method ?? 'GET';
  return {
    method,
    url: `${origin(req)}${req.url ?? '/'}`,
    header(name) {
      const value = req.headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
    body: () => (hasBody(method) ? req : null),
  };
}

function writeReply(res: ServerResponse, reply: ScimReply): void {
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body ?? undefined);
}

/** Copies Node's incoming headers into WHATWG `Headers` (repeated headers appended). */
export function webHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

/**
 * Adapts a fetch-style handler to a `node:http` request listener. The request
 * body is streamed (the handler enforces its own size cap); the response is
 * written with its status and headers. A handler from `createScimHandler` is
 * driven directly from the `node:http` objects, skipping the WHATWG `Request`
 * and `Response` it would otherwise cost per request; any other fetch-style
 * handler goes through them.
 *
 * It does not trust `X-Forwarded-*`: URLs are built from the `Host` header, so
 * `meta.location` shows the address the client used.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { toNodeListener } from 'entragate/scim';
 * createServer(toNodeListener(scimHandler)).listen(3000, '127.0.0.1');
 * ```
 */
export function toNodeListener(handler: (request: Request) => Promise<Response>): NodeListener {
  const core = (handler as { [SCIM_CORE]?: (request: ScimRequest) => Promise<ScimReply> })[SCIM_CORE];
  if (core) {
    return (req, res) => {
      core(nodeRequest(req))
        .then((reply) => writeReply(res, reply))
        .catch(() => fail(res));
    };
  }
  return (req, res) => {
    void (async () => {
      try {
        const headers = webHeaders(req.headers);
        const method = req.method ?? 'GET';
        const init: RequestInit & { duplex?: 'half' } = { method, headers };
        if (hasBody(method)) {
          init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
          init.duplex = 'half';
        }
        const response = await handler(new Request(`${origin(req)}${req.url ?? '/'}`, init));
        const out: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          out[name] = value;
        });
        const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
        res.writeHead(response.status, out);
        res.end(body);
      } catch {
        fail(res);
      }
    })();
  };
}
