import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput } from '#config/schema.ts';
import { armIndex, armLayout, type SlotGridName, slotSchedule } from '#model/arms.ts';
import {
  buildArmFeatures,
  DEFAULT_CHANNEL_RATE,
  FEATURE_INDEX as F,
  FEATURE_DIMENSION,
  FEATURE_NAMES,
  FEATURE_RANGES,
  FeatureBuilder,
  kindGroup,
} from '#model/features.ts';
import { decayedView, emptyUserState, type UserState } from '#model/user-state.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D = FEATURE_DIMENSION;

function config(patch: (c: AnalystConfigInput) => void = () => {}): AnalystConfig {
  const input = structuredClone(defaultConfig()) as AnalystConfigInput;
  patch(input);
  return parseConfig(input);
}

// Wednesday 2026-07-01 10:00 UTC
const NOW = Date.parse('2026-07-01T10:00:00Z');

function features(cfg: AnalystConfig, user: UserState, nowMs = NOW, kind = 'marketing', grid?: SlotGridName) {
  const layout = armLayout(grid ?? cfg.slots.grid);
  const schedule = slotSchedule(layout, {
    nowMs,
    timeZone: user.timeZone ?? 'UTC',
    notBeforeMs: nowMs,
    notAfterMs: nowMs + 2 * DAY,
    horizonDays: cfg.slots.horizonDays,
  });
  const out = buildArmFeatures(cfg, { user, nowMs, kind, schedule });
  const row = (arm: number) => out.subarray(arm * D, (arm + 1) * D);
  return { out, row, layout, schedule };
}

/** A user who engaged `count` times at each given local hour on Mondays, all at `NOW`'s reference. */
function userEngagedAt(hours: Record<number, number>, over: Partial<UserState> = {}): UserState {
  const u = {
    ...emptyUserState('u1'),
    timeZone: 'UTC',
    decayRefMs: NOW,
    lastActiveMs: NOW,
    firstSeenMs: NOW - 60 * DAY,
  };
  for (const [h, n] of Object.entries(hours)) u.engagementByHourOfWeek[Number(h)] = n;
  return { ...u, ...over };
}

describe('feature layout', () => {
  it('has 52 uniquely named features with their documented indices', () => {
    expect(D).toBe(52);
    expect(new Set(FEATURE_NAMES).size).toBe(52);
    expect(F.bias).toBe(0);
    expect(F.channel_cost).toBe(4);
    expect(F.user_hour_peak).toBe(12);
    expect(F.channel_rate).toBe(18);
    expect(F.user_hour_peak_x_channel_relative).toBe(22);
    expect(F.promotional_x_sms).toBe(31);
    expect(F.reminder_x_email).toBe(32);
    expect(F.social_x_sms).toBe(40);
    expect(F.population_hour_rate).toBe(41);
    expect(F.user_hour_rate).toBe(42);
    expect(F.value_x_email).toBe(43);
    expect(F.value_x_hour_rate_x_sms).toBe(48);
    expect(F.sends_24h).toBe(49);
    expect(F.value_x_sends_24h).toBe(51);
  });

  it('groups request kinds', () => {
    expect(kindGroup('transactional')).toBe('transactional');
    expect(kindGroup('Marketing')).toBe('promotional');
    // The request contract's five kinds each have their own group; synonyms map onto them.
    for (const kind of ['transactional', 'promotional', 'reminder', 'digest', 'social'] as const) {
      expect(kindGroup(kind)).toBe(kind);
    }
    expect(kindGroup('promotion')).toBe('promotional');
    expect(kindGroup('newsletter')).toBe('digest');
    expect(kindGroup('survey')).toBe('other');
  });
});

