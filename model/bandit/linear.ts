/**
 * The linear learners: linear Thompson sampling, LinUCB and epsilon-greedy over one shared Bayesian
 * ridge regression on action-dependent features (see posterior.ts). They differ only in how they turn
 * the posterior into pi, the distribution over each decision's allowed arms:
 *
 * - linucb: argmax of x.mu + alpha * sqrt(x^T A^-1 x), exact ties split evenly (pi exact).
 * - epsilon-greedy: (1 - epsilon) on the argmax of x.mu (ties split), epsilon uniform (pi exact).
 * - linear-ts: K = posteriorSamples draws w_k = mu + sigma_k F z_k per decide() call, shared by the
 *   batch; each decision's pi is the share of those draws its arm wins, and the arm is then drawn
 *   from pi (mixed with the floor). The draw follows pi exactly, so the logged propensity is exact for
 *   any K; and since E[pi] is the Thompson probability, each decision is marginally a genuine Thompson
 *   draw. K sets how close pi is to that probability: its standard error is sqrt(q (1 - q) / K) for an
 *   arm of Thompson probability q (0.129 at worst for K = 15, 0.0625 for 64), which matters only for
 *   the variance of off-policy estimates. Sharing the K draws across the batch is what makes the
 *   scoring one GEMM: N x d x (K + 1) multiply-adds instead of K draws per decision.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '#model/random.ts';
import {
  argmaxDistributions,
  type CheckedBatch,
  checkBatch,
  drawArgmaxChoices,
  drawThompsonChoices,
  thompsonDistributions,
} from './choose.ts';
import { DisposedBanditError } from './errors.ts';
import { LinearLearner } from './linear-learner.ts';
import type { LinearPosterior, LinearPosteriorState, NoiseSetting } from './posterior.ts';
import { noiseGroupsOf } from './posterior.ts';
import { maskPenalty, meanAndWidth, meanScores, sampledArgmax, sampledArgmaxGrouped, sampleMatrix } from './scoring.ts';
import type { StateReader } from './serialization.ts';
import type { ArmBatch, BanditChoice, ContextualBandit, LinearBanditConfig, SerializedBandit } from './types.ts';

export type { LinearBanditConfig } from './types.ts';

/** Device copies of the posterior, rebuilt lazily after each update (uploads are O(d^2), microseconds). */
export class PosteriorTensors {
  private F: tf.Tensor2D | undefined;
  private mu: tf.Tensor2D | undefined;
  private G: tf.Tensor2D | undefined;

  constructor(private readonly posterior: LinearPosterior) {}

  /** F with F F^T = A^-1, [p, p]. @example matMul(X, tensors.sqrtCovariance()) */
  sqrtCovariance(): tf.Tensor2D {
    const p = this.posterior.dimension;
    this.F ??= tf.tensor2d(Float32Array.from(this.posterior.sqrtCovariance), [p, p]);
    return this.F;
  }

  /** mu, [p, 1]. @example matMul(X, tensors.mean()) // posterior-mean scores */
  mean(): tf.Tensor2D {
    this.mu ??= tf.tensor2d(Float32Array.from(this.posterior.mean()), [this.posterior.dimension, 1]);
    return this.mu;
  }

  /** G = [mu | F], [p, p + 1]: the sampling matrix of Thompson sampling. @example matMul(G, B) */
  meanAndSqrtCovariance(): tf.Tensor2D {
    if (!this.G) {
      const p = this.posterior.dimension;
      const F = this.posterior.sqrtCovariance;
      const mu = this.posterior.mean();
      const G = new Float32Array(p * (p + 1));
      for (let i = 0; i < p; i++) {
        G[i * (p + 1)] = mu[i];
        for (let j = 0; j < p; j++) G[i * (p + 1) + 1 + j] = F[i * p + j];
      }
      this.G = tf.tensor2d(G, [p, p + 1]);
    }
    return this.G;
  }

  /** Drops the copies (after an update, or on dispose). @example tensors.invalidate() */
  invalidate(): void {
    this.F?.dispose();
    this.mu?.dispose();
    this.G?.dispose();
    this.F = undefined;
    this.mu = undefined;
    this.G = undefined;
  }
}

/**
 * Thompson sampling over a linear posterior on `rows` (raw features or a learned representation):
 * draws the batch's K posterior samples from rng and returns each decision's argmax arm under the
 * mean and under every sample, [size * (K + 1)].
 * @example const winners = thompsonWinners(batch, checked, X, post, tensors, 16, noise, rng)
 */
export function thompsonWinners(
  batch: ArmBatch,
  checked: CheckedBatch,
  rows: tf.Tensor2D,
  posterior: LinearPosterior,
  tensors: PosteriorTensors,
  samples: number,
  noise: NoiseSetting,
  rng: Rng,
): Int32Array {
  const mask = checked.anyMasked ? maskPenalty(batch.allowed) : undefined;
  const scales = posterior.noiseScales(samples, rng, noise);
  const p = posterior.dimension;
  let winners: Int32Array;
  if (posterior.noiseGroups === 1) {
    // one noise scale per sample: fold it into the sample weights, a single GEMM scores everything
    winners = sampledArgmax(
      rows,
      checked.size,
      checked.arms,
      tensors.meanAndSqrtCovariance(),
      sampleMatrix(p, scales, () => rng.normal()),
      samples,
      mask,
    );
  } else {
    const n = checked.size * checked.arms;
    const groups = noiseGroupsOf(batch.features, batch.dimension, n, noise.groupFeatures);
    const oneHot = new Float32Array(n * posterior.noiseGroups);
    for (let r = 0; r < n; r++) oneHot[r * posterior.noiseGroups + groups[r]] = 1;
    const Z = new Float32Array(p * samples);
    for (let i = 0; i < Z.length; i++) Z[i] = rng.normal();
    winners = sampledArgmaxGrouped(
      rows,
      checked.size,
      checked.arms,
      tensors.sqrtCovariance(),
      tensors.mean(),
      Z,
      oneHot,
      Float32Array.from(scales),
      samples,
      mask,
    );
  }
  return winners;
}

