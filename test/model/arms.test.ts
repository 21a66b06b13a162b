import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  armIndex,
  armLayout,
  armOf,
  describeSlot,
  resolveTimeZone,
  SLOT_BEYOND_HORIZON,
  SLOT_OK,
  SLOT_OUTSIDE_WINDOW,
  type SlotGridName,
  slotSchedule,
} from '#model/arms.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

function schedule(
  zone: string,
  now: string,
  grid: SlotGridName = 'hourly',
  window: { notBeforeMs?: number; notAfterMs?: number } = {},
  horizonDays = 2,
) {
  return slotSchedule(armLayout(grid), {
    nowMs: at(now),
    timeZone: zone,
    notBeforeMs: window.notBeforeMs ?? Number.NEGATIVE_INFINITY,
    notAfterMs: window.notAfterMs ?? Number.POSITIVE_INFINITY,
    horizonDays,
  });
}

/** Local wall clock of an instant by a formatter of our own (not model/local-time), for the oracle. */
const oracleFormats = new Map<string, Intl.DateTimeFormat>();
function wallClock(ms: number, zone: string): { minuteOfDay: number; weekday: number } {
  let format = oracleFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    oracleFormats.set(zone, format);
  }
  const parts = format.formatToParts(ms);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday'));
  return { minuteOfDay: Number(get('hour')) * 60 + Number(get('minute')), weekday };
}

describe('arm layout', () => {
  it('numbers arms channel-major over email, push, sms', () => {
    const hourly = armLayout('hourly');
    expect(hourly.armCount).toBe(72);
    expect(armIndex(hourly, 'email', 0)).toBe(0);
    expect(armIndex(hourly, 'push', 9)).toBe(33);
    expect(armIndex(hourly, 'sms', 23)).toBe(71);
    expect(armOf(hourly, 33)).toEqual({ channel: 'push', channelIndex: 1, slotIndex: 9 });
    expect(armLayout('half-hourly').armCount).toBe(144);
    expect(armLayout('hour-of-week').armCount).toBe(504);
  });

  it('round-trips every arm of every grid', () => {
    for (const grid of ['hourly', 'half-hourly', 'hour-of-week'] as const) {
      const layout = armLayout(grid);
      for (let arm = 0; arm < layout.armCount; arm++) {
        const { channel, slotIndex } = armOf(layout, arm);
        expect(armIndex(layout, channel, slotIndex)).toBe(arm);
      }
    }
  });

  it('refuses an arm outside the layout', () => {
    expect(() => armOf(armLayout('hourly'), 72)).toThrow(RangeError);
  });

  it('describes slots in local wall-clock time', () => {
    expect(describeSlot(armLayout('half-hourly'), 19)).toEqual({ hour: 9, minute: 30, label: '09:30' });
    expect(describeSlot(armLayout('hour-of-week'), 24 * 6 + 21)).toEqual({
      dayOfWeek: 6,
      hour: 21,
      minute: 0,
      label: 'Sun 21:00',
    });
  });
});

