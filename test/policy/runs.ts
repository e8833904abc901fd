/**
 * How many cases a property test runs: `n`, scaled by `ENTRAGATE_PROPERTY_SCALE` (default 1). A
 * mutation run sets it below 1 so each mutant's property tests finish in a second or two; the
 * ordinary suite runs every case.
 */
export function runs(n: number): { numRuns: number } {
  const scale = Number(process.env['ENTRAGATE_PROPERTY_SCALE'] ?? '1');
  return { numRuns: Number.isFinite(scale) && scale > 0 ? Math.max(20, Math.round(n * scale)) : n };
}
