/**
 * Policies' arm distributions (NotificationPolicy.armDistributions): the bandit under every algorithm, the
 * heuristic, fixed-hour and random baselines and the holdout router each give the distribution decide()
 * draws from, behind the same guardrails.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { BanditContractError } from '#model/errors.ts';
import { fixedHourPolicy, guardedPolicy, heuristicPolicy, randomPolicy } from '#model/heuristic.ts';
import {
  armDistributionsOf,
  type DecideInput,
  type NotificationPolicy,
  SendTimePolicy,
  withHoldout,
} from '#model/policy.ts';
import { Rng } from '#model/random.ts';
import { fixtureDecisions, LOG_START } from '#test/helpers/decision-log-fixtures.ts';

beforeAll(async () => {
  await initTensorBackend();
});

const base = defaultConfig();
const inputs: DecideInput[] = fixtureDecisions({ config: base, count: 40, users: 40, spacingMs: 37 * 60_000 }).map(
  (d) => d.input,
);
// one input no arm can serve: a window of one night hour, inside quiet hours everywhere it matters
const blocked: DecideInput = {
  ...inputs[0],
  user: { ...inputs[0].user, timeZone: 'UTC' },
  nowMs: LOG_START,
  request: {
    kind: 'promotional',
    allowedChannels: ['email'],
    window: { notBeforeMs: Date.parse('2026-07-01T23:10:00Z'), notAfterMs: Date.parse('2026-07-01T23:50:00Z') },
  },
};

function withAlgorithm(bandit: Record<string, unknown>): AnalystConfig {
  return parseConfig({ ...structuredClone(base), bandit: { seed: 1, explorationFloor: 0.03, ...bandit } });
}

/** The distribution's entry at each decided arm is its propensity; masked arms 0; rows sum to 1. */
function expectConsistent(policy: NotificationPolicy, batch: DecideInput[], seed: number): void {
  const dists = armDistributionsOf(policy, batch, new Rng(seed));
  const decisions = policy.decide(batch, new Rng(seed));
  decisions.forEach((d, i) => {
    const dist = dists[i];
    if (d.kind === 'no_arm') {
      expect(dist).toBeUndefined();
      return;
    }
    if (!dist) throw new Error(`no distribution for input ${i}`);
    let sum = 0;
    dist.probabilities.forEach((p, arm) => {
      if (dist.allowed[arm] === 0) expect(p).toBe(0);
      sum += p;
    });
    expect(sum).toBeCloseTo(1, 9);
    expect(dist.probabilities[d.armIndex]).toBeCloseTo(d.propensity, 12);
  });
}

describe('SendTimePolicy.armDistributions', () => {
  it.each([
    { algorithm: 'linear-ts' },
    { algorithm: 'linucb', alpha: 0.5 },
    { algorithm: 'epsilon-greedy', epsilon: 0.1 },
    { algorithm: 'neural-linear', hiddenUnits: [8], trainEvery: 20, trainEpochs: 2 },
  ])('gives the distribution decide draws from ($algorithm)', (bandit) => {
    // Prepare: a learner that has seen some rewards
    const policy = SendTimePolicy.create(withAlgorithm(bandit));
    const first = policy.decide(inputs, new Rng(2));
    policy.learn(first.flatMap((d, i) => (d.kind === 'send' ? [{ features: d.features, reward: i % 3 ? 0 : 1 }] : [])));

    // Act + Assess
    expectConsistent(policy, [...inputs, blocked], 9);
    expectConsistent(policy, inputs.slice(3, 9), 10);
    policy.dispose();
  });
});

describe('baselines', () => {
  it('puts all the mass of the heuristic and fixed-hour policies on the arm they choose', () => {
    for (const policy of [heuristicPolicy(base), fixedHourPolicy(base, 10)]) {
      const dists = armDistributionsOf(policy, inputs, new Rng(1));
      const decisions = policy.decide(inputs, new Rng(1));
      decisions.forEach((d, i) => {
        if (d.kind !== 'send') throw new Error('expected a send');
        expect(dists[i]?.probabilities[d.armIndex]).toBe(1);
      });
      expectConsistent(policy, [...inputs, blocked], 3);
    }
  });

  it('spreads the random policy evenly over the allowed arms', () => {
    const dists = armDistributionsOf(randomPolicy(base), inputs, new Rng(1));
    for (const dist of dists) {
      if (!dist) throw new Error('expected a distribution');
      const allowed = dist.allowed.reduce((a, b) => a + b, 0);
      dist.probabilities.forEach((p, arm) => {
        expect(p).toBeCloseTo(dist.allowed[arm] ? 1 / allowed : 0, 15);
      });
    }
    expectConsistent(randomPolicy(base), [...inputs, blocked], 4);
    expect(randomPolicy(base).decide([blocked], new Rng(1))[0].kind).toBe('no_arm');
    expect(armDistributionsOf(randomPolicy(base), [blocked], new Rng(1))).toEqual([undefined]);
  });

  it('routes holdout users to the holdout policy', () => {
    const holdout = { share: 0.5, salt: 'dist' };
    const router = withHoldout(randomPolicy(base), heuristicPolicy(base), holdout);
    expectConsistent(router, inputs, 6);
    const dists = armDistributionsOf(router, inputs, new Rng(6));
    const oneHot = dists.filter((d) => d && Math.max(...d.probabilities) === 1).length;
    expect(oneHot).toBeGreaterThan(5);
    expect(oneHot).toBeLessThan(inputs.length - 5);
  });

  it('refuses a randomised chooser that gives no distribution', () => {
    const coin = guardedPolicy(base, 'random', 'coin/1', (d, rng) => {
      const arms = [...d.mask.allowed.keys()].filter((a) => d.mask.allowed[a] === 1);
      return { arm: arms[rng.int(arms.length)], propensity: 1 / arms.length, explored: true };
    });
    expect(() => armDistributionsOf(coin, inputs, new Rng(1))).toThrow(BanditContractError);
  });
});
