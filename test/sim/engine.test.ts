import { describe, expect, it } from 'vitest';
import { randomPolicy } from '#model/heuristic.ts';
import { Rng } from '#model/random.ts';
import { type DecisionTrace, simulate } from '#sim/engine.ts';
import { inQuietHours } from '#sim/guardrail-audit.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import type { LearnRow, PolicySpec, SimDecision } from '#sim/policy-api.ts';
import { engagementReward } from '#sim/reward.ts';
import { summarize } from '#sim/summary.ts';
import { HOUR_MS, ZoneClock } from '#sim/truth.ts';
import { summaryWithoutTimings, testConfig, tinyPopulation, withoutTimings } from './helpers.ts';

const config = testConfig();
const windowMs = config.reward.attributionWindowHours * HOUR_MS;

/** A random policy that learns nothing but records, for every row it is given, the simulated time it got it. */
function recordingLearner(log: { features: unknown; reward: number; atMs: number }[]): PolicySpec {
  return {
    name: 'recording-learner',
    learns: true,
    create: (ctx) => {
      const policy = randomPolicy(ctx.config);
      const rng = new Rng(ctx.seed);
      return {
        decide: (inputs) => policy.decide(inputs, rng),
        learn: (rows: LearnRow[]) => {
          for (const row of rows) log.push({ features: row.features, reward: row.reward, atMs: ctx.now() });
        },
      };
    },
  };
}

