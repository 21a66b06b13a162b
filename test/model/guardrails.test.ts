import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { AnalystConfig, AnalystConfigInput, ChannelName } from '#config/schema.ts';
import { armIndex } from '#model/arms.ts';
import {
  allowedArms,
  armBlockReason,
  capAllows,
  checkSendAllowed,
  type DeliveryRequest,
  isQuietMinute,
  type RecentSends,
  summariseBlocks,
} from '#model/guardrails.ts';
import { emptyUserState, type SuppressionReason, type UserState } from '#model/user-state.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CHANNELS: ChannelName[] = ['email', 'push', 'sms'];

function config(patch: (c: AnalystConfigInput) => void = () => {}): AnalystConfig {
  const input = structuredClone(defaultConfig()) as AnalystConfigInput;
  patch(input);
  return parseConfig(input);
}

function user(over: Partial<UserState> = {}): UserState {
  return {
    ...emptyUserState('u1'),
    timeZone: 'America/New_York',
    consent: { email: { optedIn: true }, push: { optedIn: true }, sms: { optedIn: true } },
    ...over,
  };
}

function request(nowMs: number, over: Partial<DeliveryRequest> = {}): DeliveryRequest {
  return {
    kind: 'marketing',
    allowedChannels: CHANNELS,
    window: { notBeforeMs: nowMs, notAfterMs: nowMs + 2 * DAY },
    ...over,
  };
}

// Wednesday 2026-07-01 08:00 EDT
const NOW = Date.parse('2026-07-01T12:00:00Z');

describe('quiet hours', () => {
  it('masks 21:00-08:00 in the user local time, spanning midnight', () => {
    // Prepare
    const cfg = config();
    // Act
    const mask = allowedArms({ user: user(), request: request(NOW), nowMs: NOW }, cfg);
    // Assess
    for (let hour = 0; hour < 24; hour++) {
      const quiet = hour >= 21 || hour < 8;
      expect(armBlockReason(mask, armIndex(mask.layout, 'push', hour))).toBe(quiet ? 'quiet_hours' : undefined);
    }
  });

  it('uses the user override and falls back to the default for a malformed one', () => {
    const cfg = config();
    const own = allowedArms(
      { user: user({ quietHours: { start: '13:00', end: '14:00' } }), request: request(NOW), nowMs: NOW },
      cfg,
    );
    expect(armBlockReason(own, 13)).toBe('quiet_hours');
    expect(armBlockReason(own, 22)).toBeUndefined();
    const bad = allowedArms(
      { user: user({ quietHours: { start: '25:00', end: '14:00' } }), request: request(NOW), nowMs: NOW },
      cfg,
    );
    expect(armBlockReason(bad, 13)).toBeUndefined();
    expect(armBlockReason(bad, 22)).toBe('quiet_hours');
  });

  it('applies quiet hours in the default zone when the user zone is unknown', () => {
    const cfg = config((c) => {
      c.guardrails.defaultTimeZone = 'Asia/Tokyo';
    });
    const mask = allowedArms({ user: user({ timeZone: 'Mars/Olympus' }), request: request(NOW), nowMs: NOW }, cfg);
    expect(mask.timeZone).toBe('Asia/Tokyo');
    // 12:00Z is 21:00 in Tokyo: the slot under way is quiet
    expect(armBlockReason(mask, 21)).toBe('quiet_hours');
    expect(armBlockReason(mask, 10)).toBeUndefined();
  });

  it('lets only a transactional request ignore quiet hours', () => {
    const cfg = config();
    const tx = allowedArms(
      { user: user(), request: request(NOW, { kind: 'transactional', ignoreQuietHours: true }), nowMs: NOW },
      cfg,
    );
    expect(armBlockReason(tx, 23)).toBeUndefined();
    const promo = allowedArms(
      { user: user(), request: request(NOW, { kind: 'marketing', ignoreQuietHours: true }), nowMs: NOW },
      cfg,
    );
    expect(armBlockReason(promo, 23)).toBe('quiet_hours');
  });

  it('reads minutes of day against start inclusive, end exclusive', () => {
    const q = { startMinute: 21 * 60, endMinute: 8 * 60 };
    expect(isQuietMinute(21 * 60, q)).toBe(true);
    expect(isQuietMinute(8 * 60 - 1, q)).toBe(true);
    expect(isQuietMinute(8 * 60, q)).toBe(false);
    expect(isQuietMinute(12 * 60, { startMinute: 12 * 60, endMinute: 13 * 60 })).toBe(true);
  });
});

