/**
 * Summaries of round-trip samples.
 *
 * @module
 */

/** The figures kept for one measurement, in milliseconds per call. */
export interface Summary {
  /** Calls measured. */
  calls: number;
  /** Median. */
  medianMs: number;
  /** 99th percentile (nearest rank). */
  p99Ms: number;
  /** Mean. */
  meanMs: number;
  /** Fastest call. */
  minMs: number;
}

/** The `p`-th percentile (0 to 100, nearest rank) of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** The median of ascending `sorted` (the mean of the middle two for an even count). */
export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const mid = n >> 1;
  return n % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Summarize samples given in milliseconds. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    calls: sorted.length,
    medianMs: median(sorted),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.length ? total / sorted.length : NaN,
    minMs: sorted.length ? sorted[0] : NaN,
  };
}
