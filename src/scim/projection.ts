/**
 * Listing and projection: which filters the store answers from its indexes, the `attributes` /
 * `excludedAttributes` projection (RFC 7644 §3.9) and the paging parameters.
 */
import { ScimError } from '../errors/index.js';
import type { IndexedKey, JsonObject, JsonValue } from '../store/index.js';
import { parseAttrWord, type AttrPath, type ScimFilter } from './filter.js';
import { findKey, isObject } from './schema.js';

/** Equalities the store answers from indexes; `exact` when they say everything the filter says. */
export function indexedKeys(filter: ScimFilter, kind: 'User' | 'Group'): { keys: IndexedKey[]; exact: boolean } {
  if (filter.kind === 'and') {
    const l = indexedKeys(filter.left, kind);
    const r = indexedKeys(filter.right, kind);
    return { keys: [...l.keys, ...r.keys], exact: l.exact && r.exact };
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || filter.path.schema !== undefined || filter.value === null || typeof filter.value === 'boolean') {
    return { keys: [], exact: false };
  }
  const value = String(filter.value);
  const attr = filter.path.attr.toLowerCase();
  const sub = filter.path.sub?.toLowerCase();
  const none = { keys: [], exact: false };
  if (filter.path.filter) {
    const f = filter.path.filter;
    const isWork =
      kind === 'User' &&
      attr === 'emails' &&
      sub === 'value' &&
      f.kind === 'compare' &&
      f.op === 'eq' &&
      f.path.attr.toLowerCase() === 'type' &&
      !f.path.sub &&
      !f.path.filter &&
      typeof f.value === 'string' &&
      f.value.toLowerCase() === 'work';
    return isWork ? { keys: [{ field: 'workEmail', value }], exact: true } : none;
  }
  if (sub === undefined) {
    if (attr === 'id') return { keys: [{ field: 'id', value }], exact: true };
    if (attr === 'externalid') return { keys: [{ field: 'externalId', value }], exact: true };
    if (attr === 'username' && kind === 'User') return { keys: [{ field: 'userName', value }], exact: true };
    if (attr === 'displayname') return { keys: [{ field: 'displayName', value }], exact: true };
    if (attr === 'emails' && kind === 'User') return { keys: [{ field: 'email', value }], exact: true };
  } else if (attr === 'emails' && sub === 'value' && kind === 'User') {
    return { keys: [{ field: 'email', value }], exact: true };
  }
  return none;
}

export function parseAttributeList(raw: string | null): AttrPath[] | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  return raw.split(',').map((s) =>
    parseAttrWord(s.trim(), (m) => {
      throw new ScimError('ERR_SCIM_INVALID_VALUE', `attribute list: ${m}`, { scimType: 'invalidValue' });
    }),
  );
}

export function pathKey(target: JsonObject, path: AttrPath): { owner: JsonObject; key: string } | undefined {
  let owner: JsonValue | undefined = target;
  if (path.schema) {
    const k = findKey(target, path.schema);
    owner = k === undefined ? undefined : target[k];
  }
  if (!isObject(owner)) return undefined;
  const key = findKey(owner, path.attr);
  return key === undefined ? undefined : { owner, key };
}

/** Applies `attributes` / `excludedAttributes`; `id` and `schemas` are always returned. */
export function project(resource: JsonObject, include: AttrPath[] | undefined, exclude: AttrPath[] | undefined): JsonObject {
  if (include) {
    const out: JsonObject = { schemas: resource.schemas ?? [], id: resource.id ?? '' };
    for (const path of include) {
      const found = pathKey(resource, path);
      if (!found) continue;
      let value = found.owner[found.key]!;
      if (path.sub !== undefined && isObject(value)) {
        const sk = findKey(value, path.sub);
        if (sk === undefined) continue;
        value = { [sk]: value[sk]! };
      }
      if (path.schema) {
        const schemaKey = findKey(resource, path.schema)!;
        const holder = isObject(out[schemaKey]) ? (out[schemaKey] as JsonObject) : {};
        holder[found.key] = isObject(value) && isObject(holder[found.key]) ? { ...(holder[found.key] as JsonObject), ...value } : value;
        out[schemaKey] = holder;
      } else {
        out[found.key] = isObject(value) && isObject(out[found.key]) ? { ...(out[found.key] as JsonObject), ...value } : value;
      }
    }
    return out;
  }
  if (exclude) {
    const out: JsonObject = { ...resource };
    for (const path of exclude) {
      if (!path.schema && (path.attr.toLowerCase() === 'id' || path.attr.toLowerCase() === 'schemas')) continue;
      const found = pathKey(out, path);
      if (!found) continue;
      if (path.schema) {
        const schemaKey = findKey(out, path.schema)!;
        const copy = { ...(out[schemaKey] as JsonObject) };
        delete copy[found.key];
        out[schemaKey] = copy;
      } else if (path.sub !== undefined && isObject(out[found.key])) {
        const copy = { ...(out[found.key] as JsonObject) };
        const sk = findKey(copy, path.sub);
        if (sk !== undefined) delete copy[sk];
        out[found.key] = copy;
      } else {
        delete out[found.key];
      }
    }
    return out;
  }
  return resource;
}

export function wantsMembers(include: AttrPath[] | undefined, exclude: AttrPath[] | undefined): boolean {
  const isMembers = (p: AttrPath): boolean => !p.schema && p.attr.toLowerCase() === 'members';
  if (include) return include.some(isMembers);
  return !(exclude ?? []).some(isMembers);
}

/**
 * A paging parameter, kept within `[min, max]`. RFC 7644 §3.4.2.4: a `startIndex`
 * below 1 is 1 and a negative `count` is 0; a `startIndex` past the results is an
 * empty page, however large. A value beyond `max` (2^53 − 1 for `startIndex`, past
 * the end of any table; more digits than a double holds included) is read as `max`,
 * never wrapped or defaulted back to the first page.
 */
export function parseIndex(raw: string | null, fallback: number, min: number, max: number): number {
  const n = raw === null || raw.trim() === '' ? fallback : Number(raw);
  if (Number.isNaN(n)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `paging parameter \`${raw!.slice(0, 20)}\` is not a number`, { scimType: 'invalidValue' });
  return Math.min(max, Math.max(min, Math.trunc(n)));
}
