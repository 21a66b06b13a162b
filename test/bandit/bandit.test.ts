import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BanditChoice,
  type ContextualBandit,
  createBandit,
  initTensorBackend,
  type LinearBandit,
  loadBandit,
} from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { ALGORITHMS, CASES, configFor, LinearWorld, randomBatch, repeatedDecision } from './fixtures.ts';

const D = 6;
const ARMS = 5;

beforeAll(async () => {
  await initTensorBackend();
});

/** A bandit that has learned from a few rounds of a linear world (so its posterior is not the prior). */
function trained(algorithm: (typeof ALGORITHMS)[number], overrides: Record<string, unknown> = {}, rounds = 4) {
  const bandit = createBandit(configFor(algorithm, overrides), D);
  const world = new LinearWorld(D, 11);
  const rng = new Rng(3);
  for (let r = 0; r < rounds; r++) {
    const batch = randomBatch(rng, 50, ARMS, D);
    const choices = bandit.decide(batch, rng);
    const { rows, rewards } = world.play(
      batch,
      choices.map((c) => c.arm),
    );
    bandit.update(rows, rewards);
  }
  return { bandit, world };
}

function sameChoices(a: BanditChoice[], b: BanditChoice[]): boolean {
  return a.length === b.length && a.every((c, i) => c.arm === b[i].arm && c.propensity === b[i].propensity);
}

describe.each(CASES)('$name', ({ algorithm, overrides: caseConfig }) => {
  it('never chooses a masked arm, and every propensity is in (0, 1] and at least floor / allowed arms', () => {
    const { bandit } = trained(algorithm, { ...caseConfig, explorationFloor: 0.1 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 9 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (size, arms, maskShare, seed) => {
          const rng = new Rng(seed);
          const batch = randomBatch(rng, size, arms, D, maskShare);
          const choices = bandit.decide(batch, rng);
          expect(choices).toHaveLength(size);
          choices.forEach((c, i) => {
            expect(batch.allowed[i * arms + c.arm]).toBe(1);
            let m = 0;
            for (let a = 0; a < arms; a++) m += batch.allowed[i * arms + a];
            expect(c.propensity).toBeGreaterThanOrEqual(0.1 / m - 1e-12);
            expect(c.propensity).toBeLessThanOrEqual(1);
          });
        },
      ),
      { numRuns: 40 },
    );
    bandit.dispose();
  });

  it('logs propensities that form one distribution over the allowed arms and match the draw frequencies', () => {
    // Prepare: one decision repeated, so every decision of the call has the same distribution
    const { bandit } = trained(algorithm, { ...caseConfig, explorationFloor: 0.2 });
    const allowed = [1, 0, 1, 1, 1];
    const n = 4000;
    const batch = repeatedDecision(new Rng(8), n, ARMS, D, allowed);
    // Act
    const choices = bandit.decide(batch, new Rng(21));
    // Assess
    const propensity = new Map<number, number>();
    const counts = new Map<number, number>();
    for (const c of choices) {
      const seen = propensity.get(c.arm);
      if (seen !== undefined) expect(c.propensity).toBe(seen);
      propensity.set(c.arm, c.propensity);
      counts.set(c.arm, (counts.get(c.arm) ?? 0) + 1);
    }
    expect([...propensity.keys()].sort()).toEqual([0, 2, 3, 4]);
    const total = [...propensity.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 12);
    for (const [arm, p] of propensity) {
      const sd = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs((counts.get(arm) as number) / n - p)).toBeLessThan(5 * sd + 1e-9);
    }
    bandit.dispose();
  });

  it('decides identically for the same seed and inputs, and after a save/load round trip', () => {
    const a = trained(algorithm, caseConfig).bandit;
    const b = trained(algorithm, caseConfig).bandit;
    expect(b.version).toBe(a.version);
    const restored = loadBandit(JSON.parse(JSON.stringify(a.serialize())));
    expect(restored.version).toBe(a.version);
    expect(restored.updates).toBe(a.updates);
    const batch = randomBatch(new Rng(99), 64, ARMS, D);
    const fromA = a.decide(batch, new Rng(5));
    expect(sameChoices(b.decide(batch, new Rng(5)), fromA)).toBe(true);
    expect(sameChoices(restored.decide(batch, new Rng(5)), fromA)).toBe(true);
    // and they keep learning identically (NeuralLinear retrains in between: trainEvery 150)
    const world = new LinearWorld(D, 4);
    for (let r = 0; r < 3; r++) {
      const next = randomBatch(new Rng(100 + r), 60, ARMS, D);
      const choices = a.decide(next, new Rng(r));
      expect(sameChoices(restored.decide(next, new Rng(r)), choices)).toBe(true);
      const { rows, rewards } = world.play(
        next,
        choices.map((c) => c.arm),
      );
      a.update(rows, rewards);
      restored.update(rows, rewards);
      expect(restored.version).toBe(a.version);
    }
    for (const x of [a, b, restored]) x.dispose();
  });

  it('changes its version with every update and counts the rewards', () => {
    const bandit = createBandit(configFor(algorithm, caseConfig), D);
    const seen = new Set([bandit.version]);
    expect(bandit.version.startsWith(`${algorithm}-`)).toBe(true);
    const rng = new Rng(1);
    for (let i = 0; i < 5; i++) {
      bandit.update(
        new Float32Array(D).map(() => rng.normal()),
        [rng.normal()],
      );
      seen.add(bandit.version);
    }
    expect(seen.size).toBe(6);
    expect(bandit.updates).toBe(5);
    bandit.dispose();
  });

  it('frees every tensor it owns: no growth across calls, back to the baseline after dispose', () => {
    const baseline = tf.memory().numTensors;
    const { bandit } = trained(algorithm, caseConfig);
    const owned = tf.memory().numTensors;
    const rng = new Rng(4);
    const batch = randomBatch(rng, 30, ARMS, D);
    bandit.decide(batch, rng);
    const afterFirstDecide = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      bandit.decide(batch, rng);
      bandit.serialize();
      expect(tf.memory().numTensors).toBe(afterFirstDecide);
    }
    bandit.update(new Float32Array(2 * D).fill(0.5), [1, 0]);
    // an update drops the cached device copies of the posterior
    expect(tf.memory().numTensors).toBe(owned);
    const restored = loadBandit(bandit.serialize());
    restored.decide(batch, rng);
    restored.dispose();
    bandit.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('learns: regret on a linear world falls well below that of a uniform choice', () => {
    const bandit = createBandit(configFor(algorithm, { ...caseConfig, explorationFloor: 0.02 }), D);
    const world = new LinearWorld(D, 17, 0.3);
    const rng = new Rng(6);
    let regret = 0;
    let uniformRegret = 0;
    for (let r = 0; r < 12; r++) {
      const batch = randomBatch(rng, 60, ARMS, D, 0);
      const choices = bandit.decide(batch, rng);
      const played = world.play(
        batch,
        choices.map((c) => c.arm),
      );
      bandit.update(played.rows, played.rewards);
      if (r >= 8) {
        regret += played.regret;
        uniformRegret += world.play(
          batch,
          choices.map(() => rng.int(ARMS)),
        ).regret;
      }
    }
    expect(regret).toBeLessThan(0.25 * uniformRegret);
    bandit.dispose();
  });
});

