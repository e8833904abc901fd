import { ScimError } from '../errors/index.js';
import type { JsonObject, JsonValue } from '../store/index.js';

/** RFC 7643 attribute definition, reduced to what validation and rendering need. */
export interface AttributeDef {
  name: string;
  type: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime' | 'binary';
  multiValued?: boolean;
  caseExact?: boolean;
  required?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  subAttributes?: readonly AttributeDef[];
  description?: string;
}

/**
 * The SCIM core User schema URN.
 * @example
 * ```ts
 * import { USER_SCHEMA } from 'entragate/scim';
 * const body = { schemas: [USER_SCHEMA], userName: 'ada@contoso.com' };
 * ```
 */
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
/**
 * The SCIM core Group schema URN.
 * @example
 * ```ts
 * import { GROUP_SCHEMA } from 'entragate/scim';
 * const body = { schemas: [GROUP_SCHEMA], displayName: 'Devs' };
 * ```
 */
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
/**
 * The enterprise User extension URN; its attributes (manager, department, …) live under this key.
 * @example
 * ```ts
 * import { ENTERPRISE_SCHEMA } from 'entragate/scim';
 * const managerPath = `${ENTERPRISE_SCHEMA}:manager`;
 * ```
 */
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * A NUL or an unpaired surrogate: text PostgreSQL cannot store or compare. Refused
 * at the edge as a 400, because in a query it would fail as a 503 that Entra
 * retries forever.
 */
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Keys that would reach an object's prototype machinery when used as property names. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** INVARIANT: a key that could reach a prototype is refused, never assigned. */
export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key.toLowerCase());
}

const s = (name: string, extra: Partial<AttributeDef> = {}): AttributeDef => ({ name, type: 'string', ...extra });
const multi = (name: string, extra: readonly AttributeDef[] = []): AttributeDef => ({
  name,
  type: 'complex',
  multiValued: true,
  subAttributes: [s('value'), s('display'), s('type'), { name: 'primary', type: 'boolean' }, ...extra],
});

export const USER_ATTRIBUTES: readonly AttributeDef[] = [
  s('userName', { required: true, description: 'Unique identifier for the User, compared case-insensitively' }),
  s('externalId', { caseExact: true }),
  {
    name: 'name',
    type: 'complex',
    subAttributes: [s('formatted'), s('familyName'), s('givenName'), s('middleName'), s('honorificPrefix'), s('honorificSuffix')],
  },
  s('displayName'),
  s('nickName'),
  { name: 'profileUrl', type: 'reference' },
  s('title'),
  s('userType'),
  s('preferredLanguage'),
  s('locale'),
  s('timezone'),
  { name: 'active', type: 'boolean' },
  multi('emails'),
  multi('phoneNumbers'),
  multi('ims'),
  multi('photos'),
  {
    name: 'addresses',
    type: 'complex',
    multiValued: true,
    subAttributes: [
      s('formatted'),
      s('streetAddress'),
      s('locality'),
      s('region'),
      s('postalCode'),
      s('country'),
      s('type'),
      { name: 'primary', type: 'boolean' },
    ],
  },
  multi('entitlements'),
  multi('roles'),
  multi('x509Certificates'),
];

export const ENTERPRISE_ATTRIBUTES: readonly AttributeDef[] = [
  s('employeeNumber'),
  s('costCenter'),
  s('organization'),
  s('division'),
  s('department'),
  {
    name: 'manager',
    type: 'complex',
    subAttributes: [s('value', { caseExact: true }), { name: '$ref', type: 'reference' }, s('displayName')],
  },
];

export const GROUP_ATTRIBUTES: readonly AttributeDef[] = [
  s('displayName', { required: true, description: 'Unique name of the Group, compared case-insensitively' }),
  s('externalId', { caseExact: true }),
  // A group's mail, when the provisioning app maps one (Entra does not by default): the store keeps the
  // primary (else work, else first) value, so Gateway rules on `identity.groups.email` can read it.
  multi('emails'),
  {
    name: 'members',
    type: 'complex',
    multiValued: true,
    subAttributes: [s('value', { caseExact: true }), { name: '$ref', type: 'reference' }, s('type'), s('display')],
  },
];

/** Attributes the server owns: never taken from input. */
const SERVER_OWNED = new Set(['id', 'meta', 'schemas', 'groups', 'password']);

export function findDef(defs: readonly AttributeDef[], name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return defs.find((d) => d.name.toLowerCase() === lower);
}

export function isServerOwned(name: string): boolean {
  return SERVER_OWNED.has(name.toLowerCase());
}

function invalid(path: string, expected: string): never {
  throw new ScimError('ERR_SCIM_INVALID_VALUE', `attribute \`${path}\` must be ${expected}`, { scimType: 'invalidValue' });
}

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A null-prototype object: keys from input can never reach `Object.prototype`. */
export function newObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

/** Copies JSON into null-prototype objects, dropping explicit nulls (Entra sends them meaning "no value"). */
export function cleanJson(value: JsonValue): JsonValue | undefined {
  if (value === null) return undefined;
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (const v of value) {
      const c = cleanJson(v);
      if (c !== undefined) out.push(c);
    }
    return out;
  }
  if (isObject(value)) {
    const out = newObject();
    for (const [k, v] of Object.entries(value)) {
      if (isForbiddenKey(k)) invalid(k, 'a permitted attribute name');
      const c = cleanJson(v);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return value;
}

/** `"True"`/`"false"` in any case are booleans: Entra's default mapping sends `active` as a string. */
export function coerceBoolean(v: JsonValue, path: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.trim().toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
  }
  return invalid(path, 'a boolean (`true`/`false`, or the strings `"True"`/`"False"`)');
}

