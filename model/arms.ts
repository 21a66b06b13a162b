/**
 * Arms: (channel, send slot in the user's local time), and the instant each arm would send at.
 *
 * Arm index layout (stable; logged with every decision, so never reorder):
 *   channel-major over CHANNELS = [email, push, sms], every channel always present (a disabled
 *   channel is masked by the guardrails, not removed, so indices survive config changes):
 *     armIndex = channelIndex * slotCount + slotIndex
 *   Slots by grid:
 *     hourly        24 slots, slot s = local s:00 every day            (72 arms)
 *     half-hourly   48 slots, slot s = local (s/2):(s%2 * 30) every day (144 arms)
 *     hour-of-week 168 slots, slot s = local day s/24 (Monday 0) at (s%24):00 (504 arms)
 *
 * Pure: no clock; the decision instant is an argument.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { isKnownTimeZone, localTime } from './local-time.ts';
import { CHANNELS } from './user-state.ts';

export type SlotGridName = AnalystConfig['slots']['grid'];

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

export interface ArmLayout {
  readonly grid: SlotGridName;
  /** channels in arm-index order (always all of CHANNELS) */
  readonly channels: readonly ChannelName[];
  readonly slotCount: number;
  readonly armCount: number;
  /** local wall-clock length of one slot in minutes (60 or 30) */
  readonly slotMinutes: number;
  /** true when a slot names a day of the week as well as a time of day */
  readonly weekly: boolean;
}

const LAYOUTS: Record<SlotGridName, ArmLayout> = {
  hourly: Object.freeze({
    grid: 'hourly',
    channels: CHANNELS,
    slotCount: 24,
    armCount: 72,
    slotMinutes: 60,
    weekly: false,
  }),
  'half-hourly': Object.freeze({
    grid: 'half-hourly',
    channels: CHANNELS,
    slotCount: 48,
    armCount: 144,
    slotMinutes: 30,
    weekly: false,
  }),
  'hour-of-week': Object.freeze({
    grid: 'hour-of-week',
    channels: CHANNELS,
    slotCount: 168,
    armCount: 504,
    slotMinutes: 60,
    weekly: true,
  }),
};

/**
 * The arm layout of a slot grid (a shared frozen object).
 * @example armLayout('hourly').armCount // 72
 */
export function armLayout(grid: SlotGridName): ArmLayout {
  return LAYOUTS[grid];
}

/**
 * Index of the arm (channel, slot).
 * @example armIndex(armLayout('hourly'), 'push', 9) // 33
 */
export function armIndex(layout: ArmLayout, channel: ChannelName, slotIndex: number): number {
  return CHANNELS.indexOf(channel) * layout.slotCount + slotIndex;
}

/**
 * The channel and slot of an arm index.
 * @example armOf(armLayout('hourly'), 33) // { channel: 'push', channelIndex: 1, slotIndex: 9 }
 */
export function armOf(
  layout: ArmLayout,
  arm: number,
): { channel: ChannelName; channelIndex: number; slotIndex: number } {
  if (!Number.isInteger(arm) || arm < 0 || arm >= layout.armCount) {
    throw new RangeError(`arm ${arm} is not in 0..${layout.armCount - 1} for the ${layout.grid} grid`);
  }
  const channelIndex = Math.floor(arm / layout.slotCount);
  return { channel: CHANNELS[channelIndex], channelIndex, slotIndex: arm % layout.slotCount };
}

export interface SlotDescription {
  /** Monday 0 .. Sunday 6 for the hour-of-week grid; undefined for daily grids */
  dayOfWeek?: number;
  hour: number;
  minute: number;
  /** e.g. "09:30" or "Mon 09:00" */
  label: string;
}

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/**
 * The local wall-clock start of a slot.
 * @example describeSlot(armLayout('half-hourly'), 19) // { hour: 9, minute: 30, label: '09:30' }
 */
