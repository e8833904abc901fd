import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing of small JSON values under a key derived (HKDF-SHA256) from one of the login's
 * secrets and a purpose label, with a binding (a cookie name, a session nonce) as additional data so a
 * sealed value opens only where it was sealed for. Used for the login transaction cookies and for the
 * credentials a session keeps server-side (ID token, refresh token).
 */
export class Sealer {
  readonly #key: Buffer;

  constructor(secret: string, purpose: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'entragate', purpose, 32));
  }

  /** Seals a JSON value for `binding`: base64url of IV ‖ ciphertext ‖ tag. */
  seal(value: unknown, binding: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(binding));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /**
   * Opens a sealed value (parsed JSON, unchecked: the caller checks its shape); `undefined` when it
   * was tampered with, sealed with another secret or for another binding, is over `maxLength`, or is malformed.
   */
  open(value: string, binding: string, maxLength: number): unknown {
    if (value.length > maxLength || !/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
    const raw = Buffer.from(value, 'base64url');
    if (raw.length < 12 + 16 + 2) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(binding));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')) as unknown;
    } catch {
      // INVARIANT: a sealed value that does not authenticate is treated as absent, never partly trusted.
      return undefined;
    }
  }
}
