import { StoreError } from '../errors/index.js';

/** Runs parameterised SQL. Every value reaches the server as a bind parameter, never spliced into the text. */
export interface SqlExecutor {
  query<T extends object>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/** The little a store needs from a database: queries, transactions, notifications. */
export interface SqlDriver extends SqlExecutor {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction (READ COMMITTED); commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a notification channel on a dedicated connection. `onLost` is
   * called when that connection fails (notifications are missed from then on), and
   * `onResync` once a new connection listens again. The returned handle drops the
   * connection on demand (one that went quiet without failing: half-open) and starts over.
   */
  listen?(channel: string, onNotify: (payload: string) => void, onResync: () => void, onLost?: () => void): Promise<ListenerHandle>;
  close(): Promise<void>;
}

/** Control of a driver's notification connection. */
export interface ListenerHandle {
  /**
   * Drops the current connection as if it had failed (`onLost`, then a reconnect and
   * `onResync`), also when it is half-open and would never fail by itself. A
   * connection attempt still in progress is abandoned and started over.
   */
  reconnect(): void;
}

/** Options of the PostgreSQL driver's notification connection. */
export interface ListenerOptions {
  /** TCP keepalive on the listener's socket: the first probe after this much idle time (ms). */
  keepAliveInitialDelayMs: number;
}

/** The subset of `pg` the driver uses, typed here so the public types never depend on `@types/pg`. */
interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: object[] }>;
  query(text: string): Promise<{ rows: object[] }>;
}
interface PgPoolClient extends PgQueryable {
  release(destroy?: boolean | Error): void;
}
interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
interface PgClient extends PgQueryable {
  connect(): Promise<void>;
  end(): Promise<void>;
  /** pg's connection (not a public API, so optional): its socket is destroyed to drop a half-open connection. */
  connection?: { stream?: { destroy(error?: Error): void } };
  on(event: 'notification', listener: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
}
interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPool;
  Client: new (config: Record<string, unknown>) => PgClient;
}

