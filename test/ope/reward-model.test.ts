import { describe, expect, it } from 'vitest';
import { InvalidEvaluationOptionError, InvalidFeedbackError } from '#model/ope/errors.ts';
import { fitActionMeanRewardModel, fitRidgeRewardModel } from '#model/ope/reward-model.ts';
import { Rng } from '#model/random.ts';

function bernoulliLog(n: number, rewardProb: (stratum: number, action: number) => number, strata: number, k: number) {
  const rng = new Rng(7);
  const action = new Int32Array(n);
  const stratum = new Int32Array(n);
  const reward = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    action[i] = rng.int(k);
    stratum[i] = rng.int(strata);
    reward[i] = rng.bernoulli(rewardProb(stratum[i], action[i])) ? 1 : 0;
  }
  return { actionCount: k, action, stratum, reward };
}

describe('fitActionMeanRewardModel', () => {
  it('predicts the raw cell means without shrinkage or cross-fitting', () => {
    // Prepare: action 0 rewards 1, 1, 0 -> 2/3; action 1 rewards 0, 1 -> 1/2
    const input = { actionCount: 2, action: [0, 0, 0, 1, 1], reward: [1, 1, 0, 0, 1] };
    // Act
    const fit = fitActionMeanRewardModel(input, { folds: 1, priorStrength: 0 });
    // Assess
    for (let i = 0; i < 5; i++) {
      expect(fit.predictions[i * 2]).toBeCloseTo(2 / 3, 15);
      expect(fit.predictions[i * 2 + 1]).toBeCloseTo(1 / 2, 15);
    }
  });

  it('shrinks a cell towards its stratum mean by the pseudo-rows given', () => {
    // stratum mean 3/5; action 1 has 2 rows summing to 1; k = 5: (1 + 5 * 0.6) / (2 + 5) = 4/7
    const fit = fitActionMeanRewardModel(
      { actionCount: 2, action: [0, 0, 0, 1, 1], reward: [1, 1, 0, 0, 1] },
      { folds: 1, priorStrength: 5 },
    );
    expect(fit.predictions[1]).toBeCloseTo(4 / 7, 15);
  });

  it('never lets a row see its own reward (cross-fitting)', () => {
    // Prepare
    const log = bernoulliLog(600, (_, a) => [0.2, 0.6][a], 1, 2);
    const fit = fitActionMeanRewardModel(log, { folds: 4, priorStrength: 2 });
    const flipped = Float64Array.from(log.reward, (r, i) => (i === 10 ? 1 - r : r));
    // Act
    const refit = fitActionMeanRewardModel({ ...log, reward: flipped }, { folds: 4, priorStrength: 2 });
    // Assess: row 10's predictions are unchanged, rows of other folds moved
    const fold = fit.foldOf[10];
    for (let i = 0; i < 600; i++) {
      const same = fit.predictions[i * 2 + log.action[10]] === refit.predictions[i * 2 + log.action[10]];
      expect(same).toBe(fit.foldOf[i] === fold);
    }
  });

  it('estimates no spread between actions that do not differ, and keeps a real one', () => {
    const flat = fitActionMeanRewardModel(bernoulliLog(20_000, () => 0.3, 1, 10));
    const spread = fitActionMeanRewardModel(bernoulliLog(20_000, (_, a) => 0.05 + 0.09 * a, 1, 10));
    // flat: shrinkage strong (or infinite) everywhere; spread: a few pseudo-rows against ~1600 rows per cell
    for (const k of flat.priorStrength) expect(k).toBeGreaterThan(500);
    for (const k of spread.priorStrength) expect(k).toBeLessThan(100);
    expect(spread.predictions[9] - spread.predictions[0]).toBeGreaterThan(0.7);
  });

  it('predicts per stratum', () => {
    const log = bernoulliLog(20_000, (s, a) => (s === 0 ? 0.1 : 0.5) + 0.1 * a, 2, 2);
    const fit = fitActionMeanRewardModel(log);
    const row = (s: number) => log.stratum.indexOf(s);
    expect(fit.predictions[row(0) * 2]).toBeCloseTo(0.1, 1);
    expect(fit.predictions[row(1) * 2 + 1]).toBeCloseTo(0.6, 1);
  });

  it('refuses bad input and options', () => {
    expect(() => fitActionMeanRewardModel({ actionCount: 2, action: [0, 2], reward: [1, 0] })).toThrow(
      InvalidFeedbackError,
    );
    expect(() => fitActionMeanRewardModel({ actionCount: 2, action: [0, 1], reward: [1, 0] }, { folds: 3 })).toThrow(
      InvalidEvaluationOptionError,
    );
    expect(() =>
      fitActionMeanRewardModel({ actionCount: 2, action: [0, 1], reward: [1, 0] }, { folds: 1, priorStrength: -1 }),
    ).toThrow(/priorStrength must be >= 0/);
    expect(() =>
      fitActionMeanRewardModel({ actionCount: 2, action: [0, 1], reward: [1, 0], stratum: [0, -1] }, { folds: 1 }),
    ).toThrow(/stratum at row 1 must be an integer >= 0/);
  });
});

