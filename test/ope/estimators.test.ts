import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelError } from '#model/errors.ts';
import {
  IncomparablePoliciesError,
  InvalidEvaluationOptionError,
  InvalidFeedbackError,
  OffPolicyEvaluationError,
} from '#model/ope/errors.ts';
import {
  compareToBaseline,
  evaluatePolicy,
  type FeedbackRow,
  feedbackFromRows,
  type LoggedFeedback,
} from '#model/ope/estimators.ts';
import { Rng } from '#model/random.ts';

/** A simulated log: context i % 3 changes the logger's distribution; rewards Bernoulli(p[a]). */
function simulatedLog(options: {
  n: number;
  rewardProb: readonly number[];
  logging: (i: number) => readonly number[];
  seed?: number;
}): {
  actionCount: number;
  action: Int32Array;
  reward: Float64Array;
  propensity: Float64Array;
  loggingProbs: Float64Array;
} {
  const k = options.rewardProb.length;
  const rng = new Rng(options.seed ?? 1);
  const action = new Int32Array(options.n);
  const reward = new Float64Array(options.n);
  const propensity = new Float64Array(options.n);
  const loggingProbs = new Float64Array(options.n * k);
  for (let i = 0; i < options.n; i++) {
    const mu = options.logging(i);
    loggingProbs.set(mu, i * k);
    const a = rng.categorical(mu);
    action[i] = a;
    propensity[i] = mu[a];
    reward[i] = rng.bernoulli(options.rewardProb[a]) ? 1 : 0;
  }
  return { actionCount: k, action, reward, propensity, loggingProbs };
}

function repeatRows(distribution: readonly number[], n: number): Float64Array {
  const out = new Float64Array(n * distribution.length);
  for (let i = 0; i < n; i++) out.set(distribution, i * distribution.length);
  return out;
}

const rotating = (i: number): readonly number[] =>
  [
    [0.2, 0.3, 0.5],
    [0.5, 0.2, 0.3],
    [0.3, 0.5, 0.2],
  ][i % 3];