describe('channel guardrails', () => {
  it('names the reason each channel is masked for', () => {
    const cfg = config((c) => {
      c.channels.sms.enabled = false;
    });
    const u = user({
      consent: { email: { optedIn: true, suppressed: 'bounced' }, push: { optedIn: false }, sms: { optedIn: true } },
    });
    const mask = allowedArms({ user: u, request: request(NOW), nowMs: NOW }, cfg);
    expect(armBlockReason(mask, armIndex(mask.layout, 'email', 12))).toBe('suppressed_bounced');
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 12))).toBe('no_consent');
    expect(armBlockReason(mask, armIndex(mask.layout, 'sms', 12))).toBe('channel_disabled');
    expect(mask.allowedCount).toBe(0);
    expect(summariseBlocks(mask)).toEqual({
      kind: 'no_arm',
      reasons: { suppressed_bounced: 24, no_consent: 24, channel_disabled: 24 },
    });
  });

  it('masks channels the request has no content for and channels without an endpoint', () => {
    const cfg = config();
    const mask = allowedArms(
      { user: user(), request: request(NOW, { allowedChannels: ['push', 'sms'] }), nowMs: NOW, reachable: ['sms'] },
      cfg,
    );
    expect(armBlockReason(mask, armIndex(mask.layout, 'email', 12))).toBe('channel_not_requested');
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 12))).toBe('no_endpoint');
    expect(armBlockReason(mask, armIndex(mask.layout, 'sms', 12))).toBeUndefined();
  });
});

describe('frequency caps', () => {
  it('keeps one SMS per sliding 24 hours, counting a past send', () => {
    // Prepare: default config caps SMS at 1 per 24 h; an SMS went out 2 hours ago (06:00 EDT)
    const cfg = config();
    const recentSends: RecentSends = { sms: [NOW - 2 * HOUR] };
    // Act
    const mask = allowedArms({ user: user(), request: request(NOW), nowMs: NOW, recentSends }, cfg);
    // Assess: every SMS slot before 06:00 tomorrow is capped; push is untouched
    for (let hour = 8; hour <= 20; hour++) {
      expect(armBlockReason(mask, armIndex(mask.layout, 'sms', hour))).toBe('frequency_cap_channel');
      expect(armBlockReason(mask, armIndex(mask.layout, 'push', hour))).toBeUndefined();
    }
  });

  it('counts sends scheduled but not yet made', () => {
    const cfg = config((c) => {
      c.guardrails.frequencyCaps.global = { maxSends: 1, perHours: 6 };
    });
    const recentSends: RecentSends = { email: [NOW + 6 * HOUR] }; // 14:00 EDT, scheduled
    const mask = allowedArms({ user: user(), request: request(NOW), nowMs: NOW, recentSends }, cfg);
    // 08:00 is exactly 6 h before: windows are half-open, [08:00, 14:00) does not hold 14:00
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 8))).toBeUndefined();
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 9))).toBe('frequency_cap_global');
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 19))).toBe('frequency_cap_global');
    expect(armBlockReason(mask, armIndex(mask.layout, 'push', 20))).toBeUndefined();
  });

  it('lets two sends exactly one window apart through', () => {
    const t0 = NOW;
    expect(capAllows([t0], t0 + 24 * HOUR, { maxSends: 1, perHours: 24 })).toBe(true);
    expect(capAllows([t0], t0 + 24 * HOUR - 1, { maxSends: 1, perHours: 24 })).toBe(false);
    expect(capAllows([t0], t0 - 24 * HOUR, { maxSends: 1, perHours: 24 })).toBe(true);
    // Two earlier sends 20 h apart and a new one between them: each window holds at most 2
    expect(capAllows([t0, t0 + 20 * HOUR], t0 + 10 * HOUR, { maxSends: 2, perHours: 24 })).toBe(false);
    expect(capAllows([t0, t0 + 30 * HOUR], t0 + 10 * HOUR, { maxSends: 2, perHours: 24 })).toBe(true);
  });
});