export class LinearBandit implements ContextualBandit {
  readonly algorithm: LinearBanditConfig['algorithm'];
  /** the learning half (plain JavaScript): posterior, update, state, version */
  readonly learner: LinearLearner;
  private readonly posterior: LinearPosterior;
  private readonly tensors: PosteriorTensors;
  private readonly noise: NoiseSetting | undefined;
  private disposed = false;

  /**
   * @example const bandit = new LinearBandit(BanditConfigSchema.parse({ algorithm: 'linucb' }), 32)
   */
  constructor(config: LinearBanditConfig, dimension: number, state?: LinearPosteriorState | LinearLearner) {
    this.learner = state instanceof LinearLearner ? state : new LinearLearner(config, dimension, state);
    this.algorithm = this.learner.algorithm;
    this.posterior = this.learner.posterior;
    this.noise = this.learner.noise;
    this.tensors = new PosteriorTensors(this.posterior);
  }

  /** Rebuilds a bandit from a validated state (see loadBandit). @example LinearBandit.fromState(reader) */
  static fromState(reader: StateReader): LinearBandit {
    const learner = LinearLearner.fromState(reader);
    return new LinearBandit(learner.config, learner.dimension, learner);
  }

  get config(): LinearBanditConfig {
    return this.learner.config;
  }

  get dimension(): number {
    return this.learner.dimension;
  }

  get updates(): number {
    return this.learner.updates;
  }

  get version(): string {
    return this.learner.version;
  }

  /** The posterior (read-only use: tests, diagnostics). @example bandit.model.mean() */
  get model(): LinearPosterior {
    return this.posterior;
  }

  decide(batch: ArmBatch, rng: Rng): BanditChoice[] {
    this.assertLive();
    const checked = checkBatch(batch, this.dimension);
    if (checked.size === 0) return [];
    const n = checked.size * checked.arms;
    const d = this.dimension;
    const config = this.config;
    const floor = config.explorationFloor;
    if (config.algorithm === 'linear-ts') {
      const winners = this.thompsonWinnersOf(batch, checked, config.posteriorSamples, rng);
      return drawThompsonChoices(batch, checked, winners, config.posteriorSamples, floor, rng);
    }
    if (config.algorithm === 'linucb') {
      const { mean, ucb } = this.upperConfidence(batch, n, config.alpha);
      return drawArgmaxChoices(batch, checked, ucb, mean, 0, floor, rng);
    }
    const mean = meanScores(batch.features, n, d, this.tensors.mean());
    return drawArgmaxChoices(batch, checked, mean, mean, config.epsilon, floor, rng);
  }

  /** Each context's winning arm per posterior sample (linear TS), the same draws for decide and distribution. */
  private thompsonWinnersOf(batch: ArmBatch, checked: CheckedBatch, samples: number, rng: Rng): Int32Array {
    const X = tf.tensor2d(batch.features, [checked.size * checked.arms, this.dimension]);
    try {
      const noise = this.noise as NoiseSetting;
      return thompsonWinners(batch, checked, X, this.posterior, this.tensors, samples, noise, rng);
    } finally {
      X.dispose();
    }
  }

  /** LinUCB's score per row: mean + alpha * width, and the mean. */
  private upperConfidence(batch: ArmBatch, n: number, alpha: number): { mean: Float32Array; ucb: Float64Array } {
    const F = this.tensors.sqrtCovariance();
    const { mean, squaredWidth } = meanAndWidth(batch.features, n, this.dimension, F, this.tensors.mean());
    const ucb = new Float64Array(n);
    for (let r = 0; r < n; r++) ucb[r] = mean[r] + alpha * Math.sqrt(Math.max(0, squaredWidth[r]));
    return { mean, ucb };
  }

  distribution(batch: ArmBatch, rng: Rng): Float64Array {
    this.assertLive();
    const checked = checkBatch(batch, this.dimension);
    if (checked.size === 0) return new Float64Array(0);
    const n = checked.size * checked.arms;
    const d = this.dimension;
    const config = this.config;
    const floor = config.explorationFloor;
    if (config.algorithm === 'linear-ts') {
      const winners = this.thompsonWinnersOf(batch, checked, config.posteriorSamples, rng);
      return thompsonDistributions(batch, checked, winners, config.posteriorSamples, floor);
    }
    if (config.algorithm === 'linucb') {
      return argmaxDistributions(batch, checked, this.upperConfidence(batch, n, config.alpha).ucb, 0, floor);
    }
    const mean = meanScores(batch.features, n, d, this.tensors.mean());
    return argmaxDistributions(batch, checked, mean, config.epsilon, floor);
  }

  update(features: Float32Array, rewards: ArrayLike<number>): void {
    this.assertLive();
    this.learner.update(features, rewards);
    this.tensors.invalidate();
  }

  serialize(): SerializedBandit {
    this.assertLive();
    return this.learner.serialize();
  }

  dispose(): void {
    this.tensors.invalidate();
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new DisposedBanditError(this.algorithm);
  }
}
