import { describe, expect, it } from 'vitest';
import type { PolicyTotals, SimulationResult } from '#sim/engine.ts';
import { meanInterval, tQuantile975 } from '#sim/math.ts';
import { summarize } from '#sim/summary.ts';

function totals(rewardPerRequest: number, days = 2, requestsPerDay = 100): PolicyTotals {
  const zero = () => ({ email: 0, push: 0, sms: 0 });
  return {
    requests: days * requestsPerDay,
    sends: days * requestsPerDay,
    noArm: 0,
    noArmReasons: {},
    stoppedAtDispatch: {},
    breaches: { quiet_hours: 0 },
    reward: rewardPerRequest * days * requestsPerDay,
    attributed: { opens: 0, clicks: 0, unsubscribes: 0 },
    optOuts: zero(),
    sendsByChannel: { email: days * requestsPerDay, push: 0, sms: 0 },
    sendsByLocalHour: { email: new Array(24).fill(0), push: new Array(24).fill(0), sms: new Array(24).fill(0) },
    rewardByDay: new Array(days).fill(rewardPerRequest * requestsPerDay),
    requestsByDay: new Array(days).fill(requestsPerDay),
    learnedRows: 0,
    explored: 0,
    decideMs: 0,
    learnMs: 0,
  };
}

describe('meanInterval', () => {
  it('is the t-interval of the mean', () => {
    const m = meanInterval([1, 2, 3, 4]);
    expect(m.mean).toBe(2.5);
    const half = tQuantile975(3) * Math.sqrt(((1.5 ** 2 + 0.5 ** 2) * 2) / 3 / 4);
    expect(m.low).toBeCloseTo(2.5 - half, 12);
    expect(m.high).toBeCloseTo(2.5 + half, 12);
  });

  it('has no width for one value', () => {
    expect(meanInterval([0.3])).toEqual({ mean: 0.3, low: 0.3, high: 0.3, n: 1 });
  });
});

