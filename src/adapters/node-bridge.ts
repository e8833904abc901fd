import type { IncomingMessage, ServerResponse } from 'node:http';
import { EntragateError, ScimError } from '../errors/index.js';
import type { RequestLike } from '../http/request.js';
import type { NodeHeaders, RequestView } from './core.js';
import { webHeaders } from '../scim/node-listener.js';

/** A fetch-style handler (`entragate/scim`'s `createScimHandler`, the login's routes). */
export type FetchHandler = (request: Request) => Promise<Response>;

/** A response reduced to what a framework writes: status, headers (`set-cookie` kept as a list), body bytes. */
export interface ResponseParts {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** Default cap of a request body streamed to a fetch-style handler: 1 MiB, as the SCIM handler's. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** What became of a streamed request body: over the cap, or left unread by the handler. */
interface BodyState {
  overflowed: boolean;
  abandoned: boolean;
}

/**
 * Builds a WHATWG `Request` from a Node request. The body is streamed, not
 * buffered, and cut off past `maxBodyBytes` (the stream errors with
 * `ERR_SCIM_TOO_LARGE`); a `Content-Length` over the cap is refused before any
 * byte is read. When a body parser already consumed the stream, `parsedBody` is
 * sent again as JSON.
 *
 * It does not trust `X-Forwarded-*`: the URL uses the `Host` header.
 */
function toWebRequest(req: IncomingMessage, options: { maxBodyBytes?: number; parsedBody?: unknown; url?: string }, state: BodyState): Request {
  const cap = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const headers = webHeaders(req.headers);
  const method = req.method ?? 'GET';
  const protocol = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http';
  const url = new URL(options.url ?? req.url ?? '/', `${protocol}://${req.headers.host ?? 'localhost'}`);
  if (method === 'GET' || method === 'HEAD') return new Request(url, { method, headers });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > cap) throw tooLarge(cap);
  let body: BodyInit;
  // `readableEnded`, not `complete`: `complete` turns true as soon as the last byte is parsed off
  // the socket, read or not, so after any middleware that awaited, an unread body looked consumed
  // and was replaced by an empty one. Only a consumer that read to the end sets `readableEnded`.
  if (req.readableEnded) {
    // A body parser read the stream first: send what it parsed.
    const parsed = options.parsedBody;
    body = parsed === undefined ? '' : typeof parsed === 'string' || Buffer.isBuffer(parsed) ? (parsed as string) : JSON.stringify(parsed);
    headers.delete('content-length');
  } else {
    body = cappedStream(req, cap, state);
  }
  return new Request(url, { method, headers, body, duplex: 'half' } as RequestInit);
}

function tooLarge(cap: number): ScimError {
  return new ScimError('ERR_SCIM_TOO_LARGE', `request body over \`${cap}\` bytes`, { scimType: 'tooLarge' });
}

/**
 * Streams the request body with a cap. Past the cap the stream errors and reading
 * stops; the socket is not destroyed, so the handler's 413 still reaches the client
 * (the response then closes the connection: the rest of the body is never read).
 */
function cappedStream(req: IncomingMessage, cap: number, state: BodyState): ReadableStream<Uint8Array> {
  // Made on the first read: a body the handler never reads is left to Node, which drains it.
  let iterator: AsyncIterator<Buffer> | undefined;
  let seen = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        iterator ??= req[Symbol.asyncIterator]();
        const { value, done } = (await iterator.next()) as IteratorResult<Buffer>;
        if (done) return controller.close();
        seen += value.length;
        if (seen > cap) {
          state.overflowed = true;
          state.abandoned = true;
          controller.error(tooLarge(cap));
          return;
        }
        controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      },
      cancel() {
        // The handler stopped reading (its own cap, or an early answer): close the connection after the response.
        state.abandoned = true;
      },
    },
    // Pulled only when the handler reads: no read ahead of the first `read()`.
    { highWaterMark: 0 },
  );
}

/** Reads a fetch `Response` into its parts (whole body: the handlers bridged answer small documents). */
export async function toResponseParts(response: Response): Promise<ResponseParts> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = response.body === null ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers, body };
}

/** Writes response parts to a Node response. */
export function writeParts(res: ServerResponse, parts: ResponseParts): void {
  res.statusCode = parts.status;
  for (const [name, value] of Object.entries(parts.headers)) res.setHeader(name, value);
  res.end(parts.body);
}

/**
 * Runs a fetch-style handler for a Node request and returns the parts to write.
 * A body over the cap is a 413 SCIM error; any other failure rejects.
 */
export async function runFetchHandler(
  handler: FetchHandler,
  req: IncomingMessage,
  options: { maxBodyBytes?: number; parsedBody?: unknown; url?: string } = {},
): Promise<ResponseParts> {
  const state: BodyState = { overflowed: false, abandoned: false };
  let request: Request;
  try {
    request = toWebRequest(req, options, state);
  } catch (error) {
    if (error instanceof EntragateError) return errorParts(error);
    throw error;
  }
  let parts: ResponseParts;
  try {
    parts = await toResponseParts(await handler(request));
  } catch (error) {
    // A handler that let the cap's error escape still answers 413, not 500.
    if (state.overflowed) return errorParts(tooLarge(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES));
    throw error;
  }
  // INVARIANT: a body left partly unread never leaves the connection open for another request.
  if (state.abandoned) parts.headers.connection = 'close';
  return parts;
}

function errorParts(error: EntragateError): ResponseParts {
  const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(error.status), detail: error.message, scimType: 'tooLarge' };
  return { status: error.status, headers: { 'content-type': 'application/scim+json', connection: 'close' }, body: Buffer.from(JSON.stringify(body)) };
}

/** The login's request shape from a request view. */
export function toRequestLike(view: { method: string; url: string; headers: NodeHeaders }): RequestLike {
  return { method: view.method, url: view.url, headers: view.headers };
}

/** The path of a URL (no query). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Builds a request view from a Node request and the IP the framework computed. */
export function viewOf(req: IncomingMessage, ip: string | undefined, certificate: RequestView['certificate']): RequestView {
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, ip, certificate };
}
