/**
 * What `sto evaluate` added to model/ope: the verdict against the logging policy itself (its value is the
 * logged mean), the warning for one dominant importance weight, and the cross-fitted linear reward model on
 * action-dependent features.
 */
import { describe, expect, it } from 'vitest';
import {
  compareToBaseline,
  compareToLoggingPolicy,
  evaluatePolicy,
  fitLinearRewardModel,
  IncomparablePoliciesError,
  InvalidFeedbackError,
  resampleClusterSums,
} from '#model/ope/index.ts';
import { Rng } from '#model/random.ts';

/** Uniform logging over k actions; reward Bernoulli(rewardProb[action]). */
function uniformLog(n: number, rewardProb: number[], seed: number) {
  const k = rewardProb.length;
  const rng = new Rng(seed);
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    action[i] = rng.int(k);
    reward[i] = rng.next() < rewardProb[action[i]] ? 1 : 0;
  }
  return { actionCount: k, action, reward, propensity: new Float64Array(n).fill(1 / k) };
}

function always(action: number, k: number, n: number): Float64Array {
  const probs = new Float64Array(n * k);
  for (let i = 0; i < n; i++) probs[i * k + action] = 1;
  return probs;
}

describe('compareToLoggingPolicy', () => {
  it('finds the logging policy no better than itself: baseline the logged mean, a zero-width difference', () => {
    const log = uniformLog(500, [0.1, 0.5, 0.3], 1);
    const mean = log.reward.reduce((a, b) => a + b, 0) / 500;
    const result = compareToLoggingPolicy({ ...log, targetLoggedProbs: log.propensity }, { resamples: 300 });
    expect(result.baseline.estimate).toBe(mean);
    expect(result.candidate.estimate).toBeCloseTo(mean, 12);
    expect(result.difference.low).toBeCloseTo(0, 12);
    expect(result.difference.high).toBeCloseTo(0, 12);
    expect(result.verdict).toBe('not better');
  });

  it('matches a hand computation for a deterministic target on a uniform log', () => {
    // Prepare: two actions, uniform; target always plays 1
    const log = {
      actionCount: 2,
      action: [0, 1, 1, 0, 1, 0],
      reward: [0, 1, 1, 0, 0, 1],
      propensity: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    };
    // Act
    const result = compareToLoggingPolicy(
      { ...log, targetProbs: always(1, 2, 6) },
      { estimator: 'ips', resamples: 200, seed: 4 },
    );
    // Assess: IPS = (2 * 1 + 2 * 1 + 2 * 0) / 6, logged mean 3 / 6
    expect(result.candidate.estimate).toBeCloseTo(4 / 6, 15);
    expect(result.baseline.estimate).toBeCloseTo(3 / 6, 15);
    expect(result.difference.estimate).toBeCloseTo(1 / 6, 15);
    expect(result.summary).toMatch(
      /^inconclusive: IPS lift \+0\.1667 \(95% interval .* over 6 rows; candidate 0\.6667, baseline 0\.5$/,
    );
  });

  it('calls a clearly better target better and a clearly worse one not better, on the paired lower bound', () => {
    const n = 20_000;
    const log = uniformLog(n, [0.1, 0.5, 0.3], 2);
    const better = compareToLoggingPolicy({ ...log, targetProbs: always(1, 3, n) }, { resamples: 300 });
    const worse = compareToLoggingPolicy({ ...log, targetProbs: always(0, 3, n) }, { resamples: 300 });
    expect(better.verdict).toBe('better');
    expect(better.difference.low).toBeGreaterThan(0);
    expect(better.difference.estimate).toBeCloseTo(0.5 - 0.3, 1);
    expect(worse.verdict).toBe('not better');
    expect(worse.difference.high).toBeLessThan(0);
  });

  it('uses DR by default when the target is given in full with a reward model', () => {
    const n = 2000;
    const log = uniformLog(n, [0.2, 0.6], 3);
    const rewardModel = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) rewardModel.set([0.2, 0.6], i * 2);
    const dr = compareToLoggingPolicy({ ...log, targetProbs: always(1, 2, n), rewardModel }, { resamples: 200 });
    expect(dr.estimator).toBe('dr');
    // a perfect model of the means: DR = 0.6 + the average of w (r - 0.6) over rows that played 1
    expect(dr.candidate.estimate).toBeCloseTo(0.6, 1);
    expect(() => compareToLoggingPolicy({ ...log, targetProbs: always(1, 2, n) }, { estimator: 'dr' })).toThrow(
      IncomparablePoliciesError,
    );
  });
});

describe('evaluatePolicy: dominant weight', () => {
  it('warns when one row carries much of the weight before the effective sample size looks small', () => {
    // 100 rows; row 0 was logged with propensity 0.02 and the target would always play it (weight 50)
    const n = 100;
    const propensity = new Float64Array(n).fill(0.5);
    propensity[0] = 0.02;
    const targetLoggedProbs = new Float64Array(n).fill(0.5);
    targetLoggedProbs[0] = 1;
    const result = evaluatePolicy(
      { actionCount: 2, action: new Int32Array(n), reward: new Float64Array(n), propensity, targetLoggedProbs },
      { resamples: 20 },
    );
    expect(result.weights.essFraction).toBeGreaterThan(0.01);
    expect(result.warnings.map((w) => w.code)).toEqual(['dominant-weight']);
    expect(result.warnings[0]).toMatchObject({ maxWeight: 50, share: 50 / 149, threshold: 0.05 });
  });

  it('says nothing when the weights are even', () => {
    const log = uniformLog(400, [0.1, 0.5], 5);
    const result = evaluatePolicy({ ...log, targetProbs: always(1, 2, 400) }, { resamples: 20 });
    expect(result.warnings).toEqual([]);
  });
});

