/*
 * Tombstones: the users the directory deleted (SCIM DELETE, or a seat removed by
 * `seat_deprovision`), remembered in `scim_user_tombstones` so that the identity pipeline refuses
 * a deleted user rather than treating them as unknown. Written in the delete's transaction,
 * removed by the write of a live user that brings one of their keys; SCIM never reads them.
 */
import { lower, userNameKey, type UserColumns } from './columns.js';
import type { Statement } from './context.js';

/** Writes the tombstone of user `id` (its keys as last stored), in the delete's transaction. */
export function tombstoneStatement(id: string, c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>, at: string): Statement {
  return {
    sql: `INSERT INTO scim_user_tombstones (id, user_name, user_name_lc, external_id, external_id_lc, emails, emails_lc, deleted_at)
          VALUES ($1, $2, $3, $4, $5, $6::text[], $7::text[], $8)
          ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, external_id = excluded.external_id,
            external_id_lc = excluded.external_id_lc, emails = excluded.emails, emails_lc = excluded.emails_lc, deleted_at = excluded.deleted_at`,
    params: [id, c.userName, userNameKey(c.userName), c.externalId ?? null, c.externalId?.toLowerCase() ?? null, c.emails, lower(c.emails), at],
  };
}

/** The keys a user is matched to a tombstone by. */
export interface TombstoneKeys {
  userName: string | undefined;
  externalId: string | undefined;
  emails: string[];
}

/** The keys of a user as they are stored (folded `userName`, lower-cased `externalId` and emails). */
export function tombstoneKeys(c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): TombstoneKeys {
  return { userName: userNameKey(c.userName), externalId: c.externalId?.toLowerCase(), emails: lower(c.emails) };
}

/** The keys `after` holds that `before` did not: what a replace or a patch brings to the directory. */
export function newKeys(before: TombstoneKeys, after: TombstoneKeys): TombstoneKeys {
  return {
    userName: after.userName === before.userName ? undefined : after.userName,
    externalId: after.externalId === before.externalId ? undefined : after.externalId,
    emails: after.emails.filter((e) => !before.emails.includes(e)),
  };
}

/**
 * Removes the tombstones matching any of these keys, fused with the write of a live user that
 * brings them (a create, or a replace or patch that adds a key): the directory holds that user
 * again. Nothing when there is no key.
 */
export function dropTombstonesStatement(keys: TombstoneKeys): Statement | undefined {
  if (keys.userName === undefined && keys.externalId === undefined && keys.emails.length === 0) return undefined;
  return {
    sql: 'DELETE FROM scim_user_tombstones WHERE user_name_lc = $1 OR external_id_lc = $2 OR emails_lc && $3::text[] RETURNING id',
    params: [keys.userName ?? null, keys.externalId ?? null, keys.emails],
    dropsTombstones: true,
  };
}
