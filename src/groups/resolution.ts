import { EntragateError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';
import type { GroupMembership, GroupRef } from '../types.js';
import type { GroupResolution } from './types.js';

/** A resolution that knows nothing; never "no groups". */
export function unknownResolution(code: ErrorCode, reason: string): GroupResolution {
  return { groups: [], membership: { state: 'unknown', code, reason } };
}

/** One line saying why a membership state is not `complete`. */
export function describeMembership(membership: GroupMembership): string {
  switch (membership.state) {
    case 'complete':
      return `complete (${membership.source})`;
    case 'absent':
      return 'no groups claim in the token';
    case 'overage':
      return membership.signal === 'claim_names' ? 'groups overage (`_claim_names`)' : 'groups overage (`hasgroups`)';
    case 'unknown':
      return membership.reason;
  }
}

/**
 * The reason to report for a thrown error. Only entragate's own messages are
 * repeated (they never carry a token or a secret); anything else is named by
 * its class only, since a third-party message might.
 */
export function failureOf(err: unknown): { code: ErrorCode; reason: string } {
  if (err instanceof EntragateError) return { code: err.code, reason: err.message };
  const name = err instanceof Error ? err.name : typeof err;
  return { code: 'ERR_GROUPS_UNAVAILABLE', reason: `source threw \`${name}\`` };
}

/** A hand-written guard for what a third-party source returns (hot path: no zod). */
export function isGroupResolution(value: unknown): value is GroupResolution {
  if (typeof value !== 'object' || value === null) return false;
  const { groups, membership } = value as { groups?: unknown; membership?: unknown };
  if (!Array.isArray(groups) || typeof membership !== 'object' || membership === null) return false;
  const state = (membership as { state?: unknown }).state;
  if (state !== 'complete' && state !== 'absent' && state !== 'overage' && state !== 'unknown') return false;
  // A frozen answer (the directory hands back the same frozen array while the user's groups do not
  // change) is checked once: it cannot change after the check. Its refs are frozen too, or each is
  // checked again.
  if (validated.has(groups)) return true;
  if (!groups.every(isGroupRef)) return false;
  if (Object.isFrozen(groups) && groups.every(Object.isFrozen)) validated.add(groups);
  return true;
}

/** Frozen group arrays already found well formed (see `isGroupResolution`). */
const validated = new WeakSet<readonly unknown[]>();

function isGroupRef(value: unknown): value is GroupRef {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}

/** Quotes a value for a message when it is short and plain; never echoes arbitrary input (it may come from a token). */
export function quoteId(value: string): string {
  return /^[A-Za-z0-9.@_-]{0,64}$/.test(value) ? `\`${value}\`` : '(malformed)';
}
