/**
 * Learning without TF.js: create or load the learning half of any bandit, update it, save it. What
 * the learner Lambda runs, so its bundle carries no tensor library (decide's does). A learner loaded
 * from a bandit's state and the bandit itself learn identically: the bandits delegate their update,
 * state and version to these same learners (linear.ts, neural-linear.ts).
 *
 * @example
 *   const learner = loadLearner(JSON.parse(savedText));
 *   learner.update(chosenRows, rewards);
 *   const saved = JSON.stringify(learner.serialize()); // loadBandit(saved) decides with what it learned
 */
import { type BanditConfig, BanditConfigSchema } from '#config/schema.ts';
import { checkDimension } from './choose.ts';
import { InvalidBanditInputError } from './errors.ts';
import { LinearLearner } from './linear-learner.ts';
import { NeuralLinearLearner } from './neural-linear-learner.ts';
import { readState } from './serialization.ts';
import type { BanditLearner, SerializedBandit } from './types.ts';

/**
 * The config with defaults filled in, and the dimension, checked; InvalidBanditInputError names the field.
 * @example const valid = checkedBanditConfig({ algorithm: 'linucb' } as BanditConfig, 32)
 */
export function checkedBanditConfig(config: BanditConfig, dimension: number): BanditConfig {
  const parsed = BanditConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidBanditInputError(`config.${issue.path.map(String).join('.')}`, issue.message);
  }
  checkDimension(dimension);
  return parsed.data;
}

/**
 * A fresh learner for `dimension` features per arm: the state createBandit(config, dimension) starts from.
 * @example const learner = createLearner({ algorithm: 'linear-ts' } as BanditConfig, 32)
 */
export function createLearner(config: BanditConfig, dimension: number): BanditLearner {
  const valid = checkedBanditConfig(config, dimension);
  return valid.algorithm === 'neural-linear'
    ? new NeuralLinearLearner(valid, dimension)
    : new LinearLearner(valid, dimension);
}

/**
 * Restores a learner from serialize() output (parsed JSON), refusing a bad state as loadBandit does.
 * @example const learner = loadLearner(JSON.parse(text))
 */
export function loadLearner(serialized: SerializedBandit): BanditLearner {
  const reader = readState(serialized);
  return reader.algorithm === 'neural-linear' ? NeuralLinearLearner.fromState(reader) : LinearLearner.fromState(reader);
}