describe('fitRidgeRewardModel', () => {
  // reward = 0.2 + 0.5 x0 for action 0, 0.1 + 0.3 x1 for action 1, plus a little noise
  const n = 4000;
  const rng = new Rng(3);
  const features = new Float64Array(n * 2);
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const truth = (x0: number, x1: number, a: number) => (a === 0 ? 0.2 + 0.5 * x0 : 0.1 + 0.3 * x1);
  for (let i = 0; i < n; i++) {
    features[i * 2] = rng.next();
    features[i * 2 + 1] = rng.next();
    action[i] = rng.int(2);
    reward[i] = truth(features[i * 2], features[i * 2 + 1], action[i]) + 0.01 * rng.normal();
  }
  const input = { actionCount: 2, action, reward, features, featureCount: 2 };

  it('recovers per-action linear rewards, for every action of every row', () => {
    const fit = fitRidgeRewardModel(input, { pooledPenalty: 1e-6, actionPenalty: 1e-6 });
    for (let i = 0; i < n; i += 97) {
      for (const a of [0, 1]) {
        expect(fit.predictions[i * 2 + a]).toBeCloseTo(truth(features[i * 2], features[i * 2 + 1], a), 2);
      }
    }
  });

  it('never lets a row see its own reward (cross-fitting)', () => {
    const fit = fitRidgeRewardModel(input, { folds: 3 });
    const changed = Float64Array.from(reward, (r, i) => (i === 5 ? r + 10 : r));
    const refit = fitRidgeRewardModel({ ...input, reward: changed }, { folds: 3, clip: false });
    const unclipped = fitRidgeRewardModel(input, { folds: 3, clip: false });
    expect(refit.predictions[10]).toBe(unclipped.predictions[10]);
    expect(refit.predictions[11]).toBe(unclipped.predictions[11]);
    const otherFold = fit.foldOf.findIndex((f) => f !== fit.foldOf[5]);
    expect(refit.predictions[otherFold * 2]).not.toBe(unclipped.predictions[otherFold * 2]);
  });

  it('predicts the pooled fit for an action it never saw, and clips to the rewards seen', () => {
    const fit = fitRidgeRewardModel({ ...input, actionCount: 3 }, { folds: 2 });
    for (let i = 0; i < 50; i++) {
      const q = fit.predictions[i * 3 + 2];
      expect(q).toBeGreaterThan(0.05);
      expect(q).toBeLessThan(0.75);
    }
    const clipped = fitRidgeRewardModel(
      { actionCount: 1, action: [0, 0, 0, 0], reward: [0, 0, 1, 1], features: [0, 0, 10, 10], featureCount: 1 },
      { folds: 2, pooledPenalty: 1e-6, actionPenalty: 1e-6 },
    );
    for (const q of clipped.predictions) {
      expect(q).toBeGreaterThanOrEqual(0);
      expect(q).toBeLessThanOrEqual(1);
    }
  });

  it('refuses features of the wrong size and non-positive penalties', () => {
    expect(() => fitRidgeRewardModel({ ...input, featureCount: 3 })).toThrow(
      /features has 8000 entries, expected 12000/,
    );
    expect(() => fitRidgeRewardModel(input, { actionPenalty: 0 })).toThrow(/actionPenalty must be a finite number > 0/);
  });
});