export function describeSlot(layout: ArmLayout, slotIndex: number): SlotDescription {
  const minuteOfWeek = slotIndex * layout.slotMinutes;
  const minuteOfDay = minuteOfWeek % 1440;
  const hour = Math.floor(minuteOfDay / 60);
  const minute = minuteOfDay % 60;
  const hhmm = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  if (!layout.weekly) return { hour, minute, label: hhmm };
  const dayOfWeek = Math.floor(minuteOfWeek / 1440);
  return { dayOfWeek, hour, minute, label: `${DAY_NAMES[dayOfWeek]} ${hhmm}` };
}

/**
 * The zone a user's local times are computed in: their own when the runtime knows it, else the config default.
 * An unknown zone must not switch quiet hours off, so it falls back rather than failing open.
 * @example resolveTimeZone('Mars/Olympus', 'UTC') // 'UTC'
 */
export function resolveTimeZone(timeZone: string | undefined, defaultTimeZone: string): string {
  return timeZone && isKnownTimeZone(timeZone) ? timeZone : defaultTimeZone;
}

/** Why a slot has no send instant in this request (arm-level reasons are in guardrails.ts). */
export const SLOT_OK = 0;
export const SLOT_OUTSIDE_WINDOW = 1;
export const SLOT_BEYOND_HORIZON = 2;

export interface ScheduleRequest {
  /** decision instant */
  nowMs: number;
  /** a zone the runtime knows (see resolveTimeZone) */
  timeZone: string;
  notBeforeMs: number;
  notAfterMs: number;
  horizonDays: number;
}

export interface SlotSchedule {
  readonly layout: ArmLayout;
  readonly timeZone: string;
  readonly nowMs: number;
  /** max(now, notBefore): nothing is sent earlier */
  readonly startMs: number;
  readonly notAfterMs: number;
  /** now + horizonDays; nothing is scheduled later */
  readonly horizonEndMs: number;
  /**
   * Per slot: the first instant >= startMs in the slot's next occurrence (startMs itself when the
   * slot is under way, i.e. "send now"). Always finite, also for slots that `status` rules out,
   * so features stay defined for every arm.
   */
  readonly sendAtMs: Float64Array;
  /** Per slot: local wall-clock minute of day (0..1439) at sendAtMs */
  readonly localMinute: Uint16Array;
  /** Per slot: local day of week (Monday 0) at sendAtMs */
  readonly localDayOfWeek: Uint8Array;
  /** Per slot: SLOT_OK, SLOT_OUTSIDE_WINDOW (after notAfter) or SLOT_BEYOND_HORIZON */
  readonly status: Uint8Array;
  /** local day of week and minute of day at nowMs */
  readonly nowLocal: { dayOfWeek: number; minuteOfDay: number };
}

/**
 * One local calendar day in one zone, as the UTC offsets in force and the instant they change (if they
 * do). A wall time w maps to w - offsetBefore while that is before the transition, and to
 * w - offsetAfter from the transition on: on a fall-back night a repeated wall time has both, on a
 * spring-forward night a skipped one has neither.
 */
interface LocalDay {
  dayOfWeek: number;
  /** local midnight of this date read as if it were UTC */
  wallMidnightMs: number;
  offsetBeforeMs: number;
  offsetAfterMs: number;
  /** first instant of offsetAfter; +Infinity when the offset does not change around this day */
  transitionMs: number;
}

// Memo of local days by zone and day number: many users share a zone and a date, and each new day
// costs Intl calls. Bounded by clearing, which is rare and only costs recomputation.
const dayCache = new Map<string, Map<number, LocalDay>>();
let cachedDays = 0;
const MAX_CACHED_DAYS = 50_000;

function dayOfWeekOfDayNumber(dayNumber: number): number {
  // 1970-01-01 (day 0) was a Thursday: 3 when Monday is 0.
  return (((dayNumber + 3) % 7) + 7) % 7;
}

function localDay(timeZone: string, dayNumber: number): LocalDay {
  let byDay = dayCache.get(timeZone);
  if (!byDay) {
    byDay = new Map();
    dayCache.set(timeZone, byDay);
  }
  let day = byDay.get(dayNumber);
  if (day) return day;
  if (cachedDays >= MAX_CACHED_DAYS) {
    dayCache.clear();
    cachedDays = 0;
    byDay = new Map();
    dayCache.set(timeZone, byDay);
  }
  day = computeLocalDay(timeZone, dayNumber);
  byDay.set(dayNumber, day);
  cachedDays++;
  return day;
}

