import { expect } from 'vitest';
import { EntragateError } from '../../src/index.js';

/** The error a promise rejects with (the test fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<EntragateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EntragateError);
  return error as EntragateError;
}

/**
 * Checks a refused assertion: its code, a 401 with an RFC 6750 `invalid_token` challenge, and that
 * neither the message nor the challenge repeats the assertion (nor its signature).
 */
export function expectRefused(error: EntragateError, code: string, assertion?: string): void {
  expect(error.code).toBe(code);
  expect(error.status).toBe(401);
  // RFC 6750 §3.1: a request without credentials gets the bare challenge, any other refusal `invalid_token`.
  if (code === 'ERR_TOKEN_MISSING') expect(error.headers['WWW-Authenticate']).toBe('Bearer realm="entragate"');
  else expect(error.headers['WWW-Authenticate']).toMatch(/^Bearer realm="entragate", error="invalid_token"/);
  if (assertion !== undefined) {
    const signature = assertion.slice(assertion.lastIndexOf('.') + 1);
    for (const text of [error.message, error.headers['WWW-Authenticate']!]) {
      expect(text).not.toContain(assertion);
      if (signature.length > 8) expect(text).not.toContain(signature);
    }
  }
}

/** Waits until `check` passes (for a background refresh to land); no time is asserted. */
export async function eventually(check: () => void | Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await check();
      return;
    } catch (error) {
      if (i > 400) throw error;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
