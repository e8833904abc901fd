import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/**
 * Adapts a fetch-style handler to a `node:http` request listener. The request
 * body is streamed (the handler enforces its own size cap); the response is
 * written with its status and headers.
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
export function toNodeListener(handler: (request: Request) => Promise<Response>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      try {
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (value === undefined) continue;
          if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          else headers.set(name, value);
        }
        const host = req.headers.host ?? 'localhost';
        const protocol = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
        const method = req.method ?? 'GET';
        const hasBody = method !== 'GET' && method !== 'HEAD';
        const init: RequestInit & { duplex?: 'half' } = { method, headers };
        if (hasBody) {
          init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
          init.duplex = 'half';
        }
        const response = await handler(new Request(new URL(req.url ?? '/', `${protocol}://${host}`), init));
        const out: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          out[name] = value;
        });
        const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
        res.writeHead(response.status, out);
        res.end(body);
      } catch {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/scim+json' });
        res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '500', detail: 'internal error' }));
      }
    })();
  };
}
