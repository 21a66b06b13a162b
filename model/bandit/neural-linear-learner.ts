/**
 * The learning side of NeuralLinear (Riquelme, Tucker, Snoek, "Deep Bayesian Bandits Showdown", ICLR
 * 2018), in plain JavaScript: the representation network (mlp.ts), the Bayesian linear head on
 * [z(x), 1], the replay buffer, their update, state and version. The learner Lambda uses it without
 * TF.js (learning.ts); NeuralLinearBandit (neural-linear.ts) wraps one and adds decide().
 *
 * Learning: every reward goes into the replay buffer (the latest replaySize) and into the head, with
 * the current representation. After every trainEvery rewards the network is trained for trainEpochs
 * passes over the buffer, and the head is recomputed from the whole buffer in the new representation
 * (the old head statistics describe features that no longer exist). Updates are cut at those training
 * points, so the state depends only on the sequence of rewards, not on how update() calls batch them.
 */
import { Rng } from '#model/random.ts';
import { checkDimension, checkUpdate } from './choose.ts';
import { InvalidBanditStateError } from './errors.ts';
import { encodePosterior, posteriorArrays, readPosteriorState } from './linear-learner.ts';
import { RepresentationNetwork, type TrainingReport } from './mlp.ts';
import {
  LinearPosterior,
  type LinearPosteriorState,
  type NoiseSetting,
  noiseGroupCount,
  noiseGroupsOf,
  noiseSetting,
} from './posterior.ts';
import { encodeArray, STATE_FORMAT, STATE_FORMAT_VERSION, type StateReader, stateHash } from './serialization.ts';
import type { BanditLearner, NeuralLinearConfig, SerializedBandit } from './types.ts';

/** Rewards kept for retraining, oldest overwritten first. */
class ReplayBuffer {
  readonly features: Float32Array;
  readonly rewards: Float64Array;
  size = 0;
  private next = 0;

  constructor(
    readonly capacity: number,
    readonly dimension: number,
  ) {
    this.features = new Float32Array(capacity * dimension);
    this.rewards = new Float64Array(capacity);
  }

  push(features: Float32Array, offset: number, reward: number): void {
    const d = this.dimension;
    this.features.set(features.subarray(offset, offset + d), this.next * d);
    this.rewards[this.next] = reward;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** Contents oldest first: training and serialization see one order whatever the ring position. */
  chronological(): { features: Float32Array; rewards: Float64Array } {
    const d = this.dimension;
    const start = this.size < this.capacity ? 0 : this.next;
    const features = new Float32Array(this.size * d);
    const rewards = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) {
      const slot = (start + i) % this.capacity;
      features.set(this.features.subarray(slot * d, slot * d + d), i * d);
      rewards[i] = this.rewards[slot];
    }
    return { features, rewards };
  }
}

/** What a saved NeuralLinear state holds besides its config. */
export interface NeuralLinearState {
  weights: Float32Array[];
  head: LinearPosteriorState;
  buffer: { features: Float32Array; rewards: Float64Array };
  updates: number;
  sinceTraining: number;
  trainings: number;
}

export class NeuralLinearLearner implements BanditLearner {
  readonly algorithm = 'neural-linear' as const;
  readonly network: RepresentationNetwork;
  readonly head: LinearPosterior;
  readonly noise: NoiseSetting;
  private readonly buffer: ReplayBuffer;
  private updateCount = 0;
  private sinceTraining = 0;
  private trainingCount = 0;
  /** bumped whenever the network's weights change (NeuralLinearBandit re-uploads them) */
  weightsRevision = 0;
  private versionCache: string | undefined;
  /** what the last retraining did (diagnostics; not part of the state) */
  lastTraining: TrainingReport | undefined;

  /** @example const learner = new NeuralLinearLearner(BanditConfigSchema.parse({ algorithm: 'neural-linear' }), 32) */
  constructor(
    readonly config: NeuralLinearConfig,
    readonly dimension: number,
    restored?: NeuralLinearState,
  ) {
    checkDimension(dimension);
    this.noise = noiseSetting(config, dimension);
    this.network = new RepresentationNetwork(
      dimension,
      config.hiddenUnits,
      restored ? restored.weights : new Rng(config.seed).fork('neural-linear/init'),
    );
    const p = this.network.representationDimension + 1;
    this.head = new LinearPosterior(p, config.priorPrecision, noiseGroupCount(this.noise), restored?.head);
    this.buffer = new ReplayBuffer(config.replaySize, dimension);
    if (restored) {
      const n = restored.buffer.rewards.length;
      for (let i = 0; i < n; i++) this.buffer.push(restored.buffer.features, i * dimension, restored.buffer.rewards[i]);
      this.updateCount = restored.updates;
      this.sinceTraining = restored.sinceTraining;
      this.trainingCount = restored.trainings;
    }
  }

