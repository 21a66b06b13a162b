/**
 * Bayesian linear regression with shared parameters, kept in square-root form.
 *
 * Model: r = x.w + noise, noise ~ N(0, sigma^2), prior w ~ N(0, sigma^2 / lambda I).
 * Statistics: A = lambda I + sum x x^T (kept as F with F F^T = A^-1), b = sum r x, the posterior mean
 * mu = A^-1 b (kept up to date by the Kalman form of the same rank-1 update), and n. The posterior
 * covariance is sigma^2 A^-1, with sigma either fixed (config noiseScale) or learned with a
 * Normal-Inverse-Gamma posterior, as in Riquelme, Tucker, Snoek (2018) LinFullPost:
 *   sigma^2 ~ InvGamma(a0 + n / 2, b0 + sum_i e_i^2 / (2 (1 + x_i^T A_{i-1}^-1 x_i))),
 * where e_i = r_i - x_i . mu_{i-1} is the one-step-ahead prediction error; the sum is exactly the
 * usual (sum r^2 - b . mu) / 2, written as per-reward terms so it can be split into noise groups:
 * rows of different groups (e.g. channels) then learn their own noise variance while sharing the
 * weights. LinFullPost's per-arm noise is the special case of one group per arm.
 *
 * Keeping F instead of A^-1 gives three things at once: an O(d^2) rank-1 update (Potter's square-root
 * form of Sherman–Morrison), a sampling factor for Thompson sampling without any per-decision
 * factorisation (w = mu + sigma F z), and x^T A^-1 x = |F^T x|^2, i.e. LinUCB's width as one GEMM.
 */
import type { Rng } from '#model/random.ts';
import { InvalidBanditInputError } from './errors.ts';
import { identity, potterUpdate } from './linalg.ts';
import { inverseGammaDraw } from './sampling.ts';

/** Shape a0 of the inverse-gamma noise prior (Riquelme et al. use a0 = 6). */
export const NOISE_PRIOR_SHAPE = 6;

export interface NoiseSetting {
  /** fixed noise standard deviation, or the prior guess of it when learned */
  scale: number;
  learned: boolean;
  /** one-hot feature indices defining noise groups (learned noise only); empty: one group */
  groupFeatures: readonly number[];
}

/**
 * The noise setting of a Thompson-sampling config, checked against the feature dimension.
 * @example noiseSetting({ noiseScale: 1, learnNoise: true, noiseGroups: [1, 2, 3] }, 32)
 */
export function noiseSetting(
  config: { noiseScale: number; learnNoise: boolean; noiseGroups: readonly number[] },
  dimension: number,
): NoiseSetting {
  const groups = config.noiseGroups;
  if (groups.length > 0 && !config.learnNoise) {
    throw new InvalidBanditInputError('config.noiseGroups', 'needs learnNoise: true (a fixed noise has no groups)');
  }
  groups.forEach((f, i) => {
    if (f >= dimension) {
      throw new InvalidBanditInputError(
        'config.noiseGroups',
        `[${i}] = ${f} is not a feature index below ${dimension}`,
      );
    }
    if (groups.indexOf(f) !== i) throw new InvalidBanditInputError('config.noiseGroups', `lists feature ${f} twice`);
  });
  return { scale: config.noiseScale, learned: config.learnNoise, groupFeatures: groups };
}

/** Noise groups a posterior needs for a setting: one per group feature plus the rest, or one. @example noiseGroupCount(noise) // 4 for [1, 2, 3] */
export function noiseGroupCount(noise: NoiseSetting | undefined): number {
  return noise?.learned && noise.groupFeatures.length > 0 ? noise.groupFeatures.length + 1 : 1;
}

export interface LinearPosteriorState {
  sqrtCovariance: Float64Array;
  rewardSum: Float64Array;
  mean: Float64Array;
  /** rewards per noise group */
  noiseCounts: Float64Array;
  /** sum of e^2 / (2 (1 + s)) per noise group */
  noiseSums: Float64Array;
  count: number;
}

export class LinearPosterior {
  readonly sqrtCovariance: Float64Array;
  readonly rewardSum: Float64Array;
  readonly noiseCounts: Float64Array;
  readonly noiseSums: Float64Array;
  count = 0;
  private readonly mu: Float64Array;
  private readonly g: Float64Array;
  private readonly fg: Float64Array;

  /**
   * @example const post = new LinearPosterior(32, 1); post.observe(x, 0, 1); post.mean()
   */
  constructor(
    readonly dimension: number,
    readonly priorPrecision: number,
    readonly noiseGroups = 1,
    state?: LinearPosteriorState,
  ) {
    this.sqrtCovariance = state?.sqrtCovariance ?? identity(dimension, 1 / Math.sqrt(priorPrecision));
    this.rewardSum = state?.rewardSum ?? new Float64Array(dimension);
    this.mu = state?.mean ?? new Float64Array(dimension);
    this.noiseCounts = state?.noiseCounts ?? new Float64Array(noiseGroups);
    this.noiseSums = state?.noiseSums ?? new Float64Array(noiseGroups);
    this.count = state?.count ?? 0;
    this.g = new Float64Array(dimension);
    this.fg = new Float64Array(dimension);
  }

