/**
 * Wall-clock arithmetic in IANA time zones with only Intl (no tz database of our own).
 * Hour-of-week counts from Monday 00:00 local (0) to Sunday 23:00 local (167).
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // hourCycle h23 so midnight is 0, not 24; throws RangeError on an unknown zone.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when the runtime knows this IANA zone (canonical names and links such as Asia/Calcutta). */
export function isKnownTimeZone(timeZone: string): boolean {
  if (!timeZone) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

const WEEKDAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

export interface LocalTime {
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Monday 0 .. Sunday 6 */
  dayOfWeek: number;
  /** dayOfWeek * 24 + hour */
  hourOfWeek: number;
  /** offset of local time from UTC in minutes at this instant (e.g. +60 for CET in winter) */
  offsetMinutes: number;
}

/**
 * The local wall-clock time of an instant in a zone.
 * @example localTime(Date.parse('2026-03-29T01:30:00Z'), 'Europe/Berlin').hour // 3 (CEST)
 */
export function localTime(epochMs: number, timeZone: string): LocalTime {
  const parts = formatterFor(timeZone).formatToParts(epochMs);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const year = Number(get('year'));
  const month = Number(get('month'));
  const day = Number(get('day'));
  const hour = Number(get('hour'));
  const minute = Number(get('minute'));
  const second = Number(get('second'));
  const dayOfWeek = WEEKDAY[get('weekday')];
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  const offsetMinutes = Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60_000);
  return { year, month, day, hour, minute, second, dayOfWeek, hourOfWeek: dayOfWeek * 24 + hour, offsetMinutes };
}

/**
 * The instant at which the wall clock in `timeZone` shows the given local date and time.
 * A local time skipped by a DST jump (e.g. 02:30 on the spring-forward night) maps to the same
 * number of minutes after the jump (03:30); a repeated one (fall-back night) maps to its first occurrence.
 * @example zonedTimeToEpoch({ year: 2026, month: 7, day: 1, hour: 9, minute: 0 }, 'America/New_York')
 *   // Date.parse('2026-07-01T13:00:00Z')
 */
export function zonedTimeToEpoch(
  t: { year: number; month: number; day: number; hour: number; minute: number },
  timeZone: string,
): number {
  const wall = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute);
  // Offsets run from -12 h to +14 h, so sampling a day and a half either side of the wall time sees the
  // offsets in force on both sides of any transition near it (zones change offset at most twice a year).
  const offsets = [-36, -24, -12, 0, 12, 24, 36].map((h) => localTime(wall + h * 3_600_000, timeZone).offsetMinutes);
  const candidates = [...new Set(offsets.map((o) => wall - o * 60_000))].sort((a, b) => a - b);
  for (const c of candidates) {
    const lt = localTime(c, timeZone);
    if (Date.UTC(lt.year, lt.month - 1, lt.day, lt.hour, lt.minute) === wall) return c;
  }
  // Wall time falls in a DST gap: keep the minutes past the jump, as clocks do (offset before the jump).
  return wall - offsets[0] * 60_000;
}

/** Adds whole days to a local calendar date (no time zone involved). */
export function addLocalDays(
  date: { year: number; month: number; day: number },
  days: number,
): { year: number; month: number; day: number } {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}
