/**
 * Contextual-bandit learners for the send-time policy: linear Thompson sampling, LinUCB,
 * epsilon-greedy and NeuralLinear over action-dependent arm features, scored with TensorFlow.js.
 * Pure: no AWS, no environment, no clock; every random draw comes from the Rng passed to decide() or
 * from config.seed. See README.md in this folder for the design and the measured numbers.
 *
 * @example
 *   await initTensorBackend();
 *   const bandit = createBandit(BanditConfigSchema.parse({ algorithm: 'linear-ts' }), 32);
 *   const [choice] = bandit.decide({ size: 1, arms: 72, dimension: 32, features, allowed }, new Rng(7));
 *   bandit.update(chosenRow, [reward]);
 *   const saved = JSON.stringify(bandit.serialize());
 *   const again = loadBandit(JSON.parse(saved)); // decides exactly as `bandit` would
 */
import type { BanditConfig } from '#config/schema.ts';
import { assertTensorBackendReady } from './backend.ts';
import { checkedBanditConfig } from './learning.ts';
import { LinearBandit } from './linear.ts';
import { NeuralLinearBandit } from './neural-linear.ts';
import { readState } from './serialization.ts';
import type { ContextualBandit, SerializedBandit } from './types.ts';

export {
  activeTensorBackend,
  initTensorBackend,
  type TensorBackendName,
  type TensorBackendOptions,
} from './backend.ts';
export {
  BanditError,
  DisposedBanditError,
  InvalidBanditInputError,
  InvalidBanditStateError,
  NoAllowedArmError,
  TensorBackendError,
} from './errors.ts';
export { checkedBanditConfig, createLearner, loadLearner } from './learning.ts';
export { LinearBandit, type LinearBanditConfig } from './linear.ts';
export { LinearLearner } from './linear-learner.ts';
export { NeuralLinearBandit, type NeuralLinearConfig } from './neural-linear.ts';
export { NeuralLinearLearner } from './neural-linear-learner.ts';
export { STATE_FORMAT, STATE_FORMAT_VERSION } from './serialization.ts';
export type {
  ArmBatch,
  BanditAlgorithm,
  BanditChoice,
  BanditLearner,
  ContextualBandit,
  EncodedArray,
  SerializedBandit,
} from './types.ts';

/**
 * A fresh learner for `dimension` features per arm. The config is validated (defaults filled in) with
 * the analysts' schema; call initTensorBackend() once before.
 * @example const bandit = createBandit({ algorithm: 'linucb', alpha: 1 } as BanditConfig, 32)
 */
export function createBandit(config: BanditConfig, dimension: number): ContextualBandit {
  const valid = checkedBanditConfig(config, dimension);
  assertTensorBackendReady();
  return valid.algorithm === 'neural-linear'
    ? new NeuralLinearBandit(valid, dimension)
    : new LinearBandit(valid, dimension);
}

/**
 * Restores a learner from serialize() output (parsed JSON). Refuses, with InvalidBanditStateError
 * naming the field, anything that is not a 'sto-bandit' version 1 state with consistent shapes.
 * @example const bandit = loadBandit(JSON.parse(text))
 */
export function loadBandit(serialized: SerializedBandit): ContextualBandit {
  const reader = readState(serialized);
  assertTensorBackendReady();
  return reader.algorithm === 'neural-linear' ? NeuralLinearBandit.fromState(reader) : LinearBandit.fromState(reader);
}