/**
 * Checks and canonicalises one value against its definition. Attribute names are
 * matched case-insensitively and rewritten to the schema's spelling; unknown
 * sub-attributes are dropped; explicit nulls are dropped. Returns `undefined`
 * when nothing is left (a clear).
 */
export function coerceValue(def: AttributeDef, value: JsonValue, path: string, single = false): JsonValue | undefined {
  if (value === null) return undefined;
  if (def.multiValued && !single) {
    const items = Array.isArray(value) ? value : [value];
    const out: JsonValue[] = [];
    for (const item of items) {
      const c = coerceValue(def, item, path, true);
      if (c !== undefined) out.push(c);
    }
    return out;
  }
  if (def.name === 'manager') return coerceManager(value, path);
  switch (def.type) {
    case 'boolean':
      return coerceBoolean(value, path);
    case 'complex': {
      if (!isObject(value)) return invalid(path, 'an object');
      const out = newObject();
      for (const [k, v] of Object.entries(value)) {
        if (isForbiddenKey(k)) invalid(`${path}.${k}`, 'a permitted attribute name');
        const sub = findDef(def.subAttributes ?? [], k);
        if (!sub) continue;
        const c = coerceValue(sub, v, `${path}.${sub.name}`);
        if (c !== undefined) out[sub.name] = c;
      }
      return out;
    }
    default:
      if (typeof value !== 'string') return invalid(path, 'a string');
      return value;
  }
}

/** Manager arrives as a bare id, `{value}`, or the legacy `[{ $ref, value }]`; `""` clears it. Always stored as `{value}`. */
function coerceManager(value: JsonValue, path: string): JsonValue | undefined {
  if (typeof value === 'string') {
    if (value === '') return undefined;
    const out = newObject();
    out.value = value;
    return out;
  }
  const item = Array.isArray(value) ? value[0] : value;
  if (item === undefined || item === null) return undefined;
  if (!isObject(item)) return invalid(path, 'a user id string or an object with `value`');
  const v = Object.entries(item).find(([k]) => k.toLowerCase() === 'value')?.[1];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') return invalid(`${path}.value`, 'a string');
  const out = newObject();
  out.value = v;
  const display = Object.entries(item).find(([k]) => k.toLowerCase() === 'displayname')?.[1];
  if (typeof display === 'string') out.displayName = display;
  return out;
}

/** Finds the key of `obj` that names `name` case-insensitively. */
export function findKey(obj: JsonObject, name: string): string | undefined {
  if (Object.hasOwn(obj, name)) return name;
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}

/** The one spelling of the enterprise URN, or the key already used for a custom extension. */
export function extensionKey(obj: JsonObject, urn: string): string {
  if (urn.toLowerCase() === ENTERPRISE_SCHEMA.toLowerCase()) return ENTERPRISE_SCHEMA;
  return findKey(obj, urn) ?? urn;
}

/**
 * Canonicalises a POST/PUT body into stored attributes: known attributes checked
 * and renamed, the enterprise extension checked, custom `urn:` extensions kept as
 * sent, server-owned and unknown attributes ignored.
 */
export function normalizeResource(body: JsonValue, kind: 'User' | 'Group'): { attributes: JsonObject; members: JsonValue | undefined } {
  if (!isObject(body)) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'request body must be a JSON object', { scimType: 'invalidSyntax' });
  }
  const defs = kind === 'User' ? USER_ATTRIBUTES : GROUP_ATTRIBUTES;
  const attributes = newObject();
  let members: JsonValue | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (isForbiddenKey(key)) invalid(key, 'a permitted attribute name');
    if (value === null || isServerOwned(key)) continue;
    if (kind === 'Group' && key.toLowerCase() === 'members') {
      members = value;
      continue;
    }
    const def = findDef(defs, key);
    if (def) {
      const c = coerceValue(def, value, def.name);
      if (c !== undefined) attributes[def.name] = c;
      continue;
    }
    if (key.toLowerCase().startsWith('urn:')) setExtension(attributes, key, value, kind);
  }
  return { attributes, members };
}

function setExtension(attributes: JsonObject, key: string, value: JsonValue, kind: 'User' | 'Group'): void {
  const isEnterprise = kind === 'User' && key.toLowerCase() === ENTERPRISE_SCHEMA.toLowerCase();
  if (isObject(value)) {
    const target = extensionKey(attributes, key);
    const existing = attributes[target];
    const obj = isObject(existing) ? existing : newObject();
    for (const [k, v] of Object.entries(value)) {
      if (isForbiddenKey(k)) invalid(`${key}:${k}`, 'a permitted attribute name');
      if (v === null) continue;
      if (isEnterprise) {
        const def = findDef(ENTERPRISE_ATTRIBUTES, k);
        if (!def) continue;
        const c = coerceValue(def, v, `${ENTERPRISE_SCHEMA}:${def.name}`);
        if (c !== undefined) obj[def.name] = c;
      } else {
        const c = cleanJson(v);
        if (c !== undefined) obj[findKey(obj, k) ?? k] = c;
      }
    }
    if (Object.keys(obj).length > 0) attributes[target] = obj;
    return;
  }
  // `urn:…:User:attr` with a scalar: the extension attribute itself.
  const colon = key.lastIndexOf(':');
  const urn = key.slice(0, colon);
  const attr = key.slice(colon + 1);
  if (!urn.toLowerCase().startsWith('urn:') || attr === '') return;
  const wrapped = newObject();
  wrapped[attr] = value;
  setExtension(attributes, urn, wrapped, kind);
}
