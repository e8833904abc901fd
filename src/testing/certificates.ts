/**
 * Real self-signed X.509 certificates for tests (a minimal DER writer, RFC 5280 §4.1, so no `openssl`
 * binary is needed): the mock Cloudflare team's `public_certs`, and client certificates an app registers
 * in the mock Entra ID for `private_key_jwt` (certificate credentials).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';

/** A key pair with its self-signed certificate and the thumbprints Entra names it by. */
export interface TestCertificate {
  /** The RSA-2048 private key: give it to `clientCertificate.privateKey`, or sign assertions with it. Made fresh per call, never reused. */
  privateKey: KeyObject;
  /** The public half of `privateKey`, the key the certificate certifies. */
  publicKey: KeyObject;
  /** PEM. */
  certificate: string;
  /** Base64url SHA-1 thumbprint of the DER certificate (the `x5t` header). */
  x5t: string;
  /** Base64url SHA-256 thumbprint of the DER certificate (the `x5t#S256` header). */
  x5tS256: string;
}

/**
 * Creates an RSA-2048 key and a self-signed certificate for it.
 *
 * @example
 * ```ts
 * import { createTestCertificate } from 'entragate/testing';
 * const cert = createTestCertificate('my app');
 * entra.login.trustCertificate(cert.certificate); // the mock accepts assertions signed with it
 * ```
 */
export function createTestCertificate(commonName = 'entragate test client'): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const certificate = selfSignedCertificate(spki, privateKey, commonName);
  const { x5t, x5tS256 } = thumbprints(certificate);
  return { privateKey, publicKey, certificate, x5t, x5tS256 };
}

/** The `x5t` (SHA-1) and `x5t#S256` (SHA-256) thumbprints of a PEM certificate, base64url. */
export function thumbprints(pem: string): { x5t: string; x5tS256: string } {
  const raw = new X509Certificate(pem).raw;
  return { x5t: createHash('sha1').update(raw).digest('base64url'), x5tS256: createHash('sha256').update(raw).digest('base64url') };
}

// A minimal DER writer for one self-signed X.509 v3 certificate (RFC 5280 §4.1), so `public_certs`
// holds real certificates as Cloudflare's do, without an `openssl` binary.
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  let length: Buffer;
  if (body.length < 0x80) length = Buffer.from([body.length]);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
function utcTime(date: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const text = `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
  return der(0x17, Buffer.from(text, 'ascii'));
}
/**
 * A self-signed X.509 v3 certificate (PEM) for `spki` (a DER SubjectPublicKeyInfo), subject and issuer
 * `CN=<commonName>`, signed with `privateKey` (RSA, SHA-256), valid from a day ago until 90 days from now. For tests
 * only: no extensions, no chain, nothing checks its key usage. {@link createTestCertificate} makes the key too.
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from 'node:crypto';
 * import { selfSignedCertificate } from 'entragate/testing';
 * const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
 * const pem = selfSignedCertificate(publicKey.export({ type: 'spki', format: 'der' }), privateKey, 'my app');
 * ```
 */
export function selfSignedCertificate(spki: Buffer, privateKey: KeyObject, commonName: string): string {
  const seq = (...parts: Buffer[]): Buffer => der(0x30, ...parts);
  const sha256WithRsa = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(commonName, 'utf8')))));
  const serial = Buffer.concat([Buffer.from([0x01]), randomBytes(15)]);
  const notBefore = new Date(Date.now() - 86_400_000);
  const notAfter = new Date(Date.now() + 90 * 86_400_000);
  const tbs = seq(der(0xa0, der(0x02, Buffer.from([0x02]))), der(0x02, serial), sha256WithRsa, name, seq(utcTime(notBefore), utcTime(notAfter)), name, spki);
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, sha256WithRsa, der(0x03, Buffer.concat([Buffer.from([0x00]), signature])));
  const lines = cert.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
