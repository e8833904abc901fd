/*
 * Group memberships: the rows behind the nesting graph, changed inside a write's transaction.
 */
import { ScimError } from '../errors/index.js';
import type { MemberRow } from './columns.js';
import type { SqlExecutor } from './driver.js';
import type { MemberOp, StoredMember } from './types.js';

/** Users whose transitive groups change when these members join or leave a group: the users themselves, and every user under a member group. */
export async function affectedUsers(tx: SqlExecutor, userIds: readonly string[], groupIds: readonly string[]): Promise<string[]> {
  const out = new Set(userIds);
  if (groupIds.length > 0) {
    const rows = await tx.query<{ id: string }>(
      `WITH RECURSIVE sub(id) AS (
         SELECT unnest($1::text[])
         UNION
         SELECT m.member_id FROM scim_memberships m JOIN sub ON m.group_id = sub.id WHERE m.member_type = 'Group'
       )
       SELECT DISTINCT m.member_id AS id FROM scim_memberships m JOIN sub ON m.group_id = sub.id WHERE m.member_type = 'User'`,
      [groupIds],
    );
    for (const r of rows) out.add(r.id);
  }
  return [...out];
}

/** The direct members of these groups, by group, ordered by member id. */
export async function loadMembers(sql: SqlExecutor, ids: readonly string[]): Promise<Map<string, StoredMember[]>> {
  const out = new Map<string, StoredMember[]>();
  if (ids.length === 0) return out;
  const rows = await sql.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships WHERE group_id = ANY($1::text[]) ORDER BY member_id', [
    ids,
  ]);
  for (const r of rows) {
    let list = out.get(r.group_id);
    if (!list) out.set(r.group_id, (list = []));
    list.push({ value: r.member_id, type: r.member_type });
  }
  return out;
}

/**
 * Adds members in one statement; unknown ids are refused so a typo never becomes
 * a dangling edge. Returns the members actually added, by type.
 *
 * INVARIANT: the member rows are locked `FOR KEY SHARE` (as a foreign key would),
 * so a concurrent delete of a member waits for this write and then removes the
 * new edge with it: no membership outlives its user or group.
 */
export async function addMembers(tx: SqlExecutor, groupId: string, ids: readonly string[]): Promise<StoredMember[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  if (unique.includes(groupId)) {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', `group \`${groupId}\` cannot be a member of itself`, { scimType: 'invalidValue' });
  }
  const known = await tx.query<{ id: string; type: 'User' | 'Group'; added: boolean }>(
    `WITH u AS (SELECT id FROM scim_users WHERE id = ANY($2::text[]) FOR KEY SHARE),
          g AS (SELECT id FROM scim_groups WHERE id = ANY($2::text[]) FOR KEY SHARE),
          k AS (SELECT id, 'User'::text AS type FROM u UNION ALL SELECT id, 'Group'::text AS type FROM g),
          ins AS (INSERT INTO scim_memberships (group_id, member_id, member_type) SELECT $1, id, type FROM k
                  ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id)
     SELECT k.id, k.type, ins.member_id IS NOT NULL AS added FROM k LEFT JOIN ins ON ins.member_id = k.id`,
    [groupId, unique],
  );
  if (known.length < unique.length) {
    // The transaction rolls back, and the rows inserted for the known ids with it.
    const found = new Set(known.map((k) => k.id));
    const missing = unique.find((id) => !found.has(id)) ?? '';
    throw new ScimError('ERR_SCIM_INVALID_VALUE', `member \`${missing}\` is not a known user or group`, { scimType: 'invalidValue' });
  }
  return known.filter((k) => k.added).map((k) => ({ value: k.id, type: k.type }));
}

export async function removeMembers(tx: SqlExecutor, groupId: string, ids: readonly string[] | 'all'): Promise<StoredMember[]> {
  const rows =
    ids === 'all'
      ? await tx.query<{ member_id: string; member_type: 'User' | 'Group' }>(
          'DELETE FROM scim_memberships WHERE group_id = $1 RETURNING member_id, member_type',
          [groupId],
        )
      : ids.length === 0
        ? []
        : await tx.query<{ member_id: string; member_type: 'User' | 'Group' }>(
            'DELETE FROM scim_memberships WHERE group_id = $1 AND member_id = ANY($2::text[]) RETURNING member_id, member_type',
            [groupId, [...new Set(ids)]],
          );
  return rows.map((r) => ({ value: r.member_id, type: r.member_type }));
}

/** Applies member ops in order and returns the net delta (a member added then removed in one request is neither). */
export async function applyMemberOps(
  tx: SqlExecutor,
  groupId: string,
  memberOps: readonly MemberOp[],
): Promise<{ added: StoredMember[]; removed: StoredMember[] }> {
  const added = new Map<string, StoredMember>();
  const removed = new Map<string, StoredMember>();
  const noteAdded = (ms: StoredMember[]): void => {
    for (const m of ms) if (!removed.delete(m.value)) added.set(m.value, m);
  };
  const noteRemoved = (ms: StoredMember[]): void => {
    for (const m of ms) if (!added.delete(m.value)) removed.set(m.value, m);
  };
  for (const op of memberOps) {
    switch (op.op) {
      case 'add':
        noteAdded(await addMembers(tx, groupId, op.ids));
        break;
      case 'remove':
        noteRemoved(await removeMembers(tx, groupId, op.ids));
        break;
      case 'removeAll':
        noteRemoved(await removeMembers(tx, groupId, 'all'));
        break;
      case 'set': {
        const want = new Set(op.ids);
        const current = await tx.query<{ member_id: string }>('SELECT member_id FROM scim_memberships WHERE group_id = $1', [groupId]);
        noteRemoved(
          await removeMembers(
            tx,
            groupId,
            current.map((r) => r.member_id).filter((m) => !want.has(m)),
          ),
        );
        noteAdded(await addMembers(tx, groupId, [...want]));
        break;
      }
      case 'removeWhere': {
        const current = await tx.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships WHERE group_id = $1', [groupId]);
        const ids = current.filter((r) => op.match({ value: r.member_id, type: r.member_type })).map((r) => r.member_id);
        noteRemoved(await removeMembers(tx, groupId, ids));
        break;
      }
    }
  }
  return { added: [...added.values()], removed: [...removed.values()] };
}