interface PGliteTx {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}
interface PGliteDb extends PGliteTx {
  transaction<T>(fn: (tx: PGliteTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
interface PGliteModule {
  PGlite: { create(dataDir?: string): Promise<PGliteDb> };
}

/**
 * Imports an optional peer lazily, so an app that never opens a store never loads it.
 * INVARIANT: a missing package is a clear `ERR_STORE_UNAVAILABLE`, never a bare resolution error.
 */
async function importPeer<T>(name: string, load: () => Promise<unknown>): Promise<T> {
  try {
    return (await load()) as T;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new StoreError('ERR_STORE_UNAVAILABLE', `package \`${name}\` is not installed: run \`npm install ${name}\` to use this store driver`, {
        cause: err,
      });
    }
    throw new StoreError('ERR_STORE_UNAVAILABLE', `package \`${name}\` failed to load`, { cause: err });
  }
}

/** Opens PGlite (Postgres in WASM) persisted to `dataDir` (`memory://` keeps it in memory). */
export async function openPgliteDriver(dataDir: string): Promise<SqlDriver> {
  const mod = await importPeer<PGliteModule>('@electric-sql/pglite', () => import('@electric-sql/pglite'));
  let db: PGliteDb;
  try {
    db = await mod.PGlite.create(dataDir);
  } catch (err) {
    throw new StoreError('ERR_STORE_UNAVAILABLE', `pglite could not open \`${dataDir}\``, { cause: err });
  }
  const wrap = (q: PGliteTx): SqlExecutor => ({
    async query<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await q.query<T>(sql, [...params])).rows;
    },
  });
  const root = wrap(db);
  return {
    kind: 'pglite',
    query: root.query,
    // PGlite has one connection: its own mutex serialises transactions.
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}

/** A schema name is spliced into `search_path`, so only plain identifiers are accepted. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The most statement texts prepared by name on each PostgreSQL connection. */
const MAX_PREPARED = 256;

/** Opens a `pg` pool on `connectionString`, with `search_path` set to `schema` on every connection. */
export async function openPostgresDriver(
  connectionString: string,
  schema: string,
  poolSize: number,
  listenerOptions: ListenerOptions = { keepAliveInitialDelayMs: 5000 },
): Promise<SqlDriver> {
  const imported = await importPeer<PgModule & { default?: PgModule }>('pg', () => import('pg'));
  const pg: PgModule = imported.default ?? imported;
  const config = { connectionString, options: `-c search_path=${schema}` };
  const pool = new pg.Pool({ ...config, max: poolSize });
  // An idle client dropped by the server must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  try {
    // Two instances starting together both run CREATE SCHEMA IF NOT EXISTS, and PostgreSQL can
    // then fail the loser with a unique violation (23505) on pg_namespace: that one lost a race
    // to an identical result, so it is not an error.
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== '23505') throw err;
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreError('ERR_STORE_UNAVAILABLE', `postgresql is not reachable or schema \`${schema}\` cannot be created`, { cause: err });
  }
  let listener: PgClient | undefined;
  let closed = false;

  // Parameterised statements run as named prepared statements: each connection parses
  // and plans one text once, then only binds. The texts come from this package's
  // code (values are always parameters), so the set is small; the cap is a backstop.
  const names = new Map<string, string>();
  const named = (sql: string, params: readonly unknown[]): { text: string; values: unknown[]; name?: string } => {
    if (params.length === 0) return { text: sql, values: [] };
    let name = names.get(sql);
    if (name === undefined && names.size < MAX_PREPARED) names.set(sql, (name = `entragate_${names.size}`));
    return name === undefined ? { text: sql, values: [...params] } : { text: sql, values: [...params], name };
  };
  const exec = (q: PgQueryable): SqlExecutor => ({
    async query<T extends object>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await q.query(named(sql, params))).rows as T[];
    },
  });

  // The connection currently listening or connecting, with the way to drop it.
  let current: { client: PgClient; drop: () => void } | undefined;

  async function startListener(channel: string, onNotify: (payload: string) => void, onResync: () => void, onLost: () => void, attempt: number): Promise<void> {
    // INVARIANT: TCP keepalive on the listener, so a peer that vanished is reported by the
    // operating system; a half-open connection that still answers probes (a stuck proxy) is
    // caught by the store's heartbeat, which calls `reconnect`.
    const client = new pg.Client({ ...config, keepAlive: true, keepAliveInitialDelayMillis: listenerOptions.keepAliveInitialDelayMs });
    client.on('notification', (msg) => {
      if (listener === client && msg.channel === channel && msg.payload !== undefined) onNotify(msg.payload);
    });
    // Set once this connection listens: a later loss starts the backoff over (100 ms), not where the
    // attempts before this connection left it.
    let listening = false;
    const reconnect = (): void => {
      if (closed || listener !== client) return;
      listener = undefined;
      current = undefined;
      onLost();
      client.end().catch(() => undefined);
      // `end` waits for the server's goodbye, which a half-open connection never sends.
      client.connection?.stream?.destroy();
      const failures = listening ? 0 : attempt;
      const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
      setTimeout(() => {
        if (closed) return;
        startListener(channel, onNotify, onResync, onLost, failures + 1).then(onResync, () => undefined);
      }, delay).unref();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    listener = client;
    current = { client, drop: reconnect };
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      listening = true;
    } catch (err) {
      if (attempt === 0) {
        listener = undefined;
        current = undefined;
        await client.end().catch(() => undefined);
        throw new StoreError('ERR_STORE_UNAVAILABLE', `postgresql listener could not subscribe to \`${channel}\``, { cause: err });
      }
      reconnect();
      // Not listening: the caller must not resync on this attempt (the next one will).
      throw err;
    }
    // The connection may have failed (or been dropped) between LISTEN and here: a retry is scheduled, so no resync yet.
    if (listener !== client) throw new StoreError('ERR_STORE_UNAVAILABLE', `postgresql listener on \`${channel}\` was lost`);
  }

  return {
    kind: 'postgres',
    query: exec(pool).query,
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(exec(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error('rollback failed');
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async listen(channel, onNotify, onResync, onLost = () => undefined): Promise<ListenerHandle> {
      await startListener(channel, onNotify, onResync, onLost, 0);
      return {
        reconnect() {
          current?.drop();
        },
      };
    },
    async close(): Promise<void> {
      closed = true;
      const l = listener;
      listener = undefined;
      current = undefined;
      if (l) {
        // A half-open connection never answers the goodbye: give it a second, then drop the socket.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const gone = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
        await Promise.race([l.end().catch(() => undefined), gone]);
        clearTimeout(timer);
        l.connection?.stream?.destroy();
      }
      await pool.end();
    },
  };
}