describe('checkSendAllowed at dispatch', () => {
  const cfg = config();
  const req = request(NOW);

  it('allows a send that passes every guardrail', () => {
    expect(checkSendAllowed(user(), 'push', NOW + 2 * HOUR, req, {}, cfg)).toEqual({ allowed: true });
  });

  it('stops a send for the first guardrail it breaks', () => {
    const unsubscribed = user({
      consent: { email: { optedIn: false, suppressed: 'unsubscribed' }, push: {}, sms: { optedIn: true } },
    });
    expect(checkSendAllowed(unsubscribed, 'email', NOW + HOUR, req, {}, cfg)).toEqual({
      allowed: false,
      reason: 'suppressed_unsubscribed',
    });
    expect(checkSendAllowed(user(), 'push', NOW + 14 * HOUR, req, {}, cfg)).toEqual({
      allowed: false,
      reason: 'quiet_hours', // 22:00 EDT
    });
    expect(checkSendAllowed(user(), 'push', NOW + 3 * DAY, req, {}, cfg)).toEqual({
      allowed: false,
      reason: 'outside_window',
    });
    expect(checkSendAllowed(user(), 'sms', NOW + HOUR, req, { sms: [NOW - HOUR] }, cfg)).toEqual({
      allowed: false,
      reason: 'frequency_cap_channel',
    });
    expect(checkSendAllowed(user(), 'push', NOW + HOUR, req, {}, cfg, { reachable: ['email'] })).toEqual({
      allowed: false,
      reason: 'no_endpoint',
    });
  });

  it('lets a transactional send through quiet hours but not through an unsubscribe', () => {
    const tx = request(NOW, { kind: 'transactional', ignoreQuietHours: true });
    expect(checkSendAllowed(user(), 'push', NOW + 14 * HOUR, tx, {}, cfg)).toEqual({ allowed: true });
    const u = user({ consent: { email: {}, push: { suppressed: 'complained' }, sms: {} } });
    expect(checkSendAllowed(u, 'push', NOW + HOUR, tx, {}, cfg)).toEqual({
      allowed: false,
      reason: 'suppressed_complained',
    });
  });
});

// --- property: no allowed arm ever breaks a guardrail, checked by an independent oracle ------------------

const ORACLE_FORMATS = new Map<string, Intl.DateTimeFormat>();
function oracleZone(zone: string | undefined, fallback: string): string {
  if (!zone) return fallback;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return fallback;
  }
}
function oracleMinuteOfDay(ms: number, zone: string): number {
  let f = ORACLE_FORMATS.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    ORACLE_FORMATS.set(zone, f);
  }
  const [hh, mm] = f.format(ms).split(':').map(Number);
  return hh * 60 + mm;
}
function oracleQuiet(minute: number, start: string, end: string): boolean {
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  const a = toMin(start);
  const b = toMin(end);
  return a < b ? minute >= a && minute < b : minute >= a || minute < b;
}
/** Brute force over every distinct window [a, a + P) containing t (integer ms): the count is constant between breakpoints. */
function oracleCapOk(existing: readonly number[], t: number, maxSends: number, perHours: number): boolean {
  const P = perHours * HOUR;
  const candidates = [t - P + 1, t];
  for (const s of existing) candidates.push(s - P + 1, s + 1, s);
  for (const a of candidates) {
    if (a <= t - P || a > t) continue;
    let n = 1;
    for (const s of existing) if (s >= a && s < a + P) n++;
    if (n > maxSends) return false;
  }
  return true;
}

