import { groupEmail, userNameKey } from './columns.js';
import type { SqlDriver, SqlExecutor } from './driver.js';
import type { JsonObject } from './types.js';

/**
 * Numbered migrations of the directory schema. Each runs once, in order, inside
 * the transaction that opens the store; `schema_migrations` records what ran.
 *
 * Never edit a released migration: append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** A step in code after `sql`, for values only this package computes (the same function as its writes). */
  run?: (tx: SqlExecutor) => Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'directory',
    sql: `
CREATE TABLE scim_users (
  id text PRIMARY KEY,
  user_name text NOT NULL,
  user_name_lc text NOT NULL,
  external_id text,
  display_name text,
  active boolean NOT NULL DEFAULT true,
  emails_lc text[] NOT NULL DEFAULT '{}',
  work_email_lc text,
  resource jsonb NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  version bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX scim_users_user_name_lc ON scim_users (user_name_lc);
CREATE INDEX scim_users_external_id ON scim_users (external_id);
CREATE INDEX scim_users_emails_lc ON scim_users USING gin (emails_lc);
CREATE INDEX scim_users_work_email_lc ON scim_users (work_email_lc);

CREATE TABLE scim_groups (
  id text PRIMARY KEY,
  display_name text NOT NULL,
  display_name_lc text NOT NULL,
  external_id text,
  resource jsonb NOT NULL,
  created_at text NOT NULL,
  updated_at text NOT NULL,
  version bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX scim_groups_display_name_lc ON scim_groups (display_name_lc);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id);

-- A member is a user or a group (a nesting edge), as SCIM delivers them.
CREATE TABLE scim_memberships (
  group_id text NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
  member_id text NOT NULL,
  member_type text NOT NULL CHECK (member_type IN ('User', 'Group')),
  PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_memberships_member ON scim_memberships (member_id);

CREATE TABLE scim_revocations (
  kind text NOT NULL CHECK (kind IN ('subject', 'app')),
  key text NOT NULL,
  not_before bigint NOT NULL,
  PRIMARY KEY (kind, key)
);

CREATE TABLE scim_events (
  id bigserial PRIMARY KEY,
  at text NOT NULL,
  change jsonb NOT NULL,
  ops jsonb NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'session identities',
    sql: `
