/**
 * SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's attributes: paths with
 * value filters, sub-attributes and URNs, pathless operations. Reading the body
 * is `patch-request.ts`, the read-only attributes `patch-read-only.ts`, a group's
 * members `patch-members.ts`; this module re-exports them.
 */
import type { JsonObject, JsonValue } from '../store/index.js';
import { matchesFilter, parseAttrWord, type AttrPath, type ScimFilter } from './filter.js';
import { guardReadOnly, type ReadOnlyState } from './patch-read-only.js';
import { describe, invalidPath, invalidValue, type PatchOperation } from './patch-request.js';
import {
  ENTERPRISE_ATTRIBUTES,
  ENTERPRISE_SCHEMA,
  GROUP_ATTRIBUTES,
  USER_ATTRIBUTES,
  cleanJson,
  coerceValue,
  extensionKey,
  findDef,
  findKey,
  isForbiddenKey,
  isObject,
  isServerOwned,
  newObject,
  type AttributeDef,
} from './schema.js';

export { planGroupPatch } from './patch-members.js';
export type { ReadOnlyState } from './patch-read-only.js';
export { MAX_PATCH_OPERATIONS, parsePatchRequest, type PatchOperation } from './patch-request.js';

/** The attribute of the filter `attr eq "v"` (and `and`s of them): what a new element must carry to match. */
function seedFromFilter(filter: ScimFilter, def: AttributeDef): JsonObject | undefined {
  if (filter.kind === 'and') {
    const l = seedFromFilter(filter.left, def);
    const r = seedFromFilter(filter.right, def);
    return l && r ? Object.assign(newObject(), l, r) : undefined;
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || filter.path.schema || filter.path.sub || filter.path.filter) return undefined;
  const sub = findDef(def.subAttributes ?? [], filter.path.attr);
  if (!sub || filter.value === null) return undefined;
  const seeded = coerceValue(sub, typeof filter.value === 'number' ? String(filter.value) : filter.value, `${def.name}.${sub.name}`);
  if (seeded === undefined) return undefined;
  const out = newObject();
  out[sub.name] = seeded;
  return out;
}

