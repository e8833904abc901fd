/*
 * Values the store derives from SCIM attributes into its own columns, and its rows read back as
 * resources and index entries. Pure: the writes, the reload and the migrations that recompute the
 * columns for existing rows share them, so they cannot drift.
 */
import type { DirectoryGroup, DirectoryUser } from '../directory/index.js';
import { ScimError } from '../errors/index.js';
import type { JsonObject, JsonValue, StoredResource } from './types.js';

/**
 * A group's mail from its SCIM `emails` (multi-valued as a user's: Entra sends it only with
 * a custom mapping of the group's `mail`, e.g. to `emails[type eq "work"].value`): the
 * primary value, else the `work` one, else the first.
 */
export function groupEmail(emails: JsonValue | undefined): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  let work: string | undefined;
  let first: string | undefined;
  for (const e of emails) {
    if (e === null || typeof e !== 'object' || Array.isArray(e) || typeof e.value !== 'string' || e.value.trim() === '') continue;
    if (e.primary === true) return e.value;
    if (work === undefined && typeof e.type === 'string' && e.type.toLowerCase() === 'work') work = e.value;
    first ??= e.value;
  }
  return work ?? first;
}

export { userNameKey } from '../directory/user-name.js';

export interface UserRow {
  id: string;
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  active: boolean;
  resource: JsonObject;
  created_at: string;
  updated_at: string;
  version: string | number;
}
export interface GroupRow {
  id: string;
  display_name: string;
  external_id: string | null;
  email: string | null;
  resource: JsonObject;
  created_at: string;
  updated_at: string;
  version: string | number;
}
export interface MemberRow {
  group_id: string;
  member_id: string;
  member_type: 'User' | 'Group';
}

export const USER_COLUMNS = 'id, user_name, external_id, display_name, active, resource, created_at, updated_at, version';
export const GROUP_COLUMNS = 'id, display_name, external_id, email, resource, created_at, updated_at, version';

export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function lower(values: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const v of values) if (v.trim() !== '') out.add(v.trim().toLowerCase());
  return [...out];
}

export function emailValues(emails: JsonValue | undefined): string[] {
  if (!Array.isArray(emails)) return [];
  const out: string[] = [];
  for (const e of emails) {
    if (e !== null && typeof e === 'object' && !Array.isArray(e) && typeof e.value === 'string' && e.value !== '') out.push(e.value);
  }
  return out;
}

export function workEmail(emails: JsonValue | undefined): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  for (const e of emails) {
    if (
      e !== null &&
      typeof e === 'object' &&
      !Array.isArray(e) &&
      typeof e.value === 'string' &&
      typeof e.type === 'string' &&
      e.type.toLowerCase() === 'work'
    )
      return e.value;
  }
  return undefined;
}

export interface UserColumns {
  userName: string;
  externalId: string | undefined;
  displayName: string | undefined;
  active: boolean;
  emails: string[];
  workEmail: string | undefined;
}

/** Reads the indexed columns from canonical attributes; the SCIM layer has already checked types. */
export function userColumns(a: JsonObject): UserColumns {
  const userName = a.userName;
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'attribute `userName` is required and must be a non-empty string', { scimType: 'invalidValue' });
  }
  return {
    userName,
    externalId: typeof a.externalId === 'string' && a.externalId !== '' ? a.externalId : undefined,
    displayName: typeof a.displayName === 'string' ? a.displayName : undefined,
    active: a.active === undefined || a.active === true,
    emails: emailValues(a.emails),
    workEmail: workEmail(a.emails),
  };
}

export interface GroupColumns {
  displayName: string;
  externalId: string | undefined;
  /** The group's mail, when SCIM sent one (see {@link groupEmail}). */
  email: string | undefined;
}

export function groupColumns(a: JsonObject): GroupColumns {
  const displayName = a.displayName;
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'attribute `displayName` is required and must be a non-empty string', { scimType: 'invalidValue' });
  }
  return { displayName, externalId: typeof a.externalId === 'string' && a.externalId !== '' ? a.externalId : undefined, email: groupEmail(a.emails) };
}

export function toDirectoryUser(id: string, c: UserColumns): DirectoryUser {
  const user: DirectoryUser = { id, userName: c.userName, emails: c.emails, active: c.active };
  if (c.externalId !== undefined) user.externalId = c.externalId;
  if (c.displayName !== undefined) user.displayName = c.displayName;
  return user;
}

export function toDirectoryGroup(id: string, c: GroupColumns): DirectoryGroup {
  const group: DirectoryGroup = { id, displayName: c.displayName };
  if (c.externalId !== undefined) group.externalId = c.externalId;
  if (c.email !== undefined) group.email = c.email;
  return group;
}

/** A deleted user as the index holds it: refused by the identity pipeline, never in a group. */
export function toTombstone(id: string, c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): DirectoryUser {
  const user: DirectoryUser = { id, userName: c.userName, emails: c.emails, active: false, deleted: true };
  if (c.externalId !== undefined) user.externalId = c.externalId;
  return user;
}

/** Subjects a user's sessions are revoked under: its Entra id (`externalId`), `userName` and emails, lower-cased. */
export function userSubjects(c: Pick<UserColumns, 'userName' | 'externalId' | 'emails'>): string[] {
  return lower([c.userName, ...(c.externalId ? [c.externalId] : []), ...c.emails]);
}

export function userRowColumns(row: UserRow): UserColumns {
  return {
    userName: row.user_name,
    externalId: row.external_id ?? undefined,
    displayName: row.display_name ?? undefined,
    active: row.active,
    emails: emailValues(row.resource.emails),
    workEmail: workEmail(row.resource.emails),
  };
}

export function toStored(row: UserRow | GroupRow): StoredResource {
  return { id: row.id, attributes: row.resource, created: row.created_at, lastModified: row.updated_at, version: Number(row.version) };
}

/** Top-level attribute names whose JSON differs. */
export function changedAttributes(before: JsonObject, after: JsonObject): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: string[] = [];
  for (const n of names) if (JSON.stringify(before[n]) !== JSON.stringify(after[n])) out.push(n);
  return out;
}

export function uniqueness(err: unknown, message: string): never {
  if (pgCode(err) === '23505') throw new ScimError('ERR_SCIM_UNIQUENESS', message, { scimType: 'uniqueness' });
  throw err;
}

export function notFound(type: 'User' | 'Group', id: string): never {
  throw new ScimError('ERR_SCIM_NOT_FOUND', `${type.toLowerCase()} \`${id}\` not found`);
}
