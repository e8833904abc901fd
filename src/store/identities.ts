import diagnostics from 'node:diagnostics_channel';
import { LRUCache } from 'lru-cache';
import { ConfigError, EntragateError, StoreError } from '../errors/index.js';
import type { SessionIdentity } from '../session/identity-store.js';
import type { GroupField, GroupMembership, GroupRef, GroupSourceKind, Identity } from '../types.js';
import type { IndexOp, PendingChange, StoreContext, Write } from './context.js';
import type { SqlExecutor } from './driver.js';
import type { SessionIdentities } from './types.js';

/**
 * The diagnostics channel of `store.identities`: `{ event: 'miss' }` when a session
 * check had to read the database (not in this instance's cache), and
 * `{ event: 'malformed', field }` when a stored row failed validation and was
 * treated as missing (`field` names the first bad field). Never a nonce or an identity.
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * import { IDENTITY_CHANNEL } from 'entragate/store';
 * diagnostics.subscribe(IDENTITY_CHANNEL, (message) => console.log(message));
 * ```
 */
export const IDENTITY_CHANNEL = 'entragate:store:identity';
const identityChannel = diagnostics.channel(IDENTITY_CHANNEL);

/** Longer nonces are refused: entragate's are 16 characters, and a key is a bind parameter anyway. */
const MAX_NONCE = 256;

const SOURCES: ReadonlySet<unknown> = new Set<GroupSourceKind>(['token', 'graph', 'directory', 'cloudflare', 'static']);
const ABSENT: GroupMembership = Object.freeze({ state: 'absent' });
const IDP_TYPE = 'azureAD';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isOptionalString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Thrown inside the guard with the path of the first bad field; never escapes this module. */
class Malformed {
  constructor(readonly field: string) {}
}
function need<T>(ok: boolean, value: T, field: string): T {
  if (!ok) throw new Malformed(field);
  return value;
}

/** Freezes a parsed JSON value and everything in it (it was just parsed: nobody else holds it). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function readGroup(v: unknown, field: string): GroupRef {
  if (!isObject(v) || !isString(v.id) || !isOptionalString(v.name) || !isOptionalString(v.email)) throw new Malformed(field);
  const group: GroupRef = { id: v.id };
  if (v.name !== undefined) group.name = v.name;
  if (v.email !== undefined) group.email = v.email;
  return Object.freeze(group);
}

const GROUP_FIELDS: ReadonlySet<unknown> = new Set<GroupField>(['id', 'name', 'email']);

function readFields(v: unknown, field: string): readonly GroupField[] {
  if (!Array.isArray(v)) throw new Malformed(field);
  return Object.freeze(v.map((f, i) => need(GROUP_FIELDS.has(f), f as GroupField, `${field}[${i}]`)));
}

function readMembership(v: unknown): GroupMembership {
  const field = 'identity.membership';
  if (!isObject(v)) throw new Malformed(field);
  switch (v.state) {
    case 'complete': {
      const source = need(SOURCES.has(v.source), v.source as GroupSourceKind, `${field}.source`);
      // Absent `fields` means ids only (fail closed), so it stays absent rather than defaulted here.
      if (v.fields === undefined) return Object.freeze({ state: 'complete', source });
      return Object.freeze({ state: 'complete', source, fields: readFields(v.fields, `${field}.fields`) });
    }
    case 'absent':
      return ABSENT;
    case 'overage':
      return Object.freeze({ state: 'overage', signal: need(v.signal === 'claim_names' || v.signal === 'hasgroups', v.signal as 'claim_names' | 'hasgroups', `${field}.signal`) });
    case 'unknown':
      return Object.freeze({ state: 'unknown', reason: need(isString(v.reason), v.reason as string, `${field}.reason`), code: need(isString(v.code), v.code as string, `${field}.code`) });
    default:
      throw new Malformed(`${field}.state`);
  }
}

function readIdentity(v: unknown): Identity {
  if (!isObject(v)) throw new Malformed('identity');
  const str = (name: keyof Identity): string => need(isString(v[name]), v[name] as string, `identity.${name}`);
  const idp = v.idp;
  if (!isObject(idp) || !isString(idp.id) || idp.type !== IDP_TYPE) throw new Malformed('identity.idp');
  if (!Array.isArray(v.amr) || !v.amr.every(isString)) throw new Malformed('identity.amr');
  if (!Array.isArray(v.groups)) throw new Malformed('identity.groups');
  if (!isObject(v.oidc_fields)) throw new Malformed('identity.oidc_fields');
  if (!isOptionalString(v.name)) throw new Malformed('identity.name');
  if (v.ver !== '1.0' && v.ver !== '2.0') throw new Malformed('identity.ver');
  // Every required field of `Identity` is listed, so a new one fails to compile here until it is read.
  const identity: Identity = {
    email: str('email'),
    user_uuid: str('user_uuid'),
    idp: Object.freeze({ id: idp.id, type: IDP_TYPE }),
    amr: Object.freeze([...v.amr]) as string[],
    groups: Object.freeze(v.groups.map((g, i) => readGroup(g, `identity.groups[${i}]`))) as GroupRef[],
    membership: readMembership(v.membership),
    oidc_fields: deepFreeze(v.oidc_fields),
    oid: str('oid'),
    tid: str('tid'),
    sub: str('sub'),
    iat: need(isTime(v.iat), v.iat as number, 'identity.iat'),
    exp: need(isTime(v.exp), v.exp as number, 'identity.exp'),
    ver: v.ver,
  };
  if (v.name !== undefined) identity.name = v.name;
  // The authentication contexts of a step-up login (`acrs`): an `auth_context` rule reads them from the session.
  if (v.acrs !== undefined) {
    if (!Array.isArray(v.acrs) || !v.acrs.every(isString)) throw new Malformed('identity.acrs');
    identity.acrs = Object.freeze([...v.acrs]);
  }
  return Object.freeze(identity);
}

/** Nesting deeper than this in `claims` is refused: token claims are shallow, and the guard recurses. */
const MAX_CLAIM_DEPTH = 8;