describe('evaluatePolicy: closed forms', () => {
  it('returns the logged mean reward, exactly, for IPS and SNIPS when the target is the logging policy', () => {
    // Prepare
    const log = simulatedLog({ n: 3000, rewardProb: [0.1, 0.4, 0.7], logging: rotating });
    let total = 0;
    for (const r of log.reward) total += r;
    // Act
    const result = evaluatePolicy({ ...log, targetProbs: log.loggingProbs }, { resamples: 200 });
    // Assess
    expect(result.ips.estimate).toBe(total / log.action.length);
    expect(result.snips.estimate).toBe(total / log.action.length);
    expect(result.weights).toMatchObject({ effectiveSampleSize: 3000, max: 1, mean: 1, essFraction: 1 });
    expect(result.warnings).toEqual([]);
  });

  it('matches hand-computed IPS and SNIPS for a deterministic target on uniform logs', () => {
    // Prepare: 4 actions logged uniformly; the target always plays action 1.
    // Rows with action 1: rows 1, 4, 5 with rewards 0, 1, 0; each weight 1 / 0.25 = 4.
    const feedback: LoggedFeedback = {
      actionCount: 4,
      action: [0, 1, 2, 3, 1, 1, 0, 2],
      reward: [1, 0, 1, 1, 1, 0, 0, 1],
      propensity: new Array(8).fill(0.25),
      targetProbs: repeatRows([0, 1, 0, 0], 8),
    };
    // Act
    const result = evaluatePolicy(feedback, { resamples: 100 });
    // Assess: IPS = (4 * 1) / 8; SNIPS = (4 * 1) / (4 * 3)
    expect(result.ips.estimate).toBe(0.5);
    expect(result.snips.estimate).toBeCloseTo(1 / 3, 15);
    expect(result.weights.max).toBe(4);
    expect(result.weights.effectiveSampleSize).toBe(3); // (3 * 4)^2 / (3 * 16)
  });

  it('gives DR zero variance with a perfect reward model of deterministic rewards, while IPS varies', () => {
    // Prepare
    const value = [0.1, 0.5, 0.9];
    const n = 2000;
    const rng = new Rng(3);
    const action = Int32Array.from({ length: n }, () => rng.int(3));
    const feedback: LoggedFeedback = {
      actionCount: 3,
      action,
      reward: Float64Array.from(action, (a) => value[a]),
      propensity: new Float64Array(n).fill(1 / 3),
      targetProbs: repeatRows([0.2, 0.3, 0.5], n),
      rewardModel: repeatRows(value, n),
    };
    // Act
    const result = evaluatePolicy(feedback, { resamples: 300 });
    // Assess: every row's DR term is sum_a pi(a) q(a) = 0.62
    expect(result.dr?.estimate).toBeCloseTo(0.62, 12);
    expect(result.dr?.standardError).toBeLessThan(1e-12);
    expect((result.dr?.high ?? 0) - (result.dr?.low ?? 1)).toBeLessThan(1e-12);
    expect(result.ips.standardError).toBeGreaterThan(0.005);
  });

  it('leaves SNIPS unchanged when every weight is scaled, while IPS scales with them', () => {
    // Prepare
    const log = simulatedLog({ n: 1000, rewardProb: [0.2, 0.5, 0.3], logging: () => [0.4, 0.3, 0.3] });
    const targetProbs = repeatRows([0.1, 0.8, 0.1], 1000);
    const halved = Float64Array.from(log.propensity, (p) => p / 2); // every weight doubles
    // Act
    const original = evaluatePolicy({ ...log, loggingProbs: undefined, targetProbs }, { seed: 9, resamples: 300 });
    const scaled = evaluatePolicy(
      { ...log, loggingProbs: undefined, propensity: halved, targetProbs },
      { seed: 9, resamples: 300 },
    );
    // Assess
    expect(scaled.snips.estimate).toBeCloseTo(original.snips.estimate, 12);
    expect(scaled.snips.low).toBeCloseTo(original.snips.low, 12);
    expect(scaled.snips.high).toBeCloseTo(original.snips.high, 12);
    expect(scaled.ips.estimate).toBeCloseTo(2 * original.ips.estimate, 12);
    expect(scaled.weights.effectiveSampleSize).toBeCloseTo(original.weights.effectiveSampleSize, 8);
  });

  it('keeps DR unbiased with a wrong reward model when the weights are right, where DM inherits the error', () => {
    // Prepare: true value of the target [0.1, 0.8, 0.1] is 0.1*0.2 + 0.8*0.5 + 0.1*0.3 = 0.45
    const log = simulatedLog({ n: 40_000, rewardProb: [0.2, 0.5, 0.3], logging: rotating, seed: 5 });
    const feedback: LoggedFeedback = {
      ...log,
      targetProbs: repeatRows([0.1, 0.8, 0.1], 40_000),
      rewardModel: repeatRows([0.6, 0.1, 0.6], 40_000),
    };
    // Act
    const result = evaluatePolicy(feedback, { resamples: 300 });
    // Assess: one simulated 95% interval misses 1 time in 20, so judge the error in standard errors
    const dr = result.dr ?? { estimate: Number.NaN, standardError: Number.NaN };
    expect(Math.abs(dr.estimate - 0.45)).toBeLessThan(4 * dr.standardError);
    expect(result.dm?.estimate).toBeCloseTo(0.2, 10);
    expect(result.dm?.high).toBeLessThan(0.45);
  });

  it('takes only the logged action probability for IPS and SNIPS, omitting DM and DR', () => {
    const result = evaluatePolicy(
      {
        actionCount: 2,
        action: [0, 1, 1],
        reward: [1, 0, 1],
        propensity: [0.5, 0.5, 0.5],
        targetLoggedProbs: [1, 0, 0],
      },
      { resamples: 50 },
    );
    expect(result.ips.estimate).toBeCloseTo(2 / 3, 15);
    expect(result.snips.estimate).toBe(1);
    expect(result.dm).toBeUndefined();
    expect(result.dr).toBeUndefined();
    expect(result.supportDeficit).toBeUndefined();
  });
});