describe('per-arm features', () => {
  it('encodes channel, cost, time of day and kind for each arm', () => {
    // Prepare
    const cfg = config();
    // Act
    const { row, layout } = features(cfg, userEngagedAt({}), NOW, 'transactional');
    const sms14 = row(armIndex(layout, 'sms', 14));
    // Assess
    expect([sms14[F.channel_email], sms14[F.channel_push], sms14[F.channel_sms]]).toEqual([0, 0, 1]);
    expect(sms14[F.channel_cost]).toBeCloseTo(0.05, 6);
    expect(sms14[F.hour_sin]).toBeCloseTo(Math.sin((2 * Math.PI * 14) / 24), 6);
    expect(sms14[F.hour_cos]).toBeCloseTo(Math.cos((2 * Math.PI * 14) / 24), 6);
    expect([sms14[F.daypart_morning], sms14[F.daypart_afternoon], sms14[F.daypart_evening]]).toEqual([0, 1, 0]);
    expect(sms14[F.transactional_x_sms]).toBe(1);
    expect(sms14[F.transactional_x_email] + sms14[F.promotional_x_sms]).toBe(0);
    expect(sms14[F.send_delay]).toBeCloseTo(4 / 48, 6); // 14:00 is 4 h after now, horizon 2 days
    expect(row(armIndex(layout, 'push', 10))[F.send_delay]).toBe(0); // the slot under way
    expect(row(armIndex(layout, 'push', 9))[F.send_delay]).toBeCloseTo(23 / 48, 6); // tomorrow
    expect(row(armIndex(layout, 'push', 2))[F.daypart_morning]).toBe(0); // night is the base day part
  });

  it('marks the user’s most-engaged hour and smooths into its neighbours', () => {
    const { row, layout } = features(config(), userEngagedAt({ 8: 4, [24 + 8]: 4 }));
    const at = (hour: number) => row(armIndex(layout, 'email', hour));
    // Monday and Tuesday 08:xx; the 08:00 slot tomorrow (Thursday) shares the hour of day
    expect(at(8)[F.user_hour_peak]).toBeCloseTo(1, 6);
    expect(at(7)[F.user_hour_peak]).toBeCloseTo(0.5, 6);
    expect(at(9)[F.user_hour_peak]).toBeCloseTo(0.5, 6);
    expect(at(12)[F.user_hour_peak]).toBe(0);
    // share of the hour * 24 / 8: half of all engagement -> 12 / 8, clipped to 1
    expect(at(8)[F.user_hour_share]).toBe(1);
    expect(at(7)[F.user_hour_share]).toBeCloseTo((0.25 * 24) / 8, 6);
    // Thursday 08:00 is not a Monday or Tuesday: no hour-of-week engagement there
    expect(at(8)[F.user_week_hour_peak]).toBe(0);
    expect(at(8)[F.engagement_confidence]).toBeCloseTo(Math.log1p(8) / Math.log1p(100), 6);
    expect(at(8)[F.user_hour_peak_x_confidence]).toBeCloseTo(Math.log1p(8) / Math.log1p(100), 6);
  });

  it('finds the hour-of-week peak on the hour-of-week grid', () => {
    const { row, layout } = features(config(), userEngagedAt({ [2 * 24 + 19]: 3 }), NOW, 'marketing', 'hour-of-week');
    expect(row(armIndex(layout, 'push', 2 * 24 + 19))[F.user_week_hour_peak]).toBeCloseTo(1, 6); // Wed 19:00
    expect(row(armIndex(layout, 'push', 3 * 24 + 19))[F.user_week_hour_peak]).toBe(0); // Thu 19:00
    expect(row(armIndex(layout, 'push', 3 * 24 + 19))[F.user_hour_peak]).toBeCloseTo(1, 6);
  });

  it('smooths channel rates toward the prior and relates them to the best channel', () => {
    const cfg = config(); // priorStrength 2
    const u = userEngagedAt(
      {},
      {
        channels: {
          email: { sends: 10, opens: 5, clicks: 1 },
          push: { sends: 0, opens: 0, clicks: 0 },
          sms: { sends: 2, opens: 0, clicks: 2 },
        },
      },
    );
    const layout = armLayout('hourly');
    const schedule = slotSchedule(layout, {
      nowMs: NOW,
      timeZone: 'UTC',
      notBeforeMs: NOW,
      notAfterMs: NOW + DAY,
      horizonDays: 2,
    });
    const out = buildArmFeatures(cfg, { user: u, nowMs: NOW, kind: 'x', schedule }, { channelRates: { push: 0.2 } });
    const rowOf = (ch: 'email' | 'push' | 'sms') =>
      out.subarray(armIndex(layout, ch, 12) * D, armIndex(layout, ch, 12) * D + D);
    const email = (5 + 2 * DEFAULT_CHANNEL_RATE) / 12;
    const push = 0.2; // no sends: the population prior
    const sms = (2 + 2 * DEFAULT_CHANNEL_RATE) / 4; // SMS has clicks, no opens
    expect(rowOf('email')[F.channel_rate]).toBeCloseTo(email, 6);
    expect(rowOf('push')[F.channel_rate]).toBeCloseTo(push, 6);
    expect(rowOf('sms')[F.channel_rate]).toBeCloseTo(sms, 6);
    expect(rowOf('sms')[F.channel_rate_relative]).toBeCloseTo(1, 6);
    expect(rowOf('email')[F.channel_rate_relative]).toBeCloseTo(email / sms, 6);
    expect(rowOf('email')[F.channel_history]).toBeCloseTo(Math.log1p(10) / Math.log1p(50), 6);
    expect(rowOf('push')[F.channel_history]).toBe(0);
  });

  it('puts each request kind of the contract in its own channel columns', () => {
    const cfg = config();
    const u = userEngagedAt({ 8: 2 });
    for (const kind of ['transactional', 'promotional', 'reminder', 'digest', 'social'] as const) {
      const { row, layout } = features(cfg, u, NOW, kind);
      for (const ch of ['email', 'push', 'sms'] as const) {
        const r = row(armIndex(layout, ch, 12));
        for (const k of ['transactional', 'promotional', 'reminder', 'digest', 'social'] as const) {
          for (const c of ['email', 'push', 'sms'] as const) {
            expect(r[F[`${k}_x_${c}`]]).toBe(k === kind && c === ch ? 1 : 0);
          }
        }
      }
    }
    const { row, layout } = features(cfg, u, NOW, 'survey'); // 'other': no kind column set
    const r = row(armIndex(layout, 'push', 12));
    expect(Array.from(r.subarray(F.transactional_x_email, F.social_x_sms + 1)).every((v) => v === 0)).toBe(true);
  });

  it('shrinks the user hour curve toward the population and the day type toward the user', () => {
    const cfg = config();
    const hourOfDay = Array.from({ length: 24 }, (_, h) => (h === 19 ? 3 : 1));
    const priors = { hourOfDay };
    const layout = armLayout('hourly');
    const schedule = slotSchedule(layout, {
      nowMs: NOW,
      timeZone: 'UTC',
      notBeforeMs: NOW,
      notAfterMs: NOW + DAY,
      horizonDays: 2,
    });
    const rowsOf = (user: UserState, p?: { hourOfDay: number[] }) => {
      const out = buildArmFeatures(cfg, { user, nowMs: NOW, kind: 'x', schedule }, p);
      return (slot: number) =>
        out.subarray(armIndex(layout, 'email', slot) * D, armIndex(layout, 'email', slot) * D + D);
    };
    // No history, no prior: every hour is average.
    const flat = rowsOf(emptyUserState('u0'));
    expect(flat(8)[F.user_hour_rate]).toBeCloseTo(1, 6);
    expect(flat(8)[F.population_hour_rate]).toBeCloseTo(1, 6);
    // No history: the population's curve.
    const cold = rowsOf(emptyUserState('u0'), priors);
    expect(cold(19)[F.population_hour_rate]).toBeCloseTo((24 * 3) / 26, 5);
    expect(cold(19)[F.user_hour_rate]).toBeGreaterThan(cold(8)[F.user_hour_rate]);
    // A user engaged at 08:00 on weekdays (Wednesday is a weekday): the curve peaks there.
    const warm = rowsOf(userEngagedAt({ 8: 10, [24 + 8]: 10, [48 + 8]: 10 }), priors);
    expect(warm(8)[F.user_hour_rate]).toBeGreaterThan(warm(19)[F.user_hour_rate]);
    expect(warm(8)[F.user_hour_rate]).toBeGreaterThan(2);
    expect(warm(8)[F.user_hour_rate]).toBeLessThanOrEqual(4);
  });

  it('values each channel in its own column and counts recent sends before each slot', () => {
    const cfg = config(); // opened 0.3, clicked 1, combine max, priorStrength 2
    const u = userEngagedAt(
      {},
      {
        channels: {
          email: { sends: 8, opens: 4, clicks: 2 },
          push: { sends: 0, opens: 0, clicks: 0 },
          sms: { sends: 0, opens: 0, clicks: 0 },
        },
      },
    );
    const layout = armLayout('hourly');
    const schedule = slotSchedule(layout, {
      nowMs: NOW, // 10:00 UTC
      timeZone: 'UTC',
      notBeforeMs: NOW,
      notAfterMs: NOW + DAY,
      horizonDays: 2,
    });
    const recentSends = { email: [NOW - 20 * HOUR, NOW + 2 * HOUR], push: [NOW - 30 * HOUR] };
    const out = buildArmFeatures(
      cfg,
      { user: u, nowMs: NOW, kind: 'x', schedule, recentSends },
      { channelRates: { email: 0.1 }, clickRates: { email: 0.02 } },
    );
    const rowOf = (ch: 'email' | 'push' | 'sms', slot: number) =>
      out.subarray(armIndex(layout, ch, slot) * D, armIndex(layout, ch, slot) * D + D);
    const value = 0.3 * ((4 + 0.2) / 10) + 0.7 * ((2 + 0.04) / 10);
    const email = rowOf('email', 11);
    expect(email[F.value_x_email]).toBeCloseTo(value, 5);
    expect(email[F.value_x_push]).toBe(0);
    expect(email[F.value_x_hour_rate_x_email]).toBeCloseTo(value * email[F.user_hour_rate], 5);
    expect(rowOf('push', 11)[F.value_x_email]).toBe(0);
    // 11:00 today: one send 20 h before (the one at 12:00 is later; the push 30 h before is too old)
    expect(email[F.sends_24h]).toBeCloseTo(1 / 4, 6);
    expect(email[F.channel_sends_24h]).toBeCloseTo(1 / 2, 6);
    expect(rowOf('push', 11)[F.channel_sends_24h]).toBe(0);
    expect(email[F.value_x_sends_24h]).toBeCloseTo(value / 4, 5);
    // 13:00 today: both email sends are within the 24 h before
    expect(rowOf('sms', 13)[F.sends_24h]).toBeCloseTo(2 / 4, 6);
    expect(rowOf('email', 13)[F.channel_sends_24h]).toBe(1);
  });

  it('reads decayed counts at the decision time, as decayedView would', () => {
    const cfg = config(); // half-life 14 days
    const u = userEngagedAt({ 10: 20 });
    const later = NOW + 14 * DAY;
    const { row, layout } = features(cfg, u, later);
    const view = decayedView(u, later, { halfLifeDays: 14, defaultTimeZone: 'UTC' });
    const total = view.engagementByHourOfWeek.reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(10, 9);
    expect(row(armIndex(layout, 'email', 10))[F.engagement_confidence]).toBeCloseTo(
      Math.log1p(10) / Math.log1p(100),
      6,
    );
    expect(row(0)[F.recency]).toBeCloseTo(2 ** -2, 6); // 14 days inactive, 7-day half-life
  });

  it('writes one decision at an offset without touching its neighbours', () => {
    const cfg = config();
    const layout = armLayout('hourly');
    const stride = FeatureBuilder.stride(layout);
    const buffer = new Float32Array(3 * stride).fill(-7);
    const schedule = slotSchedule(layout, {
      nowMs: NOW,
      timeZone: 'UTC',
      notBeforeMs: NOW,
      notAfterMs: NOW + DAY,
      horizonDays: 2,
    });
    new FeatureBuilder(cfg).writeArms(buffer, stride, {
      user: userEngagedAt({ 3: 1 }),
      nowMs: NOW,
      kind: 'm',
      schedule,
    });
    expect(buffer.subarray(0, stride).every((x) => x === -7)).toBe(true);
    expect(buffer.subarray(2 * stride).every((x) => x === -7)).toBe(true);
    expect(buffer.subarray(stride, 2 * stride).every((x) => x !== -7)).toBe(true);
    expect(() =>
      new FeatureBuilder(cfg).writeArms(buffer, 2 * stride + 1, {
        user: emptyUserState('u'),
        nowMs: NOW,
        kind: 'm',
        schedule,
      }),
    ).toThrow(RangeError);
  });
});

