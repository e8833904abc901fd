/*
 * SCIM groups: the group rows and their member changes, with the `reauth` revocation a
 * membership change brings, and Entra's member PATCH as one statement.
 */
import { randomUUID } from 'node:crypto';
import { ScimError } from '../errors/index.js';
import {
  changedAttributes,
  groupColumns,
  GROUP_COLUMNS,
  notFound,
  toDirectoryGroup,
  toStored,
  uniqueness,
  type GroupColumns,
  type GroupRow,
} from './columns.js';
import { NO_LIFECYCLE, type IndexOp, type Logger, type PendingChange, type Statement, type StoreContext, type Write } from './context.js';
import type { SqlExecutor } from './driver.js';
import { addMembers, applyMemberOps, loadMembers } from './memberships.js';
import { queryTable } from './query.js';
import { reauthRevocation } from './revocations.js';
import type { GroupRepository, JsonObject, MemberOp, ProvisioningPolicy, StoredMember, StoredResource, WriteContext, WriteResult } from './types.js';

/** Builds `store.groups`. */
export function createGroups(context: StoreContext, write: Write): GroupRepository {
  const { driver, channel, instanceId } = context;

  async function withMembers(rows: GroupRow[], members: boolean | undefined): Promise<StoredResource[]> {
    const resources = rows.map(toStored);
    if (!members) return resources;
    const map = await loadMembers(
      driver,
      rows.map((r) => r.id),
    );
    for (const r of resources) r.members = map.get(r.id) ?? [];
    return resources;
  }

  async function lockGroup(tx: SqlExecutor, id: string): Promise<GroupRow> {
    const [row] = await tx.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1 FOR UPDATE`, [id]);
    return row ?? notFound('Group', id);
  }

  /** Records the member delta, revokes under `reauth`, and logs the event fused with `data` (a `displayName` taken is `ERR_SCIM_UNIQUENESS`). */
  async function finishGroupWrite(
    tx: SqlExecutor,
    log: Logger,
    policy: ProvisioningPolicy,
    change: PendingChange,
    ops: IndexOp[],
    groupId: string,
    delta: { added: StoredMember[]; removed: StoredMember[] },
    data: { statement: Statement; displayName: string } | undefined,
  ): Promise<void> {
    if (delta.added.length > 0 || delta.removed.length > 0) {
      change.members = { added: delta.added.map((m) => m.value), removed: delta.removed.map((m) => m.value) };
      if (!change.changedAttributes.includes('members')) change.changedAttributes.push('members');
      ops.push({ op: 'members', groupId, add: change.members.added, remove: change.members.removed });
      const all = [...delta.added, ...delta.removed];
      const revocation = await reauthRevocation(
        context,
        tx,
        policy,
        all.filter((m) => m.type === 'User').map((m) => m.value),
        all.filter((m) => m.type === 'Group').map((m) => m.value),
        ops,
      );
      if (revocation) change.revocation = revocation;
    }
    // A write that changes nothing writes and publishes nothing.
    if (ops.length === 0) return;
    if (!data) return log(change, ops);
    try {
      await log(change, ops, data.statement);
    } catch (err) {
      uniqueness(err, `a group with displayName \`${data.displayName}\` exists`);
    }
  }

  function groupWriteStatement(id: string, c: GroupColumns, attributes: JsonObject, at: string, insert: boolean): Statement {
    return {
      sql: insert
        ? `INSERT INTO scim_groups (id, display_name, display_name_lc, external_id, email, resource, created_at, updated_at) VALUES ($1, $2, $3, $4, $7, $5::jsonb, $6, $6)`
        : `UPDATE scim_groups SET display_name = $2, display_name_lc = $3, external_id = $4, email = $7, resource = $5::jsonb, updated_at = $6, version = version + 1 WHERE id = $1`,
      params: [id, c.displayName, c.displayName.toLowerCase(), c.externalId ?? null, JSON.stringify(attributes), at, c.email ?? null],
    };
  }

  /**
   * Entra's member PATCH (`Add` of many members, no lifecycle revocation) as one
   * autocommit statement: lock the group, lock and classify the members, insert
   * the new edges, touch the group, append the event and notify. When a member is
   * unknown the statement inserts nothing, and the write is refused. When every
   * member is already there it changes nothing and publishes nothing.
   *
   * INVARIANT: same locks as the general path (group `FOR UPDATE`, members
   * `FOR KEY SHARE`), so concurrent PATCHes of one group serialise and lose no member.
   */
  function addMembersInOneStatement(id: string, ids: readonly string[]): Promise<WriteResult> {
    const unique = [...new Set(ids)];
    if (unique.includes(id)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `group \`${id}\` cannot be a member of itself`, { scimType: 'invalidValue' });
    return write(async (tx, _log, at, record) => {
      const change: PendingChange = {
        resourceType: 'Group',
        resourceId: id,
        operation: 'patch',
        changedAttributes: ['members'],
        members: { added: [], removed: [] },
      };
      const ops: IndexOp[] = [{ op: 'members', groupId: id, add: [], remove: [] }];
      const params: unknown[] = [id, unique, at, JSON.stringify({ ...change, instance: instanceId }), JSON.stringify(ops)];
      if (channel) params.push(channel, `:${instanceId}`);
      const [row] = await tx.query<{ grp: GroupRow | null; known: [string, 'User' | 'Group', boolean][] | null; event_id: string | null }>(
        `WITH g AS (SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1 FOR UPDATE),
              u AS (SELECT id FROM scim_users WHERE id = ANY($2::text[]) FOR KEY SHARE),
              sg AS (SELECT id FROM scim_groups WHERE id = ANY($2::text[]) FOR KEY SHARE),
              k AS (SELECT id, 'User'::text AS type FROM u UNION ALL SELECT id, 'Group'::text AS type FROM sg),
              ok AS (SELECT 1 FROM g WHERE (SELECT count(*) FROM k) = cardinality($2::text[])),
              ins AS (INSERT INTO scim_memberships (group_id, member_id, member_type) SELECT $1, k.id, k.type FROM k, ok
                      ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id),
              t AS (UPDATE scim_groups SET updated_at = $3, version = version + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)),
              a AS (SELECT jsonb_agg(member_id) AS ids FROM ins),
              e AS (INSERT INTO scim_events (at, change, ops)
                    SELECT $3, jsonb_set($4::jsonb, '{members,added}', a.ids), jsonb_set($5::jsonb, '{0,add}', a.ids) FROM a WHERE a.ids IS NOT NULL RETURNING id)
         SELECT (SELECT row_to_json(g) FROM g) AS grp,
                (SELECT json_agg(json_build_array(k.id, k.type, ins.member_id IS NOT NULL)) FROM k LEFT JOIN ins ON ins.member_id = k.id) AS known,
                (SELECT e.id::text FROM e) AS event_id${channel ? ', (SELECT pg_notify($6, e.id::text || $7) FROM e) AS notified' : ''}`,
        params,
      );
      const grp = row?.grp ?? notFound('Group', id);
      const known = row?.known ?? [];
      if (known.length < unique.length) {
        const found = new Set(known.map(([k]) => k));
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `member \`${unique.find((m) => !found.has(m)) ?? ''}\` is not a known user or group`, {
          scimType: 'invalidValue',
        });
      }
      const resource = toStored(grp);
      if (!row?.event_id) return resource;
      const added = known.filter(([, , isNew]) => isNew).map(([m]) => m);
      change.members = { added, removed: [] };
      ops[0] = { op: 'members', groupId: id, add: added, remove: [] };
      record(row.event_id, change, ops);
      return { ...resource, lastModified: at, version: resource.version + 1 };
    }, 'statement');
  }

  async function updateGroup(
    id: string,
    attributes: ((current: StoredResource) => JsonObject) | undefined,
    memberOps: readonly MemberOp[],
    operation: 'replace' | 'patch',
    ctx: WriteContext | undefined,
  ): Promise<WriteResult> {
    const policy = ctx?.provisioning ?? NO_LIFECYCLE;
    if (!attributes && memberOps.length > 0 && memberOps.every((m) => m.op === 'add') && policy.identityUpdateBehavior !== 'reauth') {
      return addMembersInOneStatement(
        id,
        memberOps.flatMap((m) => (m.op === 'add' ? m.ids : [])),
      );
    }
    return write(async (tx, log, at) => {
      // INVARIANT: the row lock serialises concurrent writes of one group, so no member add is lost.
      const row = await lockGroup(tx, id);
      const ops: IndexOp[] = [];
      const change: PendingChange = { resourceType: 'Group', resourceId: id, operation, changedAttributes: [] };
      let next: { attributes: JsonObject; columns: ReturnType<typeof groupColumns> } | undefined;
      if (attributes) {
        const candidate = attributes(toStored(row));
        const columns = groupColumns(candidate);
        change.changedAttributes = changedAttributes(row.resource, candidate);
        if (change.changedAttributes.length > 0) next = { attributes: candidate, columns };
      }
      const delta = await applyMemberOps(tx, id, memberOps);
      const touched = next !== undefined || delta.added.length > 0 || delta.removed.length > 0;
      let data: { statement: Statement; displayName: string } | undefined;
      if (next) {
        ops.push({ op: 'group', group: toDirectoryGroup(id, next.columns) });
        data = { statement: groupWriteStatement(id, next.columns, next.attributes, at, false), displayName: next.columns.displayName };
      } else if (touched) {
        data = {
          statement: { sql: 'UPDATE scim_groups SET updated_at = $2, version = version + 1 WHERE id = $1', params: [id, at] },
          displayName: row.display_name,
        };
      }
      await finishGroupWrite(tx, log, policy, change, ops, id, delta, data);
      // The row is locked, so what it now holds is known: nothing is read back.
      return {
        id,
        attributes: next?.attributes ?? row.resource,
        created: row.created_at,
        lastModified: touched ? at : row.updated_at,
        version: Number(row.version) + (touched ? 1 : 0),
      };
    });
  }

  return {
    async get(id, options) {
      const rows = await driver.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = $1`, [id]);
      return (await withMembers(rows, options?.members))[0];
    },
    async query(q) {
      const { total, resources } = await queryTable(driver, 'scim_groups', q, (rows: GroupRow[]) => withMembers(rows, q.members));
      return { totalResults: total, resources };
    },
    create(attributes, memberIds, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      const c = groupColumns(attributes);
      const id = randomUUID();
      const change = (): PendingChange => ({ resourceType: 'Group', resourceId: id, operation: 'create', changedAttributes: Object.keys(attributes) });
      const ops = (): IndexOp[] => [{ op: 'group', group: toDirectoryGroup(id, c) }];
      const created = (at: string, members: StoredMember[]): StoredResource => ({ id, attributes, created: at, lastModified: at, version: 1, members });
      if (memberIds.length === 0) {
        // Entra creates groups empty: one statement for the row, the event and the notification.
        return write(async (tx, log, at) => {
          await finishGroupWrite(
            tx,
            log,
            policy,
            change(),
            ops(),
            id,
            { added: [], removed: [] },
            { statement: groupWriteStatement(id, c, attributes, at, true), displayName: c.displayName },
          );
          return created(at, []);
        }, 'statement');
      }
      return write(async (tx, log, at) => {
        const insert = groupWriteStatement(id, c, attributes, at, true);
        try {
          await tx.query(insert.sql, insert.params);
        } catch (err) {
          uniqueness(err, `a group with displayName \`${c.displayName}\` exists`);
        }
        const added = await addMembers(tx, id, memberIds);
        await finishGroupWrite(tx, log, policy, change(), ops(), id, { added, removed: [] }, undefined);
        return created(
          at,
          [...added].sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0)),
        );
      });
    },
    replace: (id, attributes, memberIds, ctx) => updateGroup(id, () => attributes, [{ op: 'set', ids: memberIds }], 'replace', ctx),
    update: (id, change, ctx) => updateGroup(id, change.attributes, change.members ?? [], 'patch', ctx),
    delete(id, ctx) {
      const policy = ctx?.provisioning ?? NO_LIFECYCLE;
      return write(async (tx, log) => {
        await lockGroup(tx, id);
        const ops: IndexOp[] = [];
        const change: PendingChange = { resourceType: 'Group', resourceId: id, operation: 'delete', changedAttributes: [] };
        // Everyone under the group loses it (and its ancestors): computed before the edges go.
        const revocation = await reauthRevocation(context, tx, policy, [], [id], ops);
        if (revocation) change.revocation = revocation;
        await tx.query('DELETE FROM scim_memberships WHERE group_id = $1 OR member_id = $1', [id]);
        await tx.query('DELETE FROM scim_groups WHERE id = $1', [id]);
        ops.push({ op: 'removeGroup', id });
        await log(change, ops);
        return undefined;
      });
    },
  };
}
