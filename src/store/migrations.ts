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
];
