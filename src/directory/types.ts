import type { GroupRef } from '../types.js';

/**
 * A user as the directory holds it (from SCIM). `id` is the directory's own id
 * (the SCIM `id`); `externalId` is what Entra sent (often the Entra object id,
 * or `mailNickname` with Entra's default mapping).
 */
export interface DirectoryUser {
  /** The directory's own id (the SCIM `id` the store assigned), which memberships name; not the Entra object id. */
  id: string;
  /** What Entra sent as `externalId`: the user's object id with the usual mapping (`objectId`), or `mailNickname` with Entra's default one. Absent when Entra sent none. */
  externalId?: string;
  /** The SCIM `userName` (usually the UPN), found under NFKC case folding (`ａdmin` finds `admin`). */
  userName: string;
  /** All email values, as sent. */
  emails: string[];
  /** The user's display name, as sent; absent when Entra sent none. Not read by any lookup. */
  displayName?: string;
  /** The SCIM `active` flag: `false` once Entra deprovisions the user. The index answers for inactive users too; the directory group source refuses them. */
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
  /** The directory's own id (the SCIM `id`), which memberships name. */
  id: string;
  /** The Entra group Object Id when Entra provisioned the group (what `azureAD` rules name); absent when none was sent, and then group refs carry the directory `id`. */
  externalId?: string;
  /** The group's display name, as sent: the `name` of its group refs, found case-insensitively by `findGroup`. */
  displayName: string;
  /** The group's mail, only when SCIM sent one (Entra's default mapping sends none): the `email` of its group refs. */
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
  /** The directory's own id, matched exactly; tried first. */
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
  /** Adds a user, or replaces the one with the same `id` (a copy is kept; its memberships stay). Upserting a tombstone drops the user's memberships, pending ones included. */
  upsertUser(user: DirectoryUser): void;
  /** Removes the user and its memberships. */
  removeUser(id: string): void;
  /** Adds a group, or replaces the one with the same `id` (a copy is kept; its memberships stay); users below it see the new name or mail in their next answer. */
  upsertGroup(group: DirectoryGroup): void;
  /** Removes the group, its memberships and the memberships of others in it. */
  removeGroup(id: string): void;
  /** Adds a direct membership; `memberId` is a user id or a group id (directory ids). Idempotent. */
  addMember(groupId: string, memberId: string): void;
  /** Removes a direct membership. Idempotent. */
  removeMember(groupId: string, memberId: string): void;
  /** Replaces a group's direct members with exactly these. */
  setMembers(groupId: string, memberIds: readonly string[]): void;

  /** The user with this directory `id`, tombstones included (check `deleted`); `undefined` when none. The stored object: do not mutate it. */
  getUser(id: string): DirectoryUser | undefined;
  /** The group with this directory `id`; `undefined` when none. The stored object: do not mutate it. */
  getGroup(id: string): DirectoryGroup | undefined;
  /** The user the first matching key finds (`oid`, then `userName`, then `email`); a key two users share finds nothing. A tombstone is found only when no live user holds the key. */
  findUser(lookup: UserLookup): DirectoryUser | undefined;
  /** The group the first matching key finds (`id`, then `externalId`, then `displayName`); a key two groups share finds nothing. */
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

  /** How much the index holds, as a new object: users (tombstones counted), groups, and direct memberships (pending ones not counted). */
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
  /** The parent group's directory id. */
  groupId: string;
  /** The member's directory id: a user, or a nested group. */
  memberId: string;
}

/** Everything a directory holds, as the store reads it back. */
export interface DirectorySnapshot {
  /** Every user, tombstones included. @defaultValue none */
  users?: Iterable<DirectoryUser>;
  /** Every group. @defaultValue none */
  groups?: Iterable<DirectoryGroup>;
  /** Every direct membership, in any order; one naming an id the snapshot lacks is kept pending. @defaultValue none */
  memberships?: Iterable<DirectoryMembership>;
}
