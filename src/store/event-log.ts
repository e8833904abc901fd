/*
 * The event log: every write appends one event (what changed, and the ops that replay it on
 * every instance) in its own transaction — fused into its last statement, with the NOTIFY — is
 * retried on serialization failures and deadlocks, and is applied here only after its commit.
 */
import { EntragateError, StoreError } from '../errors/index.js';
import { pgCode } from './columns.js';
import type { EventRecorder, IndexOp, PendingChange, Statement, StoreContext, Write, WriteBody } from './context.js';
import type { SqlExecutor } from './driver.js';
import type { Sync } from './sync.js';
import type { StoredResource, WriteResult } from './types.js';

/** Attempts after the first on a serialization failure or a deadlock. */
const MAX_RETRIES = 5;

/** Builds the store's `write`: the only way anything is written to the directory tables. */
export function createEventLog(ctx: StoreContext, sync: Pick<Sync, 'apply' | 'track'>): { write: Write } {
  const { driver, channel, instanceId, now, assertOpen } = ctx;

  /**
   * Builds the statement that appends the event (and, with PostgreSQL, its NOTIFY,
   * sent by the server on commit only, in commit order) — fused with the write's
   * last data statements (no `RETURNING` needed, none read), so one round trip does all.
   * Data-modifying CTEs run exactly once and to completion whether or not the
   * outer query reads them (PostgreSQL docs, "Data-Modifying Statements in WITH").
   */
  function eventStatement(at: string, change: PendingChange, ops: IndexOp[], data: readonly Statement[]): Statement {
    const params: unknown[] = [];
    const ctes = data.map((d, i) => {
      const offset = params.length;
      params.push(...d.params);
      // Each data statement numbers its parameters from $1: shift them past the ones before it.
      return `w${i} AS (${d.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
    });
    const bind = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    // The ids a `dropsTombstones` statement deleted become `removeUser` ops ahead of the write's own,
    // computed by the statement itself, so the event says exactly what committed.
    const drops = data.flatMap((d, i) => (d.dropsTombstones ? [`w${i}`] : []));
    const dropped = drops.map((w) => `(SELECT coalesce(jsonb_agg(jsonb_build_object('op', 'removeUser', 'id', ${w}.id)), '[]'::jsonb) FROM ${w})`);
    const opsSql = [...dropped, `${bind(JSON.stringify(ops))}::jsonb`].join(' || ');
    ctes.push(
      `e AS (INSERT INTO scim_events (at, change, ops) VALUES (${bind(at)}, ${bind(JSON.stringify({ ...change, instance: instanceId }))}::jsonb, ${opsSql}) RETURNING id)`,
    );
    const notify = channel ? `, pg_notify(${bind(channel)}, e.id::text || ${bind(`:${instanceId}`)})` : '';
    const droppedIds =
      drops.length > 0
        ? `, (SELECT coalesce(json_agg(d.id), '[]'::json) FROM (${drops.map((w) => `SELECT id FROM ${w}`).join(' UNION ALL ')}) d) AS dropped`
        : '';
    return { sql: `WITH ${ctes.join(', ')} SELECT e.id::text AS id${notify}${droppedIds} FROM e`, params };
  }

  /**
   * Runs one write, retried on serialization failures and deadlocks, then applies
   * it here. `transaction` opens BEGIN … COMMIT; `statement` runs `fn`'s single
   * statement in autocommit, which PostgreSQL makes atomic on its own.
   *
   * `fn` logs its event with `log` (the generic event insert), or `record`s the id
   * of an event its own statement inserted. A write that logs nothing changed
   * nothing: it returns no `change` and publishes nothing.
   */
  async function write(fn: WriteBody, mode: 'transaction' | 'statement' = 'transaction'): Promise<WriteResult> {
    assertOpen();
    return sync.track(attempts(fn, mode));
  }

  async function attempts(fn: WriteBody, mode: 'transaction' | 'statement'): Promise<WriteResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const at = new Date(now()).toISOString();
        let logged: { id: string; change: PendingChange; ops: IndexOp[] } | undefined;
        const record: EventRecorder = (id, change, ops) => {
          // INVARIANT: one write is one event, so a statement-mode write commits or fails whole.
          if (logged !== undefined) throw new StoreError('ERR_STORE_UNAVAILABLE', 'a write logged two events');
          logged = { id, change, ops };
        };
        const run = async (tx: SqlExecutor): Promise<StoredResource | undefined> => {
          logged = undefined;
          return fn(
            tx,
            async (change, ops, ...data) => {
              const statement = eventStatement(at, change, ops, data);
              const [row] = await tx.query<{ id: string; dropped?: string[] }>(statement.sql, statement.params);
              if (!row) throw new StoreError('ERR_STORE_UNAVAILABLE', 'event log insert returned no id');
              // As the event's ops say: the tombstones the write removed go first.
              if (row.dropped && row.dropped.length > 0) ops.unshift(...row.dropped.map((id): IndexOp => ({ op: 'removeUser', id })));
              record(row.id, change, ops);
            },
            at,
            record,
          );
        };
        const resource = mode === 'statement' ? await run(driver) : await driver.transaction(run);
        const ev = logged as { id: string; change: PendingChange; ops: IndexOp[] } | undefined;
        if (!ev) return resource ? { resource } : {};
        // INVARIANT: the index changes only after the commit succeeded.
        const change = sync.apply(ev.id, { ...ev.change, at, instance: instanceId }, ev.ops);
        return resource ? { resource, change } : { change };
      } catch (err) {
        const code = pgCode(err);
        if (code === '40001' || code === '40P01') {
          if (attempt < MAX_RETRIES) continue;
          throw new StoreError('ERR_STORE_CONFLICT', `directory write failed after ${MAX_RETRIES + 1} attempts on serialization conflicts`, { cause: err });
        }
        if (err instanceof EntragateError) throw err;
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'directory store write failed', { cause: err });
      }
    }
  }

  return { write };
}
