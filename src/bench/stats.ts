/**
 * Sample statistics for the benchmarks: percentiles (nearest-rank on the
 * sorted samples), summaries and ratios.  Pure: numbers in, numbers out.
 */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export class StatsError extends Error {
  override readonly name = 'StatsError';
}

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new StatsError('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new StatsError(`percentile ${p} is outside 0..100`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new StatsError('summary of no samples');
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0]!,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** a / b, rounded for display; NaN when the baseline is not positive. */
export function ratio(a: number, b: number): number {
  return b > 0 ? a / b : NaN;
}

/** Nanoseconds as a short human figure ("387 µs", "39.2 ms"). */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e5 ? 0 : 1)} µs`;
  return `${Math.round(ns)} ns`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}x`;
}

/** Time one call of `f` in nanoseconds. */
export async function timeNs(f: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0);
}
