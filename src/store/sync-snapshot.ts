/**
 * The store's memory, written: one event's index operations applied to the index,
 * revocations and identity cache, and the directory snapshot a reload reads and
 * loads. The rules of when these run (once each, in commit order, a reload never
 * losing a write) are kept in `sync.ts`, which calls them.
 */
import type { IndexOp, StoreContext } from './context.js';
import {
  GROUP_COLUMNS,
  USER_COLUMNS,
  toDirectoryGroup,
  toDirectoryUser,
  toTombstone,
  userRowColumns,
  type GroupRow,
  type MemberRow,
  type UserRow,
} from './columns.js';
import type { SqlDriver } from './driver.js';
import type { IdentityCacheControl } from './identities.js';

/** Event ids remembered as applied (the newest): a reload marks this many from its snapshot. */
export const APPLIED_MEMORY = 20_000;

/** Applies one event's index operations to this instance's memory. */
export function applyIndexOps(ctx: Pick<StoreContext, 'index' | 'revocationSet'>, identityCache: IdentityCacheControl, ops: readonly IndexOp[]): void {
  const { index, revocationSet } = ctx;
  for (const op of ops) {
    switch (op.op) {
      case 'user':
        index.upsertUser(op.user);
        break;
      case 'removeUser':
        index.removeUser(op.id);
        break;
      case 'group':
        index.upsertGroup(op.group);
        break;
      case 'removeGroup':
        index.removeGroup(op.id);
        break;
      case 'members':
        for (const m of op.remove) index.removeMember(op.groupId, m);
        for (const m of op.add) index.addMember(op.groupId, m);
        break;
      case 'revoke':
        for (const key of op.keys) revocationSet.add(op.kind, key, op.notBefore);
        break;
      case 'forgetIdentity':
        identityCache.forget(op.nonce);
        break;
    }
  }
}

/** The directory as one consistent snapshot: its tables and the newest event ids it reflects. */
export interface DirectorySnapshot {
  readonly users: UserRow[];
  readonly tombstones: { id: string; user_name: string; external_id: string | null; emails: string[] }[];
  readonly groups: GroupRow[];
  readonly members: MemberRow[];
  readonly revs: { kind: 'subject' | 'app'; key: string; not_before: string | number }[];
  /** The newest event ids, newest first. */
  readonly recent: { id: string }[];
}

/** Reads the snapshot in one transaction (REPEATABLE READ on PostgreSQL). */
export function readSnapshot(driver: SqlDriver): Promise<DirectorySnapshot> {
  return driver.transaction(async (tx) => {
    if (driver.kind === 'postgres') await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const users = await tx.query<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users`);
    const tombstones = await tx.query<{ id: string; user_name: string; external_id: string | null; emails: string[] }>(
      'SELECT id, user_name, external_id, emails FROM scim_user_tombstones',
    );
    const groups = await tx.query<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups`);
    const members = await tx.query<MemberRow>('SELECT group_id, member_id, member_type FROM scim_memberships');
    const revs = await tx.query<{ kind: 'subject' | 'app'; key: string; not_before: string | number }>('SELECT kind, key, not_before FROM scim_revocations');
    // Events visible in this snapshot are already reflected: never apply them again.
    const recent = await tx.query<{ id: string }>(`SELECT id::text AS id FROM scim_events ORDER BY id DESC LIMIT ${APPLIED_MEMORY}`);
    return { users, tombstones, groups, members, revs, recent };
  });
}

/** Replaces the index and the revocations with the snapshot's. */
export function loadSnapshot(ctx: Pick<StoreContext, 'index' | 'revocationSet'>, snapshot: DirectorySnapshot): void {
  const { index, revocationSet } = ctx;
  index.load({
    users: [
      ...snapshot.users.map((r) => toDirectoryUser(r.id, userRowColumns(r))),
      ...snapshot.tombstones.map((r) => toTombstone(r.id, { userName: r.user_name, externalId: r.external_id ?? undefined, emails: r.emails })),
    ],
    groups: snapshot.groups.map((r) =>
      toDirectoryGroup(r.id, { displayName: r.display_name, externalId: r.external_id ?? undefined, email: r.email ?? undefined }),
    ),
    memberships: snapshot.members.map((m) => ({ groupId: m.group_id, memberId: m.member_id })),
  });
  revocationSet.clear();
  for (const r of snapshot.revs) revocationSet.add(r.kind, r.key, Number(r.not_before));
}
