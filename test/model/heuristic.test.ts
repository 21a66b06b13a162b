import { describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput, ChannelName } from '#config/schema.ts';
import { armIndex, armLayout, slotSchedule } from '#model/arms.ts';
import { BanditContractError } from '#model/errors.ts';
import { buildArmFeatures, FEATURE_DIMENSION } from '#model/features.ts';
import type { DeliveryRequest } from '#model/guardrails.ts';
import {
  fixedHourPolicy,
  guardedPolicy,
  heuristicPolicy,
  holdoutPolicy,
  intelligentChannelOrder,
  populationPeakHour,
  preferredHour,
  randomPolicy,
} from '#model/heuristic.ts';
import type { DecideInput, SendArmDecision, SendDecision } from '#model/policy.ts';
import { Rng } from '#model/random.ts';
import { emptyUserState, type UserState } from '#model/user-state.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CHANNELS: ChannelName[] = ['email', 'push', 'sms'];
// Wednesday 2026-07-01 08:00 EDT
const NOW = Date.parse('2026-07-01T12:00:00Z');

function config(patch: (c: AnalystConfigInput) => void = () => {}): AnalystConfig {
  const input = structuredClone(defaultConfig()) as AnalystConfigInput;
  patch(input);
  return parseConfig(input);
}

/** A New York user opted in everywhere, engaged `n` times at each given local hour of day (on Mondays). */
function user(engagedAtHour: Record<number, number> = {}, over: Partial<UserState> = {}): UserState {
  const u: UserState = {
    ...emptyUserState('u1'),
    timeZone: 'America/New_York',
    decayRefMs: NOW,
    consent: { email: { optedIn: true }, push: { optedIn: true }, sms: { optedIn: true } },
  };
  for (const [h, n] of Object.entries(engagedAtHour)) u.engagementByHourOfWeek[Number(h)] = n;
  return { ...u, ...over };
}

function input(u: UserState, over: Partial<DeliveryRequest> = {}, nowMs = NOW): DecideInput {
  return {
    user: u,
    nowMs,
    request: {
      kind: 'marketing',
      allowedChannels: CHANNELS,
      window: { notBeforeMs: nowMs, notAfterMs: nowMs + 2 * DAY },
      ...over,
    },
  };
}

function sent(d: SendDecision): SendArmDecision {
  if (d.kind !== 'send') throw new Error(`expected a send, got no_arm ${JSON.stringify(d.reasons)}`);
  return d;
}

const stats = (sends: number, opens: number, clicks = 0) => ({ sends, opens, clicks });

describe('most-engaged hour', () => {
  it('picks the hour the user engages most, on the default channel for a new user', () => {
    // Prepare
    const cfg = config();
    const u = user({ 19: 10, 12: 3 });
    // Act
    const d = sent(heuristicPolicy(cfg).decide([input(u)], new Rng(1))[0]);
    // Assess
    expect(d).toMatchObject({
      policy: 'heuristic',
      channel: 'email',
      slotIndex: 19,
      armIndex: armIndex(armLayout('hourly'), 'email', 19),
      propensity: 1,
      explored: false,
      configVersion: cfg.version,
    });
    expect(new Date(d.sendAtMs).toISOString()).toBe('2026-07-01T23:00:00.000Z'); // 19:00 EDT today
  });

  it('uses the population hour below the minimum history', () => {
    const cfg = config();
    const thin = user({ 15: 2, 16: 2 }); // 4 engagements < 5
    const d = sent(heuristicPolicy(cfg, { populationHour: 11 }).decide([input(thin)], new Rng(1))[0]);
    expect(d.slotIndex).toBe(11);
    expect(preferredHour(thin, NOW, 14, { populationHour: 11 })).toEqual({ hour: 11, source: 'population' });
    // decay counts too: 6 engagements a half-life ago are 3 now
    const faded = user({ 15: 6 });
    expect(preferredHour(faded, NOW + 14 * DAY, 14, { populationHour: 11 }).source).toBe('population');
    expect(preferredHour(faded, NOW, 14, { populationHour: 11 })).toEqual({ hour: 15, source: 'user' });
  });

  it('sends now when the preferred hour is under way', () => {
    const cfg = config();
    const nowInHour = NOW + 7 * HOUR + 20 * 60_000; // 15:20 EDT
    const d = sent(heuristicPolicy(cfg).decide([input(user({ 15: 9 }), {}, nowInHour)], new Rng(1))[0]);
    expect(d.slotIndex).toBe(15);
    expect(d.sendAtMs).toBe(nowInHour);
  });

  it('takes the allowed slot nearest a preferred hour that quiet hours mask', () => {
    const cfg = config(); // quiet 21:00-08:00
    const d = sent(heuristicPolicy(cfg).decide([input(user({ 23: 9 }))], new Rng(1))[0]);
    expect(d.slotIndex).toBe(20); // 3 h before 23:00, rather than 08:00 (9 h after)
  });
});

