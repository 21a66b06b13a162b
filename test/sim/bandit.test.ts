import { describe, expect, it } from 'vitest';
import type { UserState } from '#model/user-state.ts';
import { channelPriors, createBanditFactory, pretrain } from '#sim/bandit.ts';
import { simulate } from '#sim/engine.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import type { UserTruth } from '#sim/truth.ts';
import { legacyDecisionId, type WarmupLog, warmedUpState, warmupEvents, warmupHistory } from '#sim/warmup.ts';
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
  it('gives each legacy send and its outcomes as events that rebuild the warmed-up state, and pretrains on them', async () => {
    // Prepare
    const population = tinyPopulation((p) => {
      p.coldStart.warmupNotificationsPerDay = 2;
    });
    const config = testConfig();
    const { Rng } = await import('#model/random.ts');
    const { drawInitialUsers, affinityTable, ZoneClock, simulationStartMs } = await import('#sim/truth.ts');
    const { Timeline } = await import('#sim/timeline.ts');
    const { SendTimePolicy } = await import('#model/policy.ts');
    const { applyEvent, emptyUserState } = await import('#model/user-state.ts');
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
    const logs = new Map<UserTruth, WarmupLog>();
    const states = new Map<UserTruth, UserState>();
    for (const u of drawInitialUsers(population, rng)) {
      const log: WarmupLog = { sessions: [], sends: [] };
      states.set(u, warmedUpState(u, ctx, log));
      if (log.sends.length) logs.set(u, log);
    }
    const history = warmupHistory(logs, startMs);

    // Act
    let sends = 0;
    for (const [user, log] of logs) {
      const events = warmupEvents(user, log);
      const replayed = emptyUserState(user.userId);
      for (const e of events) applyEvent(replayed, e as Parameters<typeof applyEvent>[1], decay);
      // Assess: the events hold the whole history, as warm-up built it
      const state = states.get(user) as UserState;
      for (const c of ['email', 'push', 'sms'] as const) {
        expect(replayed.channels[c].sends).toBeCloseTo(state.channels[c].sends, 9);
        expect(replayed.channels[c].opens).toBeCloseTo(state.channels[c].opens, 9);
      }
      const sum = (h: number[]) => h.reduce((x, y) => x + y, 0);
      expect(sum(replayed.engagementByHourOfWeek)).toBeCloseTo(sum(state.engagementByHourOfWeek), 9);
      expect(replayed.timeZone).toBe(user.zone);
      // each send's outcomes carry its decision id, and its kind is known by it
      for (const [i, send] of log.sends.entries()) {
        const id = legacyDecisionId(user, i);
        const own = events.filter((e) => 'decisionId' in e && e.decisionId === id);
        expect(own.map((e) => e.type)).toEqual(['notification_delivered', ...send.outcomes.map((o) => o.type)]);
        expect(history.kindOf(id)).toBe(send.kind);
        sends++;
      }
    }
    const policy = SendTimePolicy.create(config);
    const learned = pretrain(policy, config, history);

    // Assess
    expect(sends).toBeGreaterThan(50);
    expect(learned).toBeGreaterThan(0.8 * sends); // only sends whose window closed before day 0 are left out
    expect(learned).toBeLessThan(sends);
    expect(policy.version).not.toBe(SendTimePolicy.create(config).version);
    policy.dispose();
  });
});
