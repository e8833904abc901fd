/**
 * The read-only attributes a PATCH may name but never change (RFC 7643 §3.1 `id`
 * and `meta`, §4.1.2 a user's `groups`). Split from `patch.ts`, which re-exports it.
 */
import type { JsonObject, JsonValue } from '../store/index.js';
import type { AttrPath } from './filter.js';
import { describe, mutability, type PatchOperation } from './patch-request.js';
import { findKey, isObject } from './schema.js';

/**
 * The read-only attributes of the resource a PATCH targets, as the handler renders
 * them (RFC 7643 §3.1: `id` and `meta` are `readOnly`): what an operation on them is
 * compared with.
 */
export interface ReadOnlyState {
  /** The resource's `id` as the handler renders it (the store's id, not Entra's `externalId`). */
  id: string;
  /** `resourceType`, `created`, `lastModified`, `location`, `version`, as rendered. */
  meta: JsonObject;
}

/** `meta` sub-attributes holding instants: compared as instants, so `…00Z` and `…00.000Z` are the same value. */
const META_INSTANTS = new Set(['created', 'lastmodified']);

function sameMeta(sub: string, current: JsonValue | undefined, sent: JsonValue): boolean {
  if (typeof current !== 'string' || typeof sent !== 'string') return false;
  if (!META_INSTANTS.has(sub.toLowerCase())) return current === sent;
  const a = Date.parse(current);
  return !Number.isNaN(a) && a === Date.parse(sent);
}

/**
 * Guards the read-only attributes (RFC 7643 §3.1 `id` and `meta`, §4.1.2 a user's
 * `groups`). RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has
 * mutability "readOnly" or "immutable"", and such an operation is answered with an
 * error, `scimType: "mutability"` (§3.12). A value equal to the current one is not a
 * modification (clients echo what they read), so it passes as a no-op; Entra never
 * sends these attributes. Returns whether `path` named a read-only attribute.
 *
 * INVARIANT: without the current state, every operation on a read-only attribute is
 * refused: an unprovable "unchanged" is not assumed.
 */
export function guardReadOnly(
  kind: 'User' | 'Group',
  op: PatchOperation['op'],
  path: AttrPath,
  value: JsonValue | undefined,
  state: ReadOnlyState | undefined,
): boolean {
  if (path.schema !== undefined) return false;
  const attr = path.attr.toLowerCase();
  if (attr !== 'id' && attr !== 'meta' && !(attr === 'groups' && kind === 'User')) return false;
  // An explicit null (the value dropped by `parsePatchRequest`) is ignored, never a clear, as everywhere else.
  if (value === undefined && op !== 'remove') return true;
  const where = describe(path);
  if (attr === 'id') {
    if (op === 'remove' || path.sub !== undefined || path.filter || state === undefined || value !== state.id)
      mutability(`attribute \`${where}\` is read-only: it cannot be changed`);
    return true;
  }
  if (attr === 'meta') {
    if (op === 'remove' || path.filter || state === undefined) mutability(`attribute \`${where}\` is read-only: it cannot be changed`);
    const sent: [string, JsonValue][] = path.sub !== undefined ? [[path.sub, value!]] : isObject(value) ? Object.entries(value) : [['', value!]];
    for (const [sub, v] of sent) {
      if (v === null) continue; // explicit nulls are "no value" everywhere in a PATCH
      const key = sub === '' ? undefined : findKey(state.meta, sub);
      if (key === undefined || !sameMeta(key, state.meta[key], v))
        mutability(`attribute \`meta${sub === '' ? '' : `.${sub}`}\` is read-only: it cannot be changed`);
    }
    return true;
  }
  // A user's groups follow from the groups' members (RFC 7643 §4.1.2): they change there.
  if (op === 'remove' || !(Array.isArray(value) && value.length === 0))
    mutability(`attribute \`${where}\` is read-only: change a user's groups through the group's \`members\``);
  return true;
}
