/**
 * Three-valued (Kleene) logic for selectors that may not know the answer.
 * Encoded as numbers so that AND is `min`, OR is `max` and NOT is `2 - x`.
 */
import type { TraceResult } from './types.js';

/** Definitely not. */
export const F = 0;
/** Cannot tell: group membership is not complete. */
export const U = 1;
/** Definitely. */
export const T = 2;
export type Tri = 0 | 1 | 2;

export function triOf(value: boolean): Tri {
  return value ? T : F;
}

export function triNot(value: Tri): Tri {
  return (2 - value) as Tri;
}

/** XOR is unknown as soon as either side is. */
export function triXor(a: Tri, b: Tri): Tri {
  if (a === U || b === U) return U;
  return a === b ? F : T;
}

export function traceResult(value: Tri): TraceResult {
  return value === T ? 'match' : value === F ? 'no-match' : 'unknown';
}