describe('feature ranges', () => {
  const count = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 500, noNaN: true }));
  const userArb = fc.record({
    hist: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: count }), {
      minLength: 168,
      maxLength: 168,
    }),
    stats: fc.array(fc.record({ sends: count, opens: count, clicks: count }), { minLength: 3, maxLength: 3 }),
    refOffset: fc.integer({ min: -30 * DAY, max: 2 * DAY }),
    lastActiveOffset: fc.option(fc.integer({ min: -400 * DAY, max: DAY })),
    firstSeenOffset: fc.option(fc.integer({ min: -900 * DAY, max: 0 })),
    zone: fc.constantFrom('UTC', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe'),
  });

  it('keeps every feature finite and in its documented range, with one-hots summing to one', () => {
    fc.assert(
      fc.property(
        userArb,
        fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') }),
        fc.constantFrom<SlotGridName>('hourly', 'half-hourly', 'hour-of-week'),
        fc.constantFrom('transactional', 'marketing', 'digest'),
        fc.double({ min: 0, max: 20, noNaN: true }),
        (g, nowMs, grid, kind, priorStrength) => {
          // Prepare
          const cfg = config((c) => {
            c.slots = { grid, horizonDays: 2 };
            c.features = { halfLifeDays: 14, priorStrength };
          });
          const u: UserState = {
            ...emptyUserState('u'),
            timeZone: g.zone,
            decayRefMs: nowMs + g.refOffset,
            engagementByHourOfWeek: g.hist,
            channels: { email: g.stats[0], push: g.stats[1], sms: g.stats[2] },
            lastActiveMs: g.lastActiveOffset === null ? undefined : nowMs + g.lastActiveOffset,
            firstSeenMs: g.firstSeenOffset === null ? undefined : nowMs + g.firstSeenOffset,
          };
          // Act
          const { out, layout } = features(cfg, u, nowMs, kind, grid);
          // Assess
          expect(out.length).toBe(layout.armCount * D);
          const maxCost = Math.max(...Object.values(cfg.channels).map((c) => c.cost));
          // Collect violations and assert once: an expect per value would dominate the run time.
          const violations: string[] = [];
          for (let arm = 0; arm < layout.armCount; arm++) {
            const r = out.subarray(arm * D, arm * D + D);
            FEATURE_NAMES.forEach((name, i) => {
              const [lo, hi] = FEATURE_RANGES[name];
              const top = name === 'channel_cost' ? maxCost : hi;
              if (!(Number.isFinite(r[i]) && r[i] >= lo - 1e-6 && r[i] <= top + 1e-6)) {
                violations.push(`arm ${arm} ${name} = ${r[i]}`);
              }
            });
            if (r[F.channel_email] + r[F.channel_push] + r[F.channel_sms] !== 1) violations.push(`arm ${arm} channel`);
            if (Math.abs(r[F.hour_sin] ** 2 + r[F.hour_cos] ** 2 - 1) > 1e-5) violations.push(`arm ${arm} hour`);
            if (r[F.daypart_morning] + r[F.daypart_afternoon] + r[F.daypart_evening] > 1) {
              violations.push(`arm ${arm} daypart`);
            }
          }
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('stays finite for corrupt counts (NaN, negative)', () => {
    const u = userEngagedAt(
      { 5: Number.NaN, 6: -3 },
      {
        channels: {
          email: { sends: Number.NaN, opens: 1, clicks: 0 },
          push: { sends: -1, opens: -1, clicks: 0 },
          sms: { sends: 0, opens: 0, clicks: 0 },
        },
        lastActiveMs: Number.NaN,
      },
    );
    const { out } = features(config(), u);
    expect(out.every((x) => Number.isFinite(x))).toBe(true);
  });
});
