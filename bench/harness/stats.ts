/**
 * Summary statistics of timing samples. The median is the headline (robust
 * to the odd slow repeat); the spread says how far to trust it.
 * @module
 */

/** Summary of a set of samples (milliseconds). */
export interface SampleStats {
  readonly count: number;
  readonly median: number;
  readonly mean: number;
  readonly min: number;
  readonly p10: number;
  readonly p25: number;
  readonly p75: number;
  readonly p90: number;
  readonly max: number;
  /** Interquartile range over the median, (p75 − p25) / median: 0.02 means the middle half lies within 2 %. */
  readonly relIqr: number;
}

/**
 * The `q`-quantile (0 ≤ q ≤ 1) of ascending `sorted`, interpolating
 * linearly between the two nearest ranks (the usual "type 7" definition).
 * @throws RangeError when `sorted` is empty or `q` is outside [0, 1].
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile: sorted must be a non-empty array, got an empty array');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

/**
 * Median, mean, min, p10, p25, p75, p90, max and relative IQR of `samples`.
 * @throws RangeError when `samples` is empty.
 */
export function summarize(samples: readonly number[]): SampleStats {
  if (samples.length === 0) throw new RangeError('summarize: samples must be a non-empty array, got an empty array');
  const sorted = [...samples].sort((x, y) => x - y);
  let sum = 0;
  for (const s of sorted) sum += s;
  const median = quantile(sorted, 0.5);
  const p25 = quantile(sorted, 0.25);
  const p75 = quantile(sorted, 0.75);
  return {
    count: sorted.length,
    median,
    mean: sum / sorted.length,
    min: sorted[0]!,
    p10: quantile(sorted, 0.1),
    p25,
    p75,
    p90: quantile(sorted, 0.9),
    max: sorted[sorted.length - 1]!,
    relIqr: median > 0 ? (p75 - p25) / median : 0,
  };
}

/**
 * Geometric mean of positive ratios (the fair average of speedups: ×2 and
 * ×0.5 average to ×1); `undefined` for none.
 * @throws RangeError when a ratio is not a positive finite number.
 */
export function geometricMean(ratios: readonly number[]): number | undefined {
  if (ratios.length === 0) return undefined;
  let logSum = 0;
  for (const r of ratios) {
    if (!(r > 0 && Number.isFinite(r))) throw new RangeError(`geometricMean: ratios must be positive finite numbers, got ${r}`);
    logSum += Math.log(r);
  }
  return Math.exp(logSum / ratios.length);
}