describe('send instants', () => {
  it('sends now in the slot under way and at the next slot starts after it', () => {
    // Prepare: 09:20 EDT on Wednesday 2026-07-01
    const s = schedule('America/New_York', '2026-07-01T13:20:00Z');
    // Assess
    expect(iso(s.sendAtMs[9])).toBe('2026-07-01T13:20:00.000Z');
    expect(iso(s.sendAtMs[10])).toBe('2026-07-01T14:00:00.000Z');
    expect(iso(s.sendAtMs[8])).toBe('2026-07-02T12:00:00.000Z'); // tomorrow
    expect(s.localMinute[9]).toBe(9 * 60 + 20);
    expect(s.localDayOfWeek[8]).toBe(3); // Thursday
  });

  it('collapses the hour skipped by spring-forward in New York onto the jump', () => {
    // 00:20 EST on 2026-03-08; clocks jump 02:00 EST -> 03:00 EDT at 07:00Z
    const s = schedule('America/New_York', '2026-03-08T05:20:00Z');
    expect(iso(s.sendAtMs[1])).toBe('2026-03-08T06:00:00.000Z');
    expect(iso(s.sendAtMs[2])).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(s.sendAtMs[3])).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(s.sendAtMs[9])).toBe('2026-03-08T13:00:00.000Z'); // 09:00 EDT
    expect(s.localMinute[2]).toBe(180); // the wall clock reads 03:00
  });

  it('uses the first 01:00 on the New York fall-back night and treats the repeated hour as under way', () => {
    const before = schedule('America/New_York', '2026-11-01T04:30:00Z'); // 00:30 EDT
    expect(iso(before.sendAtMs[1])).toBe('2026-11-01T05:00:00.000Z'); // 01:00 EDT
    expect(iso(before.sendAtMs[2])).toBe('2026-11-01T07:00:00.000Z'); // 02:00 EST
    const repeated = schedule('America/New_York', '2026-11-01T06:30:00Z'); // 01:30 EST, second pass
    expect(iso(repeated.sendAtMs[1])).toBe('2026-11-01T06:30:00.000Z');
    expect(repeated.localMinute[1]).toBe(90);
    expect(iso(repeated.sendAtMs[2])).toBe('2026-11-01T07:00:00.000Z');
  });

  it('handles both Berlin transitions', () => {
    const spring = schedule('Europe/Berlin', '2026-03-28T23:30:00Z'); // 00:30 CET
    expect(iso(spring.sendAtMs[2])).toBe('2026-03-29T01:00:00.000Z'); // skipped: at the jump (03:00 CEST)
    expect(iso(spring.sendAtMs[9])).toBe('2026-03-29T07:00:00.000Z');
    const autumn = schedule('Europe/Berlin', '2026-10-24T22:30:00Z'); // 00:30 CEST
    expect(iso(autumn.sendAtMs[2])).toBe('2026-10-25T00:00:00.000Z'); // first 02:00 (CEST)
    expect(iso(autumn.sendAtMs[3])).toBe('2026-10-25T02:00:00.000Z'); // 03:00 CET
    expect(iso(autumn.sendAtMs[9])).toBe('2026-10-25T08:00:00.000Z');
  });

  it('handles a +05:45 zone (Asia/Kathmandu)', () => {
    const s = schedule('Asia/Kathmandu', '2026-01-01T00:00:00Z'); // 05:45 local
    expect(iso(s.sendAtMs[5])).toBe('2026-01-01T00:00:00.000Z'); // under way
    expect(iso(s.sendAtMs[6])).toBe('2026-01-01T00:15:00.000Z');
    expect(iso(s.sendAtMs[9])).toBe('2026-01-01T03:15:00.000Z');
    expect(iso(s.sendAtMs[4])).toBe('2026-01-01T22:15:00.000Z'); // tomorrow 04:00
  });

  it('handles the 30-minute DST of Australia/Lord_Howe on the half-hour grid', () => {
    // Spring: 2026-10-04 02:00 (+10:30) jumps to 02:30 (+11) at 15:30Z the day before in UTC
    const spring = schedule('Australia/Lord_Howe', '2026-10-03T14:10:00Z', 'half-hourly'); // 00:40 local
    expect(iso(spring.sendAtMs[3])).toBe('2026-10-03T15:00:00.000Z'); // 01:30 (+10:30)
    expect(iso(spring.sendAtMs[4])).toBe('2026-10-03T15:30:00.000Z'); // 02:00 skipped -> the jump
    expect(iso(spring.sendAtMs[5])).toBe('2026-10-03T15:30:00.000Z'); // 02:30 (+11)
    expect(iso(spring.sendAtMs[6])).toBe('2026-10-03T16:00:00.000Z');
    // Autumn: 2026-04-05 02:00 (+11) falls back to 01:30 (+10:30) at 15:00Z
    const autumn = schedule('Australia/Lord_Howe', '2026-04-04T13:10:00Z', 'half-hourly'); // 00:10 (+11)
    expect(iso(autumn.sendAtMs[3])).toBe('2026-04-04T14:30:00.000Z'); // first 01:30 (+11)
    expect(iso(autumn.sendAtMs[4])).toBe('2026-04-04T15:30:00.000Z'); // 02:00 (+10:30)
  });

  it('starts at notBefore when it is later than now, and sends then if a slot is under way', () => {
    const nowMs = at('2026-07-01T09:00:00Z');
    const s = schedule('UTC', '2026-07-01T09:00:00Z', 'hourly', { notBeforeMs: nowMs + 3.5 * HOUR });
    expect(iso(s.sendAtMs[12])).toBe('2026-07-01T12:30:00.000Z');
    expect(iso(s.sendAtMs[13])).toBe('2026-07-01T13:00:00.000Z');
    expect(iso(s.sendAtMs[10])).toBe('2026-07-02T10:00:00.000Z');
  });

  it('includes a send exactly at notAfter and excludes one a millisecond later', () => {
    const notAfterMs = at('2026-07-01T15:00:00Z');
    const s = schedule('UTC', '2026-07-01T09:10:00Z', 'hourly', { notAfterMs });
    expect(s.status[15]).toBe(SLOT_OK);
    expect(s.status[16]).toBe(SLOT_OUTSIDE_WINDOW);
    expect(s.status[9]).toBe(SLOT_OK); // now
    expect(s.status[8]).toBe(SLOT_OUTSIDE_WINDOW); // tomorrow
    const earlier = schedule('UTC', '2026-07-01T09:10:00Z', 'hourly', { notAfterMs: notAfterMs - 1 });
    expect(earlier.status[15]).toBe(SLOT_OUTSIDE_WINDOW);
  });

  it('rules out every slot when the window has closed', () => {
    const s = schedule('UTC', '2026-07-01T09:10:00Z', 'hourly', { notAfterMs: at('2026-07-01T09:00:00Z') });
    expect([...s.status].every((x) => x === SLOT_OUTSIDE_WINDOW)).toBe(true);
  });

  it('flags slots past the horizon on the hour-of-week grid', () => {
    // Wednesday 2026-07-01 09:10 UTC, horizon 2 days
    const s = schedule('UTC', '2026-07-01T09:10:00Z', 'hour-of-week', {}, 2);
    const ok = [...s.status].filter((x) => x === SLOT_OK).length;
    expect(ok).toBe(49); // 09:10 now, then 10:00 .. 09:00 two days later (48 hour starts)
    expect(s.status[2 * 24 + 9]).toBe(SLOT_OK); // Wed 09:00 is under way
    expect(iso(s.sendAtMs[4 * 24 + 9])).toBe('2026-07-03T09:00:00.000Z'); // Fri 09:00: exactly the horizon
    expect(s.status[4 * 24 + 9]).toBe(SLOT_OK);
    expect(s.status[4 * 24 + 10]).toBe(SLOT_BEYOND_HORIZON);
    expect(iso(s.sendAtMs[2 * 24 + 8])).toBe('2026-07-08T08:00:00.000Z'); // next week
  });

  it('falls back to the default zone for an unknown or absent one', () => {
    expect(resolveTimeZone('Mars/Olympus', 'Europe/Berlin')).toBe('Europe/Berlin');
    expect(resolveTimeZone(undefined, 'UTC')).toBe('UTC');
    expect(resolveTimeZone('Asia/Calcutta', 'UTC')).toBe('Asia/Calcutta');
  });

  const ZONES = [
    'America/New_York',
    'Europe/Berlin',
    'Asia/Kathmandu',
    'Australia/Lord_Howe',
    'America/Santiago',
    'Pacific/Chatham',
    'UTC',
  ];
  // Instants around the 2026 transitions of these zones, to make DST nights common.
  const TRANSITIONS = [
    '2026-03-08T07:00:00Z',
    '2026-11-01T06:00:00Z',
    '2026-03-29T01:00:00Z',
    '2026-10-25T01:00:00Z',
    '2026-10-03T15:30:00Z',
    '2026-04-04T15:00:00Z',
    '2026-04-05T03:00:00Z',
    '2026-09-06T04:00:00Z',
    '2026-09-26T14:00:00Z',
    '2026-04-04T14:00:00Z',
  ].map(at);

  it('maps every slot to the first instant at or after the start showing that slot on the wall clock', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...TRANSITIONS),
        fc.integer({ min: -36 * 60, max: 36 * 60 }),
        fc.constantFrom<SlotGridName>('hourly', 'half-hourly'),
        (zone, transition, offsetMin, grid) => {
          const nowMs = transition + offsetMin * 60_000;
          const layout = armLayout(grid);
          const s = slotSchedule(layout, {
            nowMs,
            timeZone: zone,
            notBeforeMs: nowMs,
            notAfterMs: Number.POSITIVE_INFINITY,
            horizonDays: 2,
          });
          for (let slot = 0; slot < layout.slotCount; slot++) {
            const slotStart = slot * layout.slotMinutes;
            const inSlot = (ms: number) => {
              const m = wallClock(ms, zone).minuteOfDay;
              return m >= slotStart && m < slotStart + layout.slotMinutes;
            };
            const sendAt = s.sendAtMs[slot];
            expect(sendAt).toBeGreaterThanOrEqual(nowMs);
            expect(sendAt - nowMs).toBeLessThanOrEqual(DAY + 2 * HOUR);
            // The wall clock shows the slot at the send instant, unless the slot was skipped by a jump
            // (then the send is at the jump: the offset changes right there).
            const skipped =
              (wallClock(sendAt - 1, zone).minuteOfDay + 1) % 1440 !== wallClock(sendAt, zone).minuteOfDay;
            expect(inSlot(sendAt) || skipped).toBe(true);
            // No earlier instant from the start shows the slot (every slot lasts >= 30 wall minutes).
            for (let t = nowMs; t < sendAt; t += 15 * 60_000) expect(inSlot(t)).toBe(false);
            expect(s.localMinute[slot]).toBe(wallClock(sendAt, zone).minuteOfDay);
            expect(s.localDayOfWeek[slot]).toBe(wallClock(sendAt, zone).weekday);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('maps hour-of-week slots to their own weekday within a week', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...TRANSITIONS),
        fc.integer({ min: -7 * 24 * 60, max: 7 * 24 * 60 }),
        (zone, transition, offsetMin) => {
          const nowMs = transition + offsetMin * 60_000;
          const layout = armLayout('hour-of-week');
          const s = slotSchedule(layout, {
            nowMs,
            timeZone: zone,
            notBeforeMs: nowMs,
            notAfterMs: Number.POSITIVE_INFINITY,
            horizonDays: 14,
          });
          for (let slot = 0; slot < 168; slot++) {
            const sendAt = s.sendAtMs[slot];
            expect(sendAt - nowMs).toBeGreaterThanOrEqual(0);
            expect(sendAt - nowMs).toBeLessThan(7 * DAY + 2 * HOUR);
            const wall = wallClock(sendAt, zone);
            const skipped = (wallClock(sendAt - 1, zone).minuteOfDay + 1) % 1440 !== wall.minuteOfDay;
            if (!skipped) {
              expect(wall.weekday * 24 + Math.floor(wall.minuteOfDay / 60)).toBe(slot);
            }
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
