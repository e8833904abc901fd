/** Reading an HTTP body with a size cap, for the key fetches here and Cloudflare's (one reader, one rule). */

/**
 * Reads a body as UTF-8, refusing it once it passes `max` bytes (checked while streaming, not after: a
 * `content-length` over the cap is refused before reading). `tooLarge` makes the caller's coded error.
 * `onReader` learns the reader, so that a deadline can cancel the read.
 */
export async function readCapped(
  response: Response,
  max: number,
  tooLarge: () => Error,
  onReader: (reader: ReadableStreamDefaultReader<Uint8Array>) => void,
): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > max) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  onReader(reader);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
