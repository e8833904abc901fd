/**
 * The writes of `store.identities` that other instances must hear of (a logout, a renewal's
 * replacement): one statement each, with its event in the log and its notification.
 */
import type { IndexOp, PendingChange, StoreContext, Write } from './context.js';

/**
 * Logout: deletes the identity row and, only when there was one, appends an
 * `Identity` deletion event and notifies, in one autocommit statement (so the
 * other instances hear of exactly the deletions that committed). The event's ops
 * carry the nonce (for the other caches); the published change does not.
 *
 * With `replacement` (a renewal), the row is updated instead, only when there still is one, with the
 * same event (`replace`): a session signed out meanwhile is never stored back. Resolves whether a row
 * was deleted or replaced.
 */
export async function removeIdentity(
  ctx: Pick<StoreContext, 'channel' | 'instanceId'>,
  write: Write,
  nonce: string,
  replacement?: { json: string; expiresAt: number },
): Promise<boolean> {
  const { channel, instanceId } = ctx;
  let found = false;
  await write(async (tx, _log, at, record) => {
    const change: PendingChange = { resourceType: 'Identity', operation: replacement === undefined ? 'delete' : 'replace', changedAttributes: [] };
    const ops: IndexOp[] = [{ op: 'forgetIdentity', nonce }];
    const params: unknown[] = [nonce, at, JSON.stringify({ ...change, instance: instanceId }), JSON.stringify(ops)];
    if (channel) params.push(channel, `:${instanceId}`);
    const target =
      replacement === undefined
        ? 'DELETE FROM session_identities WHERE nonce = $1 RETURNING 1'
        : `UPDATE session_identities SET identity = $${params.length + 1}::json, expires_at = $${params.length + 2} WHERE nonce = $1 RETURNING 1`;
    if (replacement !== undefined) params.push(replacement.json, replacement.expiresAt);
    const [row] = await tx.query<{ event_id: string | null }>(
      `WITH d AS (${target}),
            e AS (INSERT INTO scim_events (at, change, ops) SELECT $2, $3::jsonb, $4::jsonb WHERE EXISTS (SELECT 1 FROM d) RETURNING id)
       SELECT (SELECT e.id::text FROM e) AS event_id${channel ? ', (SELECT pg_notify($5, e.id::text || $6) FROM e) AS notified' : ''}`,
      params,
    );
    if (row?.event_id) {
      found = true;
      record(row.event_id, change, ops);
    }
    return undefined;
  }, 'statement');
  return found;
}
