/** The learner contract: what the policy hands to a contextual bandit and what it gets back. */
import type { BanditConfig } from '#config/schema.ts';
import type { Rng } from '#model/random.ts';

export type BanditAlgorithm = BanditConfig['algorithm'];
export type LinearBanditConfig = Extract<BanditConfig, { algorithm: 'linear-ts' | 'linucb' | 'epsilon-greedy' }>;
export type NeuralLinearConfig = Extract<BanditConfig, { algorithm: 'neural-linear' }>;

/**
 * A batch of decisions, each choosing one of `arms` arms described by action-dependent features
 * (one parameter vector is shared by all arms, so an arm's features carry everything that distinguishes it).
 */
export interface ArmBatch {
  /** decisions in the batch */
  size: number;
  /** arms per decision (the same for every decision of the batch) */
  arms: number;
  /** features per arm */
  dimension: number;
  /** row-major [size * arms * dimension] */
  features: Float32Array;
  /** [size * arms], 1 = allowed, 0 = masked; every decision needs at least one allowed arm */
  allowed: Uint8Array;
}

export interface BanditChoice {
  /** index of the chosen arm in 0..arms-1, always an allowed one */
  arm: number;
  /** probability with which this arm was drawn, in (0, 1]: (1 - floor) * pi(arm) + floor / allowedArms */
  propensity: number;
  /** true when the chosen arm is not one the point estimate (posterior mean) ranks first */
  explored: boolean;
}

/**
 * The learning half of a bandit: what the learner Lambda needs (learning.ts), in plain JavaScript.
 * Every ContextualBandit is one, and a learner loaded from a bandit's state learns exactly as the
 * bandit would: same state, same version.
 */
export interface BanditLearner {
  readonly algorithm: BanditAlgorithm;
  readonly dimension: number;
  /** rewards learned so far */
  readonly updates: number;
  /** algorithm + short content hash of config and state; changes with every update */
  readonly version: string;
  /** features: n * dimension (the chosen arms' rows), rewards: n */
  update(features: Float32Array, rewards: ArrayLike<number>): void;
  serialize(): SerializedBandit;
}

export interface ContextualBandit extends BanditLearner {
  decide(batch: ArmBatch, rng: Rng): BanditChoice[];
  /**
   * The distribution decide() draws from, for every arm of every decision: [size * arms], row-major, 0 on
   * masked arms, each decision's row summing to 1 (the exploration floor included). For the same rng state
   * it is the distribution of the decide() call that would have been made (Thompson sampling: the same K
   * shared posterior samples), so its entry at the arm decide() chooses is the propensity decide() logs.
   * What off-policy evaluation needs to score this learner as a target policy. Every shipped learner
   * implements it; a stand-in learner may leave it out.
   */
  distribution?(batch: ArmBatch, rng: Rng): Float64Array;
  /** frees every tensor the bandit owns; the bandit is unusable afterwards */
  dispose(): void;
}

/** One array of the state, little-endian bytes in base64. */
export interface EncodedArray {
  dtype: 'float32' | 'float64';
  shape: number[];
  base64: string;
}

/** JSON-safe, versioned learner state. */
export interface SerializedBandit {
  format: 'sto-bandit';
  formatVersion: 1;
  algorithm: BanditAlgorithm;
  dimension: number;
  config: BanditConfig;
  updates: number;
  /** named numbers of the state (e.g. sum of squared rewards) */
  scalars: Record<string, number>;
  /** named arrays of the state (Float64 for sufficient statistics, Float32 for network weights and inputs) */
  arrays: Record<string, EncodedArray>;
}
