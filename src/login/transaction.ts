import { createHash } from 'node:crypto';
import { Sealer } from './seal.js';
import { cookiesWithPrefix } from '../http/cookies.js';

/** What the login keeps between `start` and `callback`. */
export interface LoginTransaction {
  state: string;
  nonce: string;
  /** The PKCE code verifier, when PKCE is on. */
  verifier?: string;
  /** The relative path to return to after the login. */
  returnTo: string;
  /** Unix ms after which the transaction is refused. */
  expiresAt: number;
}

/**
 * Seals login transactions into cookies: AES-256-GCM with a key derived (HKDF)
 * from the app's transaction secret, the cookie name bound as additional data.
 * The browser holds the transaction, so any instance sharing the secret can
 * finish a login started on another.
 */
export class TransactionSealer {
  readonly #sealer: Sealer;

  constructor(secret: string) {
    this.#sealer = new Sealer(secret, 'entragate login transaction v1');
  }

  /** The cookie name of the transaction of `state`: one cookie per login, so parallel tabs do not clobber each other. */
  static cookieName(prefix: string, state: string): string {
    return `${prefix}_${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;
  }

  seal(tx: LoginTransaction, name: string): string {
    return this.#sealer.seal(tx, name);
  }

  /** Opens a sealed transaction; undefined when it was tampered with, sealed with another secret, or is malformed. */
  open(value: string, name: string): LoginTransaction | undefined {
    const tx = this.#sealer.open(value, name, 4096) as Partial<LoginTransaction> | null | undefined;
    if (
      typeof tx !== 'object' ||
      tx === null ||
      typeof tx.state !== 'string' ||
      typeof tx.nonce !== 'string' ||
      typeof tx.returnTo !== 'string' ||
      typeof tx.expiresAt !== 'number' ||
      (tx.verifier !== undefined && typeof tx.verifier !== 'string')
    ) {
      return undefined;
    }
    return tx as LoginTransaction;
  }
}

/**
 * The transaction cookies a new login start clears: expired or unreadable ones, and the oldest beyond
 * `max - 1`, so that with the new one a browser holds at most `max` (abandoned starts never grow the
 * request headers until the callback is refused with a 431).
 */
export function transactionsToEvict(sealer: TransactionSealer, prefix: string, cookieHeader: string | undefined, now: number, max: number): string[] {
  const found = cookiesWithPrefix(cookieHeader, prefix);
  if (found.length === 0) return [];
  const evict = new Set<string>();
  const live: Array<{ name: string; expiresAt: number }> = [];
  for (const [name, value] of found) {
    const tx = sealer.open(value, name);
    if (tx === undefined || now >= tx.expiresAt) evict.add(name);
    else live.push({ name, expiresAt: tx.expiresAt });
  }
  live.sort((a, b) => a.expiresAt - b.expiresAt);
  for (let i = 0; i < live.length - (max - 1); i++) evict.add(live[i]!.name);
  return [...evict];
}
