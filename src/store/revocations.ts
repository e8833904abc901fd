/*
 * Session revocations: the statements that raise them inside a write, the subjects a user is
 * revoked under, and `store.revocations`.
 */
import { ConfigError } from '../errors/index.js';
import { lower, userSubjects } from './columns.js';
import { nowSeconds, type IndexOp, type Statement, type StoreContext, type Write } from './context.js';
import type { SqlExecutor } from './driver.js';
import { affectedUsers } from './memberships.js';
import type { RevocationQuery } from '../session/revocation-set.js';
import type { DirectoryChange, ProvisioningPolicy, RevocationReason, Revocations } from './types.js';

/** Raises the revocations of these keys to `notBefore` (never lowers one). */
export function revokeStatement(kind: 'subject' | 'app', keys: string[], notBefore: number): Statement {
  return {
    sql: `INSERT INTO scim_revocations (kind, key, not_before) SELECT $1, k, $3 FROM unnest($2::text[]) AS k
     ON CONFLICT (kind, key) DO UPDATE SET not_before = GREATEST(scim_revocations.not_before, excluded.not_before)`,
    params: [kind, keys, notBefore],
  };
}

/** Runs {@link revokeStatement} in the write's transaction. */
export async function revoke(tx: SqlExecutor, kind: 'subject' | 'app', keys: string[], notBefore: number): Promise<void> {
  if (keys.length === 0) return;
  const statement = revokeStatement(kind, keys, notBefore);
  await tx.query(statement.sql, statement.params);
}

/** The revocation subjects of these users (see `userSubjects`). */
export async function subjectsOf(tx: SqlExecutor, userIds: readonly string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await tx.query<{ user_name: string; external_id: string | null; emails_lc: string[] }>(
    'SELECT user_name, external_id, emails_lc FROM scim_users WHERE id = ANY($1::text[])',
    [userIds],
  );
  return lower(rows.flatMap((r) => userSubjects({ userName: r.user_name, externalId: r.external_id ?? undefined, emails: r.emails_lc })));
}

/**
 * Under `identity_update_behavior: 'reauth'`, revokes the sessions of every user whose transitive
 * groups these member changes alter (the users, and every user under the groups), in the write's
 * transaction, and adds the op. Nothing otherwise.
 */
export async function reauthRevocation(
  ctx: Pick<StoreContext, 'now'>,
  tx: SqlExecutor,
  policy: ProvisioningPolicy,
  userIds: readonly string[],
  groupIds: readonly string[],
  ops: IndexOp[],
): Promise<DirectoryChange['revocation']> {
  if (policy.identityUpdateBehavior !== 'reauth' || (userIds.length === 0 && groupIds.length === 0)) return undefined;
  const subjects = await subjectsOf(tx, await affectedUsers(tx, userIds, groupIds));
  if (subjects.length === 0) return undefined;
  const notBefore = nowSeconds(ctx);
  await revoke(tx, 'subject', subjects, notBefore);
  ops.push({ op: 'revoke', kind: 'subject', keys: subjects, notBefore });
  return { subjects, notBefore, reason: 'reauth' };
}

/** The `revocation` of a change. */
export function revocationOf(subjects: string[], notBefore: number, reason: RevocationReason): NonNullable<DirectoryChange['revocation']> {
  return { subjects, notBefore, reason };
}

function checkNotBefore(notBefore: number): void {
  if (!Number.isSafeInteger(notBefore) || notBefore < 0) {
    throw new ConfigError('ERR_CONFIG_INVALID', `revocation \`notBefore\` must be Unix seconds, got \`${String(notBefore)}\``);
  }
}

/**
 * `store.revocations`: revocations written through the event log (so every instance applies them),
 * read from this instance's memory.
 */
export function createRevocations(ctx: StoreContext, write: Write, isFresh: () => boolean): Revocations {
  const { revocationSet } = ctx;
  return {
    async revokeUser(subjects: readonly string[], notBefore: number): Promise<void> {
      checkNotBefore(notBefore);
      const keys = lower(subjects.filter((s): s is string => typeof s === 'string'));
      if (keys.length === 0) return;
      await write(async (tx, log) => {
        await revoke(tx, 'subject', keys, notBefore);
        await log({ resourceType: 'Revocation', operation: 'revoke', changedAttributes: [], revocation: { subjects: keys, notBefore, reason: 'api' } }, [
          { op: 'revoke', kind: 'subject', keys, notBefore },
        ]);
        return undefined;
      });
    },
    async revokeApp(appId: string, notBefore: number): Promise<void> {
      checkNotBefore(notBefore);
      const key = typeof appId === 'string' ? appId.trim().toLowerCase() : '';
      if (key === '') throw new ConfigError('ERR_CONFIG_INVALID', 'revocation `appId` must be a non-empty string');
      await write(async (tx, log) => {
        await revoke(tx, 'app', [key], notBefore);
        await log(
          { resourceType: 'Revocation', operation: 'revoke', changedAttributes: [], revocation: { subjects: [], appId: key, notBefore, reason: 'api' } },
          [{ op: 'revoke', kind: 'app', keys: [key], notBefore }],
        );
        return undefined;
      });
    },
    // A revocation held here answers `true` even when stale (revocations only move forward);
    // a "no" from an instance that may have missed writes is `'unknown'`.
    isRevoked: (session: RevocationQuery): boolean | 'unknown' => revocationSet.isRevoked(session) || (isFresh() ? false : 'unknown'),
  };
}
