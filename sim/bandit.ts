/**
 * The learning policy in the simulator: the production SendTimePolicy (features, guardrails, TF.js
 * bandit) exactly as the decide Lambda runs it, with the rewards the simulator attributes fed to learn().
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import type { FeaturePriors } from '#model/features.ts';
import { SendTimePolicy } from '#model/policy.ts';
import { hashString, Rng } from '#model/random.ts';
import type { UserState } from '#model/user-state.ts';
import type { BanditFactory } from './policies.ts';
import type { PolicyContext, SimPolicy } from './policy-api.ts';

/**
 * Population engagement rate per channel from the users' observed history, the prior of the smoothed
 * per-user rates: what a deployment would compute from its users table before starting the bandit.
 * @example channelPriors(users) // { channelRates: { email: 0.17, push: 0.05, sms: 0.13 } }
 */
export function channelPriors(users: Iterable<UserState>): FeaturePriors {
  const sends = { email: 0, push: 0, sms: 0 };
  const engaged = { email: 0, push: 0, sms: 0 };
  for (const user of users) {
    for (const c of ['email', 'push', 'sms'] as const) {
      sends[c] += user.channels[c].sends;
      engaged[c] += Math.max(user.channels[c].opens, user.channels[c].clicks);
    }
  }
  const channelRates: Partial<Record<ChannelName, number>> = {};
  // Below a few dozen sends a rate is noise; the feature builder's default is better than that.
  for (const c of ['email', 'push', 'sms'] as const) if (sends[c] >= 30) channelRates[c] = engaged[c] / sends[c];
  return { channelRates };
}

/** A fresh bandit policy per seed: its own learner, its own random stream. */
function createBanditPolicy(config: AnalystConfig, ctx: PolicyContext): SimPolicy {
  // Each seed is an independent replicate of the whole experiment, the learner's randomness included.
  const seed = hashString(`bandit/${ctx.seed}/${config.bandit.seed}`);
  const seeded: AnalystConfig = { ...config, bandit: { ...config.bandit, seed } };
  const policy = SendTimePolicy.create(seeded, { priors: channelPriors(ctx.observedUsers()) });
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
