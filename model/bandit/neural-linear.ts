/**
 * NeuralLinear (Riquelme, Tucker, Snoek, "Deep Bayesian Bandits Showdown", ICLR 2018): an MLP learns a
 * representation z(x) of an arm's features by regression on the rewards in a replay buffer; a Bayesian
 * linear head on [z(x), 1] does Thompson sampling exactly as linear-ts does on raw features (same K
 * shared posterior samples per batch, same exact propensities, see linear.ts).
 *
 * Learning (replay buffer, retraining, the head) is NeuralLinearLearner's, in plain JavaScript
 * (neural-linear-learner.ts); this class adds decide(): the network's weights uploaded as tensors,
 * z(x) for the whole batch as fused GEMMs, and the head's Thompson sampling on the tensor side.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '#model/random.ts';
import {
  assertFiniteAllowedFeatures,
  type CheckedBatch,
  checkBatch,
  drawThompsonChoices,
  thompsonDistributions,
} from './choose.ts';
import { DisposedBanditError } from './errors.ts';
import { PosteriorTensors, thompsonWinners } from './linear.ts';
import { RepresentationNetwork, type TrainingReport } from './mlp.ts';
import { NeuralLinearLearner, type NeuralLinearState } from './neural-linear-learner.ts';
import type { StateReader } from './serialization.ts';
import type { ArmBatch, BanditChoice, ContextualBandit, NeuralLinearConfig, SerializedBandit } from './types.ts';

export type { NeuralLinearConfig } from './types.ts';

/**
 * Device copies of the network's weights, uploaded again after the learner retrains. Exported for tests:
 * its rows must match the learner's JS representation.
 */
export class NetworkTensors {
  private weights: tf.Tensor[] | undefined;
  private revision = -1;

  constructor(private readonly learner: NeuralLinearLearner) {}

  /** [z(x), 1] for every row of X, for the head: one fused GEMM + ReLU per hidden layer. */
  headRows(X: tf.Tensor2D): tf.Tensor2D {
    const network = this.learner.network;
    if (!this.weights || this.revision !== this.learner.weightsRevision) {
      this.invalidate();
      const shapes = RepresentationNetwork.shapes(network.inputDimension, network.hidden);
      this.weights = network.weights.map((w, i) => tf.tensor(w, shapes[i]));
      this.revision = this.learner.weightsRevision;
    }
    const weights = this.weights;
    return tf.tidy(() => {
      let a = X;
      for (let l = 0; l < network.hidden.length; l++) {
        a = tf.fused.matMul({
          a,
          b: weights[2 * l] as tf.Tensor2D,
          bias: weights[2 * l + 1],
          activation: 'relu',
        }) as tf.Tensor2D;
      }
      return tf.concat([a, tf.ones([X.shape[0], 1])], 1);
    });
  }

  invalidate(): void {
    for (const w of this.weights ?? []) w.dispose();
    this.weights = undefined;
  }
}

export class NeuralLinearBandit implements ContextualBandit {
  readonly algorithm = 'neural-linear' as const;
  /** the learning half (plain JavaScript): network, head, replay buffer, state, version */
  readonly learner: NeuralLinearLearner;
  private readonly network: NetworkTensors;
  private readonly headTensors: PosteriorTensors;
  private disposed = false;

  /** @example const bandit = new NeuralLinearBandit(BanditConfigSchema.parse({ algorithm: 'neural-linear' }), 32) */
  constructor(config: NeuralLinearConfig, dimension: number, restored?: NeuralLinearState | NeuralLinearLearner) {
    this.learner =
      restored instanceof NeuralLinearLearner ? restored : new NeuralLinearLearner(config, dimension, restored);
    this.network = new NetworkTensors(this.learner);
    this.headTensors = new PosteriorTensors(this.learner.head);
  }

  /** Rebuilds a bandit from a validated state (see loadBandit). @example NeuralLinearBandit.fromState(reader) */
  static fromState(reader: StateReader): NeuralLinearBandit {
    const learner = NeuralLinearLearner.fromState(reader);
    return new NeuralLinearBandit(learner.config, learner.dimension, learner);
  }

  get config(): NeuralLinearConfig {
    return this.learner.config;
  }

  get dimension(): number {
    return this.learner.dimension;
  }

  get updates(): number {
    return this.learner.updates;
  }

  /** How many times the representation was retrained. */
  get trainings(): number {
    return this.learner.trainings;
  }

  /** what the last retraining did (diagnostics; not part of the state) */
  get lastTraining(): TrainingReport | undefined {
    return this.learner.lastTraining;
  }

  get version(): string {
    return this.learner.version;
  }

  decide(batch: ArmBatch, rng: Rng): BanditChoice[] {
    this.assertLive();
    const checked = checkBatch(batch, this.dimension);
    if (checked.size === 0) return [];
    assertFiniteAllowedFeatures(batch, checked);
    const n = checked.size * checked.arms;
    const X = tf.tensor2d(batch.features, [n, this.dimension]);
    const rows = this.network.headRows(X);
    X.dispose();
    try {
      const samples = this.config.posteriorSamples;
      const winners = this.winners(batch, checked, rows, rng);
      return drawThompsonChoices(batch, checked, winners, samples, this.config.explorationFloor, rng);
    } finally {
      rows.dispose();
    }
  }

  distribution(batch: ArmBatch, rng: Rng): Float64Array {
    this.assertLive();
    const checked = checkBatch(batch, this.dimension);
    if (checked.size === 0) return new Float64Array(0);
    assertFiniteAllowedFeatures(batch, checked);
    const n = checked.size * checked.arms;
    const X = tf.tensor2d(batch.features, [n, this.dimension]);
    const rows = this.network.headRows(X);
    X.dispose();
    try {
      const samples = this.config.posteriorSamples;
      const winners = this.winners(batch, checked, rows, rng);
      return thompsonDistributions(batch, checked, winners, samples, this.config.explorationFloor);
    } finally {
      rows.dispose();
    }
  }

  update(features: Float32Array, rewards: ArrayLike<number>): void {
    this.assertLive();
    this.learner.update(features, rewards);
    this.headTensors.invalidate();
  }

  /**
   * Trains the representation on the replay buffer and recomputes the head (see NeuralLinearLearner.retrain).
   * @example bandit.retrain()
   */
  retrain(): TrainingReport {
    this.assertLive();
    const report = this.learner.retrain();
    this.headTensors.invalidate();
    return report;
  }

  serialize(): SerializedBandit {
    this.assertLive();
    return this.learner.serialize();
  }

  dispose(): void {
    if (this.disposed) return;
    this.headTensors.invalidate();
    this.network.invalidate();
    this.disposed = true;
  }

  /** Thompson sampling of the head on the batch's [z(x), 1] rows. */
  private winners(batch: ArmBatch, checked: CheckedBatch, rows: tf.Tensor2D, rng: Rng): Int32Array {
    const samples = this.config.posteriorSamples;
    return thompsonWinners(batch, checked, rows, this.learner.head, this.headTensors, samples, this.learner.noise, rng);
  }

  private assertLive(): void {
    if (this.disposed) throw new DisposedBanditError(this.algorithm);
  }
}