describe('simulate', () => {
  it('gives identical results for the same seed, and different ones for another seed', async () => {
    // Prepare
    const population = tinyPopulation();
    const options = {
      population,
      config,
      days: 3,
      policies: buildPolicySpecs(['heuristic', 'random', 'oracle'], { population, config }),
    };
    // Act
    const a = await simulate({ ...options, seeds: [7] });
    const b = await simulate({ ...options, seeds: [7] });
    const c = await simulate({ ...options, seeds: [8] });
    // Assess
    expect(withoutTimings(a)).toEqual(withoutTimings(b));
    expect(a.runs[0].policies.random.reward).not.toBe(c.runs[0].policies.random.reward);
    expect(summaryWithoutTimings(summarize(a))).toEqual(summaryWithoutTimings(summarize(b)));
  });

  it('gives two identical policies identical decisions and outcomes (common random numbers)', async () => {
    const population = tinyPopulation();
    const [heuristic] = buildPolicySpecs(['heuristic'], { population, config });
    const twin: PolicySpec = { ...heuristic, name: 'heuristic-twin' };
    const result = await simulate({
      population,
      config,
      days: 3,
      seeds: [3],
      policies: [heuristic, twin],
      trace: true,
    });
    const run = result.runs[0];
    expect(run.policies.heuristic.sends).toBeGreaterThan(50);
    expect({ ...run.policies['heuristic-twin'], decideMs: 0 }).toEqual({ ...run.policies.heuristic, decideMs: 0 });
    expect(run.traces?.['heuristic-twin']).toEqual(run.traces?.heuristic);
  });

  it('draws the outcome of a request from the request alone: the same arm gets the same events in any policy', async () => {
    const population = tinyPopulation((p) => {
      // No fatigue: then the response to an arm depends on nothing a policy did before.
      p.fatigue.responsePerSend = 1;
      p.fatigue.unsubscribeGrowthPerSend = 0;
    });
    const result = await simulate({
      population,
      config,
      days: 3,
      seeds: [5],
      policies: buildPolicySpecs(['heuristic', 'fixed-hour'], { population, config }),
      trace: true,
    });
    const byRequest = new Map(result.runs[0].traces?.heuristic.map((t) => [t.requestId, t]));
    let same = 0;
    for (const t of result.runs[0].traces?.['fixed-hour'] ?? []) {
      const h = byRequest.get(t.requestId);
      if (
        !h ||
        t.dispatch !== 'sent' ||
        h.dispatch !== 'sent' ||
        h.armIndex !== t.armIndex ||
        h.sendAtMs !== t.sendAtMs
      ) {
        continue;
      }
      same++;
      expect(t.events).toEqual(h.events);
    }
    expect(same).toBeGreaterThan(20);
  });

  it('never lets a send breach a guardrail, for any policy', async () => {
    const population = tinyPopulation((p) => {
      p.requests.perUserPerDay = 3; // enough pressure on the frequency caps
    });
    const result = await simulate({
      population,
      config,
      days: 3,
      seeds: [11],
      policies: buildPolicySpecs(['heuristic', 'fixed-hour', 'random', 'oracle'], { population, config }),
      trace: true,
    });
    for (const [name, totals] of Object.entries(result.runs[0].policies)) {
      expect(
        Object.values(totals.breaches).reduce((a, b) => a + b, 0),
        name,
      ).toBe(0);
      expect(totals.sends, name).toBeGreaterThan(100);
      // Check the sends ourselves: local time outside quiet hours unless transactional, and a cap of 3 a day.
      const sent = (result.runs[0].traces?.[name] ?? []).filter((t) => t.dispatch === 'sent');
      const byUser = new Map<string, number[]>();
      for (const t of sent) {
        expectAllowedTime(t);
        byUser.set(t.userId, [...(byUser.get(t.userId) ?? []), t.sendAtMs as number]);
      }
      for (const times of byUser.values()) {
        times.sort((a, b) => a - b);
        for (let i = 3; i < times.length; i++) expect(times[i] - times[i - 3]).toBeGreaterThanOrEqual(24 * HOUR_MS);
      }
    }
  });

  it('refuses and counts the decisions of a policy that ignores the guardrails', async () => {
    // Prepare: always email, at 03:00 UTC the next day: in quiet hours for Europe, outside short
    // windows, and regardless of consent or caps
    const population = tinyPopulation((p) => {
      p.requests.perUserPerDay = 3;
    });
    const rogue: PolicySpec = {
      name: 'rogue',
      learns: false,
      create: () => ({
        decide: (inputs) =>
          inputs.map(
            (input): SimDecision => ({
              kind: 'send',
              channel: 'email',
              armIndex: 0,
              sendAtMs: Math.ceil(input.nowMs / 86_400_000) * 86_400_000 + 3 * HOUR_MS,
              propensity: 1,
              explored: false,
              features: [],
            }),
          ),
      }),
    };
    // Act
    const result = await simulate({ population, config, days: 2, seeds: [1], policies: [rogue], trace: true });
    // Assess
    const totals = result.runs[0].policies.rogue;
    for (const kind of ['outside_window', 'quiet_hours', 'frequency_cap', 'cannot_receive']) {
      expect(totals.breaches[kind], kind).toBeGreaterThan(0);
    }
    const traces = result.runs[0].traces?.rogue ?? [];
    const refused = traces.filter((t) => t.dispatch === 'breach');
    expect(refused.length).toBe(Object.values(totals.breaches).reduce((a, b) => a + b, 0) - extraKinds(refused));
    // What got through is what the guardrails allow (e.g. Los Angeles at 19:00, in a long window).
    const sent = traces.filter((t) => t.dispatch === 'sent');
    expect(totals.sends).toBe(sent.length);
    expect(sent.length).toBeGreaterThan(0);
    for (const t of sent) expectAllowedTime(t);
  });

  it('hands a reward to the learner only after its events happened, within the attribution window', async () => {
    // Prepare: a responsive population, so there is plenty of engagement to check
    const population = tinyPopulation((p) => {
      p.channels.email.open.median = 0.5;
      p.channels.push.open.median = 0.4;
    });
    const log: { features: unknown; reward: number; atMs: number }[] = [];
    // Act
    const result = await simulate({
      population,
      config,
      days: 4,
      seeds: [2],
      policies: [recordingLearner(log)],
      trace: true,
    });
    // Assess: the outcome of each send, as the simulator drew it
    const sent = (result.runs[0].traces?.['recording-learner'] ?? []).filter((t) => t.dispatch === 'sent');
    expect(sent.some((t) => t.events.some((e) => !e.attributed))).toBe(true); // late opens exist and earn nothing
    const learned: { atMs: number; reward: number }[] = [];
    for (const t of sent) {
      const send = t.sendAtMs as number;
      for (const e of t.events) {
        expect(e.atMs).toBeGreaterThan(send);
        expect(e.attributed).toBe(e.atMs <= send + windowMs);
      }
      const attributed = t.events.filter((e) => e.attributed);
      if (t.closedAtMs === undefined) continue;
      expect(t.closedAtMs).toBeLessThanOrEqual(send + windowMs);
      if (attributed.length) expect(t.closedAtMs).toBe(Math.max(...attributed.map((e) => e.atMs)));
      else expect(t.closedAtMs).toBe(send + windowMs);
      if (t.learnedAtMs === undefined) continue;
      expect(t.learnedAtMs).toBeGreaterThanOrEqual(t.closedAtMs);
      learned.push({ atMs: t.learnedAtMs, reward: engagementReward(attributedTypes(t), config) });
    }
    // What the learner itself saw: each row once, at those instants, with the engagement reward
    // (before channel cost) of exactly the attributed events.
    expect(log.length).toBeGreaterThan(sent.length / 2); // the rest close after the last day
    expect(new Set(log.map((l) => l.features)).size).toBe(log.length);
    const key = (x: { atMs: number; reward: number }) => `${x.atMs}/${x.reward.toFixed(6)}`;
    expect(log.map(key).sort()).toEqual(learned.map(key).sort());
    expect(log.some((l) => l.reward > 0)).toBe(true);
  });
});

