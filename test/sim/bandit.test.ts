import { describe, expect, it } from 'vitest';
import { channelPriors, createBanditFactory } from '#sim/bandit.ts';
import { simulate } from '#sim/engine.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import { warmedUpState } from '#sim/warmup.ts';
import { testConfig, tinyPopulation, withoutTimings } from './helpers.ts';

describe('the bandit in the simulator', () => {
  it('learns from arrived rewards behind the guardrails, and replays identically for the same seed', async () => {
    // Prepare
    const population = tinyPopulation();
    const config = testConfig();
    const banditFactory = await createBanditFactory();
    const run = () =>
      simulate({
        population,
        config,
        days: 3,
        seeds: [4],
        policies: buildPolicySpecs(['bandit', 'heuristic'], { population, config, banditFactory }),
      });
    // Act
    const first = await run();
    const second = await run();
    // Assess
    const bandit = first.runs[0].policies.bandit;
    expect(bandit.sends).toBeGreaterThan(100);
    expect(bandit.learnedRows).toBeGreaterThan(50);
    expect(bandit.explored).toBeGreaterThan(0);
    expect(Object.values(bandit.breaches).reduce((a, b) => a + b, 0)).toBe(0);
    expect(withoutTimings(second)).toEqual(withoutTimings(first));
  });

  it('runs one bandit per config variant, each under the world guardrails', async () => {
    const population = tinyPopulation((p) => {
      p.users = 40;
    });
    const config = testConfig();
    const greedy = { ...config, version: 'greedy', bandit: { ...config.bandit, explorationFloor: 0 } } as typeof config;
    const loose = {
      ...config,
      version: 'loose',
      guardrails: { ...config.guardrails, quietHours: { start: '03:00', end: '04:00' } },
    } as typeof config;
    const specs = buildPolicySpecs(['bandit'], {
      population,
      config,
      bandits: [
        { label: 'greedy', config: greedy },
        { label: 'loose', config: loose },
      ],
      banditFactory: await createBanditFactory(),
    });
    expect(specs.map((s) => s.name)).toEqual(['bandit:greedy', 'bandit:loose']);
    expect(specs[1].config?.guardrails).toEqual(config.guardrails);
    const result = await simulate({ population, config, days: 2, seeds: [1], policies: specs });
    for (const name of ['bandit:greedy', 'bandit:loose']) {
      expect(Object.values(result.runs[0].policies[name].breaches).reduce((a, b) => a + b, 0)).toBe(0);
    }
  });
});

describe('channelPriors', () => {
  it('is the population engagement rate per channel, absent below a few dozen sends', async () => {
    const population = tinyPopulation((p) => {
      p.coldStart.warmupNotificationsPerDay = 2;
      p.channels.sms.reachable = 0;
    });
    const { Rng } = await import('#model/random.ts');
    const { drawInitialUsers, affinityTable, ZoneClock } = await import('#sim/truth.ts');
    const { Timeline } = await import('#sim/timeline.ts');
    const rng = new Rng(1);
    const clock = new ZoneClock();
    const ctx = {
      population,
      decay: { halfLifeDays: 14, defaultTimeZone: 'UTC' },
      rng,
      clock,
      affinity: affinityTable(population),
      timeline: new Timeline(population, rng, clock),
    };
    const states = drawInitialUsers(population, rng).map((u) => warmedUpState(u, ctx));
    const priors = channelPriors(states);
    expect(priors.channelRates?.sms).toBeUndefined();
    expect(priors.channelRates?.email).toBeGreaterThan(0.05);
    expect(priors.channelRates?.email).toBeLessThan(0.5);
    expect(priors.channelRates?.push).toBeLessThan(priors.channelRates?.email as number);
  });
});