function sameElement(def: AttributeDef, a: JsonValue, b: JsonValue): boolean {
  if (isObject(a) && isObject(b) && typeof a.value === 'string' && typeof b.value === 'string') {
    const exact = findDef(def.subAttributes ?? [], 'value')?.caseExact === true;
    return exact ? a.value === b.value : a.value.toLowerCase() === b.value.toLowerCase();
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

function applyToDef(container: JsonObject, def: AttributeDef, op: PatchOperation['op'], path: AttrPath, value: JsonValue | undefined): void {
  const name = def.name;
  const where = describe(path);
  if (value === undefined && op !== 'remove') return; // explicit nulls are ignored, never a clear
  if (def.multiValued) {
    const current = container[name];
    const items: JsonValue[] = Array.isArray(current) ? [...current] : [];
    const subDef = path.sub !== undefined ? findDef(def.subAttributes ?? [], path.sub) : undefined;
    if (path.sub !== undefined && !subDef) return; // unknown sub-attribute: ignored like unknown attributes
    const matched: number[] = [];
    items.forEach((item, i) => {
      if (!path.filter || (isObject(item) && matchesFilter(path.filter, item))) matched.push(i);
    });
    if (!path.filter && !subDef) {
      if (op === 'replace') {
        const next = coerceValue(def, value ?? [], where);
        if (Array.isArray(next) && next.length > 0) container[name] = next;
        else delete container[name];
      } else if (op === 'add') {
        const next = coerceValue(def, value ?? [], where);
        for (const el of Array.isArray(next) ? next : []) if (!items.some((it) => sameElement(def, it, el))) items.push(el);
        if (items.length > 0) container[name] = items;
      } else if (value === undefined) {
        delete container[name];
      } else {
        // Entra's remove with a value array names what to remove: never a wipe.
        const gone = coerceValue(def, value, where);
        const kept = items.filter((it) => !(Array.isArray(gone) ? gone : []).some((g) => sameElement(def, it, g)));
        if (kept.length > 0) container[name] = kept;
        else delete container[name];
      }
      return;
    }
    if (!subDef) {
      // A filter and no sub-attribute: whole elements.
      if (op === 'remove') {
        const kept = items.filter((_, i) => !matched.includes(i));
        if (kept.length > 0) container[name] = kept;
        else delete container[name];
        return;
      }
      const el = coerceValue(def, value ?? null, where, true);
      if (!isObject(el)) return;
      if (matched.length === 0) {
        const seed = path.filter ? seedFromFilter(path.filter, def) : undefined;
        if (!seed) invalidPath(`patch path \`${where}\` matches no value`, 'noTarget');
        items.push(Object.assign(newObject(), seed, el));
      } else {
        for (const i of matched) items[i] = Object.assign(newObject(), items[i] as JsonObject, el);
      }
      container[name] = items;
      return;
    }
    if (op === 'remove') {
      for (const i of matched) {
        const el = items[i];
        if (isObject(el)) {
          const copy = Object.assign(newObject(), el);
          delete copy[subDef.name];
          items[i] = copy;
        }
      }
      container[name] = items;
      return;
    }
    const v = coerceValue(subDef, value ?? null, where);
    if (matched.length === 0) {
      if (v === undefined) return;
      const seed = path.filter ? seedFromFilter(path.filter, def) : undefined;
      if (!seed) invalidPath(`patch path \`${where}\` matches no value`, 'noTarget');
      seed[subDef.name] = v;
      items.push(seed);
    } else {
      for (const i of matched) {
        const el = items[i];
        const copy = Object.assign(newObject(), isObject(el) ? el : {});
        if (v === undefined) delete copy[subDef.name];
        else copy[subDef.name] = v;
        items[i] = copy;
      }
    }
    container[name] = items;
    return;
  }
  if (path.filter) invalidPath(`patch path \`${where}\` filters a single-valued attribute`);
  if (def.type === 'complex') {
    const existing = container[name];
    if (path.sub !== undefined) {
      const subDef = findDef(def.subAttributes ?? [], path.sub);
      if (!subDef) return;
      const obj = Object.assign(newObject(), isObject(existing) ? existing : {});
      const v = op === 'remove' ? undefined : coerceValue(subDef, value ?? null, where);
      if (v === undefined) delete obj[subDef.name];
      else obj[subDef.name] = v;
      if (Object.keys(obj).length > 0) container[name] = obj;
      else delete container[name];
      return;
    }
    const v = op === 'remove' ? undefined : coerceValue(def, value ?? null, where);
    if (v === undefined) delete container[name];
    else if (name === 'manager' || !isObject(existing)) container[name] = v;
    else container[name] = Object.assign(newObject(), existing, v);
    return;
  }
  if (path.sub !== undefined) invalidPath(`patch path \`${where}\`: \`${def.name}\` has no sub-attributes`);
  // `add` on a single-valued attribute is a replace (RFC 7644 §3.5.2.1); `""` clears.
  const v = op === 'remove' || value === '' ? undefined : coerceValue(def, value ?? null, where);
  if (v === undefined) delete container[name];
  else container[name] = v;
}

function applyPath(
  resource: JsonObject,
  kind: 'User' | 'Group',
  op: PatchOperation['op'],
  path: AttrPath,
  value: JsonValue | undefined,
  state: ReadOnlyState | undefined,
): void {
  if (isForbiddenKey(path.attr) || (path.sub !== undefined && isForbiddenKey(path.sub))) invalidPath(`patch path \`${describe(path)}\` is not permitted`);
  if (guardReadOnly(kind, op, path, value, state)) return;
  if (path.schema === undefined) {
    const def = findDef(kind === 'User' ? USER_ATTRIBUTES : GROUP_ATTRIBUTES, path.attr);
    // Other server-owned attributes (`schemas`, write-only `password`, which is never stored) and unknown ones are ignored, as in POST.
    if (!def || isServerOwned(path.attr)) return;
    applyToDef(resource, def, op, path, value);
    return;
  }
  const key = extensionKey(resource, path.schema);
  if (isForbiddenKey(key)) invalidPath('patch path schema is not permitted');
  const existing = resource[key];
  const container = Object.assign(newObject(), isObject(existing) ? existing : {});
  if (kind === 'User' && key === ENTERPRISE_SCHEMA) {
    const def = findDef(ENTERPRISE_ATTRIBUTES, path.attr);
    if (!def) return;
    applyToDef(container, def, op, path, value);
  } else {
    // A custom extension: free-form attributes stored as sent.
    if (path.filter) invalidPath(`patch path \`${describe(path)}\`: value filters are not supported on extension attributes`);
    const name = findKey(container, path.attr) ?? path.attr;
    const cleaned = value === undefined ? undefined : cleanJson(value);
    if (path.sub !== undefined) {
      const inner = Object.assign(newObject(), isObject(container[name]) ? (container[name] as JsonObject) : {});
      const subName = findKey(inner, path.sub) ?? path.sub;
      if (op === 'remove' || cleaned === undefined || cleaned === '') delete inner[subName];
      else inner[subName] = cleaned;
      if (Object.keys(inner).length > 0) container[name] = inner;
      else delete container[name];
    } else if (op === 'remove' || cleaned === '') {
      delete container[name];
    } else if (cleaned !== undefined) {
      container[name] = cleaned;
    }
  }
  if (Object.keys(container).length > 0) resource[key] = container;
  else delete resource[key];
}

function isExtensionObjectKey(key: string, value: JsonValue): boolean {
  if (key.toLowerCase() === ENTERPRISE_SCHEMA.toLowerCase()) return true;
  return isObject(value) && /^urn:.*:(user|group)$/i.test(key);
}

/**
 * Applies PATCH operations to a copy of a resource's attributes and returns it.
 * Handles paths with value filters, sub-attributes and URNs; pathless
 * `add`/`replace` with dotted and URN-prefixed keys; booleans sent as strings;
 * manager as a bare id; `""` as a clear; explicit nulls ignored; unknown
 * attributes ignored. Group members are not handled here (see {@link planGroupPatch}).
 *
 * @throws ScimError `ERR_SCIM_INVALID_PATH`, `ERR_SCIM_INVALID_VALUE`.
 * @example
 * ```ts
 * const next = applyPatch('User', { userName: 'ada' }, parsePatchRequest({
 *   Operations: [{ op: 'replace', value: { 'name.givenName': 'Ada', active: 'False' } }],
 * }));
 * ```
 */
export function applyPatch(kind: 'User' | 'Group', attributes: JsonObject, operations: readonly PatchOperation[], readOnly?: ReadOnlyState): JsonObject {
  const resource = (cleanJson(attributes) as JsonObject | undefined) ?? newObject();
  for (const operation of operations) {
    if (operation.path) {
      applyPath(resource, kind, operation.op, operation.path, operation.value, readOnly);
      continue;
    }
    const value = operation.value;
    if (!isObject(value)) continue;
    for (const [key, v] of Object.entries(value)) {
      if (isForbiddenKey(key)) invalidValue(`patch value key \`${key}\` is not permitted`);
      if (v === null) continue;
      if (isExtensionObjectKey(key, v)) {
        if (!isObject(v)) invalidValue(`patch value \`${key}\` must be an object`);
        for (const [subKey, subValue] of Object.entries(v)) {
          if (isForbiddenKey(subKey)) invalidValue(`patch value key \`${subKey}\` is not permitted`);
          if (subValue === null) continue;
          const path = parseAttrWord(subKey, (m) => invalidPath(`patch value key: ${m}`));
          applyPath(resource, kind, operation.op, { ...path, schema: key }, subValue, readOnly);
        }
        continue;
      }
      const path = parseAttrWord(key, (m) => invalidPath(`patch value key: ${m}`));
      applyPath(resource, kind, operation.op, path, v, readOnly);
    }
  }
  return resource;
}
