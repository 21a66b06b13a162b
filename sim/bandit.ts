/**
 * The learning policy in the simulator: the production SendTimePolicy (features, guardrails, TF.js
 * bandit) exactly as the decide Lambda runs it, with the rewards the simulator attributes fed to learn().
 */
import type { AnalystConfig } from '#config/schema.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import type { FeaturePriors } from '#model/features.ts';
import { SendTimePolicy } from '#model/policy.ts';
import { learnInChunks, pretrainRows } from '#model/pretrain.ts';
import { hashString, Rng } from '#model/random.ts';
import type { BanditFactory } from './policies.ts';
import type { PolicyContext, SimPolicy } from './policy-api.ts';
import { channelPriors } from './priors.ts';
import type { WarmupHistory } from './warmup.ts';

/**
 * Learns from the notifications sent before the bandit started (legacy campaigns on random channels at
 * random daytime hours) through the production pretraining path (model/pretrain.ts pretrainRows): each send
 * with the feature row it would have had, rebuilt from the user's state at the send, and the engagement
 * reward attributed to it; sends whose attribution window had not closed by day 0 are left out. What a
 * deployment does with `sto pretrain` before switching the bandit on; the heuristic's counts come from the
 * same history. `priors` must be the policy's own (the feature rows depend on them).
 * @example pretrain(policy, config, ctx.warmupHistory(), priors) // rows learned
 */
export function pretrain(
  policy: SendTimePolicy,
  config: AnalystConfig,
  history: WarmupHistory,
  priors?: FeaturePriors,
): number {
  const { rows } = pretrainRows(history.events(), config, {
    priors,
    endMs: history.endMs,
    kind: (delivery) => history.kindOf(delivery.decisionId),
  });
  return learnInChunks(policy, rows);
}

/** A fresh bandit policy per seed: its own learner, its own random stream. */
function createBanditPolicy(config: AnalystConfig, ctx: PolicyContext): SimPolicy {
  // Each seed is an independent replicate of the whole experiment, the learner's randomness included.
  const seed = hashString(`bandit/${ctx.seed}/${config.bandit.seed}`);
  const seeded: AnalystConfig = { ...config, bandit: { ...config.bandit, seed } };
  const priors = channelPriors(ctx.observedUsers());
  const policy = SendTimePolicy.create(seeded, { priors });
  if (ctx.warmupHistory) pretrain(policy, config, ctx.warmupHistory(), priors);
  const rng = new Rng(seed);
  return {
    decide: (inputs) => policy.decide(inputs, rng),
    learn: (rows) => policy.learn(rows),
    dispose: () => policy.dispose(),
  };
}

/**
 * Initialises TensorFlow.js (wasm, else cpu) and returns the factory the simulator builds bandits with.
 * @example buildPolicySpecs(['bandit', 'heuristic'], { population, config, banditFactory: await createBanditFactory() })
 */
export async function createBanditFactory(): Promise<BanditFactory> {
  await initTensorBackend();
  return createBanditPolicy;
}

export { channelPriors };
