/**
 * The learning half of the send-time policy, without TF.js: the saved policy format, the reward the
 * bandit optimises (engagement minus channel cost), and PolicyLearner, which loads a saved policy,
 * learns rewards and saves it again. The learner Lambda runs this; SendTimePolicy (policy.ts) shares
 * every piece of it, so a state the learner writes is the state SendTimePolicy.learn would have made,
 * with the same policy version.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { createLearner, loadLearner } from './bandit/learning.ts';
import type { BanditLearner, SerializedBandit } from './bandit/types.ts';
import { IncompatibleModelStateError } from './errors.ts';
import { FEATURE_DIMENSION, FEATURE_INDEX, FEATURE_VERSION } from './features.ts';

/** One reward to learn from: the logged feature row of the chosen arm and its attributed engagement reward. */
export interface LearnRow {
  features: ArrayLike<number>;
  /** engagement reward from reward attribution, before channel cost (learn subtracts it) */
  reward: number;
}

export interface SerializedPolicy {
  format: 'send-time-policy/1';
  featureVersion: string;
  featureDimension: number;
  /** config version the state was last trained under (informative: a new config may keep the state) */
  configVersion: string;
  bandit: SerializedBandit;
}

/**
 * The reward the bandit optimises for one decision: engagement reward minus the cost of its channel.
 * @example netReward(1, features) // 1 - features[FEATURE_INDEX.channel_cost]
 */
export function netReward(engagementReward: number, features: ArrayLike<number>): number {
  return engagementReward - features[FEATURE_INDEX.channel_cost];
}

/**
 * Refuses state written for another feature layout (its weights would mean other things).
 * @example checkPolicyState(JSON.parse(savedText)) // throws IncompatibleModelStateError on a mismatch
 */
export function checkPolicyState(state: SerializedPolicy): void {
  if (state?.format !== 'send-time-policy/1' || state.featureVersion !== FEATURE_VERSION) {
    throw new IncompatibleModelStateError(
      { format: 'send-time-policy/1', featureVersion: FEATURE_VERSION },
      { format: state?.format, featureVersion: state?.featureVersion },
    );
  }
}

/**
 * Refuses state of another feature layout or of another algorithm than config.bandit.algorithm
 * (switching algorithm means starting a new learner, on purpose); returns the bandit's state.
 * @example const bandit = loadBandit(checkedBanditState(config, state))
 */
export function checkedBanditState(config: AnalystConfig, state: SerializedPolicy): SerializedBandit {
  checkPolicyState(state);
  if (state.bandit?.algorithm !== config.bandit.algorithm) {
    throw new IncompatibleModelStateError(
      { algorithm: config.bandit.algorithm },
      { algorithm: state.bandit?.algorithm },
    );
  }
  return state.bandit;
}

/** A learner's dimension must be the feature layout's. */
export function checkLearnerDimension(dimension: number): void {
  if (dimension !== FEATURE_DIMENSION) {
    throw new IncompatibleModelStateError({ featureDimension: FEATURE_DIMENSION }, { featureDimension: dimension });
  }
}

/**
 * The bandit's training matrix for rows: features [n * FEATURE_DIMENSION] and net rewards (netReward).
 * @example const { features, rewards } = learningMatrix(rows); bandit.update(features, rewards)
 */
export function learningMatrix(rows: readonly LearnRow[]): { features: Float32Array; rewards: Float64Array } {
  const D = FEATURE_DIMENSION;
  const features = new Float32Array(rows.length * D);
  const rewards = new Float64Array(rows.length);
  rows.forEach((row, i) => {
    if (row.features.length !== D) {
      throw new IncompatibleModelStateError({ featureDimension: D }, { featureDimension: row.features.length });
    }
    if (!Number.isFinite(row.reward)) throw new RangeError(`reward ${row.reward} of row ${i} is not finite`);
    for (let j = 0; j < D; j++) features[i * D + j] = row.features[j];
    rewards[i] = netReward(row.reward, row.features);
  });
  return { features, rewards };
}

/** The version logged on every decision: the learner's version and the feature layout's. */
export function policyVersionOf(learner: Pick<BanditLearner, 'version'>): string {
  return `${learner.version}+${FEATURE_VERSION}`;
}

/** A learner's state wrapped as a saved policy. */
export function serializedPolicy(config: AnalystConfig, learner: Pick<BanditLearner, 'serialize'>): SerializedPolicy {
  return {
    format: 'send-time-policy/1',
    featureVersion: FEATURE_VERSION,
    featureDimension: FEATURE_DIMENSION,
    configVersion: config.version,
    bandit: learner.serialize(),
  };
}

/**
 * Loads, learns and saves a policy's state without deciding (no TF.js): the learner Lambda's model.
 * @example
 *   const learner = PolicyLearner.load(config, head.state);
 *   learner.learn([{ features, reward: 1 }]);
 *   write(learner.serialize(), learner.version); // SendTimePolicy.load of that state has this version
 */
export class PolicyLearner {
  private constructor(
    readonly config: AnalystConfig,
    private readonly learner: BanditLearner,
  ) {
    checkLearnerDimension(learner.dimension);
  }

  /** A fresh learner as config.bandit describes. @example PolicyLearner.create(config) */
  static create(config: AnalystConfig): PolicyLearner {
    return new PolicyLearner(config, createLearner(config.bandit, FEATURE_DIMENSION));
  }

  /** Restores a saved policy's learner, refusing what SendTimePolicy.load refuses. @example PolicyLearner.load(config, state) */
  static load(config: AnalystConfig, state: SerializedPolicy): PolicyLearner {
    return new PolicyLearner(config, loadLearner(checkedBanditState(config, state)));
  }

  get version(): string {
    return policyVersionOf(this.learner);
  }

  /** rewards learned so far */
  get updates(): number {
    return this.learner.updates;
  }

  /** Updates the learner with engagement rewards; the channel cost is subtracted here (see netReward). */
  learn(rows: readonly LearnRow[]): void {
    if (rows.length === 0) return;
    const { features, rewards } = learningMatrix(rows);
    this.learner.update(features, rewards);
  }

  serialize(): SerializedPolicy {
    return serializedPolicy(this.config, this.learner);
  }
}
