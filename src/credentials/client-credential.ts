/**
 * How the app proves itself to Entra's token endpoint without a client secret: a certificate
 * (`private_key_jwt`, Microsoft's "certificate credentials"), or a token getter for workload identity /
 * managed identity, shaped like `@azure/identity`'s `TokenCredential` so one can be passed as is.
 */
import { createPrivateKey, randomUUID, sign as signBytes, constants, X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors/index.js';

/**
 * A certificate credential: the private key and the X.509 certificate registered on the app
 * (Entra's app registration → Certificates & secrets). The assertion is signed PS256 with an
 * `x5t#S256` header, as Microsoft's certificate-credentials page has it now; `RS256` signs with the
 * older SHA-1 `x5t`, which Entra still accepts.
 */
export interface ClientCertificate {
  /** The certificate's private key: a `KeyObject` or PEM (PKCS#8 or PKCS#1). Never logged. */
  privateKey: KeyObject | string;
  /** The certificate, PEM: its DER thumbprint names the key to Entra. */
  certificate: string;
  /**
   * How the client assertion is signed: `PS256` with an `x5t#S256` (SHA-256 thumbprint) header, or `RS256`
   * with the SHA-1 `x5t` older Entra set-ups expect. Either way the key must be RSA.
   * @defaultValue `PS256`
   */
  algorithm?: 'PS256' | 'RS256';
}

/**
 * A token getter for workload identity federation or managed identity (`@azure/identity`'s
 * `TokenCredential` fits): asked for `<resource>/.default`, it returns an access token.
 */
export interface AccessTokenCredential {
  /** An access token for `scopes` (`expiresOnTimestamp` in Unix ms), or `null` when none could be had. */
  getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/** Signs client assertions for one app and certificate. */
export interface ClientAssertionSigner {
  /** A fresh assertion for a token endpoint (`aud`), valid for 5 minutes. */
  sign(tokenEndpoint: string, nowMs: number): string;
}

/** The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2). */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Prepares the signer of `private_key_jwt` assertions (RFC 7523; OpenID Connect Core §9): header
 * `{ alg, typ: 'JWT', x5t#S256 | x5t }`, claims `aud` (the token endpoint), `iss` and `sub` (the client
 * id), `jti`, `nbf`, `iat`, `exp` (+5 min). Throws `ERR_CONFIG_INVALID` at construction for a key or
 * certificate that does not load, or that do not belong together.
 */
export function createClientAssertionSigner(clientId: string, credential: ClientCertificate, what: string): ClientAssertionSigner {
  const algorithm = credential.algorithm ?? 'PS256';
  let key: KeyObject;
  let certificate: X509Certificate;
  try {
    key = typeof credential.privateKey === 'string' ? createPrivateKey(credential.privateKey) : credential.privateKey;
    certificate = new X509Certificate(credential.certificate);
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration: the client certificate or its private key does not load`, { cause });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration: the client certificate's key must be an RSA private key`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration: the private key does not belong to the client certificate`);
  }
  const thumbprint =
    algorithm === 'PS256'
      ? { 'x5t#S256': createHash('sha256').update(certificate.raw).digest('base64url') }
      : { x5t: createHash('sha1').update(certificate.raw).digest('base64url') };
  const header = Buffer.from(JSON.stringify({ alg: algorithm, typ: 'JWT', ...thumbprint })).toString('base64url');
  return {
    sign(tokenEndpoint, nowMs) {
      const now = Math.floor(nowMs / 1000);
      const payload = { aud: tokenEndpoint, iss: clientId, sub: clientId, jti: randomUUID(), nbf: now, iat: now, exp: now + 300 };
      const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      const signature =
        algorithm === 'PS256'
          ? signBytes('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
          : signBytes('sha256', Buffer.from(input), key);
      return `${input}.${signature.toString('base64url')}`;
    },
  };
}

/**
 * Adds a fresh client assertion to a token request's form body (RFC 7523 §2.2: `client_assertion_type`
 * and `client_assertion`, with `client_id` as Entra's certificate-credentials page shows it). The one
 * place a token request is authenticated with a certificate: the login's code exchange (through
 * openid-client's client-auth hook) and the Graph source's client-credentials grant both call it.
 */
export function addClientAssertion(body: URLSearchParams, clientId: string, signer: ClientAssertionSigner, tokenEndpoint: string, nowMs: number): void {
  body.set('client_id', clientId);
  body.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
  body.set('client_assertion', signer.sign(tokenEndpoint, nowMs));
}

/** Whether a value has the shape of a {@link ClientCertificate} (the options schemas check it at construction). */
export function isClientCertificate(value: unknown): value is ClientCertificate {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const key = v.privateKey;
  return (
    (typeof key === 'string' || (typeof key === 'object' && key !== null && (key as { type?: unknown }).type === 'private')) &&
    typeof v.certificate === 'string' &&
    (v.algorithm === undefined || v.algorithm === 'PS256' || v.algorithm === 'RS256') &&
    Object.keys(v).every((k) => k === 'privateKey' || k === 'certificate' || k === 'algorithm')
  );
}

/** Whether a value has the shape of an {@link AccessTokenCredential} (`@azure/identity`'s `TokenCredential` fits). */
export function isAccessTokenCredential(value: unknown): value is AccessTokenCredential {
  return typeof value === 'object' && value !== null && typeof (value as { getToken?: unknown }).getToken === 'function';
}