describe('Intelligent Channel rule', () => {
  it('keeps the default channel until 3 messages across 2 channels', () => {
    const oneChannel = user({}, { channels: { email: stats(5, 0), push: stats(0, 0), sms: stats(0, 0) } });
    expect(intelligentChannelOrder(oneChannel, { defaultChannel: 'push' })[0]).toBe('push');
    const twoMessages = user({}, { channels: { email: stats(1, 0), push: stats(1, 1), sms: stats(0, 0) } });
    expect(intelligentChannelOrder(twoMessages)[0]).toBe('email');
  });

  it('then picks the best engagements-per-message ratio, opens and clicks both counting', () => {
    const u = user({}, { channels: { email: stats(2, 1), push: stats(1, 0), sms: stats(2, 0, 2) } });
    expect(intelligentChannelOrder(u)).toEqual(['sms', 'email', 'push']);
  });

  it('chooses that channel in a decision and falls back when it is masked', () => {
    const cfg = config();
    const channels = { email: stats(2, 0), push: stats(2, 2), sms: stats(0, 0) };
    const u = user({ 12: 9 }, { channels });
    expect(sent(heuristicPolicy(cfg).decide([input(u)], new Rng(1))[0]).channel).toBe('push');
    const noPush = user(
      { 12: 9 },
      { channels, consent: { email: { optedIn: true }, push: {}, sms: { optedIn: true } } },
    );
    expect(sent(heuristicPolicy(cfg).decide([input(noPush)], new Rng(1))[0]).channel).toBe('email');
  });
});

describe('baseline decisions', () => {
  it('logs like the bandit: the chosen arm’s feature row and the versions', () => {
    const cfg = config();
    const u = user({ 9: 7 });
    const d = sent(heuristicPolicy(cfg).decide([input(u)], new Rng(1))[0]);
    const layout = armLayout('hourly');
    const schedule = slotSchedule(layout, {
      nowMs: NOW,
      timeZone: 'America/New_York',
      notBeforeMs: NOW,
      notAfterMs: NOW + 2 * DAY,
      horizonDays: 2,
    });
    const all = buildArmFeatures(cfg, { user: u, nowMs: NOW, kind: 'marketing', schedule });
    expect(d.features).toHaveLength(FEATURE_DIMENSION);
    expect([...d.features]).toEqual([
      ...all.subarray(d.armIndex * FEATURE_DIMENSION, (d.armIndex + 1) * FEATURE_DIMENSION),
    ]);
    expect(d.policyVersion).toMatch(/^heuristic\//);
    expect(d.allowedArms).toBe(39); // 13 daytime hours x 3 channels
  });

  it('returns no_arm with reasons when nothing is allowed', () => {
    const cfg = config();
    const u = user({}, { consent: { email: {}, push: {}, sms: {} } });
    const [d] = heuristicPolicy(cfg).decide([input(u)], new Rng(1));
    expect(d).toMatchObject({ kind: 'no_arm', policy: 'heuristic', reasons: { no_consent: 72 } });
  });

  it('sends at the fixed hour', () => {
    const cfg = config();
    const d = sent(fixedHourPolicy(cfg, 10).decide([input(user({ 19: 10 }))], new Rng(1))[0]);
    expect(d).toMatchObject({ policy: 'fixed-hour', slotIndex: 10, propensity: 1 });
    expect(() => fixedHourPolicy(cfg, 24)).toThrow(RangeError);
  });

  it('draws random arms uniformly from the allowed ones, with propensity 1 / allowed', () => {
    const cfg = config();
    const policy = randomPolicy(cfg);
    const rng = new Rng(3);
    const counts = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const d = sent(policy.decide([input(user())], rng)[0]);
      expect(d.propensity).toBeCloseTo(1 / 39, 12);
      expect(d.slotIndex >= 8 && d.slotIndex <= 20).toBe(true);
      counts.set(d.armIndex, (counts.get(d.armIndex) ?? 0) + 1);
    }
    expect(counts.size).toBe(39);
    for (const c of counts.values()) expect(c).toBeGreaterThan(40); // expected ~77 each
  });

  it('decides a batch in input order', () => {
    const cfg = config();
    const inputs = [
      input(user({ 9: 9 })),
      input(user({}, { consent: { email: {}, push: {}, sms: {} } })),
      input(user({ 17: 9 })),
    ];
    const out = heuristicPolicy(cfg).decide(inputs, new Rng(1));
    expect(out.map((d) => (d.kind === 'send' ? d.slotIndex : 'none'))).toEqual([9, 'none', 17]);
  });

  it('runs the holdout policy the config names', () => {
    expect(holdoutPolicy(config()).name).toBe('heuristic');
    const fixed = holdoutPolicy(
      config((c) => (c.holdout = { share: 0.1, policy: 'fixed-hour', fixedLocalHour: 14, salt: 's' })),
    );
    expect(fixed.name).toBe('fixed-hour');
    expect(sent(fixed.decide([input(user({ 9: 9 }))], new Rng(1))[0]).slotIndex).toBe(14);
  });
});

describe('guarded custom policies', () => {
  it('run a chooser of your own behind the guardrails and refuse a masked arm', () => {
    const cfg = config();
    const latest = guardedPolicy(cfg, 'oracle', 'oracle/test', (d) => {
      let arm = -1;
      for (let a = 0; a < d.mask.allowed.length; a++) {
        if (d.mask.allowed[a] && (arm < 0 || d.mask.schedule.sendAtMs[a % 24] > d.mask.schedule.sendAtMs[arm % 24]))
          arm = a;
      }
      return { arm, propensity: 1, explored: false };
    });
    expect(sent(latest.decide([input(user())], new Rng(1))[0])).toMatchObject({ policy: 'oracle', slotIndex: 20 });
    const rogue = guardedPolicy(cfg, 'oracle', 'oracle/rogue', () => ({ arm: 23, propensity: 1, explored: false }));
    expect(() => rogue.decide([input(user())], new Rng(1))).toThrow(BanditContractError); // 23:00 is quiet
  });
});

describe('population hour', () => {
  it('weighs every user equally', () => {
    const heavy = user({ 7: 1000 });
    const others = [user({ 18: 2 }), user({ 18: 1, 19: 1 }), user({ 18: 5 })];
    expect(populationPeakHour([heavy, ...others])).toBe(18);
    expect(populationPeakHour([user()])).toBeUndefined();
  });
});
