/**
 * The learning side of the linear bandits (linear TS, LinUCB, epsilon-greedy), in plain JavaScript:
 * the shared Bayesian ridge posterior (posterior.ts), its update, its state and its version. The
 * learner Lambda uses it without TF.js (learning.ts); LinearBandit (linear.ts) wraps one and adds
 * the tensor scoring of decide().
 */
import { checkDimension, checkUpdate } from './choose.ts';
import { InvalidBanditStateError } from './errors.ts';
import {
  LinearPosterior,
  type LinearPosteriorState,
  type NoiseSetting,
  noiseGroupCount,
  noiseGroupsOf,
  noiseSetting,
} from './posterior.ts';
import { encodeArray, STATE_FORMAT, STATE_FORMAT_VERSION, type StateReader, stateHash } from './serialization.ts';
import type { BanditLearner, LinearBanditConfig, SerializedBandit } from './types.ts';

export class LinearLearner implements BanditLearner {
  readonly algorithm: LinearBanditConfig['algorithm'];
  readonly posterior: LinearPosterior;
  /** Thompson sampling's noise (fixed or learned); undefined for LinUCB and epsilon-greedy */
  readonly noise: NoiseSetting | undefined;
  private versionCache: string | undefined;

  /** @example const learner = new LinearLearner(BanditConfigSchema.parse({ algorithm: 'linucb' }), 32) */
  constructor(
    readonly config: LinearBanditConfig,
    readonly dimension: number,
    state?: LinearPosteriorState,
  ) {
    checkDimension(dimension);
    this.algorithm = config.algorithm;
    this.noise = config.algorithm === 'linear-ts' ? noiseSetting(config, dimension) : undefined;
    this.posterior = new LinearPosterior(dimension, config.priorPrecision, noiseGroupCount(this.noise), state);
  }

  /** Rebuilds a learner from a validated state (see loadLearner). @example LinearLearner.fromState(reader) */
  static fromState(reader: StateReader): LinearLearner {
    const config = reader.config as LinearBanditConfig;
    const d = reader.dimension;
    const groups = config.algorithm === 'linear-ts' ? noiseGroupCount(noiseSetting(config, d)) : 1;
    return new LinearLearner(config, d, readPosteriorState(reader, '', d, groups, reader.updates));
  }

  get updates(): number {
    return this.posterior.count;
  }

  get version(): string {
    this.versionCache ??= `${this.algorithm}-${stateHash(this.config, this.updates, posteriorArrays(this.posterior))}`;
    return this.versionCache;
  }

  update(features: Float32Array, rewards: ArrayLike<number>): void {
    const n = checkUpdate(features, rewards, this.dimension);
    if (n === 0) return;
    const groups = noiseGroupsOf(features, this.dimension, n, this.noise?.learned ? this.noise.groupFeatures : []);
    for (let r = 0; r < n; r++) this.posterior.observe(features, r * this.dimension, rewards[r], groups[r]);
    this.versionCache = undefined;
  }

  serialize(): SerializedBandit {
    return {
      format: STATE_FORMAT,
      formatVersion: STATE_FORMAT_VERSION,
      algorithm: this.algorithm,
      dimension: this.dimension,
      config: this.config,
      updates: this.updates,
      scalars: {},
      arrays: encodePosterior(this.posterior, ''),
    };
  }
}

/** The arrays that make a posterior's state, for hashing. @example stateHash(config, n, posteriorArrays(post)) */
export function posteriorArrays(post: LinearPosterior): Float64Array[] {
  return [post.sqrtCovariance, post.rewardSum, post.mean(), post.noiseCounts, post.noiseSums];
}

/**
 * A posterior's arrays for serialize(), names prefixed (NeuralLinear's head uses 'head').
 * @example encodePosterior(post, 'head') // { headSqrtCovariance, headRewardSum, ... }
 */
export function encodePosterior(post: LinearPosterior, prefix: string): SerializedBandit['arrays'] {
  const d = post.dimension;
  const name = (n: string) => (prefix ? `${prefix}${n[0].toUpperCase()}${n.slice(1)}` : n);
  return {
    [name('sqrtCovariance')]: encodeArray(post.sqrtCovariance, [d, d]),
    [name('rewardSum')]: encodeArray(post.rewardSum, [d]),
    [name('mean')]: encodeArray(post.mean(), [d]),
    [name('noiseCounts')]: encodeArray(post.noiseCounts, [post.noiseGroups]),
    [name('noiseSums')]: encodeArray(post.noiseSums, [post.noiseGroups]),
  };
}

/**
 * Reads what encodePosterior wrote, checking shapes and values.
 * @example new LinearPosterior(d, lambda, groups, readPosteriorState(reader, '', d, groups, n))
 */
export function readPosteriorState(
  reader: StateReader,
  prefix: string,
  d: number,
  groups: number,
  count: number,
): LinearPosteriorState {
  const name = (n: string) => (prefix ? `${prefix}${n[0].toUpperCase()}${n.slice(1)}` : n);
  const noiseCounts = reader.array(name('noiseCounts'), 'float64', [groups]);
  const noiseSums = reader.array(name('noiseSums'), 'float64', [groups]);
  noiseCounts.forEach((c, i) => {
    if (c < 0 || !Number.isInteger(c)) {
      throw new InvalidBanditStateError(`arrays.${name('noiseCounts')}`, `[${i}] = ${c} is not a count`);
    }
  });
  noiseSums.forEach((v, i) => {
    if (v < 0) throw new InvalidBanditStateError(`arrays.${name('noiseSums')}`, `[${i}] = ${v} is negative`);
  });
  return {
    sqrtCovariance: reader.array(name('sqrtCovariance'), 'float64', [d, d]),
    rewardSum: reader.array(name('rewardSum'), 'float64', [d]),
    mean: reader.array(name('mean'), 'float64', [d]),
    noiseCounts,
    noiseSums,
    count,
  };
}