  /** Rebuilds a learner from a validated state (see loadLearner). @example NeuralLinearLearner.fromState(reader) */
  static fromState(reader: StateReader): NeuralLinearLearner {
    const config = reader.config as NeuralLinearConfig;
    const d = reader.dimension;
    const shapes = RepresentationNetwork.shapes(d, config.hiddenUnits);
    const weights = shapes.map((shape, i) => reader.array(`weight${i}`, 'float32', shape));
    const p = config.hiddenUnits[config.hiddenUnits.length - 1] + 1;
    const groups = noiseGroupCount(noiseSetting(config, d));
    const headCount = reader.scalar('headCount', { min: 0, integer: true });
    const head = readPosteriorState(reader, 'head', p, groups, headCount);
    const size = reader.scalar('replayRows', { min: 0, integer: true });
    if (size > config.replaySize) {
      throw new InvalidBanditStateError(
        'scalars.replayRows',
        `is ${size}, above config.replaySize ${config.replaySize}`,
      );
    }
    return new NeuralLinearLearner(config, d, {
      weights,
      head,
      buffer: {
        features: reader.array('replayFeatures', 'float32', [size, d]),
        rewards: reader.array('replayRewards', 'float64', [size]),
      },
      updates: reader.updates,
      sinceTraining: reader.scalar('sinceTraining', { min: 0, integer: true }),
      trainings: reader.scalar('trainings', { min: 0, integer: true }),
    });
  }

  get updates(): number {
    return this.updateCount;
  }

  /** How many times the representation was retrained. */
  get trainings(): number {
    return this.trainingCount;
  }

  get version(): string {
    if (!this.versionCache) {
      const replay = this.buffer.chronological();
      this.versionCache = `${this.algorithm}-${stateHash(this.config, this.updateCount, [
        ...this.network.weights,
        ...posteriorArrays(this.head),
        replay.features,
        replay.rewards,
      ])}`;
    }
    return this.versionCache;
  }

  update(features: Float32Array, rewards: ArrayLike<number>): void {
    const d = this.dimension;
    const n = checkUpdate(features, rewards, d);
    let start = 0;
    while (start < n) {
      // cut at the next training point so the head sees each reward in the representation of its time
      const chunk = Math.min(n - start, Math.max(1, this.config.trainEvery - this.sinceTraining));
      const rows = features.subarray(start * d, (start + chunk) * d);
      const z = this.headRows(rows, chunk);
      const groups = this.groupsOf(rows, chunk);
      const p = this.head.dimension;
      for (let r = 0; r < chunk; r++) {
        this.buffer.push(features, (start + r) * d, rewards[start + r]);
        this.head.observe(z, r * p, rewards[start + r], groups[r]);
      }
      this.updateCount += chunk;
      this.sinceTraining += chunk;
      start += chunk;
      if (this.sinceTraining >= this.config.trainEvery) this.retrain();
    }
    this.versionCache = undefined;
  }

  /**
   * Trains the representation on the replay buffer and recomputes the head from it. Runs by itself
   * every trainEvery rewards; public for a learner that wants to retrain on its own schedule.
   * @example learner.retrain()
   */
  retrain(): TrainingReport {
    const replay = this.buffer.chronological();
    const n = replay.rewards.length;
    const rng = new Rng(this.config.seed).fork(`neural-linear/train/${this.updateCount}`);
    this.lastTraining = this.network.train(
      replay.features,
      replay.rewards,
      n,
      { epochs: this.config.trainEpochs, batchSize: this.config.batchSize, learningRate: this.config.learningRate },
      rng,
    );
    this.weightsRevision++;
    this.head.rebuild(this.headRows(replay.features, n), replay.rewards, this.groupsOf(replay.features, n), n);
    this.sinceTraining = 0;
    this.trainingCount += 1;
    this.versionCache = undefined;
    return this.lastTraining;
  }

  serialize(): SerializedBandit {
    const d = this.dimension;
    const replay = this.buffer.chronological();
    const shapes = RepresentationNetwork.shapes(d, this.config.hiddenUnits);
    const arrays: SerializedBandit['arrays'] = {};
    this.network.weights.forEach((w, i) => {
      arrays[`weight${i}`] = encodeArray(w, shapes[i]);
    });
    Object.assign(arrays, encodePosterior(this.head, 'head'));
    arrays.replayFeatures = encodeArray(replay.features, [replay.rewards.length, d]);
    arrays.replayRewards = encodeArray(replay.rewards, [replay.rewards.length]);
    return {
      format: STATE_FORMAT,
      formatVersion: STATE_FORMAT_VERSION,
      algorithm: this.algorithm,
      dimension: d,
      config: this.config,
      updates: this.updateCount,
      scalars: {
        headCount: this.head.count,
        replayRows: replay.rewards.length,
        sinceTraining: this.sinceTraining,
        trainings: this.trainingCount,
      },
      arrays,
    };
  }

  /** Noise group of each raw feature row (all 0 without noise groups). */
  groupsOf(features: Float32Array, n: number): Int32Array {
    return noiseGroupsOf(features, this.dimension, n, this.noise.learned ? this.noise.groupFeatures : []);
  }

  /** [z(x), 1] rows for the head, for n feature rows. */
  private headRows(features: Float32Array, n: number): Float32Array {
    const h = this.network.representationDimension;
    const z = this.network.representation(features, n);
    const rows = new Float32Array(n * (h + 1));
    for (let r = 0; r < n; r++) {
      rows.set(z.subarray(r * h, (r + 1) * h), r * (h + 1));
      rows[r * (h + 1) + h] = 1;
    }
    return rows;
  }
}