describe('evaluatePolicy: bootstrap', () => {
  const log = simulatedLog({ n: 500, rewardProb: [0.1, 0.4, 0.7], logging: rotating });
  const feedback = {
    ...log,
    targetProbs: repeatRows([0.6, 0.2, 0.2], 500),
    rewardModel: repeatRows([0.1, 0.4, 0.7], 500),
  };

  it('gives identical intervals for the same seed and different ones for another seed', () => {
    const first = evaluatePolicy(feedback, { seed: 42, resamples: 400 });
    const again = evaluatePolicy(feedback, { seed: 42, resamples: 400 });
    const other = evaluatePolicy(feedback, { seed: 43, resamples: 400 });
    expect(again).toEqual(first);
    expect(other.snips.estimate).toBe(first.snips.estimate);
    expect(other.snips.low).not.toBe(first.snips.low);
    expect(first.bootstrap).toEqual({
      method: 'percentile',
      resamples: 400,
      seed: 42,
      level: 0.95,
      rewardModelFixed: true,
    });
  });

  it('widens the interval with the level', () => {
    const narrow = evaluatePolicy(feedback, { level: 0.5 });
    const wide = evaluatePolicy(feedback, { level: 0.99 });
    expect(wide.ips.high - wide.ips.low).toBeGreaterThan(narrow.ips.high - narrow.ips.low);
    expect(narrow.ips.low).toBeLessThan(narrow.ips.estimate);
    expect(narrow.ips.high).toBeGreaterThan(narrow.ips.estimate);
  });

  it('covers the true value about 95% of the time over repeated simulated logs', () => {
    // Prepare: target [0.1, 0.8, 0.1] on rewards [0.2, 0.5, 0.3] is worth 0.45
    const runs = 200;
    const covered = { ips: 0, snips: 0, dr: 0 };
    for (let run = 0; run < runs; run++) {
      const sim = simulatedLog({ n: 500, rewardProb: [0.2, 0.5, 0.3], logging: rotating, seed: 100 + run });
      // Act
      const result = evaluatePolicy(
        { ...sim, targetProbs: repeatRows([0.1, 0.8, 0.1], 500), rewardModel: repeatRows([0.3, 0.3, 0.3], 500) },
        { resamples: 200, seed: run },
      );
      for (const name of ['ips', 'snips', 'dr'] as const) {
        const e = result[name];
        if (e && e.low <= 0.45 && 0.45 <= e.high) covered[name]++;
      }
    }
    // Assess: 200 runs put the coverage's standard deviation near 0.015
    for (const count of Object.values(covered)) {
      expect(count / runs).toBeGreaterThan(0.88);
      expect(count / runs).toBeLessThan(0.995);
    }
  });

  it('keeps SNIPS and its interval within [min reward, max reward] (property)', () => {
    const arbitraryLog = fc.integer({ min: 1, max: 5 }).chain((k) =>
      fc.record({
        k: fc.constant(k),
        rows: fc.array(
          fc.record({
            action: fc.integer({ min: 0, max: k - 1 }),
            reward: fc.double({ min: -10, max: 10, noNaN: true }),
            propensity: fc.double({ min: 0.001, max: 1, noNaN: true }),
            target: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: k, maxLength: k }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
      }),
    );
    fc.assert(
      fc.property(arbitraryLog, ({ k, rows }) => {
        const feedbackRows: FeedbackRow[] = rows.map((row) => {
          const total = row.target.reduce((s, v) => s + v, 0);
          const probs = total === 0 ? row.target.map(() => 1 / k) : row.target.map((v) => v / total);
          return { action: row.action, reward: row.reward, propensity: row.propensity, targetProbs: probs };
        });
        const result = evaluatePolicy(feedbackFromRows(feedbackRows, k), { resamples: 20 });
        const rewards = rows.map((r) => r.reward);
        const [min, max] = [Math.min(...rewards), Math.max(...rewards)];
        const slack = 1e-9 * (1 + Math.abs(min) + Math.abs(max));
        if (result.weights.effectiveSampleSize === 0) {
          expect(result.snips.estimate).toBeNaN();
          expect(result.warnings.map((w) => w.code)).toContain('no-overlap');
          return;
        }
        for (const v of [result.snips.estimate, result.snips.low, result.snips.high]) {
          expect(v).toBeGreaterThanOrEqual(min - slack);
          expect(v).toBeLessThanOrEqual(max + slack);
        }
      }),
      { numRuns: 200, seed: 20_241_123 },
    );
  });
});

describe('evaluatePolicy: warnings', () => {
  it('warns about propensities below the threshold', () => {
    const result = evaluatePolicy(
      {
        actionCount: 2,
        action: [0, 1, 0],
        reward: [1, 0, 0],
        propensity: [0.999, 0.001, 0.999],
        targetLoggedProbs: [0.5, 0.5, 0.5],
      },
      { resamples: 20 },
    );
    expect(result.warnings).toContainEqual(
      expect.objectContaining({ code: 'low-propensity', rows: 1, threshold: 0.01, minPropensity: 0.001 }),
    );
  });

  it('warns when the effective sample size is tiny next to the rows', () => {
    // one row of 1000 carries almost all the weight
    const n = 1000;
    const propensity = new Float64Array(n).fill(0.99);
    propensity[7] = 0.01;
    const action = new Int32Array(n);
    action[7] = 1;
    const targetProbs = repeatRows([0.01, 0.99], n);
    const loggingProbs = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) loggingProbs.set([0.99, 0.01], i * 2);
    const result = evaluatePolicy(
      { actionCount: 2, action, reward: new Float64Array(n), propensity, targetProbs, loggingProbs },
      { resamples: 20, minPropensity: 0.001 },
    );
    expect(result.weights.max).toBeCloseTo(99, 10);
    expect(result.weights.essFraction).toBeLessThan(0.01);
    expect(result.warnings.map((w) => w.code)).toEqual(['low-effective-sample-size']);
  });

  it('measures support deficiency exactly from the logging distribution', () => {
    // the logger never plays action 2; the target gives it 30%
    const log = simulatedLog({ n: 300, rewardProb: [0.5, 0.5, 0.5], logging: () => [0.5, 0.5, 0] });
    const result = evaluatePolicy({ ...log, targetProbs: repeatRows([0.35, 0.35, 0.3], 300) }, { resamples: 20 });
    expect(result.supportDeficit).toEqual({ targetMass: expect.closeTo(0.3, 12), check: 'logging-probs' });
    expect(result.warnings).toContainEqual(
      expect.objectContaining({ code: 'support-deficiency', check: 'logging-probs' }),
    );
  });

  it('falls back to the actions never seen in the log when the logging distribution is unknown', () => {
    const result = evaluatePolicy(
      {
        actionCount: 3,
        action: [0, 1, 0, 1],
        reward: [1, 0, 1, 0],
        propensity: [0.5, 0.5, 0.5, 0.5],
        targetProbs: repeatRows([0.4, 0.4, 0.2], 4),
      },
      { resamples: 20 },
    );
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'support-deficiency',
        check: 'unlogged-actions',
        actions: [2],
        targetMass: expect.closeTo(0.2, 12),
      }),
    );
  });
});