const clock = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 15, 30, 45))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
const capArb = fc.record({ maxSends: fc.integer({ min: 1, max: 4 }), perHours: fc.integer({ min: 1, max: 48 }) });
// Biased towards permissive users and requests, so that many arms reach the time and cap checks.
const consentArb = fc.record(
  {
    optedIn: fc.constantFrom(true, true, true, true, true, false),
    suppressed: fc.constantFrom<SuppressionReason | undefined>(
      ...Array<undefined>(9).fill(undefined),
      'unsubscribed',
      'bounced',
      'complained',
    ),
  },
  { requiredKeys: [] },
);
const mostly = <T>(usual: T, other: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: other });
const JAN_2026 = Date.parse('2026-01-01T00:00:00Z');

const scenario = fc.record({
  zone: fc.constantFrom(
    'America/New_York',
    'Europe/Berlin',
    'Asia/Kathmandu',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
    'UTC',
    'Mars/Olympus',
    undefined,
  ),
  defaultZone: fc.constantFrom('UTC', 'America/Los_Angeles', 'Asia/Kolkata'),
  nowMs: fc.integer({ min: JAN_2026, max: JAN_2026 + 365 * DAY }),
  notBeforeOffset: fc.integer({ min: -5 * HOUR, max: 30 * HOUR }),
  windowLength: fc.integer({ min: -2 * HOUR, max: 72 * HOUR }),
  grid: fc.constantFrom('hourly', 'half-hourly', 'hour-of-week'),
  horizonDays: fc.integer({ min: 1, max: 3 }),
  configQuiet: fc.tuple(clock, clock).filter(([a, b]) => a !== b),
  userQuiet: fc.option(fc.record({ start: fc.oneof(clock, fc.constant('24:00')), end: clock })),
  enabled: mostly(
    [true, true, true],
    fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()).filter((e) => e.some(Boolean)),
  ),
  consent: fc.tuple(consentArb, consentArb, consentArb),
  allowedChannels: mostly(CHANNELS, fc.subarray(CHANNELS, { minLength: 1 })),
  reachable: mostly<ChannelName[] | null>(null, fc.subarray(CHANNELS)),
  globalCap: capArb,
  channelCaps: fc.tuple(fc.option(capArb), fc.option(capArb), fc.option(capArb)),
  sends: fc.tuple(
    fc.array(fc.integer({ min: -72 * HOUR, max: 72 * HOUR }), { maxLength: 5 }),
    fc.array(fc.integer({ min: -72 * HOUR, max: 72 * HOUR }), { maxLength: 5 }),
    fc.array(fc.integer({ min: -72 * HOUR, max: 72 * HOUR }), { maxLength: 5 }),
  ),
  kind: fc.constantFrom('marketing', 'transactional', 'reminder'),
  ignoreQuietHours: fc.boolean(),
});