-- What a login session's identity_nonce points at (the identity with its groups), shared by
-- every instance. One row per nonce, never updated: identities are immutable per nonce.
-- json (not jsonb): kept as written, and \\u0000 escapes from token claims are accepted.
CREATE TABLE session_identities (
  nonce text PRIMARY KEY,
  identity json NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX session_identities_expires_at ON session_identities (expires_at);
`,
  },
  {
    version: 3,
    name: 'user tombstones',
    sql: `
-- A user the directory deleted (SCIM DELETE, or a seat removed by seat_deprovision), remembered so
-- that the identity pipeline refuses a deleted user rather than treating them as unknown. Written
-- in the delete's transaction; removed when a user with a matching key is written again. SCIM never
-- reads this table. The keys are computed by the store, as scim_users' are.
CREATE TABLE scim_user_tombstones (
  id text PRIMARY KEY,
  user_name text NOT NULL,
  user_name_lc text NOT NULL,
  external_id text,
  external_id_lc text,
  emails text[] NOT NULL DEFAULT '{}',
  emails_lc text[] NOT NULL DEFAULT '{}',
  deleted_at text NOT NULL
);
CREATE INDEX scim_user_tombstones_user_name_lc ON scim_user_tombstones (user_name_lc);
CREATE INDEX scim_user_tombstones_external_id_lc ON scim_user_tombstones (external_id_lc);
CREATE INDEX scim_user_tombstones_emails_lc ON scim_user_tombstones USING gin (emails_lc);
`,
  },
  {
    version: 4,
    name: 'group email',
    sql: `
-- A group's mail, when SCIM sent one (emails, primary else work else first): the index's group email.
ALTER TABLE scim_groups ADD COLUMN email text
`,
    async run(tx) {
      const rows = await tx.query<{ id: string; resource: JsonObject }>('SELECT id, resource FROM scim_groups');
      const ids: string[] = [];
      const emails: string[] = [];
      for (const r of rows) {
        const email = groupEmail(r.resource.emails);
        if (email === undefined) continue;
        ids.push(r.id);
        emails.push(email);
      }
      if (ids.length > 0)
        await tx.query('UPDATE scim_groups g SET email = v.email FROM unnest($1::text[], $2::text[]) AS v(id, email) WHERE g.id = v.id', [ids, emails]);
    },
  },
  {
    version: 5,
    name: 'user name key under NFKC case folding',
    sql: '',
    run: foldUserNames,
  },
];

/**
 * Recomputes `user_name_lc` (users and tombstones) with {@link userNameKey}, which replaced a plain
 * `toLowerCase`. Two users whose names fold to one key (`admin` and `ａdmin`, stored before the
 * hardening) cannot both hold it: the one already holding it (its old key was the folded one),
 * else the first created, takes it; the others keep their old key, which no folded look-up
 * produces, so they are found by no `userName` filter and a new user cannot take the name
 * (uniqueness is kept). The operator resolves such a pair in Entra.
 */
async function foldUserNames(tx: SqlExecutor): Promise<void> {
  const users = await tx.query<{ id: string; user_name: string; user_name_lc: string }>(
    'SELECT id, user_name, user_name_lc FROM scim_users ORDER BY created_at, id',
  );
  const folded = new Map(users.map((u) => [u.id, userNameKey(u.user_name)]));
  const holders = users.filter((u) => folded.get(u.id) === u.user_name_lc);
  const movers = users.filter((u) => folded.get(u.id) !== u.user_name_lc);
  // Keys no mover may take: the holders' (kept), and every mover's current one (its fallback). A key
  // taken is never one another row holds now, so the one UPDATE below never collides midway.
  const used = new Set([...holders, ...movers].map((u) => u.user_name_lc));
  const assigned = new Map<string, string>();
  for (const u of movers) {
    const key = folded.get(u.id)!;
    const next = used.has(key) ? u.user_name_lc : key;
    used.add(next);
    assigned.set(u.id, next);
  }
  const moved = movers.filter((u) => assigned.get(u.id) !== u.user_name_lc);
  if (moved.length > 0) {
    await tx.query('UPDATE scim_users u SET user_name_lc = v.k FROM unnest($1::text[], $2::text[]) AS v(id, k) WHERE u.id = v.id', [
      moved.map((u) => u.id),
      moved.map((u) => assigned.get(u.id)!),
    ]);
  }
  const tombstones = await tx.query<{ id: string; user_name: string; user_name_lc: string }>('SELECT id, user_name, user_name_lc FROM scim_user_tombstones');
  const stale = tombstones.filter((t) => userNameKey(t.user_name) !== t.user_name_lc);
  if (stale.length > 0) {
    await tx.query('UPDATE scim_user_tombstones t SET user_name_lc = v.k FROM unnest($1::text[], $2::text[]) AS v(id, k) WHERE t.id = v.id', [
      stale.map((t) => t.id),
      stale.map((t) => userNameKey(t.user_name)),
    ]);
  }
}

/** Runs the pending migrations in one transaction, under a lock two instances starting together share. */
export async function migrate(driver: SqlDriver, lockKey: string): Promise<void> {
  await driver.transaction(async (tx) => {
    // Two instances starting together must not run the same migration twice.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`entragate:migrate:${lockKey}`]);
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of m.sql
        .split(/;\s*\n/)
        .map((s) => s.trim())
        .filter((s) => s && !/^--[^\n]*$/.test(s))) {
        await tx.query(statement);
      }
      if (m.run) await m.run(tx);
      await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
    }
  });
}