describe('evaluatePolicy: validation', () => {
  const valid: LoggedFeedback = {
    actionCount: 2,
    action: [0, 1],
    reward: [1, 0],
    propensity: [0.5, 0.5],
    targetProbs: [0.5, 0.5, 0.5, 0.5],
  };

  it.each<[string, Partial<LoggedFeedback>, RegExp]>([
    ['a zero propensity', { propensity: [0.5, 0] }, /propensity at row 1 must be in \(0, 1\], got 0/],
    ['a propensity above 1', { propensity: [1.2, 0.5] }, /propensity at row 0 must be in \(0, 1\], got 1.2/],
    ['a NaN propensity', { propensity: [0.5, Number.NaN] }, /propensity at row 1 must be in \(0, 1\], got NaN/],
    [
      'target probabilities not summing to 1',
      { targetProbs: [0.5, 0.5, 0.5, 0.4] },
      /targetProbs at row 1 must sum to 1/,
    ],
    [
      'a negative target probability',
      { targetProbs: [1.5, -0.5, 0.5, 0.5] },
      /targetProbs at row 0 must be in \[0, 1\]/,
    ],
    ['rewards of another length', { reward: [1] }, /reward has 1 entries, expected 2 \(one per row\)/],
    ['target matrix of the wrong size', { targetProbs: [1, 0] }, /targetProbs has 2 entries, expected 4/],
    ['an action outside the action set', { action: [0, 2] }, /action at row 1 must be an integer in \[0, 2\), got 2/],
    ['a non-finite reward', { reward: [1, Number.POSITIVE_INFINITY] }, /reward at row 1 must be a finite number/],
    ['no target at all', { targetProbs: undefined }, /targetProbs or targetLoggedProbs is required/],
    ['two targets', { targetLoggedProbs: [0.5, 0.5] }, /both given/],
    ['a reward model of the wrong size', { rewardModel: [0, 0, 0] }, /rewardModel has 3 entries, expected 4/],
    [
      'logging probabilities that contradict the propensity',
      { loggingProbs: [0.5, 0.5, 0.9, 0.1] },
      /loggingProbs at row 1 give the logged action probability 0.1, propensity says 0.5/,
    ],
    ['no rows', { action: [], reward: [], propensity: [], targetProbs: [] }, /action must hold at least one row/],
  ])('refuses %s with a clear reason', (_, change, message) => {
    const act = () => evaluatePolicy({ ...valid, ...change });
    expect(act).toThrow(InvalidFeedbackError);
    expect(act).toThrow(message);
  });

  it('refuses options outside their domain', () => {
    expect(() => evaluatePolicy(valid, { resamples: 1 })).toThrow(InvalidEvaluationOptionError);
    expect(() => evaluatePolicy(valid, { level: 1 })).toThrow(/level must be in \(0, 1\)/);
    expect(() => evaluatePolicy(valid, { seed: 0.5 })).toThrow(/seed must be an integer/);
  });

  it('throws errors of the module family, which are model errors', () => {
    try {
      evaluatePolicy({ ...valid, propensity: [0, 0.5] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(OffPolicyEvaluationError);
      expect(error).toBeInstanceOf(ModelError);
      expect(error).toMatchObject({ name: 'InvalidFeedbackError', field: 'propensity', row: 0 });
    }
  });
});

describe('feedbackFromRows', () => {
  it('packs rows into the same feedback as columns', () => {
    const rows: FeedbackRow[] = [
      { action: 0, reward: 1, propensity: 0.5, targetProbs: [0.9, 0.1], rewardModel: [0.7, 0.2] },
      { action: 1, reward: 0, propensity: 0.5, targetProbs: [0.9, 0.1], rewardModel: [0.7, 0.2] },
    ];
    const fromRows = evaluatePolicy(feedbackFromRows(rows), { resamples: 50 });
    const fromColumns = evaluatePolicy(
      {
        actionCount: 2,
        action: [0, 1],
        reward: [1, 0],
        propensity: [0.5, 0.5],
        targetProbs: [0.9, 0.1, 0.9, 0.1],
        rewardModel: [0.7, 0.2, 0.7, 0.2],
      },
      { resamples: 50 },
    );
    expect(fromRows).toEqual(fromColumns);
  });

  it('refuses rows that give the target in different forms', () => {
    expect(() =>
      feedbackFromRows([
        { action: 0, reward: 1, propensity: 0.5, targetProbs: [1, 0] },
        { action: 1, reward: 0, propensity: 0.5, targetProbs: 0.5 },
      ]),
    ).toThrow(/targetProbs at row 1 must list 2 values/);
  });
});

describe('compareToBaseline', () => {
  const n = 6000;
  const log = simulatedLog({ n, rewardProb: [0.1, 0.2, 0.6], logging: () => [1 / 3, 1 / 3, 1 / 3], seed: 11 });
  const withTarget = (probs: readonly number[]): LoggedFeedback => ({
    ...log,
    targetProbs: repeatRows(probs, n),
    rewardModel: repeatRows([0.3, 0.3, 0.3], n),
  });

  it('calls a clearly better candidate better, judged on the paired lower bound', () => {
    const result = compareToBaseline(withTarget([0, 0, 1]), withTarget([1 / 3, 1 / 3, 1 / 3]), { resamples: 500 });
    expect(result.verdict).toBe('better');
    expect(result.estimator).toBe('dr');
    expect(result.difference.low).toBeGreaterThan(0);
    expect(result.difference.estimate).toBeCloseTo(result.candidate.estimate - result.baseline.estimate, 12);
    expect(result.summary).toMatch(/^better: DR lift \+0\.\d+ \(95% interval \+0\.\d+ to \+0\.\d+\) over 6000 rows/);
  });

  it('calls a clearly worse candidate not better', () => {
    const result = compareToBaseline(withTarget([1, 0, 0]), withTarget([0, 0, 1]), { resamples: 500 });
    expect(result.verdict).toBe('not better');
    expect(result.difference.high).toBeLessThan(0);
  });

  it('calls a small sample inconclusive', () => {
    const small = simulatedLog({ n: 60, rewardProb: [0.2, 0.25, 0.3], logging: () => [1 / 3, 1 / 3, 1 / 3], seed: 4 });
    const result = compareToBaseline(
      {
        ...small,
        loggingProbs: undefined,
        targetLoggedProbs: Float64Array.from(small.action, (a) => (a === 2 ? 1 : 0)),
      },
      { ...small, loggingProbs: undefined, targetLoggedProbs: new Float64Array(60).fill(1 / 3) },
      { resamples: 500 },
    );
    expect(result.estimator).toBe('snips');
    expect(result.verdict).toBe('inconclusive');
    expect(result.difference.low).toBeLessThan(0);
    expect(result.difference.high).toBeGreaterThan(0);
  });

  it('finds a policy no better than itself, with a zero-width difference', () => {
    const result = compareToBaseline(withTarget([0.2, 0.3, 0.5]), withTarget([0.2, 0.3, 0.5]), { resamples: 100 });
    expect(result.difference).toEqual({ estimate: 0, low: 0, high: 0, standardError: 0 });
    expect(result.verdict).toBe('not better');
  });

  it('pairs the resamples: the difference is tighter than the two intervals suggest', () => {
    const result = compareToBaseline(withTarget([0.1, 0.1, 0.8]), withTarget([0.05, 0.15, 0.8]), {
      estimator: 'snips',
      resamples: 500,
    });
    const unpaired = Math.hypot(result.candidate.standardError, result.baseline.standardError);
    expect(result.difference.standardError).toBeLessThan(unpaired / 2);
  });

  it('demands the lift given as the minimum', () => {
    const result = compareToBaseline(withTarget([0, 0, 1]), withTarget([1 / 3, 1 / 3, 1 / 3]), {
      resamples: 500,
      minimumLift: 0.5,
    });
    expect(result.verdict).toBe('not better');
    expect(result.summary).toMatch(/against a required lift of \+0\.5/);
  });

  it('refuses to compare policies evaluated on different logs', () => {
    const other = { ...withTarget([0, 0, 1]), reward: Float64Array.from(log.reward, (r, i) => (i === 17 ? 1 - r : r)) };
    expect(() => compareToBaseline(other, withTarget([1, 0, 0]))).toThrow(IncomparablePoliciesError);
    expect(() => compareToBaseline(other, withTarget([1, 0, 0]))).toThrow(/reward differs .* \(row 17\)/);
  });

  it('refuses DR when a side has no reward model', () => {
    const bare = { ...withTarget([0, 0, 1]), rewardModel: undefined };
    expect(() => compareToBaseline(bare, withTarget([1, 0, 0]), { estimator: 'dr' })).toThrow(
      /DR needs targetProbs and a rewardModel on both/,
    );
  });
});