const offsetMs = (epochMs: number, timeZone: string) => localTime(epochMs, timeZone).offsetMinutes * MINUTE_MS;

/**
 * The offsets before and after the day and the instant between them, from Intl alone: exact for offsets
 * up to +-14 h (Pacific/Chatham's +13:45 included); two Intl calls on an ordinary day.
 */
function computeLocalDay(timeZone: string, dayNumber: number): LocalDay {
  const wallMidnightMs = dayNumber * DAY_MS;
  // Local midnight is at wallMidnight - offset, offset in [-12 h, +14 h]: these instants bracket the day.
  const lo = wallMidnightMs - 15 * 3_600_000;
  const hi = wallMidnightMs + DAY_MS + 13 * 3_600_000;
  const offsetBeforeMs = offsetMs(lo, timeZone);
  const offsetAfterMs = offsetMs(hi, timeZone);
  const dayOfWeek = dayOfWeekOfDayNumber(dayNumber);
  // Real zones change offset months apart, so one change at most falls in the bracket.
  if (offsetBeforeMs === offsetAfterMs) {
    return { dayOfWeek, wallMidnightMs, offsetBeforeMs, offsetAfterMs, transitionMs: Number.POSITIVE_INFINITY };
  }
  let a = lo;
  let b = hi;
  while (b - a > 1) {
    const mid = Math.floor((a + b) / 2);
    if (offsetMs(mid, timeZone) === offsetAfterMs) b = mid;
    else a = mid;
  }
  return { dayOfWeek, wallMidnightMs, offsetBeforeMs, offsetAfterMs, transitionMs: b };
}

/**
 * The first stretch of real time at or after `startMs` during which the wall clock of `day` shows a time in
 * [fromMinute, toMinute); returns the instant to send at (startMs itself when the stretch is under way),
 * or NaN when the slot has passed on that day. A slot entirely skipped by a jump sends at the jump.
 */
function firstInstantInSlot(day: LocalDay, fromMinute: number, toMinute: number, startMs: number): number {
  const w0 = day.wallMidnightMs + fromMinute * MINUTE_MS;
  const w1 = day.wallMidnightMs + toMinute * MINUTE_MS;
  const t = day.transitionMs;
  // Stretch under the offset before the transition, then under the one after it.
  const aStart = w0 - day.offsetBeforeMs;
  const aEnd = Math.min(w1 - day.offsetBeforeMs, t);
  const bStart = Math.max(w0 - day.offsetAfterMs, t);
  const bEnd = w1 - day.offsetAfterMs;
  const aExists = aEnd > aStart;
  const bExists = bEnd > bStart;
  if (aExists && aEnd > startMs) return Math.max(aStart, startMs);
  if (bExists && bEnd > startMs) return Math.max(bStart, startMs);
  if (!aExists && !bExists && t >= startMs) return t;
  return Number.NaN;
}

/** Local wall-clock date (day number), minute of day and day of week of an instant inside `day`'s bracket. */
function wallClockIn(day: LocalDay, epochMs: number): { dayNumber: number; minute: number; dayOfWeek: number } {
  const local = epochMs + (epochMs < day.transitionMs ? day.offsetBeforeMs : day.offsetAfterMs);
  const dayNumber = Math.floor(local / DAY_MS);
  return {
    dayNumber,
    minute: Math.floor((local - dayNumber * DAY_MS) / MINUTE_MS),
    dayOfWeek: dayOfWeekOfDayNumber(dayNumber),
  };
}

/** Local wall clock of any instant, from the cached day of its UTC date (whose bracket always holds it). */
function wallClock(timeZone: string, epochMs: number): { dayNumber: number; minute: number; dayOfWeek: number } {
  return wallClockIn(localDay(timeZone, Math.floor(epochMs / DAY_MS)), epochMs);
}

