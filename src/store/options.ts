/*
 * The options of `openDirectoryStore`, validated once at construction (zod, kept internal).
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { Assert, Equal } from '../config/type-equal.js';
import { SCHEMA_NAME } from './driver.js';

/** How long `prune()` keeps old rows. */
export interface StoreRetentionOptions {
  /**
   * `prune()` deletes event-log rows older than this many seconds (at least 3600). Instances read an
   * event only right after its commit (or reload everything after a reconnect), so old rows serve only
   * as an audit trail. @defaultValue `2592000` (30 days)
   */
  eventsMaxAgeSeconds?: number | undefined;
  /**
   * `prune()` deletes revocations whose `notBefore` is older than this many seconds (at least 3600).
   * Set it above the longest lifetime of any session or token checked against the store: a session
   * issued before a pruned revocation is no longer revoked. @defaultValue absent: revocations are kept forever
   */
  revocationsMaxAgeSeconds?: number | undefined;
}

/** The in-process cache of the identities login sessions point at. */
export interface StoreIdentityOptions {
  /**
   * Most session identities cached in this process (least recently used dropped first). `0` caches
   * nothing: every session check reads the database, which closes the cross-instance logout window
   * (see `SessionIdentities`). @defaultValue `10000`
   */
  cacheMax?: number | undefined;
}

/** Options shared by both drivers. */
interface StoreCommonOptions {
  /** The clock, in milliseconds since the epoch (tests inject one). @defaultValue `Date.now` */
  now?: (() => number) | undefined;
  /** How long `prune()` keeps old rows. @defaultValue `{ eventsMaxAgeSeconds: 2592000 }` */
  retention?: StoreRetentionOptions | undefined;
  /** The session-identity cache. @defaultValue `{ cacheMax: 10000 }` */
  identities?: StoreIdentityOptions | undefined;
}

/** The embedded PGlite driver: one process, data in a folder (needs the optional peer `@electric-sql/pglite`). */
export interface PgliteStoreOptions extends StoreCommonOptions {
  /** The embedded driver. */
  driver: 'pglite';
  /** A folder (created when missing), or `memory://` for a throw-away store. @defaultValue `"./.entragate-data"` */
  dataDir?: string | undefined;
}

/** A PostgreSQL server shared by several instances (needs the optional peer `pg`). */
export interface PostgresStoreOptions extends StoreCommonOptions {
  /** The PostgreSQL driver. */
  driver: 'postgres';
  /** A libpq connection string (`postgres://user:password@host:5432/db`); never logged. */
  connectionString: string;
  /** The SQL schema holding the tables: a plain lower-case identifier, created when missing. @defaultValue `"entragate"` */
  schema?: string | undefined;
  /** Connections in the pool, 1–100. @defaultValue `10` */
  poolSize?: number | undefined;
  /**
   * The bound on how far behind the other instances this one may be, in milliseconds (20–600000): past
   * it without hearing its own heartbeat back (or after its listener failed, until it has reloaded),
   * `isFresh()` is false and revocations answer `'unknown'`. Must exceed `heartbeatMs`. @defaultValue `5000`
   */
  maxStalenessMs?: number | undefined;
  /** How often this instance sends itself a heartbeat NOTIFY through the pool, in milliseconds (5–60000). @defaultValue `1000` */
  heartbeatMs?: number | undefined;
}

const clockSchema = z.custom<() => number>((v) => typeof v === 'function', { message: 'expected a function returning milliseconds' });

const DAY_SECONDS = 86_400;

const retentionSchema = z
  .strictObject({
    /**
     * `prune()` deletes event-log rows older than this. Instances read an event
     * only right after its commit (or reload everything after a reconnect), so
     * old rows serve only as an audit trail.
     */
    eventsMaxAgeSeconds: z
      .number()
      .int()
      .min(3600)
      .default(30 * DAY_SECONDS),
    /**
     * `prune()` deletes revocations whose `notBefore` is older than this. Set it
     * above the longest lifetime of any session or token checked against the
     * store: a session issued before a pruned revocation is no longer revoked.
     * Absent (the default): revocations are kept forever.
     */
    revocationsMaxAgeSeconds: z.number().int().min(3600).optional(),
  })
  .default({ eventsMaxAgeSeconds: 30 * DAY_SECONDS });

const identitiesSchema = z
  .strictObject({
    /**
     * Most session identities cached in this process (least recently used dropped
     * first). `0` caches nothing: every session check reads the database, which
     * closes the cross-instance logout window (see `SessionIdentities`).
     */
    cacheMax: z.number().int().min(0).max(10_000_000).default(10_000),
  })
  .prefault({});

const storeOptionsSchema = z.discriminatedUnion('driver', [
  z.strictObject({
    driver: z.literal('pglite'),
    /** A folder (created when missing), or `memory://` for a throw-away store. */
    dataDir: z.string().min(1).default('./.entragate-data'),
    now: clockSchema.optional(),
    retention: retentionSchema,
    identities: identitiesSchema,
  }),
  z.strictObject({
    driver: z.literal('postgres'),
    connectionString: z.string().min(1),
    /** A plain lower-case identifier; created when missing. */
    schema: z.string().regex(SCHEMA_NAME, 'expected a lower-case SQL identifier').default('entragate'),
    poolSize: z.number().int().min(1).max(100).default(10),
    /**
     * The bound on how far behind the other instances this one may be: past it without
     * hearing its own heartbeat back (or after its listener failed, until it has reloaded),
     * `isFresh()` is false and revocations answer `'unknown'`. Must exceed `heartbeatMs`.
     */
    maxStalenessMs: z.number().int().min(20).max(600_000).default(5000),
    /** How often this instance sends itself a heartbeat NOTIFY through the pool, heard back through its listener. */
    heartbeatMs: z.number().int().min(5).max(60_000).default(1000),
    now: clockSchema.optional(),
    retention: retentionSchema,
    identities: identitiesSchema,
  }),
]);

/** Options of `openDirectoryStore`: the embedded PGlite driver, or a PostgreSQL server shared by many instances. */
export type DirectoryStoreOptions = PgliteStoreOptions | PostgresStoreOptions;

type _PgliteMatches = Assert<Equal<Extract<z.input<typeof storeOptionsSchema>, { driver: 'pglite' }>, PgliteStoreOptions>>;
type _PostgresMatches = Assert<Equal<Extract<z.input<typeof storeOptionsSchema>, { driver: 'postgres' }>, PostgresStoreOptions>>;

/** The retention settings, as validated (defaults filled). */
export type RetentionOptions = z.output<typeof retentionSchema>;

/** The options, as validated (defaults filled). */
export type ParsedStoreOptions = z.output<typeof storeOptionsSchema>;

/** Validates the options; a bad one is `ERR_CONFIG_INVALID`, thrown synchronously. */
export function parseStoreOptions(options: DirectoryStoreOptions): ParsedStoreOptions {
  const parsed = storeOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid directory store options: ${z.prettifyError(parsed.error)}`);
  }
  const opts = parsed.data;
  if (opts.driver === 'postgres' && opts.heartbeatMs >= opts.maxStalenessMs) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `invalid directory store options: \`heartbeatMs\` (\`${opts.heartbeatMs}\`) must be below \`maxStalenessMs\` (\`${opts.maxStalenessMs}\`), or every instance is always stale`,
    );
  }
  return opts;
}