/** A send inside its window and, unless transactional, outside the user's quiet hours. */
function expectAllowedTime(t: DecisionTrace): void {
  const at = t.sendAtMs as number;
  expect(at).toBeGreaterThanOrEqual(t.window.notBeforeMs);
  expect(at).toBeLessThanOrEqual(t.window.notAfterMs);
  if (t.kind === 'transactional') return;
  const minute = (((at / 60_000 + new ZoneClock().offsetMinutes(t.zone, at)) % 1440) + 1440) % 1440;
  expect(inQuietHours(Math.floor(minute), config.guardrails.quietHours), t.requestId).toBe(false);
}

/** A refused decision can break several guardrails at once; each is counted. */
function extraKinds(refused: DecisionTrace[]): number {
  return refused.reduce((a, t) => a + (t.stopReason?.split(',').length ?? 1) - 1, 0);
}

function attributedTypes(t: DecisionTrace) {
  return t.events.filter((e) => e.attributed).map((e) => e.type);
}

describe('the oracle', () => {
  it('has the highest expected reward of all policies when no choice affects later ones', async () => {
    const population = tinyPopulation((p) => {
      p.fatigue.responsePerSend = 1;
      p.fatigue.unsubscribeGrowthPerSend = 0;
      for (const c of ['email', 'push', 'sms'] as const) p.channels[c].unsubscribePerSend = 0;
      p.requests.perUserPerDay = 0.3; // caps (3 a day) practically never bind
    });
    const result = await simulate({
      population,
      config,
      days: 3,
      seeds: [1, 2],
      policies: buildPolicySpecs(['heuristic', 'fixed-hour', 'random', 'oracle'], { population, config }),
      trace: true,
    });
    for (const run of result.runs) {
      const expected = (name: string) => (run.traces?.[name] ?? []).reduce((a, t) => a + (t.expectedReward ?? 0), 0);
      for (const name of ['heuristic', 'fixed-hour', 'random']) {
        expect(expected('oracle'), `${name}, seed ${run.seed}`).toBeGreaterThan(expected(name));
      }
      // And every single oracle choice is the best allowed arm: no other policy beat it on any request.
      const oracle = new Map(run.traces?.oracle.map((t) => [t.requestId, t.expectedReward ?? 0]));
      for (const name of ['heuristic', 'fixed-hour', 'random']) {
        for (const t of run.traces?.[name] ?? []) {
          if (t.expectedReward === undefined || !oracle.has(t.requestId)) continue;
          expect(oracle.get(t.requestId) as number).toBeGreaterThanOrEqual((t.expectedReward as number) - 1e-12);
        }
      }
    }
  });
});
