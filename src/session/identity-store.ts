import { LRUCache } from 'lru-cache';
import type { Identity } from '../types.js';

/** What a session's `identity_nonce` points at: the identity as resolved at login. */
export interface SessionIdentity {
  /** The verified identity with its groups (resolved at login). */
  identity: Identity;
  /** Country the user authenticated from, when the app knew it. */
  country?: string;
  /** When the session was issued (Unix seconds). */
  issuedAt: number;
  /**
   * The token claims the identity pipeline keeps so it can resolve the user's groups again on
   * every session request (the UPN claims, the `groups` claim and its overage markers): a small
   * JSON object whose values are strings, finite numbers, booleans, arrays of strings, or plain
   * objects of the same. The directory store validates it when it reads a row (a row with
   * anything else counts as missing) and freezes it deeply; the memory store keeps the object as given.
   */
  claims?: Readonly<Record<string, unknown>>;
  /**
   * Credentials the login keeps for this session, when asked (the ID token for Entra's sign-out
   * `id_token_hint`, the refresh token for renewal): sealed (AES-256-GCM, bound to the session's
   * `identity_nonce`) with a key derived from the login's `transactionSecret`. Opaque to a store,
   * which keeps it as given; never sent to a browser.
   */
  sealed?: string;
}

/**
 * Where identities live, keyed by `identity_nonce`, as Cloudflare keeps groups out
 * of the app token and serves them from get-identity. `get` may be synchronous (the
 * in-memory default, on the hot path) or return a promise (a shared store).
 *
 * Two implementations ship: `createMemoryIdentityStore` (one process) and the
 * directory store's `store.identities` (`entragate/store`: durable, shared by every
 * instance on the store, cached in each, with logouts propagated through its event log).
 * A returned identity is shared between requests: treat it as read-only.
 */
export interface IdentityStore {
  /**
   * The identity stored under `nonce` while unexpired; `undefined` when none, expired, or forgotten (a store
   * may drop entries early). Synchronous or a promise, as the store can. `{ fresh: true }` asks a store that
   * caches copies of a shared record (the directory store) for the record as stored now, past its
   * cache: a renewal refused by Entra reads it so, to see whether another instance renewed the session
   * meanwhile. A store with no such cache ignores it.
   */
  get(nonce: string, options?: { fresh?: boolean }): SessionIdentity | undefined | Promise<SessionIdentity | undefined>;
  /** Stores an identity until `expiresAt` (Unix seconds); it may be forgotten earlier (LRU). */
  set(nonce: string, value: SessionIdentity, expiresAt: number): void | Promise<void>;
  /** Forgets the identity of a nonce (a sign-out): a session pointing at it no longer verifies. A nonce with nothing stored is a no-op. */
  delete(nonce: string): void | Promise<void>;
  /**
   * Replaces the identity of a nonce that still has one, atomically, never creating one (a renewal: a
   * session signed out while Entra answered must stay signed out); `false` when none is stored. Both
   * shipped stores have it; a store without it is replaced by a read, a `delete` and a `set`, which
   * leaves a sign-out racing the renewal a short window.
   */
  replace?(nonce: string, value: SessionIdentity, expiresAt: number): boolean | Promise<boolean>;
}

/** Options of `createMemoryIdentityStore`. */
export interface MemoryIdentityStoreOptions {
  /** Most identities kept; the least recently used is dropped first. @defaultValue 10000 */
  max?: number;
  /** Clock in ms. @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * Creates the default identity store: a bounded in-memory LRU whose entries never
 * outlive their session. A session whose identity was dropped (LRU eviction,
 * logout, restart) is refused and the user logs in again. Not shared between
 * instances: with several instances behind a load balancer, pass the directory
 * store's `store.identities` instead, or a user who logged in on one instance is
 * sent to log in again on another.
 *
 * @example
 * ```ts
 * import { createMemoryIdentityStore } from 'entragate/login';
 * const identities = createMemoryIdentityStore({ max: 50_000 });
 * ```
 */
export function createMemoryIdentityStore(options: MemoryIdentityStoreOptions = {}): IdentityStore {
  const now = options.now ?? Date.now;
  const cache = new LRUCache<string, { value: SessionIdentity; expiresAt: number }>({ max: options.max ?? 10_000 });
  return {
    get(nonce) {
      const entry = cache.get(nonce);
      if (entry === undefined) return undefined;
      // INVARIANT: an identity is never served after its session's exp.
      if (now() >= entry.expiresAt * 1000) {
        cache.delete(nonce);
        return undefined;
      }
      return entry.value;
    },
    set(nonce, value, expiresAt) {
      cache.set(nonce, { value, expiresAt });
    },
    delete(nonce) {
      cache.delete(nonce);
    },
    replace(nonce, value, expiresAt) {
      const entry = cache.get(nonce);
      if (entry === undefined || now() >= entry.expiresAt * 1000) return false;
      cache.set(nonce, { value, expiresAt });
      return true;
    },
  };
}