describe('linear posteriors', () => {
  it.each(['linear-ts', 'linucb', 'epsilon-greedy'] as const)(
    '%s: the posterior mean converges to the true weights',
    (algorithm) => {
      const bandit = createBandit(configFor(algorithm), D) as LinearBandit;
      const world = new LinearWorld(D, 23, 0.2);
      const rng = new Rng(7);
      for (let r = 0; r < 20; r++) {
        const batch = randomBatch(rng, 100, ARMS, D, 0);
        const choices = bandit.decide(batch, rng);
        const { rows, rewards } = world.play(
          batch,
          choices.map((c) => c.arm),
        );
        bandit.update(rows, rewards);
      }
      const mu = bandit.model.mean();
      for (let j = 0; j < D; j++) expect(Math.abs(mu[j] - world.weights[j])).toBeLessThan(0.05);
      bandit.dispose();
    },
  );

  it('LinUCB is deterministic apart from ties: with alpha 0 and no floor it always exploits', () => {
    const bandit = createBandit(configFor('linucb', { alpha: 0, explorationFloor: 0 }), D);
    const world = new LinearWorld(D, 2);
    const rng = new Rng(3);
    const warm = randomBatch(rng, 200, ARMS, D, 0);
    // learn from uniformly random choices first
    const played = world.play(
      warm,
      Array.from({ length: 200 }, () => rng.int(ARMS)),
    );
    bandit.update(played.rows, played.rewards);
    const batch = randomBatch(rng, 100, ARMS, D);
    for (const c of bandit.decide(batch, rng)) {
      expect(c.propensity).toBe(1);
      expect(c.explored).toBe(false);
    }
    bandit.dispose();
  });

  it('splits exact ties evenly: a duplicated best arm shares its probability equally', () => {
    for (const algorithm of ALGORITHMS) {
      const bandit = trained(algorithm, { explorationFloor: 0 }).bandit;
      const n = 2000;
      const batch = repeatedDecision(new Rng(12), n, ARMS, D, [1, 1, 1, 1, 1]);
      const counts = new Array(ARMS).fill(0);
      for (const c of bandit.decide(batch, new Rng(2))) counts[c.arm]++;
      const best = counts.indexOf(Math.max(...counts));
      const twin = (best + 2) % ARMS;
      // copy the favourite arm's row into another arm of every decision
      for (let i = 0; i < n; i++) {
        const o = i * ARMS * D;
        batch.features.copyWithin(o + twin * D, o + best * D, o + best * D + D);
      }
      const choices = bandit.decide(batch, new Rng(2));
      const pBest = choices.find((c) => c.arm === best)?.propensity;
      const pTwin = choices.find((c) => c.arm === twin)?.propensity;
      expect(pBest).toBeDefined();
      expect(pTwin).toBe(pBest);
      bandit.dispose();
    }
  });
});