describe('summarize', () => {
  it('pairs lift, regret and regret removed by seed', () => {
    // Prepare: seed 1 heuristic 0.10, bandit 0.11, oracle 0.14; seed 2 heuristic 0.20, bandit 0.21, oracle 0.24
    const result: SimulationResult = {
      population: 'test',
      configVersion: 'v1',
      days: 2,
      seeds: [1, 2],
      policies: [
        { name: 'bandit', learns: true, configVersion: 'v1' },
        { name: 'heuristic', learns: false, configVersion: 'v1' },
        { name: 'oracle', learns: false, configVersion: 'v1' },
      ],
      runs: [
        { seed: 1, users: 10, policies: { bandit: totals(0.11), heuristic: totals(0.1), oracle: totals(0.14) } },
        { seed: 2, users: 10, policies: { bandit: totals(0.21), heuristic: totals(0.2), oracle: totals(0.24) } },
      ],
      wallMs: 1000,
    };
    // Act
    const s = summarize(result);
    // Assess: lift is 10% on seed 1 and 5% on seed 2, so the paired mean is 7.5%
    const bandit = s.policies.bandit;
    expect(bandit.liftVsHeuristic?.mean).toBeCloseTo(0.075, 10);
    expect(bandit.regret?.mean).toBeCloseTo(0.03, 10);
    expect(bandit.heuristicRegretRemoved?.mean).toBeCloseTo(0.25, 10);
    expect(bandit.heuristicRegretRemoved?.low).toBeCloseTo(0.25, 10); // identical on both seeds: no width
    expect(bandit.shareOfOracle?.mean).toBeCloseTo((0.11 / 0.14 + 0.21 / 0.24) / 2, 10);
    expect(bandit.meanReward.mean).toBeCloseTo(0.16, 10);
    expect(s.policies.heuristic.liftVsHeuristic).toBeUndefined();
    expect(s.policies.oracle.heuristicRegretRemoved).toBeUndefined();
    expect(bandit.rewardByDay).toHaveLength(2);
    expect(bandit.rewardByDay[1].mean).toBeCloseTo(0.16, 10);
    expect(s.warnings).toEqual([]);
  });

  it('covers the last min(7, days) days in its last-week figures', () => {
    const run = (days: number): SimulationResult => ({
      population: 'test',
      configVersion: 'v1',
      days,
      seeds: [1],
      policies: [{ name: 'heuristic', learns: false, configVersion: 'v1' }],
      runs: [{ seed: 1, users: 10, policies: { heuristic: totals(0.1, days) } }],
      wallMs: 0,
    });
    expect(summarize(run(3)).lastWeekDays).toEqual([0, 2]);
    expect(summarize(run(28)).lastWeekDays).toEqual([21, 27]);
  });

  it('says why when no notification was sent, and explains every null it writes', () => {
    // Prepare: requests arrive but none is sent (nobody reachable): every reward is 0, every ratio 0/0
    const unsent = (): PolicyTotals => ({
      ...totals(0),
      sends: 0,
      noArm: 200,
      noArmReasons: { no_consent: 200 },
      sendsByChannel: { email: 0, push: 0, sms: 0 },
    });
    const result: SimulationResult = {
      population: 'test',
      configVersion: 'v1',
      days: 2,
      seeds: [1, 2],
      policies: ['bandit', 'heuristic', 'oracle'].map((name) => ({
        name,
        learns: name === 'bandit',
        configVersion: 'v1',
      })),
      runs: [1, 2].map((seed) => ({
        seed,
        users: 10,
        policies: { bandit: unsent(), heuristic: unsent(), oracle: unsent() },
      })),
      wallMs: 0,
    };
    // Act
    const s = summarize(result);
    const json = JSON.parse(JSON.stringify(s));
    // Assess: the first warning says so and why; every field written as null is named by a warning
    expect(s.warnings[0]).toMatch(/^no notification was sent: .*no_consent 200/);
    expect(json.policies.bandit.sends).toBe(0);
    expect(json.policies.bandit.liftVsHeuristic.mean).toBeNull(); // the type is kept: null, explained below
    const nullFields = new Set<string>();
    for (const p of Object.values(json.policies) as Record<string, unknown>[])
      for (const [field, value] of Object.entries(p)) if (JSON.stringify(value).includes('null')) nullFields.add(field);
    expect([...nullFields].sort()).toEqual(
      [
        'heuristicRegretRemoved',
        'lastWeekHeuristicRegretRemoved',
        'lastWeekLiftVsHeuristic',
        'lastWeekShareOfOracle',
        'liftVsHeuristic',
        'shareOfOracle',
        'shareOfOracleByDay',
      ].sort(),
    );
    for (const field of nullFields)
      expect(
        s.warnings.some((w) => w.startsWith(`${field} is null for `)),
        field,
      ).toBe(true);
  });

  it('names a policy that alone sent nothing', () => {
    const result: SimulationResult = {
      population: 'test',
      configVersion: 'v1',
      days: 2,
      seeds: [1],
      policies: ['heuristic', 'random'].map((name) => ({ name, learns: false, configVersion: 'v1' })),
      runs: [
        {
          seed: 1,
          users: 10,
          policies: {
            heuristic: totals(0.1),
            random: { ...totals(0), sends: 0, noArm: 200, noArmReasons: { deferred_past_end: 200 } },
          },
        },
      ],
      wallMs: 0,
    };
    const s = summarize(result);
    expect(s.warnings).toEqual([expect.stringMatching(/^random sent no notification: .*deferred_past_end 200/)]);
  });
});

describe('solveRidge', () => {
  it('solves a symmetric system, and a singular one once regularised', async () => {
    const { solveRidge } = await import('#sim/linear-ceiling.ts');
    // [[4, 2], [2, 3]] x = [2, 5]  =>  x = [-0.5, 2]
    const x = solveRidge(new Float64Array([4, 2, 2, 3]), new Float64Array([2, 5]), 2, 0);
    expect(x[0]).toBeCloseTo(-0.5, 10);
    expect(x[1]).toBeCloseTo(2, 10);
    const y = solveRidge(new Float64Array([1, 0, 0, 0]), new Float64Array([1, 0]), 2, 1e-9);
    expect(y[0]).toBeCloseTo(1, 6);
    expect(y[1]).toBe(0);
  });
});
