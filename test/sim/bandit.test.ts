import { describe, expect, it } from 'vitest';
import { channelPriors, createBanditFactory, pretrain } from '#sim/bandit.ts';
import { simulate } from '#sim/engine.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import { replayWarmup, type WarmupLog, warmedUpState } from '#sim/warmup.ts';
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

describe('learning from the warm-up history', () => {
  it('replays each user’s legacy sends in time order, ending in the warmed-up state, and pretrains on them', async () => {
    // Prepare
    const population = tinyPopulation((p) => {
      p.coldStart.warmupNotificationsPerDay = 2;
    });
    const config = testConfig();
    const { Rng } = await import('#model/random.ts');
    const { drawInitialUsers, affinityTable, ZoneClock, simulationStartMs } = await import('#sim/truth.ts');
    const { Timeline } = await import('#sim/timeline.ts');
    const { SendTimePolicy } = await import('#model/policy.ts');
    const rng = new Rng(3);
    const clock = new ZoneClock();
    const decay = { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: 'UTC' };
    const ctx = {
      population,
      decay,
      rng,
      clock,
      affinity: affinityTable(population),
      timeline: new Timeline(population, rng, clock),
    };
    const startMs = simulationStartMs(population);
    const users = drawInitialUsers(population, rng);
    const logs = users.map((u) => {
      const log: WarmupLog = { sessions: [], sends: [] };
      return { user: u, log, state: warmedUpState(u, ctx, log) };
    });
    // Act
    let replayed = 0;
    for (const { user, log, state } of logs) {
      let last = Number.NEGATIVE_INFINITY;
      let lastState = undefined as unknown as typeof state;
      for (const r of replayWarmup(user, log, decay, startMs)) {
        expect(r.send.atMs).toBeGreaterThanOrEqual(last);
        expect(r.send.atMs).toBeLessThan(startMs);
        // Nothing of the send itself is in the state yet.
        expect(r.user.lastActiveMs ?? Number.NEGATIVE_INFINITY).toBeLessThanOrEqual(r.send.atMs);
        last = r.send.atMs;
        lastState = r.user;
        replayed++;
      }
      if (lastState) {
        // The yielded state is live: once the replay is done it holds the whole history, as warm-up built it.
        for (const c of ['email', 'push', 'sms'] as const) {
          expect(lastState.channels[c].sends).toBeCloseTo(state.channels[c].sends, 9);
          expect(lastState.channels[c].opens).toBeCloseTo(state.channels[c].opens, 9);
        }
        const sum = (h: number[]) => h.reduce((x, y) => x + y, 0);
        expect(sum(lastState.engagementByHourOfWeek)).toBeCloseTo(sum(state.engagementByHourOfWeek), 9);
      }
    }
    const policy = SendTimePolicy.create(config);
    const history = function* () {
      for (const { user, log } of logs) yield* replayWarmup(user, log, decay, startMs);
    };
    const learned = pretrain(policy, config, history());
    // Assess
    expect(replayed).toBeGreaterThan(50);
    expect(learned).toBeGreaterThan(0.8 * replayed); // only sends whose window closed before day 0 are left out
    expect(learned).toBeLessThan(replayed);
    expect(policy.version).not.toBe(SendTimePolicy.create(config).version);
    policy.dispose();
  });
});