/**
 * A claim value as a session keeps it: a string, a finite number, a boolean, an array of
 * strings, or a plain object of claim values. Checked in place (the value was just parsed:
 * nobody else holds it), then frozen by the caller.
 */
function checkClaim(v: unknown, field: string, depth: number): void {
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return;
  if (Array.isArray(v)) {
    if (!v.every(isString)) throw new Malformed(field);
    return;
  }
  if (!isObject(v) || depth >= MAX_CLAIM_DEPTH) throw new Malformed(field);
  for (const key of Object.keys(v)) checkClaim(v[key], `${field}.${key}`, depth + 1);
}

function readClaims(v: unknown): Readonly<Record<string, unknown>> {
  if (!isObject(v)) throw new Malformed('claims');
  checkClaim(v, 'claims', 0);
  return deepFreeze(v);
}

/**
 * Validates a parsed JSON value as a {@link SessionIdentity} and rebuilds it with
 * only the fields the type has, deeply frozen (instances share it between
 * requests, as the login's in-memory store does). Returns the path of the first
 * bad field instead when it is not one.
 *
 * INVARIANT: fail closed. A row that is not a session identity is never served:
 * the caller treats it as missing, and the user logs in again.
 */
export function readSessionIdentity(value: unknown): SessionIdentity | string {
  try {
    if (!isObject(value)) return '(root)';
    const out: SessionIdentity = {
      identity: readIdentity(value.identity),
      issuedAt: need(isTime(value.issuedAt), value.issuedAt as number, 'issuedAt'),
    };
    if (value.country !== undefined) out.country = need(isString(value.country), value.country as string, 'country');
    if (value.claims !== undefined) out.claims = readClaims(value.claims);
    if (value.sealed !== undefined) out.sealed = need(isString(value.sealed), value.sealed as string, 'sealed');
    return Object.freeze(out);
  } catch (err) {
    if (err instanceof Malformed) return err.field;
    throw err;
  }
}

const validNonce = (nonce: unknown): nonce is string => typeof nonce === 'string' && nonce.length > 0 && nonce.length <= MAX_NONCE;

/** What `createIdentities` needs from the store that owns it. */
export interface IdentitiesContext {
  sql: SqlExecutor;
  /** Clock in ms (the store's `now`). */
  now: () => number;
  /** Most identities cached in this process; 0 reads the database on every check. */
  cacheMax: number;
  /** Throws `ERR_STORE_UNAVAILABLE` when the store is closed. */
  assertOpen: () => void;
  /**
   * Deletes the row, appends a deletion event naming the nonce and notifies the
   * other instances, in one statement; applies the event here after the commit
   * (which calls {@link IdentityCacheControl.forget}).
   */
  remove: (nonce: string) => Promise<void>;
  /**
   * Replaces the row of a nonce that still has one (an `UPDATE`, never an insert), with the same event
   * as {@link remove} so the other instances drop their copy; `false` when there was no row.
   */
  replace: (nonce: string, json: string, expiresAt: number) => Promise<boolean>;
  /**
   * Whether the owning store is in sync with the other instances (see `DirectoryStore.isFresh`).
   * While it is not, a deletion may have been missed: the cache is neither read nor filled.
   */
  isFresh: () => boolean;
}

