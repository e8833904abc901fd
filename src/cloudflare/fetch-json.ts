import { EntragateError } from '../errors/index.js';
import { readCapped } from '../token/read-capped.js';

/** What {@link fetchJson} needs for one exchange. */
export interface FetchJsonRequest {
  fetch: typeof fetch;
  url: string;
  /** Deadline of the whole exchange (connection, headers and body), ms. */
  timeoutMs: number;
  /** The body is refused once it passes this many bytes (checked while it streams). */
  maxBytes: number;
  /** What is fetched, for messages (`the certs`, `get-identity`). */
  what: string;
  headers?: Record<string, string>;
  /**
   * Builds the error every failure is reported as (the caller decides its class); `status` is the upstream
   * HTTP status when the failure is an answer that was not a 2xx.
   */
  fail: (message: string, info?: { cause?: unknown; status?: number }) => EntragateError;
}

/**
 * Fetches one JSON document and returns it parsed (any JSON value: the caller checks the shape).
 *
 * The whole exchange settles within `timeoutMs`: the deadline is a timer of our own that rejects,
 * aborts the request and cancels the body, so a server that sends its headers and then dribbles
 * the body cannot hold the fetch open. It does not rely on `AbortSignal.timeout` alone: Node 20's
 * bundled undici lets a collected `Request` drop its abort listener when `redirect: 'error'` is set
 * (nodejs/undici#4627), after which the signal no longer stops the read. So redirects are not
 * followed (`redirect: 'manual'`), and a 3xx, or a response a custom fetch says it followed, is a
 * failed fetch: the document comes from the URL asked for, never from where it points. The same
 * rules as the Entra key store's (`src/token/key-store.ts` on the token branch).
 *
 * Messages never hold the request headers (get-identity is sent the user's assertion as a cookie).
 */
export async function fetchJson(request: FetchJsonRequest): Promise<unknown> {
  const { what, fail } = request;
  const controller = new AbortController();
  let body: ReadableStreamDefaultReader<Uint8Array> | ReadableStream<Uint8Array> | undefined;
  const exchange = async (): Promise<unknown> => {
    const response = await request.fetch(request.url, {
      signal: controller.signal,
      headers: { accept: 'application/json', ...request.headers },
      redirect: 'manual',
    });
    body = response.body ?? undefined;
    if (response.redirected || (response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect') {
      throw fail(`${what} answered with a redirect (HTTP ${response.status}): redirects are not followed`, { status: response.status });
    }
    if (!response.ok) throw fail(`${what} answered HTTP ${response.status}`, { status: response.status });
    const text = await readCapped(
      response,
      request.maxBytes,
      () => fail(`${what} is over ${request.maxBytes} bytes`),
      (reader) => {
        body = reader;
      },
    );
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // The parser's message quotes the text (it may hold identity data): it is left out.
      throw fail(`${what} is not JSON`);
    }
  };
  try {
    return await settleWithin(exchange(), request.timeoutMs, () => fail(`${what} timed out after ${request.timeoutMs} ms`));
  } catch (error) {
    // Whatever ended the exchange (the deadline, a bad answer), the connection is let go.
    controller.abort();
    void Promise.resolve(body?.cancel()).catch(() => undefined);
    if (error instanceof EntragateError) throw error;
    throw fail(`fetching ${what} failed: ${describe(error)}`, { cause: error });
  }
}

/**
 * `promise`, or a rejection with `timeout()` once `ms` have passed, whichever comes first. The
 * timer is our own, so the deadline holds even when the promise never settles.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  // The loser of the race must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A network error as one line: its message and the system code under it (`ECONNREFUSED`), never a header. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
    return code ? `${error.message} (${code})` : error.message;
  }
  return typeof error;
}
