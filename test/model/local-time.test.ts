import { describe, expect, it } from 'vitest';
import { addLocalDays, isKnownTimeZone, localTime, zonedTimeToEpoch } from '#model/local-time.ts';

describe('localTime', () => {
  it('reads wall-clock time and offset across the spring-forward jump', () => {
    expect(localTime(Date.parse('2026-03-29T00:59:00Z'), 'Europe/Berlin')).toMatchObject({
      hour: 1,
      offsetMinutes: 60,
    });
    expect(localTime(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toMatchObject({
      hour: 3,
      offsetMinutes: 120,
    });
  });

  it('numbers hours of the week from Monday 00:00', () => {
    expect(localTime(Date.parse('2026-11-23T00:00:00Z'), 'UTC').hourOfWeek).toBe(0);
    expect(localTime(Date.parse('2026-11-29T23:00:00Z'), 'UTC').hourOfWeek).toBe(167);
  });

  it('handles a +05:45 zone', () => {
    expect(localTime(Date.parse('2026-01-01T00:00:00Z'), 'Asia/Kathmandu')).toMatchObject({ hour: 5, minute: 45 });
  });
});

describe('zonedTimeToEpoch', () => {
  it('converts an ordinary local time', () => {
    expect(zonedTimeToEpoch({ year: 2026, month: 7, day: 1, hour: 9, minute: 0 }, 'America/New_York')).toBe(
      Date.parse('2026-07-01T13:00:00Z'),
    );
  });

  it('moves a time skipped by spring-forward to after the jump', () => {
    expect(zonedTimeToEpoch({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, 'America/New_York')).toBe(
      Date.parse('2026-03-08T07:30:00Z'),
    );
  });

  it('takes the first of two repeated times on the fall-back night', () => {
    expect(zonedTimeToEpoch({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, 'America/New_York')).toBe(
      Date.parse('2026-11-01T05:30:00Z'),
    );
  });

  it('round-trips every hour of a year in Lord Howe (30-minute DST)', () => {
    for (let h = 0; h < 365 * 24; h += 7) {
      const ms = Date.parse('2026-01-01T00:00:00Z') + h * 3_600_000;
      const lt = localTime(ms, 'Australia/Lord_Howe');
      const back = zonedTimeToEpoch(lt, 'Australia/Lord_Howe');
      // a repeated local time maps to its first occurrence, at most 30 minutes earlier
      expect(ms - back === 0 || ms - back === 30 * 60_000).toBe(true);
    }
  });
});

describe('helpers', () => {
  it('adds local days across month ends', () => {
    expect(addLocalDays({ year: 2026, month: 2, day: 27 }, 2)).toEqual({ year: 2026, month: 3, day: 1 });
  });

  it('knows real zones and refuses made-up ones', () => {
    expect(isKnownTimeZone('Asia/Calcutta')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus')).toBe(false);
    expect(isKnownTimeZone('')).toBe(false);
  });
});

describe('zones far from UTC', () => {
  it('takes the first repeated 03:00 in Pacific/Chatham (+13:45 → +12:45) on the fall-back night', () => {
    // 2026-04-05 03:45 CHADT (+13:45) = 2026-04-04T14:00Z; clocks go back to 02:45, so 03:00 repeats
    const first = zonedTimeToEpoch({ year: 2026, month: 4, day: 5, hour: 3, minute: 0 }, 'Pacific/Chatham');
    expect(localTime(first, 'Pacific/Chatham')).toMatchObject({ hour: 3, minute: 0, offsetMinutes: 825 });
  });

  it('moves a skipped time in Pacific/Chatham past the jump', () => {
    // 2026-09-27 02:45 CHAST jumps to 03:45 CHADT: 03:00 does not exist and maps to 04:00
    const t = zonedTimeToEpoch({ year: 2026, month: 9, day: 27, hour: 3, minute: 0 }, 'Pacific/Chatham');
    expect(localTime(t, 'Pacific/Chatham')).toMatchObject({ hour: 4, minute: 0 });
  });
});