  /**
   * Learns one reward for the feature row source[offset .. offset + d), in noise group `group`. O(d^2).
   * @example post.observe(features, i * d, rewards[i])
   */
  observe(source: ArrayLike<number>, offset: number, reward: number, group = 0): void {
    const d = this.dimension;
    const mu = this.mu;
    let prediction = 0;
    for (let j = 0; j < d; j++) prediction += source[offset + j] * mu[j];
    const s = potterUpdate(this.sqrtCovariance, d, source, offset, this.g, this.fg);
    const error = reward - prediction;
    // mu' = mu + A'^-1 x e = mu + (A^-1 x) e / (1 + s)
    const gain = error / (1 + s);
    for (let j = 0; j < d; j++) {
      mu[j] += this.fg[j] * gain;
      this.rewardSum[j] += reward * source[offset + j];
    }
    this.noiseCounts[group] += 1;
    this.noiseSums[group] += (error * error) / (2 * (1 + s));
    this.count += 1;
  }

  /**
   * Forgets everything and learns n rows afresh (NeuralLinear after retraining its representation,
   * when the old statistics describe features that no longer exist). O(n d^2).
   * @example post.rebuild(z, rewards, groups, n)
   */
  rebuild(rows: ArrayLike<number>, rewards: ArrayLike<number>, groups: ArrayLike<number>, n: number): void {
    const d = this.dimension;
    this.sqrtCovariance.set(identity(d, 1 / Math.sqrt(this.priorPrecision)));
    this.rewardSum.fill(0);
    this.mu.fill(0);
    this.noiseCounts.fill(0);
    this.noiseSums.fill(0);
    this.count = 0;
    for (let r = 0; r < n; r++) this.observe(rows, r * d, rewards[r], groups[r]);
  }

  /** Posterior mean mu = A^-1 b (live view: do not modify). @example post.mean()[0] */
  mean(): Float64Array {
    return this.mu;
  }

  /**
   * Inverse-gamma posterior (shape, scale) of a group's noise variance, with prior mean noise.scale^2.
   * @example const { shape, scale } = post.noisePosterior({ scale: 0.5, learned: true })
   */
  noisePosterior(noise: NoiseSetting, group = 0): { shape: number; scale: number } {
    return {
      shape: NOISE_PRIOR_SHAPE + this.noiseCounts[group] / 2,
      scale: (NOISE_PRIOR_SHAPE - 1) * noise.scale * noise.scale + this.noiseSums[group],
    };
  }

  /**
   * Noise standard deviations for K posterior samples, [noiseGroups * K] (group-major): the fixed
   * scale, or independent draws from each group's noise posterior.
   * @example post.noiseScales(16, rng, { scale: 0.5, learned: false }) // sixteen 0.5s per group
   */
  noiseScales(samples: number, rng: Rng, noise: NoiseSetting): Float64Array {
    const out = new Float64Array(this.noiseGroups * samples);
    if (!noise.learned) return out.fill(noise.scale);
    for (let group = 0; group < this.noiseGroups; group++) {
      const { shape, scale } = this.noisePosterior(noise, group);
      for (let k = 0; k < samples; k++) out[group * samples + k] = Math.sqrt(inverseGammaDraw(rng, shape, scale));
    }
    return out;
  }

  /** A^-1 = F F^T, materialised (tests and diagnostics). @example post.covariance() */
  covariance(): Float64Array {
    const d = this.dimension;
    const F = this.sqrtCovariance;
    const C = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        let acc = 0;
        for (let k = 0; k < d; k++) acc += F[i * d + k] * F[j * d + k];
        C[i * d + j] = acc;
        C[j * d + i] = acc;
      }
    }
    return C;
  }
}

/**
 * The noise group of each of n rows: the position in `groupFeatures` of the first of those features
 * that is non-zero in the row, or groupFeatures.length when none is. With no group features every
 * row is group 0.
 * @example noiseGroupsOf(features, 32, n, [1, 2, 3]) // channel one-hot columns -> 0, 1, 2 (3: none)
 */
export function noiseGroupsOf(
  features: ArrayLike<number>,
  dimension: number,
  n: number,
  groupFeatures: readonly number[],
): Int32Array {
  const groups = new Int32Array(n);
  if (groupFeatures.length === 0) return groups;
  for (let r = 0; r < n; r++) {
    const o = r * dimension;
    let g = 0;
    while (g < groupFeatures.length && features[o + groupFeatures[g]] === 0) g++;
    groups[r] = g;
  }
  return groups;
}
