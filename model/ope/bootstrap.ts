/**
 * Nonparametric bootstrap over logged rows, built for 100k+ rows.
 *
 * Every estimator here is a ratio of sums of per-row contributions (IPS = sum(w r) / n,
 * SNIPS = sum(w r) / sum(w), ...), so one resample only needs the resampled sums of a few
 * precomputed columns. A resample draws n row indices into one reused buffer and sums each
 * column over them: O(n) time and no allocation per resample, O(n + resamples * columns)
 * memory in all. Drawing the indices once per resample and summing every column over the
 * same indices is what makes paired comparisons (candidate minus baseline) paired.
 */
import { Rng } from '#model/random.ts';
import { InvalidEvaluationOptionError } from './errors.ts';

/**
 * Resampled column sums: `sums[b * columns.length + c]` is the sum of column c over the rows
 * drawn (with replacement, n of them) in resample b.
 *
 * @example
 * const sums = resampleColumnSums([new Float64Array([1, 2, 3])], 100, 7);
 * sums.length // 100; each entry a sum of 3 draws from {1, 2, 3}
 */
export function resampleColumnSums(columns: readonly Float64Array[], resamples: number, seed: number): Float64Array {
  checkResamples(resamples);
  const n = columns[0]?.length ?? 0;
  for (const column of columns) {
    if (column.length !== n) throw new InvalidEvaluationOptionError('columns', 'must all have the same length');
  }
  const width = columns.length;
  const sums = new Float64Array(resamples * width);
  if (n === 0) return sums;
  const rng = new Rng(seed);
  const drawn = new Int32Array(n);
  for (let b = 0; b < resamples; b++) {
    for (let j = 0; j < n; j++) drawn[j] = rng.int(n);
    for (let c = 0; c < width; c++) {
      const column = columns[c];
      let s = 0;
      for (let j = 0; j < n; j++) s += column[drawn[j]];
      sums[b * width + c] = s;
    }
  }
  return sums;
}

/**
 * Resampled column sums of a cluster bootstrap: each resample draws `clusters` clusters with replacement
 * (all the rows of a drawn cluster come together) and sums each column over their rows. For rows that are
 * not independent (several decisions of one user share that user's tastes), resampling rows would treat
 * correlated rows as separate evidence and give intervals too narrow; resampling clusters does not.
 * `sums[b * columns.length + c]` as in resampleColumnSums; the number of rows differs between resamples, so
 * give a column of ones to count them. O(n columns) once, then O(clusters columns) per resample.
 *
 * @example
 * // rows 0 and 1 belong to cluster 0, row 2 to cluster 1
 * const sums = resampleClusterSums([new Float64Array([1, 2, 3])], [0, 0, 1], 2, 100, 7);
 * // each entry is a sum of two draws from {3 (cluster 0), 3 (cluster 1)}: always 6
 */
export function resampleClusterSums(
  columns: readonly Float64Array[],
  cluster: ArrayLike<number>,
  clusters: number,
  resamples: number,
  seed: number,
): Float64Array {
  checkResamples(resamples);
  const n = columns[0]?.length ?? 0;
  for (const column of columns) {
    if (column.length !== n) throw new InvalidEvaluationOptionError('columns', 'must all have the same length');
  }
  if (cluster.length !== n) throw new InvalidEvaluationOptionError('cluster', `must have ${n} entries, one per row`);
  if (!Number.isInteger(clusters) || clusters < 1) {
    throw new InvalidEvaluationOptionError('clusters', `must be an integer >= 1, got ${clusters}`);
  }
  const width = columns.length;
  const totals = new Float64Array(clusters * width);
  for (let i = 0; i < n; i++) {
    const k = cluster[i];
    if (!Number.isInteger(k) || k < 0 || k >= clusters) {
      throw new InvalidEvaluationOptionError('cluster', `must be an integer in [0, ${clusters}), got ${k} at row ${i}`);
    }
    for (let c = 0; c < width; c++) totals[k * width + c] += columns[c][i];
  }
  const sums = new Float64Array(resamples * width);
  const rng = new Rng(seed);
  for (let b = 0; b < resamples; b++) {
    const base = b * width;
    for (let j = 0; j < clusters; j++) {
      const k = rng.int(clusters) * width;
      for (let c = 0; c < width; c++) sums[base + c] += totals[k + c];
    }
  }
  return sums;
}

/**
 * Percentile bootstrap interval: the (1 - level) / 2 and (1 + level) / 2 quantiles of the
 * replicates (linear interpolation between order statistics, R's type 7). Non-finite
 * replicates (a SNIPS resample that drew no row with positive weight) are left out.
 *
 * @example
 * percentileInterval(Float64Array.from({ length: 101 }, (_, i) => i), 0.9) // { low: ~5, high: 95 }
 */
export function percentileInterval(replicates: ArrayLike<number>, level: number): { low: number; high: number } {
  checkLevel(level);
  const sorted = finiteSorted(replicates);
  return { low: quantileOfSorted(sorted, (1 - level) / 2), high: quantileOfSorted(sorted, (1 + level) / 2) };
}

/**
 * Standard deviation of the finite replicates (the bootstrap standard error).
 *
 * @example
 * standardDeviation([1, 3]) // Math.SQRT2
 */
export function standardDeviation(values: ArrayLike<number>): number {
  let count = 0;
  let mean = 0;
  let m2 = 0;
  // Welford: replicates of a CTR near 0.005 lose digits in the naive sum-of-squares form.
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    count++;
    const d = v - mean;
    mean += d / count;
    m2 += d * (v - mean);
  }
  return count > 1 ? Math.sqrt(m2 / (count - 1)) : Number.NaN;
}

function finiteSorted(values: ArrayLike<number>): Float64Array {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) count++;
  const out = new Float64Array(count);
  let k = 0;
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) out[k++] = values[i];
  return out.sort();
}

function quantileOfSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function checkResamples(resamples: number): void {
  if (!Number.isInteger(resamples) || resamples < 2) {
    throw new InvalidEvaluationOptionError('resamples', `must be an integer >= 2, got ${resamples}`);
  }
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) {
    throw new InvalidEvaluationOptionError('level', `must be in (0, 1), got ${level}`);
  }
}
