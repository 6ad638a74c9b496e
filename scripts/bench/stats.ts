/**
 * Summaries of samples.
 *
 * @module
 */

/** The figures kept for one measurement, in its unit (milliseconds per call for timings). */
export interface Summary {
  /** Samples taken (calls measured). */
  calls: number;
  /** Median. */
  median: number;
  /** 99th percentile (nearest rank). */
  p99: number;
  /** Mean. */
  mean: number;
  /** Smallest sample. */
  min: number;
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

/** Summarize samples. */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    calls: sorted.length,
    median: median(sorted),
    p99: percentile(sorted, 99),
    mean: sorted.length ? total / sorted.length : NaN,
    min: sorted.length ? sorted[0] : NaN,
  };
}
