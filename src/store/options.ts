/*
 * The options of `openDirectoryStore`, validated once at construction (zod, kept internal).
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { SCHEMA_NAME } from './driver.js';

const clockSchema = z.custom<() => number>((v) => typeof v === 'function', { message: 'expected a function returning milliseconds' });

const DAY_SECONDS = 86_400;

const retentionSchema = z
  .strictObject({
    /**
     * `prune()` deletes event-log rows older than this. Instances read an event
     * only right after its commit (or reload everything after a reconnect), so
     * old rows serve only as an audit trail.
     */
    eventsMaxAgeSeconds: z.number().int().min(3600).default(30 * DAY_SECONDS),
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

/** Options of {@link openDirectoryStore}: the embedded PGlite driver, or a PostgreSQL server shared by many instances. */
export type DirectoryStoreOptions = z.input<typeof storeOptionsSchema>;

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