describe('guardrail property', () => {
  it('allows exactly the arms that break no guardrail, and names a reason that applies', () => {
    let allowedTotal = 0;
    const reasonsSeen = new Set<string>();
    fc.assert(
      fc.property(scenario, (sc) => {
        // Prepare
        const cfg = config((c) => {
          c.slots = { grid: sc.grid, horizonDays: sc.horizonDays };
          c.guardrails.quietHours = { start: sc.configQuiet[0], end: sc.configQuiet[1] };
          c.guardrails.defaultTimeZone = sc.defaultZone;
          c.guardrails.frequencyCaps = {
            global: sc.globalCap,
            perChannel: Object.fromEntries(
              CHANNELS.flatMap((ch, i) => (sc.channelCaps[i] ? [[ch, sc.channelCaps[i]]] : [])),
            ),
          };
          CHANNELS.forEach((ch, i) => {
            c.channels[ch].enabled = sc.enabled[i];
          });
        });
        const u = user({
          timeZone: sc.zone,
          quietHours: sc.userQuiet ?? undefined,
          consent: { email: sc.consent[0], push: sc.consent[1], sms: sc.consent[2] },
        });
        const notBeforeMs = sc.nowMs + sc.notBeforeOffset;
        const req: DeliveryRequest = {
          kind: sc.kind,
          allowedChannels: sc.allowedChannels,
          window: { notBeforeMs, notAfterMs: notBeforeMs + sc.windowLength },
          ignoreQuietHours: sc.ignoreQuietHours,
        };
        const recentSends: RecentSends = Object.fromEntries(
          CHANNELS.map((ch, i) => [ch, sc.sends[i].map((d) => sc.nowMs + d)]),
        );
        const reachable = sc.reachable ?? undefined;
        // Act
        const mask = allowedArms({ user: u, request: req, nowMs: sc.nowMs, recentSends, reachable }, cfg);
        // Assess, arm by arm, against the oracle
        const zone = oracleZone(sc.zone, sc.defaultZone);
        const userQuietValid =
          sc.userQuiet &&
          /^([01]\d|2[0-3]):[0-5]\d$/.test(sc.userQuiet.start) &&
          /^([01]\d|2[0-3]):[0-5]\d$/.test(sc.userQuiet.end) &&
          sc.userQuiet.start !== sc.userQuiet.end;
        const [qStart, qEnd] = userQuietValid && sc.userQuiet ? [sc.userQuiet.start, sc.userQuiet.end] : sc.configQuiet;
        const allSends = sc.sends.flat().map((d) => sc.nowMs + d);
        const n = mask.layout.slotCount;
        let allowedSeen = 0;
        for (let arm = 0; arm < mask.layout.armCount; arm++) {
          const c = Math.floor(arm / n);
          const ch = CHANNELS[c];
          const t = mask.schedule.sendAtMs[arm % n];
          const broken = new Set<string>();
          if (!sc.enabled[c]) broken.add('channel_disabled');
          if (!sc.allowedChannels.includes(ch)) broken.add('channel_not_requested');
          if (sc.consent[c].suppressed) broken.add(`suppressed_${sc.consent[c].suppressed}`);
          if (sc.consent[c].optedIn !== true) broken.add('no_consent');
          if (reachable && !reachable.includes(ch)) broken.add('no_endpoint');
          if (t < sc.nowMs || t < notBeforeMs || t > req.window.notAfterMs) broken.add('outside_window');
          if (t > sc.nowMs + sc.horizonDays * DAY) broken.add('beyond_horizon');
          const transactionalBypass = sc.kind === 'transactional' && sc.ignoreQuietHours;
          if (!transactionalBypass && oracleQuiet(oracleMinuteOfDay(t, zone), qStart, qEnd)) broken.add('quiet_hours');
          const cap = sc.channelCaps[c];
          if (cap && !oracleCapOk(recentSends[ch] ?? [], t, cap.maxSends, cap.perHours)) {
            broken.add('frequency_cap_channel');
          }
          if (!oracleCapOk(allSends, t, sc.globalCap.maxSends, sc.globalCap.perHours))
            broken.add('frequency_cap_global');

          const reason = armBlockReason(mask, arm);
          if (mask.allowed[arm] === 1) {
            allowedSeen++;
            expect(reason).toBeUndefined();
            expect([...broken]).toEqual([]);
            // dispatch agrees with the decision at the decided instant
            expect(checkSendAllowed(u, ch, t, req, recentSends, cfg, { reachable })).toEqual({ allowed: true });
          } else {
            expect(broken.has(reason as string)).toBe(true);
            reasonsSeen.add(reason as string);
          }
        }
        expect(allowedSeen).toBe(mask.allowedCount);
        allowedTotal += allowedSeen;
      }),
      { numRuns: 300 },
    );
    // The property is not vacuous: arms got through, and every kind of guardrail stopped some.
    expect(allowedTotal).toBeGreaterThan(1000);
    expect([...reasonsSeen].sort()).toEqual(
      [
        'beyond_horizon',
        'channel_disabled',
        'channel_not_requested',
        'frequency_cap_channel',
        'frequency_cap_global',
        'no_consent',
        'no_endpoint',
        'outside_window',
        'quiet_hours',
        'suppressed_bounced',
        'suppressed_complained',
        'suppressed_unsubscribed',
      ].sort(),
    );
  });
});
