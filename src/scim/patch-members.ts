/**
 * A group PATCH's `members` operations, planned as the store's row inserts and
 * deletes. Split from `patch.ts`, which re-exports it.
 */
import type { JsonValue, MemberOp } from '../store/index.js';
import { matchesFilter, type ScimFilter } from './filter.js';
import { describe, getCi, invalidPath, invalidValue, type PatchOperation } from './patch-request.js';
import { isForbiddenKey, isObject, newObject } from './schema.js';

function memberIds(value: JsonValue | undefined, where: string): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => {
    const v = isObject(item) ? getCi(item, 'value') : item;
    if (typeof v !== 'string' || v === '') invalidValue(`\`${where}\` members must be objects with a string \`value\``);
    return v;
  });
}

/** `value eq "x"` (or `or`s of them): the ids it names, or undefined for any other filter. */
function idsOfFilter(filter: ScimFilter): string[] | undefined {
  if (filter.kind === 'or') {
    const l = idsOfFilter(filter.left);
    const r = idsOfFilter(filter.right);
    return l && r ? [...l, ...r] : undefined;
  }
  if (
    filter.kind === 'compare' &&
    filter.op === 'eq' &&
    !filter.path.schema &&
    !filter.path.sub &&
    !filter.path.filter &&
    filter.path.attr.toLowerCase() === 'value' &&
    typeof filter.value === 'string'
  ) {
    return [filter.value];
  }
  return undefined;
}

/**
 * Splits a group PATCH into attribute operations and member operations the store
 * runs as row inserts and deletes (so concurrent PATCHes never lose a member).
 *
 * INVARIANT: `remove` on `members` with a `value` removes exactly those members;
 * only a `remove` with neither a value nor a filter removes them all (RFC 7644).
 *
 * @example
 * ```ts
 * const { memberOps } = planGroupPatch(parsePatchRequest({
 *   Operations: [{ op: 'Remove', path: 'members', value: [{ value: 'u1' }] }],
 * })); // [{ op: 'remove', ids: ['u1'] }]
 * ```
 */
export function planGroupPatch(operations: readonly PatchOperation[]): { attributeOps: PatchOperation[]; memberOps: MemberOp[] } {
  const attributeOps: PatchOperation[] = [];
  const memberOps: MemberOp[] = [];
  const memberOp = (op: PatchOperation['op'], value: JsonValue | undefined, where: string): void => {
    if (op === 'add') memberOps.push({ op: 'add', ids: memberIds(value, where) });
    else if (op === 'replace') memberOps.push({ op: 'set', ids: memberIds(value, where) });
    else if (value === undefined) memberOps.push({ op: 'removeAll' });
    else memberOps.push({ op: 'remove', ids: memberIds(value, where) });
  };
  for (const operation of operations) {
    const path = operation.path;
    if (path && !path.schema && path.attr.toLowerCase() === 'members') {
      if (path.sub !== undefined) invalidPath(`patch path \`${describe(path)}\` is not supported on members`);
      if (!path.filter) {
        memberOp(operation.op, operation.value, 'members');
        continue;
      }
      if (operation.op !== 'remove') invalidPath(`patch path \`${describe(path)}\`: only remove takes a members filter`);
      const ids = idsOfFilter(path.filter);
      const filter = path.filter;
      if (ids) memberOps.push({ op: 'remove', ids });
      else memberOps.push({ op: 'removeWhere', match: (m) => matchesFilter(filter, Object.assign(newObject(), { value: m.value, type: m.type })) });
      continue;
    }
    if (!path && isObject(operation.value)) {
      const rest = newObject();
      for (const [key, v] of Object.entries(operation.value)) {
        if (isForbiddenKey(key)) invalidValue(`patch value key \`${key}\` is not permitted`);
        if (key.toLowerCase() === 'members') {
          if (v !== null) memberOp(operation.op, v, 'members');
        } else rest[key] = v;
      }
      if (Object.keys(rest).length > 0) attributeOps.push({ op: operation.op, value: rest });
      continue;
    }
    attributeOps.push(operation);
  }
  return { attributeOps, memberOps };
}
