/**
 * The SCIM wire: what the handler reads of a request and writes as a reply, whatever transport carries them
 * (WHATWG `Request`/`Response`, or `node:http` through `toNodeListener`), and the bounded JSON body reader.
 */
import { EntragateError, ScimError } from '../errors/index.js';
import type { JsonValue } from '../store/index.js';
import { ERROR_SCHEMA, UNSTORABLE, isForbiddenKey, isObject } from './schema.js';

export const JSON_TYPE = 'application/scim+json';
const MAX_JSON_DEPTH = 32;

/**
 * What the handler reads of a request, whatever carried it: a WHATWG `Request`,
 * or (through {@link toNodeListener}) a `node:http` request read directly,
 * without building WHATWG objects per request.
 */
export interface ScimRequest {
  method: string;
  /** Absolute URL. */
  url: string;
  /** A header by lower-case name. */
  header(name: string): string | null;
  /** The body, or null when there is none. Leaving the loop early stops reading it. */
  body(): AsyncIterable<Uint8Array> | null;
}

/** The handler's answer before a transport writes it. */
export interface ScimReply {
  status: number;
  headers: Record<string, string>;
  body: string | null;
}

export function scimResponse(status: number, body: unknown, headers: Record<string, string> = {}): ScimReply {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

export const NO_CONTENT: ScimReply = { status: 204, headers: {}, body: null };

export function errorResponse(err: unknown): ScimReply {
  if (err instanceof EntragateError) {
    const body: Record<string, string | string[]> = {
      schemas: [ERROR_SCHEMA],
      status: String(err.status),
      detail: err.status >= 500 ? 'the directory store is unavailable' : err.message,
    };
    if (err instanceof ScimError && err.scimType) body.scimType = err.scimType;
    return scimResponse(err.status, body, { ...err.headers });
  }
  // INVARIANT: an unexpected failure says nothing about its cause to the client.
  return scimResponse(500, { schemas: [ERROR_SCHEMA], status: '500', detail: 'internal error' });
}

/** Reads a WHATWG body as an async iterable; leaving early cancels the stream. */
export function webBody(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const reader = stream.getReader();
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          const { done, value } = await reader.read();
          return done ? { done: true, value: undefined } : { done: false, value };
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          await reader.cancel().catch(() => undefined);
          return { done: true, value: undefined };
        },
      };
    },
  };
}

export function fromWebRequest(request: Request): ScimRequest {
  return { method: request.method, url: request.url, header: (name) => request.headers.get(name), body: () => (request.body ? webBody(request.body) : null) };
}

export function toWebResponse(reply: ScimReply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

export function checkText(text: string): void {
  if (UNSTORABLE.test(text))
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'request body has a NUL character or an unpaired surrogate in a string', { scimType: 'invalidValue' });
}

/** Walks parsed JSON once: bounded depth, no key that could reach a prototype, only text the store can keep. */
export function checkJson(value: JsonValue, depth: number): void {
  if (depth > MAX_JSON_DEPTH)
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `request body nests deeper than ${MAX_JSON_DEPTH} levels`, { scimType: 'invalidSyntax' });
  if (typeof value === 'string') {
    checkText(value);
  } else if (Array.isArray(value)) {
    for (const v of value) checkJson(v, depth + 1);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (isForbiddenKey(k)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `attribute \`${k}\` is not permitted`, { scimType: 'invalidValue' });
      checkText(k);
      checkJson(v, depth + 1);
    }
  }
}

/** Reads a body with a streaming cap: never buffers more than `limit` bytes. */
export async function readJson(request: ScimRequest, limit: number): Promise<JsonValue> {
  const tooLarge = (): ScimError => new ScimError('ERR_SCIM_TOO_LARGE', `request body is over the limit of \`${limit}\` bytes`);
  const declared = Number(request.header('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const body = request.body();
  if (!body) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'request body is empty', { scimType: 'invalidSyntax' });
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    // Leaving the loop stops the transport's stream: nothing past the cap is buffered.
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'request body is not UTF-8', { scimType: 'invalidSyntax' });
  }
  let parsed: JsonValue;
  try {
    parsed = JSON.parse(text) as JsonValue;
  } catch {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'request body is not valid JSON', { scimType: 'invalidSyntax' });
  }
  checkJson(parsed, 0);
  return parsed;
}
