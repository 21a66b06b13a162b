/** Small numeric helpers of the simulator: distributions it draws from and the statistics of its report. */
import type { Rng } from '#model/random.ts';

/**
 * Standard normal cumulative distribution (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7).
 * @example normalCdf(1.959964) // ~0.975
 */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

/** @example logit(0.5) // 0 */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/** @example sigmoid(0) // 0.5 */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Poisson draw; exact (Knuth) for small means, normal approximation above 30 where Knuth gets slow.
 * @example poisson(rng, 2.5)
 */
export function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * rng.normal()));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

/**
 * Log-normal quantile from a standard normal draw: median * e^(sigma z).
 * @example logNormal(30, 1, 0) // 30
 */
export function logNormal(median: number, sigma: number, z: number): number {
  return median * Math.exp(sigma * z);
}

/** P(X <= x) for X log-normal with this median and log-scale sigma. */
export function logNormalCdf(x: number, median: number, sigma: number): number {
  if (x <= 0) return 0;
  if (sigma === 0) return x >= median ? 1 : 0;
  return normalCdf(Math.log(x / median) / sigma);
}

/**
 * P(X + Y <= w) for independent log-normal X and Y, by numeric integration over X (used for
 * "opened and then clicked within the attribution window").
 * @example sumOfLogNormalsCdf(1440, { median: 60, sigma: 1 }, { median: 5, sigma: 1 }) // ~0.99
 */
export function sumOfLogNormalsCdf(
  w: number,
  x: { median: number; sigma: number },
  y: { median: number; sigma: number },
  steps = 400,
): number {
  if (x.sigma === 0) return logNormalCdf(w - x.median, y.median, y.sigma);
  // Integrate over the normal quantile of X so the grid follows the mass, whatever the scale.
  let total = 0;
  const lo = -6;
  const hi = 6;
  const dz = (hi - lo) / steps;
  for (let i = 0; i < steps; i++) {
    const z = lo + (i + 0.5) * dz;
    const density = Math.exp(-(z * z) / 2) / Math.sqrt(2 * Math.PI);
    total += density * dz * logNormalCdf(w - logNormal(x.median, x.sigma, z), y.median, y.sigma);
  }
  return total;
}

// Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** @example tQuantile975(4) // 2.776 */
export function tQuantile975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[df - 1];
  // Beyond the table the quantile approaches 1.96 as 1.96 + 2.4 / df to within 0.002.
  return 1.96 + 2.4 / df;
}

export interface MeanInterval {
  mean: number;
  /** 95% t-interval of the mean; equal to the mean when there is a single value */
  low: number;
  high: number;
  n: number;
}

/**
 * Mean with a 95% t-interval (values are independent replicates, e.g. one per seed).
 * @example meanInterval([0.1, 0.12, 0.11]) // { mean: 0.11, low: ~0.085, high: ~0.135, n: 3 }
 */
export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, low: Number.NaN, high: Number.NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, low: mean, high: mean, n };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  const half = tQuantile975(n - 1) * Math.sqrt(variance / n);
  return { mean, low: mean - half, high: mean + half, n };
}
