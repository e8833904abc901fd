import { ScimError } from '../errors/index.js';
import type { JsonObject, JsonValue, MemberOp } from '../store/index.js';
import { matchesFilter, parseAttrWord, parsePatchPath, type AttrPath, type ScimFilter } from './filter.js';
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

/** One PATCH operation, with `op` lower-cased and `path` parsed. */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path?: AttrPath;
  value?: JsonValue;
}

/**
 * The most operations one PATCH may carry; more is `ERR_SCIM_INVALID_SYNTAX`.
 * @example
 * ```ts
 * import { MAX_PATCH_OPERATIONS } from 'entragate/scim';
 * const fits = operations.length <= MAX_PATCH_OPERATIONS;
 * ```
 */
export const MAX_PATCH_OPERATIONS = 1000;

function syntax(message: string): never {
  throw new ScimError('ERR_SCIM_INVALID_SYNTAX', message, { scimType: 'invalidSyntax' });
}
function invalidPath(message: string, scimType = 'invalidPath'): never {
  throw new ScimError('ERR_SCIM_INVALID_PATH', message, { scimType });
}
function invalidValue(message: string): never {
  throw new ScimError('ERR_SCIM_INVALID_VALUE', message, { scimType: 'invalidValue' });
}
function mutability(message: string): never {
  throw new ScimError('ERR_SCIM_MUTABILITY', message, { scimType: 'mutability' });
}

/**
 * The read-only attributes of the resource a PATCH targets, as the handler renders
 * them (RFC 7643 §3.1: `id` and `meta` are `readOnly`): what an operation on them is
 * compared with.
 */
export interface ReadOnlyState {
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
function guardReadOnly(kind: 'User' | 'Group', op: PatchOperation['op'], path: AttrPath, value: JsonValue | undefined, state: ReadOnlyState | undefined): boolean {
  if (path.schema !== undefined) return false;
  const attr = path.attr.toLowerCase();
  if (attr !== 'id' && attr !== 'meta' && !(attr === 'groups' && kind === 'User')) return false;
  // An explicit null (the value dropped by `parsePatchRequest`) is ignored, never a clear, as everywhere else.
  if (value === undefined && op !== 'remove') return true;
  const where = describe(path);
  if (attr === 'id') {
    if (op === 'remove' || path.sub !== undefined || path.filter || state === undefined || value !== state.id) mutability(`attribute \`${where}\` is read-only: it cannot be changed`);
    return true;
  }
  if (attr === 'meta') {
    if (op === 'remove' || path.filter || state === undefined) mutability(`attribute \`${where}\` is read-only: it cannot be changed`);
    const sent: [string, JsonValue][] = path.sub !== undefined ? [[path.sub, value!]] : isObject(value) ? Object.entries(value) : [['', value!]];
    for (const [sub, v] of sent) {
      if (v === null) continue; // explicit nulls are "no value" everywhere in a PATCH
      const key = sub === '' ? undefined : findKey(state.meta, sub);
      if (key === undefined || !sameMeta(key, state.meta[key], v)) mutability(`attribute \`meta${sub === '' ? '' : `.${sub}`}\` is read-only: it cannot be changed`);
    }
    return true;
  }
  // A user's groups follow from the groups' members (RFC 7643 §4.1.2): they change there.
  if (op === 'remove' || !(Array.isArray(value) && value.length === 0)) mutability(`attribute \`${where}\` is read-only: change a user's groups through the group's \`members\``);
  return true;
}

function getCi(obj: JsonObject, name: string): JsonValue | undefined {
  const key = findKey(obj, name);
  return key === undefined ? undefined : obj[key];
}

/**
 * Reads a PatchOp body: `Operations` (any case), `op` in any case
 * (`Add`/`Replace`/`Remove` as Entra sends them), `path` parsed, explicit null
 * values kept as "no value". An empty `Operations` array is a no-op.
 *
 * @example
 * ```ts
 * const ops = parsePatchRequest({ Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
 * ```
 */
export function parsePatchRequest(body: JsonValue): PatchOperation[] {
  if (!isObject(body)) syntax('patch body must be a JSON object');
  const operations = getCi(body, 'Operations');
  if (!Array.isArray(operations)) syntax('patch body must have an `Operations` array');
  if (operations.length > MAX_PATCH_OPERATIONS) syntax(`patch has more than ${MAX_PATCH_OPERATIONS} operations`);
  return operations.map((raw, i): PatchOperation => {
    if (!isObject(raw)) syntax(`patch operation ${i + 1} must be an object`);
    const op = getCi(raw, 'op');
    const lower = typeof op === 'string' ? op.toLowerCase() : '';
    if (lower !== 'add' && lower !== 'replace' && lower !== 'remove') syntax(`patch operation ${i + 1} has op \`${String(op).slice(0, 20)}\`: expected add, replace or remove`);
    const rawPath = getCi(raw, 'path');
    let value = getCi(raw, 'value');
    if (rawPath !== undefined && rawPath !== null && typeof rawPath !== 'string') invalidPath(`patch operation ${i + 1} has a non-string path`);
    let path: AttrPath | undefined;
    if (typeof rawPath === 'string' && rawPath.trim() !== '') {
      const trimmed = rawPath.trim();
      if (trimmed.toLowerCase() === ENTERPRISE_SCHEMA.toLowerCase()) {
        // The whole extension as the target: the same as a pathless op keyed by the URN.
        const wrapped = newObject();
        if (value !== undefined) wrapped[ENTERPRISE_SCHEMA] = value;
        value = wrapped;
      } else {
        path = parsePatchPath(trimmed);
      }
    }
    if (path === undefined && lower === 'remove') invalidPath(`patch operation ${i + 1} removes without a path`, 'noTarget');
    if (path === undefined && !isObject(value)) invalidValue(`patch operation ${i + 1} has no path, so its value must be an object`);
    const out: PatchOperation = { op: lower };
    if (path) out.path = path;
    if (value !== undefined && value !== null) out.value = value;
    return out;
  });
}

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

function describe(path: AttrPath): string {
  return `${path.schema ? `${path.schema}:` : ''}${path.attr}${path.filter ? '[…]' : ''}${path.sub ? `.${path.sub}` : ''}`;
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

function applyPath(resource: JsonObject, kind: 'User' | 'Group', op: PatchOperation['op'], path: AttrPath, value: JsonValue | undefined, state: ReadOnlyState | undefined): void {
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
  if (filter.kind === 'compare' && filter.op === 'eq' && !filter.path.schema && !filter.path.sub && !filter.path.filter && filter.path.attr.toLowerCase() === 'value' && typeof filter.value === 'string') {
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
