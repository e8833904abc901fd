import type { GroupRef } from '../types.js';

/**
 * A user as the directory holds it (from SCIM). `id` is the directory's own id
 * (the SCIM `id`); `externalId` is what Entra sent (often the Entra object id,
 * or `mailNickname` with Entra's default mapping).
 */
export interface DirectoryUser {
  id: string;
  externalId?: string;
  userName: string;
  /** All email values, as sent. */
  emails: string[];
  displayName?: string;
  active: boolean;
  /**
   * A tombstone: the directory deleted this user (SCIM `DELETE`, or a seat removed by
   * `seat_deprovision`) and remembers it, so a deleted user is refused rather than unknown.
   * A tombstone is always `active: false` and holds no memberships.
   */
  deleted?: boolean;
}

/** A group as the directory holds it. `externalId` is the Entra group Object Id when Entra provisioned it. */
export interface DirectoryGroup {
  id: string;
  externalId?: string;
  displayName: string;
  email?: string;
}

/** Look-up keys for a user; the first that matches wins, in this order. */
export interface UserLookup {
  /** Entra object id, matched against `externalId` (case-insensitive). */
  oid?: string;
  /** Matched against `userName` (case-insensitive, as SCIM's `caseExact: false`). */
  userName?: string;
  /** Matched against any of the user's emails (case-insensitive). */
  email?: string;
}

/** Look-up keys for a group. */
export interface GroupLookup {
  id?: string;
  /** Entra object id, matched against `externalId` (case-insensitive). */
  externalId?: string;
  /** Matched case-insensitively. */
  displayName?: string;
}

/**
 * The in-memory directory: users, groups, and direct memberships (user → group
 * and group → group, as SCIM delivers them: a nested group is a member of its
 * parent). Pure: no I/O, no clock.
 *
 * Every answer is transitive; cycles are tolerated (a group appears once);
 * depth is unbounded. Changes are incremental (no rebuild).
 */
export interface DirectoryIndex {
  upsertUser(user: DirectoryUser): void;
  /** Removes the user and its memberships. */
  removeUser(id: string): void;
  upsertGroup(group: DirectoryGroup): void;
  /** Removes the group, its memberships and the memberships of others in it. */
  removeGroup(id: string): void;
  /** Adds a direct membership; `memberId` is a user id or a group id (directory ids). Idempotent. */
  addMember(groupId: string, memberId: string): void;
  /** Removes a direct membership. Idempotent. */
  removeMember(groupId: string, memberId: string): void;
  /** Replaces a group's direct members with exactly these. */
  setMembers(groupId: string, memberIds: readonly string[]): void;

  getUser(id: string): DirectoryUser | undefined;
  getGroup(id: string): DirectoryGroup | undefined;
  findUser(lookup: UserLookup): DirectoryUser | undefined;
  findGroup(lookup: GroupLookup): DirectoryGroup | undefined;

  /**
   * All groups of a user, transitively, as `GroupRef`s whose `id` is the Entra
   * object id (`externalId`) when known, else the directory id. The array is
   * shared and must not be mutated.
   */
  groupsOfUser(userId: string): readonly GroupRef[];
  /** All users in a group, transitively (directory ids). */
  usersInGroup(groupId: string): readonly string[];
  /** Direct members of a group (user and group directory ids). */
  directMembers(groupId: string): readonly string[];

  readonly size: { users: number; groups: number; memberships: number };

  /**
   * Replaces the whole content with a snapshot in one pass (no per-edge
   * invalidation), then computes every group's ancestor closure. Use it to build
   * the index from the store at start-up; use the incremental methods afterwards.
   */
  load(snapshot: DirectorySnapshot): void;
}

/** One direct membership: `memberId` (a user or a group, directory ids) is a member of `groupId`. */
export interface DirectoryMembership {
  groupId: string;
  memberId: string;
}

/** Everything a directory holds, as the store reads it back. */
export interface DirectorySnapshot {
  users?: Iterable<DirectoryUser>;
  groups?: Iterable<DirectoryGroup>;
  memberships?: Iterable<DirectoryMembership>;
}
