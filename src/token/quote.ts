/**
 * Quotes a value from an unverified token for a message: only short values of URL-safe
 * characters are echoed, anything else (newlines, backticks, control characters, long
 * strings) reads as `(malformed)`, so a token cannot write into logs.
 */
export function quote(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9._~:/{}+=-]{1,100}$/.test(value) ? `\`${value}\`` : '(malformed)';
}
