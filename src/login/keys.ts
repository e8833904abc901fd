import { createPrivateKey, createPublicKey, KeyObject, type JsonWebKey } from 'node:crypto';
import { ConfigError } from '../errors/index.js';

/** Algorithms a session can be signed with. */
export type SessionAlgorithm = 'ES256' | 'RS256' | 'EdDSA';

/** Key material: a `KeyObject`, a PEM string, or a JWK object. */
export type KeyMaterial = KeyObject | string | JsonWebKey;

/** A key ready for signing or verification. */
export interface ImportedKey {
  kid: string;
  alg: SessionAlgorithm;
  key: KeyObject;
}

/** Imports a private key (for signing) or a public key (for verification), checking it fits `alg`. */
export function importSessionKey(kid: string, alg: SessionAlgorithm, material: KeyMaterial, kind: 'private' | 'public'): ImportedKey {
  let key: KeyObject;
  try {
    if (material instanceof KeyObject) {
      key = kind === 'public' && material.type === 'private' ? createPublicKey(material) : material;
    } else if (typeof material === 'string') {
      key = kind === 'private' ? createPrivateKey(material) : createPublicKey(material);
    } else {
      key = kind === 'private' ? createPrivateKey({ key: material, format: 'jwk' }) : createPublicKey({ key: material, format: 'jwk' });
    }
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_INVALID', `the session key \`${kid}\` cannot be imported as a ${kind} key`, { cause });
  }
  if (kind === 'private' && key.type !== 'private') {
    throw new ConfigError('ERR_CONFIG_INVALID', `the session signing key \`${kid}\` must be a private key`);
  }
  if (key.type === 'secret') throw new ConfigError('ERR_CONFIG_INVALID', `the session key \`${kid}\` must be asymmetric`);
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  const fits =
    alg === 'ES256'
      ? type === 'ec' && details?.namedCurve === 'prime256v1'
      : alg === 'RS256'
        ? type === 'rsa' && (details?.modulusLength ?? 0) >= 2048
        : type === 'ed25519';
  if (!fits) {
    const want = alg === 'ES256' ? 'an EC P-256 key' : alg === 'RS256' ? 'an RSA key of at least 2048 bits' : 'an Ed25519 key';
    throw new ConfigError('ERR_CONFIG_INVALID', `the session key \`${kid}\` does not fit \`${alg}\`: it needs ${want}`);
  }
  return { kid, alg, key };
}
