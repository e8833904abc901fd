/*
 * SCIM users: one transaction (or one statement) per write, the lifecycle of `scim_config`
 * (`user_deprovision` revokes, `seat_deprovision` removes the seat), and the tombstone a deleted
 * user leaves.
 */
import { randomUUID } from 'node:crypto';
import {
  changedAttributes,
  lower,
  notFound,
  toDirectoryUser,
  toStored,
  toTombstone,
  uniqueness,
  userColumns,
  userNameKey,
  userRowColumns,
  userSubjects,
  USER_COLUMNS,
  type UserColumns,
  type UserRow,
} from './columns.js';
import { NO_LIFECYCLE, nowSeconds, type IndexOp, type Logger, type PendingChange, type Statement, type StoreContext, type Write } from './context.js';
import type { SqlExecutor } from './driver.js';
import { queryTable } from './query.js';
import { revocationOf, revoke, revokeStatement } from './revocations.js';
import { dropTombstonesStatement, newKeys, tombstoneKeys, tombstoneStatement, type TombstoneKeys } from './tombstones.js';
import type { JsonObject, ResourcePage, RevocationReason, UserRepository, WriteContext, WriteResult } from './types.js';

/** Builds `store.users`. */
export function createUsers(context: StoreContext, write: Write): UserRepository {
  const { driver } = context;

  /**
   * Locks a user row: `FOR UPDATE` to delete it; `FOR NO KEY UPDATE` to change
   * attributes, which does not wait for group writes adding the user (they hold
   * `FOR KEY SHARE`).
   */
  async function lockUser(tx: SqlExecutor, id: string, mode: 'UPDATE' | 'NO KEY UPDATE'): Promise<UserRow> {
    const [row] = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE id = $1 FOR ${mode}`, [id]);
    return row ?? notFound('User', id);
  }

  function userWriteParams(id: string, c: UserColumns, attributes: JsonObject, at: string): unknown[] {
    return [
      id,
      c.userName,
      userNameKey(c.userName),
      c.externalId ?? null,
      c.displayName ?? null,
      c.active,
      lower(c.emails),
      c.workEmail?.toLowerCase() ?? null,
      JSON.stringify(attributes),
      at,
    ];
  }

  /**
   * Logs the write of a live user fused with `data` and with the removal of the tombstones it
   * matches; a `userName` taken case-insensitively is `ERR_SCIM_UNIQUENESS`.
   */
  async function logUserWrite(log: Logger, change: PendingChange, ops: IndexOp[], data: Statement, c: UserColumns, keys: TombstoneKeys): Promise<void> {
    const drop = dropTombstonesStatement(keys);
    try {
      await (drop ? log(change, ops, drop, data) : log(change, ops, data));
    } catch (err) {
      uniqueness(err, `a user with userName \`${c.userName}\` exists`);
    }
  }

  /** PUT and PATCH share this: deactivation drives `user_deprovision` and `seat_deprovision`. */
  async function updateUser(
    id: string,
    next: (current: UserRow) => JsonObject,
    operation: 'replace' | 'patch',
    ctx: WriteContext | undefined,
  ): Promise<WriteResult> {
    const policy = ctx?.provisioning ?? NO_LIFECYCLE;
    return write(async (tx, log, at) => {
      // Deactivation may remove the seat (a delete), which needs the stronger lock.
      const current = await lockUser(tx, id, policy.seatDeprovision ? 'UPDATE' : 'NO KEY UPDATE');
      const attributes = next(current);
      const c = userColumns(attributes);
      const before = userRowColumns(current);
      const changed = changedAttributes(current.resource, attributes);
      const ops: IndexOp[] = [];
      const change: PendingChange = { resourceType: 'User', resourceId: id, operation, changedAttributes: changed };
      const deactivated = before.active && !c.active;
      if (deactivated && policy.userDeprovision) {
        const subjects = lower([...userSubjects(before), ...userSubjects(c)]);
        const notBefore = nowSeconds(context);
        await revoke(tx, 'subject', subjects, notBefore);
        ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
        change.revocation = revocationOf(subjects, notBefore, 'user_deprovision');
        if (policy.seatDeprovision) {
          // The seat goes; a tombstone remembers it (the keys Entra sent last, and every email either held).
          const last = { userName: c.userName, externalId: c.externalId ?? before.externalId, emails: [...new Set([...c.emails, ...before.emails])] };
          ops.push({ op: 'removeUser', id }, { op: 'user', user: toTombstone(id, last) });
          change.seatRemoved = true;
          await log(
            change,
            ops,
            { sql: 'DELETE FROM scim_memberships WHERE member_id = $1', params: [id] },
            { sql: 'DELETE FROM scim_users WHERE id = $1', params: [id] },
            tombstoneStatement(id, last, at),
          );
          return undefined;
        }
      }
      // A PATCH that changes nothing (Entra re-sends values every cycle) writes and publishes nothing.
      if (changed.length === 0 && ops.length === 0) return toStored(current);
      ops.push({ op: 'user', user: toDirectoryUser(id, c) });
      // The row is locked, so the new version is known: nothing is read back.
      await logUserWrite(
        log,
        change,
        ops,
        {
          sql: `UPDATE scim_users SET user_name = $2, user_name_lc = $3, external_id = $4, display_name = $5, active = $6, emails_lc = $7::text[],
           work_email_lc = $8, resource = $9::jsonb, updated_at = $10, version = version + 1 WHERE id = $1`,
          params: userWriteParams(id, c, attributes, at),
        },
        c,
        newKeys(tombstoneKeys(before), tombstoneKeys(c)),
      );
      return { id, attributes, created: current.created_at, lastModified: at, version: Number(current.version) + 1 };
    });
  }

  return {
    async get(id) {
      const [row] = await driver.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE id = $1`, [id]);
      return row ? toStored(row) : undefined;
    },
    async query(q): Promise<ResourcePage> {
      const { total, resources } = await queryTable(driver, 'scim_users', q, async (rows: UserRow[]) => rows.map(toStored));
      return { totalResults: total, resources };
    },
    create(attributes, ctx) {
      void ctx;
      const c = userColumns(attributes);
      const id = randomUUID();
      // One statement: the row, the event and the notification commit together.
      return write(async (_tx, log, at) => {
        await logUserWrite(
          log,
          { resourceType: 'User', resourceId: id, operation: 'create', changedAttributes: Object.keys(attributes) },
          [{ op: 'user', user: toDirectoryUser(id, c) }],
          {
            sql: `INSERT INTO scim_users (id, user_name, user_name_lc, external_id, display_name, active, emails_lc, work_email_lc, resource, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9::jsonb, $10, $10)`,
            params: userWriteParams(id, c, attributes, at),
          },
          c,
          tombstoneKeys(c),
        );
        return { id, attributes, created: at, lastModified: at, version: 1 };
      }, 'statement');
    },
    replace: (id, attributes, ctx) => updateUser(id, () => attributes, 'replace', ctx),
    update: (id, mutate, ctx) => updateUser(id, (row) => mutate(toStored(row)), 'patch', ctx),
    delete(id, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      return write(async (tx, log, at) => {
        const current = await lockUser(tx, id, 'UPDATE');
        const groups = await tx.query<{ group_id: string }>('DELETE FROM scim_memberships WHERE member_id = $1 RETURNING group_id', [id]);
        const ops: IndexOp[] = [];
        const columns = userRowColumns(current);
        // INVARIANT: a deleted user is remembered (a tombstone, in this transaction), so the identity
        // pipeline refuses them rather than treating them as unknown.
        const data: Statement[] = [{ sql: 'DELETE FROM scim_users WHERE id = $1', params: [id] }, tombstoneStatement(id, columns, at)];
        const change: PendingChange = { resourceType: 'User', resourceId: id, operation: 'delete', changedAttributes: [] };
        // Deleting a user also changes its memberships, so `reauth` revokes as `user_deprovision` does.
        const reason: RevocationReason | undefined = policy.userDeprovision
          ? 'user_deprovision'
          : policy.identityUpdateBehavior === 'reauth' && groups.length > 0
            ? 'reauth'
            : undefined;
        if (reason) {
          const subjects = userSubjects(columns);
          const notBefore = nowSeconds(context);
          data.push(revokeStatement('subject', subjects, notBefore));
          ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
          change.revocation = revocationOf(subjects, notBefore, reason);
        }
        ops.push({ op: 'removeUser', id }, { op: 'user', user: toTombstone(id, columns) });
        await log(change, ops, ...data);
        return undefined;
      });
    },
  };
}
