/**
 * The learning policy in the simulator: the production SendTimePolicy (features, guardrails, TF.js
 * bandit) exactly as the decide Lambda runs it, with the rewards the simulator attributes fed to learn().
 */
import type { AnalystConfig } from '#config/schema.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { type LearnRow, SendTimePolicy } from '#model/policy.ts';
import { hashString, Rng } from '#model/random.ts';
import type { BanditFactory } from './policies.ts';
import type { PolicyContext, SimPolicy } from './policy-api.ts';
import { channelPriors } from './priors.ts';
import { engagementReward } from './reward.ts';
import type { ReplayedSend } from './warmup.ts';

/**
 * Learns from the notifications sent before the bandit started (legacy campaigns on random channels at
 * random daytime hours): each with the feature row it would have had, rebuilt from the user's state at
 * the send, and the engagement reward attributed to it. What a deployment does by replaying its event
 * log before switching the bandit on; the heuristic's counts come from the same history.
 * Sends whose attribution window had not closed by the end of the log are left out (their reward is unknown).
 */
export function pretrain(policy: SendTimePolicy, config: AnalystConfig, history: Iterable<ReplayedSend>): number {
  const windowMs = config.reward.attributionWindowHours * 3_600_000;
  let rows: LearnRow[] = [];
  let learned = 0;
  for (const { user, send, recentSends, logEndMs } of history) {
    const windowEnd = send.atMs + windowMs;
    if (windowEnd > logEndMs) continue;
    const features = policy.armRow(
      {
        user,
        nowMs: send.atMs,
        request: {
          kind: send.kind,
          allowedChannels: [send.channel],
          window: { notBeforeMs: send.atMs, notAfterMs: windowEnd },
        },
        recentSends,
      },
      send.channel,
      send.atMs,
    );
    const attributed = send.outcomes.filter((o) => o.atMs <= windowEnd).map((o) => o.type);
    rows.push({ features, reward: engagementReward(attributed, config) });
    if (rows.length >= 4096) {
      policy.learn(rows);
      learned += rows.length;
      rows = [];
    }
  }
  policy.learn(rows);
  return learned + rows.length;
}

/** A fresh bandit policy per seed: its own learner, its own random stream. */
function createBanditPolicy(config: AnalystConfig, ctx: PolicyContext): SimPolicy {
  // Each seed is an independent replicate of the whole experiment, the learner's randomness included.
  const seed = hashString(`bandit/${ctx.seed}/${config.bandit.seed}`);
  const seeded: AnalystConfig = { ...config, bandit: { ...config.bandit, seed } };
  const policy = SendTimePolicy.create(seeded, { priors: channelPriors(ctx.observedUsers()) });
  if (ctx.warmupHistory) pretrain(policy, config, ctx.warmupHistory());
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
