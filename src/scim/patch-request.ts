/**
 * Reading a SCIM PATCH body (RFC 7644 §3.5.2) into operations, and the coded
 * errors every part of PATCH throws. Split from `patch.ts`, which re-exports it.
 */
import { ScimError } from '../errors/index.js';
import type { JsonObject, JsonValue } from '../store/index.js';
import { parsePatchPath, type AttrPath } from './filter.js';
import { ENTERPRISE_SCHEMA, findKey, isObject, newObject } from './schema.js';

/** One PATCH operation, with `op` lower-cased and `path` parsed. */
export interface PatchOperation {
  /** The operation, lower-cased (Entra sends `Add`, `Replace`, `Remove`). */
  op: 'add' | 'replace' | 'remove';
  /**
   * The target attribute, parsed (`members[value eq "…"]`, `name.givenName`). Absent for an `add` or `replace`
   * without a path, whose `value` is then an object of attributes; a `remove` always has one. A path that is
   * the enterprise extension's URN alone is read as a pathless operation keyed by that URN.
   */
  path?: AttrPath;
  /**
   * The value as sent, not yet checked against the attribute (Entra sends booleans as `"True"`/`"False"`,
   * checked later). Absent when the operation had none or an explicit `null` (a `remove`, or "no value").
   */
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

/** The coded errors of a PATCH, with RFC 7644 §3.12 `scimType`s. */
export function syntax(message: string): never {
  throw new ScimError('ERR_SCIM_INVALID_SYNTAX', message, { scimType: 'invalidSyntax' });
}
export function invalidPath(message: string, scimType = 'invalidPath'): never {
  throw new ScimError('ERR_SCIM_INVALID_PATH', message, { scimType });
}
export function invalidValue(message: string): never {
  throw new ScimError('ERR_SCIM_INVALID_VALUE', message, { scimType: 'invalidValue' });
}
export function mutability(message: string): never {
  throw new ScimError('ERR_SCIM_MUTABILITY', message, { scimType: 'mutability' });
}

/** An attribute of `obj` by case-insensitive name (RFC 7643 §2.1). */
export function getCi(obj: JsonObject, name: string): JsonValue | undefined {
  const key = findKey(obj, name);
  return key === undefined ? undefined : obj[key];
}

/** A path as the client wrote it, for messages. */
export function describe(path: AttrPath): string {
  return `${path.schema ? `${path.schema}:` : ''}${path.attr}${path.filter ? '[…]' : ''}${path.sub ? `.${path.sub}` : ''}`;
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
    if (lower !== 'add' && lower !== 'replace' && lower !== 'remove')
      syntax(`patch operation ${i + 1} has op \`${String(op).slice(0, 20)}\`: expected add, replace or remove`);
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