/** How the owning store keeps this instance's cache in step with the other instances. */
export interface IdentityCacheControl {
  /** A deletion event arrived (local or remote): drop the entry, and refuse a read of it in flight. */
  forget(nonce: string): void;
  /**
   * Events may have been missed (the notification connection was lost) or are
   * flowing again (`listening`): drop every entry, and keep reads in flight from
   * caching what they read. While not listening, nothing is cached.
   */
  reset(listening: boolean): void;
  /**
   * Deletion events may have been passed over (a reload counted them as applied, or
   * one could not be read): drop every entry, and keep reads in flight from caching
   * what they read. Listening is unchanged.
   */
  invalidate(): void;
}

interface Cached {
  value: SessionIdentity;
  /** `expires_at` in ms: never served at or after it. */
  expiresAt: number;
}

interface Flight {
  promise: Promise<SessionIdentity | undefined>;
  /** A deletion of this nonce arrived while the row was being read. */
  deleted: boolean;
}

/**
 * Builds `store.identities`. A hit in the bounded LRU answers synchronously
 * (no promise, no round trip); a miss reads one row, and concurrent misses of one
 * nonce share that read.
 */
export function createIdentities(ctx: IdentitiesContext): { identities: SessionIdentities; control: IdentityCacheControl } {
  const { sql, now } = ctx;
  const cache = ctx.cacheMax > 0 ? new LRUCache<string, Cached>({ max: ctx.cacheMax }) : undefined;
  const flights = new Map<string, Flight>();
  // Bumped whenever cached entries may be stale in bulk; a read that started under an older epoch is not cached.
  let epoch = 0;
  let listening = true;

  const control: IdentityCacheControl = {
    forget(nonce) {
      cache?.delete(nonce);
      const flight = flights.get(nonce);
      if (flight) flight.deleted = true;
    },
    reset(isListening) {
      listening = isListening;
      control.invalidate();
    },
    invalidate() {
      epoch++;
      cache?.clear();
    },
  };

  function remember(nonce: string, value: SessionIdentity, expiresAt: number, since: number): void {
    // INVARIANT: only what was read while deletions were being heard is cached.
    if (cache !== undefined && listening && since === epoch && ctx.isFresh() && now() < expiresAt) cache.set(nonce, { value, expiresAt });
  }

  async function load(nonce: string, flight: Flight, since: number): Promise<SessionIdentity | undefined> {
    if (identityChannel.hasSubscribers) identityChannel.publish({ event: 'miss' });
    let rows: { identity: unknown; expires_at: string | number }[];
    try {
      rows = await sql.query('SELECT identity, expires_at FROM session_identities WHERE nonce = $1', [nonce]);
    } catch (cause) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be read', { cause });
    } finally {
      if (flights.get(nonce) === flight) flights.delete(nonce);
    }
    const row = rows[0];
    // A logout that committed while this read ran wins: fail closed.
    if (row === undefined || flight.deleted) return undefined;
    const expiresAt = Number(row.expires_at) * 1000;
    // INVARIANT: an identity is never served at or after its session's exp.
    if (!(now() < expiresAt)) return undefined;
    const value = readSessionIdentity(row.identity);
    if (typeof value === 'string') {
      if (identityChannel.hasSubscribers) identityChannel.publish({ event: 'malformed', field: value });
      return undefined;
    }
    remember(nonce, value, expiresAt, since);
    return value;
  }

  const identities: SessionIdentities = {
    get(nonce) {
      ctx.assertOpen();
      if (!validNonce(nonce)) return undefined;
      // INVARIANT: a store that may have missed a logout elsewhere serves nothing from its cache.
      const hit = cache !== undefined && ctx.isFresh() ? cache.get(nonce) : undefined;
      if (hit !== undefined) {
        if (now() < hit.expiresAt) return hit.value;
        cache!.delete(nonce);
        return undefined;
      }
      const inFlight = flights.get(nonce);
      if (inFlight !== undefined) return inFlight.promise;
      const flight: Flight = { promise: undefined as unknown as Flight['promise'], deleted: false };
      flights.set(nonce, flight);
      flight.promise = load(nonce, flight, epoch);
      return flight.promise;
    },

    async set(nonce, value, expiresAt) {
      const { json, canonical } = toStore(nonce, value, expiresAt);
      const since = epoch;
      try {
        await sql.query('INSERT INTO session_identities (nonce, identity, expires_at) VALUES ($1, $2::json, $3)', [nonce, json, expiresAt]);
      } catch (cause) {
        // Never overwrite: a session already pointing at this nonce would start serving another identity.
        // No cause: the database's detail names the key (`Key (nonce)=(…) already exists`), and this says it all.
        if ((cause as { code?: unknown } | null)?.code === '23505') throw new StoreError('ERR_STORE_CONFLICT', 'an identity is already stored under this nonce');
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be stored', { cause });
      }
      remember(nonce, canonical, expiresAt * 1000, since);
    },

    async delete(nonce) {
      ctx.assertOpen();
      if (!validNonce(nonce)) return;
      try {
        await ctx.remove(nonce);
      } catch (cause) {
        if (cause instanceof EntragateError) throw cause;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be deleted', { cause });
      }
      // Also when there was no row to delete (and so no event): a deletion elsewhere may still be in flight to here.
      control.forget(nonce);
    },

    async replace(nonce, value, expiresAt) {
      const { json, canonical } = toStore(nonce, value, expiresAt);
      const since = epoch;
      let replaced: boolean;
      try {
        replaced = await ctx.replace(nonce, json, expiresAt);
      } catch (cause) {
        if (cause instanceof EntragateError) throw cause;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the session identity could not be replaced', { cause });
      }
      control.forget(nonce);
      if (replaced) remember(nonce, canonical, expiresAt * 1000, since);
      return replaced;
    },
  };

  /** The JSON of an identity to store and what reading it back gives (what every instance will see). */
  function toStore(nonce: string, value: SessionIdentity, expiresAt: number): { json: string; canonical: SessionIdentity } {
    ctx.assertOpen();
    if (!validNonce(nonce)) throw new ConfigError('ERR_CONFIG_INVALID', `an identity nonce must be a string of 1 to ${MAX_NONCE} characters`);
    if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw new ConfigError('ERR_CONFIG_INVALID', `an identity's \`expiresAt\` must be Unix seconds, got \`${String(expiresAt)}\``);
    }
    let json: string;
    let canonical: SessionIdentity | string;
    try {
      json = JSON.stringify(value);
      // What this instance caches is what every other instance will read back.
      canonical = readSessionIdentity(JSON.parse(json));
    } catch (cause) {
      throw new ConfigError('ERR_CONFIG_INVALID', 'the session identity to store is not JSON-serialisable', { cause });
    }
    if (typeof canonical === 'string') throw new ConfigError('ERR_CONFIG_INVALID', `the session identity to store is invalid at \`${canonical}\``);
    return { json, canonical };
  }
  return { identities, control };
}

