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