/**
 * The send instant of every slot for one decision, DST-correct in the user's zone.
 * A slot maps to the first instant at or after max(now, notBefore) at which the user's wall clock shows
 * a time in the slot: the slot under way means "send now"; a slot skipped by spring-forward sends at the
 * jump; in the hour repeated by fall-back, the second pass counts as well as the first.
 * Slots whose instant is after notAfter or after now + horizonDays are flagged in `status`.
 * @example
 *   const s = slotSchedule(armLayout('hourly'), { nowMs: Date.parse('2026-07-01T13:20:00Z'),
 *     timeZone: 'America/New_York', notBeforeMs: 0, notAfterMs: Infinity, horizonDays: 2 });
 *   new Date(s.sendAtMs[9]).toISOString()  // '2026-07-01T13:20:00.000Z' (09:20 local: send now)
 *   new Date(s.sendAtMs[10]).toISOString() // '2026-07-01T14:00:00.000Z'
 */
export function slotSchedule(layout: ArmLayout, req: ScheduleRequest): SlotSchedule {
  const { nowMs, timeZone, notBeforeMs, notAfterMs, horizonDays } = req;
  if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be a finite instant, got ${nowMs}`);
  if (Number.isNaN(notBeforeMs) || Number.isNaN(notAfterMs)) throw new RangeError('window bounds must be numbers');
  const startMs = Math.max(nowMs, Number.isFinite(notBeforeMs) ? notBeforeMs : nowMs);
  const horizonEndMs = nowMs + horizonDays * DAY_MS;
  const day0 = wallClock(timeZone, startMs).dayNumber;
  const nowLocal = wallClock(timeZone, nowMs);

  const n = layout.slotCount;
  const sendAtMs = new Float64Array(n);
  const localMinute = new Uint16Array(n);
  const localDayOfWeek = new Uint8Array(n);
  const status = new Uint8Array(n);
  // The day before the start's local date too: after a fall-back at midnight its last hour comes again.
  const lastOffset = layout.weekly ? 8 : 2;
  const days: LocalDay[] = [];
  for (let k = -1; k <= lastOffset; k++) days.push(localDay(timeZone, day0 + k));

  for (let s = 0; s < n; s++) {
    const fromMinute = (s * layout.slotMinutes) % 1440;
    const toMinute = fromMinute + layout.slotMinutes;
    const slotDay = layout.weekly ? Math.floor(s / 24) : -1;
    let at = Number.NaN;
    let day = days[0];
    for (let k = 0; k < days.length && Number.isNaN(at); k++) {
      day = days[k];
      if (slotDay >= 0 && day.dayOfWeek !== slotDay) continue;
      at = firstInstantInSlot(day, fromMinute, toMinute, startMs);
    }
    if (Number.isNaN(at)) throw new RangeError(`no occurrence of slot ${s} found in ${timeZone} after ${startMs}`);
    sendAtMs[s] = at;
    const wall = wallClockIn(day, at);
    localMinute[s] = wall.minute;
    localDayOfWeek[s] = wall.dayOfWeek;
    status[s] = at > notAfterMs ? SLOT_OUTSIDE_WINDOW : at > horizonEndMs ? SLOT_BEYOND_HORIZON : SLOT_OK;
  }
  return {
    layout,
    timeZone,
    nowMs,
    startMs,
    notAfterMs,
    horizonEndMs,
    sendAtMs,
    localMinute,
    localDayOfWeek,
    status,
    nowLocal: { dayOfWeek: nowLocal.dayOfWeek, minuteOfDay: nowLocal.minute },
  };
}

/**
 * Local hour of week (Monday 00:00 = 0) at a slot's send instant, the index into the engagement histogram.
 * @example slotHourOfWeek(schedule, 9) // e.g. 57 on a Wednesday at 09:xx
 */
export function slotHourOfWeek(schedule: SlotSchedule, slotIndex: number): number {
  return schedule.localDayOfWeek[slotIndex] * 24 + Math.floor(schedule.localMinute[slotIndex] / 60);
}