describe('errors', () => {
  let bandit: ContextualBandit;
  beforeAll(() => {
    bandit = createBandit(configFor('linear-ts'), D);
  });

  it('refuses a batch of another dimension, naming both', () => {
    const batch = randomBatch(new Rng(1), 2, ARMS, D + 1);
    expect(() => bandit.decide(batch, new Rng(1))).toThrow(/batch.dimension is 7, the bandit was built for 6/);
  });

  it('refuses feature and mask arrays of the wrong length', () => {
    const batch = randomBatch(new Rng(1), 2, ARMS, D);
    expect(() => bandit.decide({ ...batch, features: batch.features.subarray(1) }, new Rng(1))).toThrow(
      /batch.features has length 59, expected size \* arms \* dimension = 60/,
    );
    expect(() => bandit.decide({ ...batch, allowed: new Uint8Array(3) }, new Rng(1))).toThrow(
      /batch.allowed has length 3/,
    );
    expect(() => bandit.decide({ ...batch, allowed: batch.allowed.map(() => 2) }, new Rng(1))).toThrow(/0 or 1/);
  });

  it('refuses a decision with no allowed arm, naming it', () => {
    const batch = randomBatch(new Rng(1), 3, ARMS, D);
    batch.allowed.fill(0, ARMS, 2 * ARMS);
    expect(() => bandit.decide(batch, new Rng(1))).toThrow(/Decision 1 of the batch has no allowed arm/);
  });

  it('returns no choices for an empty batch', () => {
    expect(bandit.decide(randomBatch(new Rng(1), 0, ARMS, D), new Rng(1))).toEqual([]);
  });

  it('refuses updates of the wrong shape or with non-finite values', () => {
    expect(() => bandit.update(new Float32Array(D + 1), [1])).toThrow(/features has length 7/);
    expect(() => bandit.update(new Float32Array(D), [Number.NaN])).toThrow(/rewards\[0\] is NaN/);
    expect(() => bandit.update(new Float32Array(D).fill(Number.POSITIVE_INFINITY), [1])).toThrow(
      /row 0 has Infinity at column 0/,
    );
    expect(bandit.updates).toBe(0);
  });

  it('refuses a bad config and a bad dimension', () => {
    expect(() => createBandit({ algorithm: 'linucb', alpha: -1 } as never, D)).toThrow(/config.alpha/);
    expect(() => createBandit(configFor('linucb'), 0)).toThrow(/dimension must be an integer >= 1/);
  });

  it('refuses noise groups without learned noise, or naming a feature the rows do not have', () => {
    expect(() => createBandit(configFor('linear-ts', { noiseGroups: [1] }), D)).toThrow(/needs learnNoise/);
    expect(() => createBandit(configFor('neural-linear', { learnNoise: true, noiseGroups: [D] }), D)).toThrow(
      /noiseGroups \[0\] = 6 is not a feature index below 6/,
    );
  });

  it('refuses to work after dispose', () => {
    const b = createBandit(configFor('linucb'), D);
    b.dispose();
    expect(() => b.decide(randomBatch(new Rng(1), 1, ARMS, D), new Rng(1))).toThrow(/was disposed/);
  });
});