describe('fitLinearRewardModel', () => {
  // r = 0.2 + 0.5 x0 - 0.3 x1, no noise
  const truth = (x0: number, x1: number) => 0.2 + 0.5 * x0 - 0.3 * x1;

  function linearLog(n: number, seed: number) {
    const rng = new Rng(seed);
    const features = new Float64Array(n * 2);
    const reward = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      features[i * 2] = rng.next();
      features[i * 2 + 1] = rng.next();
      reward[i] = truth(features[i * 2], features[i * 2 + 1]);
    }
    return { features, reward, featureCount: 2 };
  }

  it('recovers a linear reward for arms it was never shown', () => {
    const model = fitLinearRewardModel(linearLog(300, 1), { penalty: 1e-6, clip: false });
    const q = model.predict(7, [0, 0, 1, 1, 0.5, 0.25], 3);
    expect(q[0]).toBeCloseTo(truth(0, 0), 5);
    expect(q[1]).toBeCloseTo(truth(1, 1), 5);
    expect(q[2]).toBeCloseTo(truth(0.5, 0.25), 5);
  });

  it("never lets a row's prediction see its own reward (cross-fitting)", () => {
    const log = linearLog(50, 2);
    const before = fitLinearRewardModel(log, { folds: 5, seed: 3 });
    const changed = { ...log, reward: Float64Array.from(log.reward) };
    changed.reward[0] += 10;
    const after = fitLinearRewardModel(changed, { folds: 5, seed: 3, clip: false });
    const unclipped = fitLinearRewardModel(log, { folds: 5, seed: 3, clip: false });
    const arm = [0.3, 0.6];
    expect(after.predict(0, arm, 1)[0]).toBe(unclipped.predict(0, arm, 1)[0]);
    const other = [...Array(50).keys()].find((i) => before.foldOf[i] !== before.foldOf[0]) as number;
    expect(after.predict(other, arm, 1)[0]).not.toBeCloseTo(unclipped.predict(other, arm, 1)[0], 6);
  });

  it('clips to the rewards it trained on, and refuses bad input', () => {
    const model = fitLinearRewardModel(linearLog(100, 4), { penalty: 1e-6 });
    expect(model.predict(0, [100, 0], 1)[0]).toBeLessThanOrEqual(truth(1, 0) + 1e-12);
    expect(() => fitLinearRewardModel({ reward: [1, 2], features: [1], featureCount: 1 })).toThrow(
      InvalidFeedbackError,
    );
    expect(() =>
      fitLinearRewardModel({ reward: [1, Number.NaN], features: [1, 2], featureCount: 1 }, { folds: 2 }),
    ).toThrow(/reward at row 1 must be a finite number/);
  });
});

describe('cluster bootstrap', () => {
  it('sums whole clusters: with two clusters of equal totals every resample sums the same', () => {
    const sums = resampleClusterSums([new Float64Array([1, 2, 3])], [0, 0, 1], 2, 50, 7);
    expect([...sums]).toEqual(new Array(50).fill(6));
  });

  it('is the row bootstrap when every row is its own cluster', () => {
    const log = uniformLog(300, [0.2, 0.6], 6);
    const feedback = { ...log, targetProbs: always(1, 2, 300) };
    const rows = evaluatePolicy(feedback, { resamples: 200, seed: 9 });
    const clustered = evaluatePolicy(
      { ...feedback, cluster: Int32Array.from({ length: 300 }, (_, i) => i) },
      {
        resamples: 200,
        seed: 9,
      },
    );
    expect(clustered.snips).toEqual(rows.snips);
    expect(clustered.ips).toEqual(rows.ips);
    expect(clustered.bootstrap.clusters).toBe(300);
    expect(rows.bootstrap.clusters).toBeUndefined();
  });

  it('does not count copies of one row as evidence: ten identical rows per cluster widen the interval about sqrt(10) times', () => {
    const log = uniformLog(400, [0.2, 0.6], 7);
    const copies = 10;
    const n = 400 * copies;
    const repeat = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T) => {
      const out = make(n);
      for (let i = 0; i < n; i++) out[i] = a[Math.floor(i / copies)];
      return out;
    };
    const feedback = {
      actionCount: 2,
      action: repeat(log.action, (k) => new Int32Array(k)),
      reward: repeat(log.reward, (k) => new Float64Array(k)),
      propensity: new Float64Array(n).fill(0.5),
      targetProbs: always(1, 2, n),
    };
    const cluster = Int32Array.from({ length: n }, (_, i) => Math.floor(i / copies));
    const rows = evaluatePolicy(feedback, { resamples: 400, seed: 1 });
    const users = evaluatePolicy({ ...feedback, cluster }, { resamples: 400, seed: 1 });
    const width = (e: { low: number; high: number }) => e.high - e.low;
    expect(users.snips.estimate).toBe(rows.snips.estimate);
    expect(width(users.snips) / width(rows.snips)).toBeGreaterThan(2.5);
    expect(width(users.snips) / width(rows.snips)).toBeLessThan(4.5);
  });

  it('refuses to compare a clustered log with an unclustered one', () => {
    const log = uniformLog(50, [0.2, 0.6], 8);
    const a = { ...log, targetProbs: always(1, 2, 50), cluster: new Int32Array(50) };
    const b = { ...log, targetProbs: always(0, 2, 50) };
    expect(() => compareToBaseline(a, b)).toThrow(IncomparablePoliciesError);
  });
});
