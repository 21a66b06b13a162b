/**
 * PolicyLearner (what the learner Lambda runs, without TF.js) against SendTimePolicy (what decide runs):
 * the same rewards must give the same saved state and the same policy version, for every algorithm,
 * across a NeuralLinear retraining, and a saved state must load in both.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput } from '#config/schema.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { IncompatibleModelStateError } from '#model/errors.ts';
import { FEATURE_DIMENSION, FEATURE_INDEX } from '#model/features.ts';
import { type LearnRow, PolicyLearner, SendTimePolicy } from '#model/policy.ts';
import { Rng } from '#model/random.ts';

beforeAll(async () => {
  await initTensorBackend();
});

function config(bandit: Record<string, unknown>): AnalystConfig {
  const input = structuredClone(defaultConfig()) as AnalystConfigInput;
  input.bandit = bandit as AnalystConfigInput['bandit'];
  return parseConfig(input);
}

/** n rows of plausible features (in [0, 1], a channel cost) with rewards. */
function rows(seed: number, n: number): LearnRow[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const features = Float32Array.from({ length: FEATURE_DIMENSION }, () => (rng.next() < 0.5 ? 0 : rng.next()));
    features[FEATURE_INDEX.channel_cost] = 0.01;
    return { features, reward: rng.next() < 0.2 ? 1 : 0 };
  });
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  'linear-ts with noise groups': {
    algorithm: 'linear-ts',
    learnNoise: true,
    noiseGroups: [FEATURE_INDEX.channel_email, FEATURE_INDEX.channel_push],
  },
  linucb: { algorithm: 'linucb' },
  'epsilon-greedy': { algorithm: 'epsilon-greedy' },
  'neural-linear, retraining twice': {
    algorithm: 'neural-linear',
    hiddenUnits: [8, 4],
    trainEvery: 100,
    trainEpochs: 2,
    replaySize: 150,
  },
};

describe('PolicyLearner', () => {
  it.each(Object.keys(CONFIGS))('%s: learns to the state and version SendTimePolicy learns to', (name) => {
    // Prepare: both start from the same saved policy with some rewards in it
    const settings = config(CONFIGS[name]);
    const start = SendTimePolicy.create(settings);
    start.learn(rows(1, 30));
    const saved = JSON.parse(JSON.stringify(start.serialize()));
    start.dispose();
    const batch = rows(2, 230);

    // Act: the learner in small batches (as SQS delivers), the policy in one call
    const learner = PolicyLearner.load(settings, saved);
    for (let i = 0; i < batch.length; i += 37) learner.learn(batch.slice(i, i + 37));
    const policy = SendTimePolicy.load(settings, saved);
    policy.learn(batch);

    // Assess: same bytes, same version, and decide loads what the learner wrote under that version
    const written = JSON.parse(JSON.stringify(learner.serialize()));
    expect(learner.updates).toBe(260);
    expect(written).toEqual(JSON.parse(JSON.stringify(policy.serialize())));
    expect(learner.version).toBe(policy.version);
    expect(learner.version).not.toBe(PolicyLearner.load(settings, saved).version);
    const reloaded = SendTimePolicy.load(settings, written);
    expect(reloaded.version).toBe(learner.version);
    policy.dispose();
    reloaded.dispose();
  });

  it('starts fresh as SendTimePolicy.create does, and refuses state of another algorithm the same way', () => {
    const ts = config({ algorithm: 'linear-ts' });
    const fresh = PolicyLearner.create(ts);
    const policy = SendTimePolicy.create(ts);
    expect(fresh.version).toBe(policy.version);
    expect(fresh.serialize()).toEqual(policy.serialize());
    const ucb = config({ algorithm: 'linucb' });
    expect(() => PolicyLearner.load(ucb, policy.serialize())).toThrow(IncompatibleModelStateError);
    expect(() => PolicyLearner.load(ts, { ...policy.serialize(), featureVersion: 'features-v0' })).toThrow(
      IncompatibleModelStateError,
    );
    policy.dispose();
  });

  it('refuses a row of the wrong width and a non-finite reward, naming the row', () => {
    const learner = PolicyLearner.create(config({ algorithm: 'linear-ts' }));
    expect(() => learner.learn([{ features: new Float32Array(3), reward: 1 }])).toThrow(IncompatibleModelStateError);
    const [good] = rows(3, 1);
    expect(() => learner.learn([good, { ...good, reward: Number.NaN }])).toThrow(/row 1/);
    expect(learner.updates).toBe(0);
  });
});