/**
 * Logout: deletes the identity row and, only when there was one, appends an
 * `Identity` deletion event and notifies, in one autocommit statement (so the
 * other instances hear of exactly the deletions that committed). The event's ops
 * carry the nonce (for the other caches); the published change does not.
 *
 * With `replacement` (a renewal), the row is updated instead, only when there still is one, with the
 * same event (`replace`): a session signed out meanwhile is never stored back. Resolves whether a row
 * was deleted or replaced.
 */
export async function removeIdentity(
  ctx: Pick<StoreContext, 'channel' | 'instanceId'>,
  write: Write,
  nonce: string,
  replacement?: { json: string; expiresAt: number },
): Promise<boolean> {
  const { channel, instanceId } = ctx;
  let found = false;
  await write(async (tx, _log, at, record) => {
    const change: PendingChange = { resourceType: 'Identity', operation: replacement === undefined ? 'delete' : 'replace', changedAttributes: [] };
    const ops: IndexOp[] = [{ op: 'forgetIdentity', nonce }];
    const params: unknown[] = [nonce, at, JSON.stringify({ ...change, instance: instanceId }), JSON.stringify(ops)];
    if (channel) params.push(channel, `:${instanceId}`);
    const target =
      replacement === undefined
        ? 'DELETE FROM session_identities WHERE nonce = $1 RETURNING 1'
        : `UPDATE session_identities SET identity = $${params.length + 1}::json, expires_at = $${params.length + 2} WHERE nonce = $1 RETURNING 1`;
    if (replacement !== undefined) params.push(replacement.json, replacement.expiresAt);
    const [row] = await tx.query<{ event_id: string | null }>(
      `WITH d AS (${target}),
            e AS (INSERT INTO scim_events (at, change, ops) SELECT $2, $3::jsonb, $4::jsonb WHERE EXISTS (SELECT 1 FROM d) RETURNING id)
       SELECT (SELECT e.id::text FROM e) AS event_id${channel ? ', (SELECT pg_notify($5, e.id::text || $6) FROM e) AS notified' : ''}`,
      params,
    );
    if (row?.event_id) {
      found = true;
      record(row.event_id, change, ops);
    }
    return undefined;
  }, 'statement');
  return found;
}
