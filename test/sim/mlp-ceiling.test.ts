import { describe, expect, it } from 'vitest';
import { Rng } from '#model/random.ts';
import { simulate } from '#sim/engine.ts';
import { createMlpCeiling, type MlpFitReport, Reservoir } from '#sim/mlp-ceiling.ts';
import { buildPolicySpecs, DIAGNOSTIC_POLICY_NAMES } from '#sim/policies.ts';
import { testConfig, tinyPopulation } from './helpers.ts';

describe('Reservoir', () => {
  it('keeps every row until full, then a uniform sample of the stream', () => {
    // Arrange
    const reservoir = new Reservoir(1, 100, new Rng(7));
    // Act: 10,000 rows whose value is their position in the stream
    for (let i = 0; i < 10_000; i++) reservoir.add([i], i);
    // Assess: full, rows and targets stay paired, and the kept positions spread over the whole stream
    expect(reservoir.seen).toBe(10_000);
    expect(reservoir.size).toBe(100);
    let late = 0;
    for (let r = 0; r < reservoir.size; r++) {
      expect(reservoir.features[r]).toBe(reservoir.targets[r]);
      if (reservoir.targets[r] >= 5_000) late++;
    }
    expect(late).toBeGreaterThan(30); // binomial(100, 1/2): 30 is 4 standard deviations below
    expect(late).toBeLessThan(70);
  });

  it('standardises columns, leaving a constant column at scale 1', () => {
    const reservoir = new Reservoir(2, 10, new Rng(1));
    reservoir.add([1, 2], 0);
    reservoir.add([1, 4], 0);
    const { mean, sd } = reservoir.columnScales();
    expect([...mean]).toEqual([1, 3]);
    expect([...sd]).toEqual([1, 1]);
  });
});

describe('oracle-mlp', () => {
  it('is a diagnostic policy the simulator can build', () => {
    const population = tinyPopulation();
    const specs = buildPolicySpecs(['oracle-mlp'], { population, config: testConfig() });
    expect(DIAGNOSTIC_POLICY_NAMES).toContain('oracle-mlp');
    expect(specs.map((s) => [s.name, s.learns])).toEqual([['oracle-mlp', false]]);
  });

  it('acts as the oracle while it records, then sends by its fitted network within the guardrails', async () => {
    // Arrange: one day of recording, one of acting on a quickly trained network
    const population = tinyPopulation();
    const config = testConfig();
    const fits: MlpFitReport[] = [];
    const [oracle] = buildPolicySpecs(['oracle'], { population, config });
    const mlp = {
      name: 'oracle-mlp',
      learns: false,
      create: (ctx: Parameters<typeof oracle.create>[0]) =>
        createMlpCeiling(population, ctx.config, ctx, {
          fitDays: 1,
          hidden: [8],
          maxRows: 500,
          training: { epochs: 3, batchSize: 64, learningRate: 0.01 },
          centerPerRequest: true,
          onFit: (report) => fits.push(report),
        }),
    };
    // Act
    const result = await simulate({ population, config, days: 2, seeds: [4], policies: [oracle, mlp] });
    // Assess
    const run = result.runs[0].policies;
    expect(fits).toHaveLength(1);
    expect(fits[0].rowsSeen).toBeGreaterThan(fits[0].rowsKept);
    expect(fits[0].rowsKept).toBe(500);
    expect(Number.isFinite(fits[0].r2) && Number.isFinite(fits[0].linearR2)).toBe(true);
    expect(run['oracle-mlp'].rewardByDay[0]).toBe(run.oracle.rewardByDay[0]); // day 0: the oracle's choices
    expect(run['oracle-mlp'].sends).toBeGreaterThan(100);
    expect(Object.values(run['oracle-mlp'].breaches).reduce((a, b) => a + b, 0)).toBe(0);
  });
});
