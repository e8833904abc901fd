/**
 * The guard every stored session identity passes on its way out of the database: a hand-written
 * check (no zod on the request path) that rebuilds a {@link SessionIdentity} with only its fields,
 * deeply frozen, or names the first bad field.
 */
import type { SessionIdentity } from '../session/identity-store.js';
import type { GroupField, GroupMembership, GroupRef, GroupSourceKind, Identity } from '../types.js';

/** Longer nonces are refused: entragate's are 16 characters, and a key is a bind parameter anyway. */
export const MAX_NONCE = 256;

const SOURCES: ReadonlySet<unknown> = new Set<GroupSourceKind>(['token', 'graph', 'directory', 'cloudflare', 'static']);
const ABSENT: GroupMembership = Object.freeze({ state: 'absent' });
const IDP_TYPE = 'azureAD';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isOptionalString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Thrown inside the guard with the path of the first bad field; never escapes this module. */
class Malformed {
  constructor(readonly field: string) {}
}
function need<T>(ok: boolean, value: T, field: string): T {
  if (!ok) throw new Malformed(field);
  return value;
}

/** Freezes a parsed JSON value and everything in it (it was just parsed: nobody else holds it). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function readGroup(v: unknown, field: string): GroupRef {
  if (!isObject(v) || !isString(v.id) || !isOptionalString(v.name) || !isOptionalString(v.email)) throw new Malformed(field);
  const group: GroupRef = { id: v.id };
  if (v.name !== undefined) group.name = v.name;
  if (v.email !== undefined) group.email = v.email;
  return Object.freeze(group);
}

const GROUP_FIELDS: ReadonlySet<unknown> = new Set<GroupField>(['id', 'name', 'email']);

function readFields(v: unknown, field: string): readonly GroupField[] {
  if (!Array.isArray(v)) throw new Malformed(field);
  return Object.freeze(v.map((f, i) => need(GROUP_FIELDS.has(f), f as GroupField, `${field}[${i}]`)));
}

function readMembership(v: unknown): GroupMembership {
  const field = 'identity.membership';
  if (!isObject(v)) throw new Malformed(field);
  switch (v.state) {
    case 'complete': {
      const source = need(SOURCES.has(v.source), v.source as GroupSourceKind, `${field}.source`);
      // Absent `fields` means ids only (fail closed), so it stays absent rather than defaulted here.
      if (v.fields === undefined) return Object.freeze({ state: 'complete', source });
      return Object.freeze({ state: 'complete', source, fields: readFields(v.fields, `${field}.fields`) });
    }
    case 'absent':
      return ABSENT;
    case 'overage':
      return Object.freeze({
        state: 'overage',
        signal: need(v.signal === 'claim_names' || v.signal === 'hasgroups', v.signal as 'claim_names' | 'hasgroups', `${field}.signal`),
      });
    case 'unknown':
      return Object.freeze({
        state: 'unknown',
        reason: need(isString(v.reason), v.reason as string, `${field}.reason`),
        code: need(isString(v.code), v.code as string, `${field}.code`),
      });
    default:
      throw new Malformed(`${field}.state`);
  }
}

function readIdentity(v: unknown): Identity {
  if (!isObject(v)) throw new Malformed('identity');
  const str = (name: keyof Identity): string => need(isString(v[name]), v[name] as string, `identity.${name}`);
  const idp = v.idp;
  if (!isObject(idp) || !isString(idp.id) || idp.type !== IDP_TYPE) throw new Malformed('identity.idp');
  if (!Array.isArray(v.amr) || !v.amr.every(isString)) throw new Malformed('identity.amr');
  if (!Array.isArray(v.groups)) throw new Malformed('identity.groups');
  if (!isObject(v.oidc_fields)) throw new Malformed('identity.oidc_fields');
  if (!isOptionalString(v.name)) throw new Malformed('identity.name');
  if (v.ver !== '1.0' && v.ver !== '2.0') throw new Malformed('identity.ver');
  // Every required field of `Identity` is listed, so a new one fails to compile here until it is read.
  const identity: Identity = {
    email: str('email'),
    user_uuid: str('user_uuid'),
    idp: Object.freeze({ id: idp.id, type: IDP_TYPE }),
    amr: Object.freeze([...v.amr]) as string[],
    groups: Object.freeze(v.groups.map((g, i) => readGroup(g, `identity.groups[${i}]`))) as GroupRef[],
    membership: readMembership(v.membership),
    oidc_fields: deepFreeze(v.oidc_fields),
    oid: str('oid'),
    tid: str('tid'),
    sub: str('sub'),
    iat: need(isTime(v.iat), v.iat as number, 'identity.iat'),
    exp: need(isTime(v.exp), v.exp as number, 'identity.exp'),
    ver: v.ver,
  };
  if (v.name !== undefined) identity.name = v.name;
  // The authentication contexts of a step-up login (`acrs`): an `auth_context` rule reads them from the session.
  if (v.acrs !== undefined) {
    if (!Array.isArray(v.acrs) || !v.acrs.every(isString)) throw new Malformed('identity.acrs');
    identity.acrs = Object.freeze([...v.acrs]);
  }
  return Object.freeze(identity);
}

/** Nesting deeper than this in `claims` is refused: token claims are shallow, and the guard recurses. */
const MAX_CLAIM_DEPTH = 8;

/**
 * A claim value as a session keeps it: a string, a finite number, a boolean, an array of
 * strings, or a plain object of claim values. Checked in place (the value was just parsed:
 * nobody else holds it), then frozen by the caller.
 */
function checkClaim(v: unknown, field: string, depth: number): void {
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return;
  if (Array.isArray(v)) {
    if (!v.every(isString)) throw new Malformed(field);
    return;
  }
  if (!isObject(v) || depth >= MAX_CLAIM_DEPTH) throw new Malformed(field);
  for (const key of Object.keys(v)) checkClaim(v[key], `${field}.${key}`, depth + 1);
}

function readClaims(v: unknown): Readonly<Record<string, unknown>> {
  if (!isObject(v)) throw new Malformed('claims');
  checkClaim(v, 'claims', 0);
  return deepFreeze(v);
}

/**
 * Validates a parsed JSON value as a {@link SessionIdentity} and rebuilds it with
 * only the fields the type has, deeply frozen (instances share it between
 * requests, as the login's in-memory store does). Returns the path of the first
 * bad field instead when it is not one.
 *
 * INVARIANT: fail closed. A row that is not a session identity is never served:
 * the caller treats it as missing, and the user logs in again.
 */
export function readSessionIdentity(value: unknown): SessionIdentity | string {
  try {
    if (!isObject(value)) return '(root)';
    const out: SessionIdentity = {
      identity: readIdentity(value.identity),
      issuedAt: need(isTime(value.issuedAt), value.issuedAt as number, 'issuedAt'),
    };
    if (value.country !== undefined) out.country = need(isString(value.country), value.country as string, 'country');
    if (value.claims !== undefined) out.claims = readClaims(value.claims);
    if (value.sealed !== undefined) out.sealed = need(isString(value.sealed), value.sealed as string, 'sealed');
    return Object.freeze(out);
  } catch (err) {
    if (err instanceof Malformed) return err.field;
    throw err;
  }
}
