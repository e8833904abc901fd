/*
 * What the store's modules share: the one context object (database, clock, this instance's
 * memory) and the vocabulary of a write (the ops an event carries, its statements).
 */
import type { DirectoryGroup, DirectoryIndex, DirectoryUser } from '../directory/index.js';
import type { SqlDriver, SqlExecutor } from './driver.js';
import type { RevocationSet } from '../session/revocation-set.js';
import type { DirectoryChange, ProvisioningPolicy, StoredResource } from './types.js';

/**
 * What an event does to an instance's memory, applied in order on every instance: the
 * writer after its commit, the others when they read the event.
 */
export type IndexOp =
  | { op: 'user'; user: DirectoryUser }
  | { op: 'removeUser'; id: string }
  | { op: 'group'; group: DirectoryGroup }
  | { op: 'removeGroup'; id: string }
  | { op: 'members'; groupId: string; add: string[]; remove: string[] }
  | { op: 'revoke'; kind: 'subject' | 'app'; keys: string[]; notBefore: number }
  | { op: 'forgetIdentity'; nonce: string };

/** A change before the event log gave it an id, an origin and a time. */
export type PendingChange = Omit<DirectoryChange, 'eventId' | 'origin' | 'at'>;

/** One SQL statement and its bind parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
  /** A `DELETE FROM scim_user_tombstones … RETURNING id`: each id it deletes is a `removeUser` op of the event. */
  dropsTombstones?: true;
}

/** Appends a write's event; `data` are the write's last data statements (plain INSERT/UPDATE/DELETE), run in the same statement. */
export type Logger = (change: PendingChange, ops: IndexOp[], ...data: Statement[]) => Promise<void>;

/** Records the id of an event a write's own statement inserted (instead of calling the {@link Logger}). */
export type EventRecorder = (id: string, change: PendingChange, ops: IndexOp[]) => void;

/** The body of one write: runs its statements on `tx`, logs (or records) its one event, returns the stored resource. */
export type WriteBody = (tx: SqlExecutor, log: Logger, at: string, record: EventRecorder) => Promise<StoredResource | undefined>;

/** Runs a write: in a transaction, or as `fn`'s single autocommit statement. */
export type Write = (fn: WriteBody, mode?: 'transaction' | 'statement') => Promise<import('./types.js').WriteResult>;

/** The context every module of one store instance shares. */
export interface StoreContext {
  readonly driver: SqlDriver;
  /** The NOTIFY channel of the schema (PostgreSQL); absent with PGlite, which has no other instance. */
  readonly channel: string | undefined;
  /** This instance, as it stamps its events and heartbeats. */
  readonly instanceId: string;
  /** The clock in ms (the store's `now`). */
  readonly now: () => number;
  /** The in-memory directory every look-up reads. */
  readonly index: DirectoryIndex;
  /** The in-memory revocations every check reads. */
  readonly revocationSet: RevocationSet;
  /** Whether `close()` has begun. */
  isClosed(): boolean;
  /** Throws `ERR_STORE_UNAVAILABLE` once the store is closed. */
  assertOpen(): void;
}

/** No lifecycle effect: a write without `scim_config`. */
export const NO_LIFECYCLE: ProvisioningPolicy = { userDeprovision: false, seatDeprovision: false, identityUpdateBehavior: 'no_action' };

/** The store's clock in Unix seconds. */
export function nowSeconds(ctx: Pick<StoreContext, 'now'>): number {
  return Math.floor(ctx.now() / 1000);
}
