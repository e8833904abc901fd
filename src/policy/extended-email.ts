/**
 * Gateway "extended email" matching (reference §2.5): `contact+123@x` and
 * `con.tact@x` are variants of `contact@x`.
 */
import type { GatewayAction } from './types.js';

/**
 * Actions that match the exact address and all its variants by default. The
 * others (allow, off, noisolate, noscan, l4_override, egress, resolve, …) match
 * the exact address only.
 */
export const EXTENDED_EMAIL_ACTIONS: ReadonlySet<GatewayAction> = new Set<GatewayAction>([
  'block',
  'override',
  'safesearch',
  'ytrestricted',
  'isolate',
  'audit_ssh',
]);

/**
 * Drops a `+tag` and every `.` from the local part and lower-cases the
 * address. Variant matching only widens restricting actions (block, isolate, …),
 * so reading `John.Doe@x` as a variant of `johndoe@x` errs on the closed side;
 * exact matching (allow and the like) stays byte-exact, as wirefilter's `==`.
 *
 * @example
 * ```ts
 * import { canonicalEmail } from 'entragate';
 * canonicalEmail('Con.Tact+123@example.com'); // 'contact@example.com'
 * ```
 */
export function canonicalEmail(email: string): string {
  const lower = email.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0) return lower;
  let local = lower.slice(0, at);
  const plus = local.indexOf('+');
  if (plus !== -1) local = local.slice(0, plus);
  return local.replaceAll('.', '') + lower.slice(at);
}
