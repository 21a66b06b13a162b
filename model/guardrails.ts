/**
 * Hard guardrails: the product's promises that no learner may trade away. Checked by the policy when
 * it decides (as a mask over arms) and again by dispatch just before sending (checkSendAllowed), because
 * consents, caps and config can change between the two.
 *
 * Pure: no clock (instants are arguments), no I/O.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import {
  type ArmLayout,
  armLayout,
  resolveTimeZone,
  SLOT_BEYOND_HORIZON,
  SLOT_OUTSIDE_WINDOW,
  type SlotSchedule,
  slotSchedule,
} from './arms.ts';
import { localTime } from './local-time.ts';
import { CHANNELS as CHANNELS_BINDING, type UserState } from './user-state.ts';

// Local copies: under tsx and vitest an imported binding is a getter call, which showed up in hot loops.
const CHANNELS = CHANNELS_BINDING;

/**
 * Why an arm is masked. When several apply, an arm reports the first in this order
 * (channel-level reasons, then the slot's time, then caps, which depend on both).
 */
export const ARM_BLOCK_REASONS = [
  'channel_disabled',
  'channel_not_requested',
  'suppressed_unsubscribed',
  'suppressed_bounced',
  'suppressed_complained',
  'no_consent',
  'no_endpoint',
  'outside_window',
  'beyond_horizon',
  'quiet_hours',
  'frequency_cap_channel',
  'frequency_cap_global',
] as const;
export type ArmBlockReason = (typeof ARM_BLOCK_REASONS)[number];

/** Reason code stored in ArmMask.reasonCodes: 0 = allowed, i + 1 = ARM_BLOCK_REASONS[i]. */
export const ALLOWED = 0;
function code(reason: ArmBlockReason): number {
  return ARM_BLOCK_REASONS.indexOf(reason) + 1;
}
const OUTSIDE_WINDOW = code('outside_window');
const BEYOND_HORIZON = code('beyond_horizon');
const QUIET_HOURS = code('quiet_hours');
const FREQUENCY_CAP_CHANNEL = code('frequency_cap_channel');
const FREQUENCY_CAP_GLOBAL = code('frequency_cap_global');

/** The only request kind that may ignore quiet hours (a password reset at 3 am is expected; a promotion is not). */
export const TRANSACTIONAL_KIND = 'transactional';

/** The part of a notification request that the model and the guardrails read. */
export interface DeliveryRequest {
  /** campaign kind, e.g. 'transactional', 'marketing', 'reminder' */
  kind: string;
  /** channels the producer has content for */
  allowedChannels: readonly ChannelName[];
  /** the send must happen within [notBeforeMs, notAfterMs] (inclusive) */
  window: { notBeforeMs: number; notAfterMs: number };
  /** honoured only when kind is 'transactional' */
  ignoreQuietHours?: boolean;
}

/**
 * Send instants per channel that count against frequency caps: sends already made and sends scheduled
 * but not yet made (both, or two decisions taken a minute apart could each use the last unit of a cap).
 */
export type RecentSends = Partial<Record<ChannelName, readonly number[]>>;

export interface GuardrailInput {
  user: UserState;
  request: DeliveryRequest;
  nowMs: number;
  recentSends?: RecentSends;
  /** channels with an endpoint (address, phone, push token); undefined = the caller did not check, all assumed */
  reachable?: readonly ChannelName[];
}

export interface ArmMask {
  readonly layout: ArmLayout;
  readonly schedule: SlotSchedule;
  /** zone used for local times (the user's, or the config default when absent or unknown) */
  readonly timeZone: string;
  /** per arm: 1 = allowed, 0 = masked (ArmBatch.allowed layout) */
  readonly allowed: Uint8Array;
  /** per arm: ALLOWED (0) or the code of the first reason it is masked for */
  readonly reasonCodes: Uint8Array;
  readonly allowedCount: number;
}

/** No arm passes the guardrails; the caller applies config guardrails.whenNoArm. */
export interface NoArm {
  kind: 'no_arm';
  /** how many arms each reason masked (each arm counted once, under its first reason) */
  reasons: Partial<Record<ArmBlockReason, number>>;
}

export type SendCheck = { allowed: true } | { allowed: false; reason: ArmBlockReason };

export interface QuietHours {
  /** local minute of day quiet hours start (inclusive) */
  startMinute: number;
  /** local minute of day they end (exclusive); less than start when they span midnight */
  endMinute: number;
}

const CLOCK_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

function parseClockTime(text: string): number | undefined {
  const m = CLOCK_TIME.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/**
 * The quiet hours that apply to a user: their own when well-formed, else the config default.
 * A malformed or empty (start = end) override falls back to the default rather than switching quiet hours off.
 * @example quietHoursFor(user, config) // { startMinute: 1260, endMinute: 480 } for 21:00-08:00
 */
export function quietHoursFor(user: Pick<UserState, 'quietHours'>, config: AnalystConfig): QuietHours {
  const own = user.quietHours;
  if (own) {
    const startMinute = parseClockTime(own.start);
    const endMinute = parseClockTime(own.end);
    if (startMinute !== undefined && endMinute !== undefined && startMinute !== endMinute) {
      return { startMinute, endMinute };
    }
  }
  const d = config.guardrails.quietHours;
  return { startMinute: parseClockTime(d.start) ?? 0, endMinute: parseClockTime(d.end) ?? 0 };
}

/**
 * Whether a local minute of day falls in quiet hours (start inclusive, end exclusive, spanning midnight when start > end).
 * @example isQuietMinute(22 * 60, { startMinute: 21 * 60, endMinute: 8 * 60 }) // true
 */
export function isQuietMinute(minuteOfDay: number, quiet: QuietHours): boolean {
  const { startMinute, endMinute } = quiet;
  if (startMinute < endMinute) return minuteOfDay >= startMinute && minuteOfDay < endMinute;
  if (startMinute > endMinute) return minuteOfDay >= startMinute || minuteOfDay < endMinute;
  return false;
}

/** Whether quiet hours bind this request: always, except for a transactional request that asks to ignore them. */
export function quietHoursApply(request: DeliveryRequest): boolean {
  return !(request.ignoreQuietHours === true && request.kind === TRANSACTIONAL_KIND);
}

/**
 * Whether one more send at `atMs` keeps every sliding window of `perHours` at or under `maxSends`,
 * counting the `existing` instants (past and scheduled). Windows are half-open [a, a + perHours):
 * two sends exactly perHours apart do not share a window.
 * @example capAllows([t0], t0 + 23 * 3_600_000, { maxSends: 1, perHours: 24 }) // false
 */
export function capAllows(
  existing: readonly number[],
  atMs: number,
  cap: { maxSends: number; perHours: number },
): boolean {
  const span = cap.perHours * 3_600_000;
  // Only sends within (at - span, at + span) can share a window with `at`.
  const near: number[] = [];
  for (const t of existing) if (t > atMs - span && t < atMs + span) near.push(t);
  if (near.length < cap.maxSends) return true;
  // The fullest window containing `at` starts at `at` itself or at one of the sends in (at - span, at]:
  // sliding any other window right until its start meets its first send (or `at`) loses nothing.
  if (sendsInWindow(near, atMs, span) + 1 > cap.maxSends) return false;
  for (const a of near) {
    if (a <= atMs && sendsInWindow(near, a, span) + 1 > cap.maxSends) return false;
  }
  return true;
}

function sendsInWindow(sends: readonly number[], fromMs: number, span: number): number {
  let n = 0;
  for (const t of sends) if (t >= fromMs && t < fromMs + span) n++;
  return n;
}

function channelBlock(
  user: UserState,
  channel: ChannelName,
  request: DeliveryRequest,
  config: AnalystConfig,
  reachable: readonly ChannelName[] | undefined,
): ArmBlockReason | undefined {
  if (!config.channels[channel].enabled) return 'channel_disabled';
  if (!request.allowedChannels.includes(channel)) return 'channel_not_requested';
  const consent = user.consent[channel];
  if (consent?.suppressed) return `suppressed_${consent.suppressed}`;
  if (consent?.optedIn !== true) return 'no_consent';
  if (reachable && !reachable.includes(channel)) return 'no_endpoint';
  return undefined;
}

function allSends(recentSends: RecentSends | undefined): number[] {
  const all: number[] = [];
  if (recentSends) for (const c of CHANNELS) for (const t of recentSends[c] ?? []) all.push(t);
  return all;
}

/**
 * The arms a decision may choose from, with the reason for every masked arm.
 * @example
 *   const mask = allowedArms({ user, request, nowMs, recentSends: { push: [nowMs - 3_600_000] } }, config);
 *   if (mask.allowedCount === 0) return summariseBlocks(mask); // a NoArm with reason counts
 */
export function allowedArms(input: GuardrailInput, config: AnalystConfig): ArmMask {
  const { user, request, nowMs, recentSends, reachable } = input;
  const layout = armLayout(config.slots.grid);
  const timeZone = resolveTimeZone(user.timeZone, config.guardrails.defaultTimeZone);
  const schedule = slotSchedule(layout, {
    nowMs,
    timeZone,
    notBeforeMs: request.window.notBeforeMs,
    notAfterMs: request.window.notAfterMs,
    horizonDays: config.slots.horizonDays,
  });
  const quiet = quietHoursApply(request) ? quietHoursFor(user, config) : undefined;
  const caps = config.guardrails.frequencyCaps;
  const global = allSends(recentSends);

  const n = layout.slotCount;
  // Slot-level code (time of the send), then the global cap lazily: both shared by every channel.
  const slotCode = new Uint8Array(n);
  const globalOk = new Int8Array(n); // 0 unknown, 1 ok, -1 capped
  for (let s = 0; s < n; s++) {
    const st = schedule.status[s];
    if (st === SLOT_OUTSIDE_WINDOW) slotCode[s] = OUTSIDE_WINDOW;
    else if (st === SLOT_BEYOND_HORIZON) slotCode[s] = BEYOND_HORIZON;
    else if (quiet && isQuietMinute(schedule.localMinute[s], quiet)) slotCode[s] = QUIET_HOURS;
  }

  const allowed = new Uint8Array(layout.armCount);
  const reasonCodes = new Uint8Array(layout.armCount);
  let allowedCount = 0;
  for (let c = 0; c < CHANNELS.length; c++) {
    const channel = CHANNELS[c];
    const blocked = channelBlock(user, channel, request, config, reachable);
    const channelCap = caps.perChannel[channel];
    const channelSends = recentSends?.[channel] ?? [];
    for (let s = 0; s < n; s++) {
      const arm = c * n + s;
      let reason = blocked ? code(blocked) : slotCode[s];
      if (reason === ALLOWED) {
        const at = schedule.sendAtMs[s];
        if (channelCap && !capAllows(channelSends, at, channelCap)) reason = FREQUENCY_CAP_CHANNEL;
        else {
          if (globalOk[s] === 0) globalOk[s] = capAllows(global, at, caps.global) ? 1 : -1;
          if (globalOk[s] < 0) reason = FREQUENCY_CAP_GLOBAL;
        }
      }
      reasonCodes[arm] = reason;
      if (reason === ALLOWED) {
        allowed[arm] = 1;
        allowedCount++;
      }
    }
  }
  return { layout, schedule, timeZone, allowed, reasonCodes, allowedCount };
}

/**
 * Why an arm is masked, or undefined when it is allowed.
 * @example armBlockReason(mask, 5) // 'quiet_hours'
 */
export function armBlockReason(mask: ArmMask, arm: number): ArmBlockReason | undefined {
  const c = mask.reasonCodes[arm];
  return c === ALLOWED ? undefined : ARM_BLOCK_REASONS[c - 1];
}

/**
 * Counts masked arms by reason, for a `no_arm` result and its log line.
 * @example summariseBlocks(mask) // { kind: 'no_arm', reasons: { quiet_hours: 30, no_consent: 48 } }
 */
export function summariseBlocks(mask: ArmMask): NoArm {
  const reasons: Partial<Record<ArmBlockReason, number>> = {};
  for (const c of mask.reasonCodes) {
    if (c === ALLOWED) continue;
    const r = ARM_BLOCK_REASONS[c - 1];
    reasons[r] = (reasons[r] ?? 0) + 1;
  }
  return { kind: 'no_arm', reasons };
}

/**
 * Dispatch-time re-check of one send: consents, suppressions, caps or config may have changed since the decision.
 * `recentSends` must not include the send being checked. The horizon is not re-checked (a late sweeper
 * may dispatch after it), the request window is.
 * @example
 *   const check = checkSendAllowed(user, 'sms', Date.now(), request, recentSends, config);
 *   if (!check.allowed) log.info('send stopped', { reason: check.reason });
 */
export function checkSendAllowed(
  user: UserState,
  channel: ChannelName,
  sendAtMs: number,
  request: DeliveryRequest,
  recentSends: RecentSends | undefined,
  config: AnalystConfig,
  options: { reachable?: readonly ChannelName[] } = {},
): SendCheck {
  const refuse = (reason: ArmBlockReason): SendCheck => ({ allowed: false, reason });
  const blocked = channelBlock(user, channel, request, config, options.reachable);
  if (blocked) return refuse(blocked);
  if (!(sendAtMs >= request.window.notBeforeMs && sendAtMs <= request.window.notAfterMs)) {
    return refuse('outside_window');
  }
  if (quietHoursApply(request)) {
    const zone = resolveTimeZone(user.timeZone, config.guardrails.defaultTimeZone);
    const lt = localTime(sendAtMs, zone);
    if (isQuietMinute(lt.hour * 60 + lt.minute, quietHoursFor(user, config))) return refuse('quiet_hours');
  }
  const caps = config.guardrails.frequencyCaps;
  const channelCap = caps.perChannel[channel];
  if (channelCap && !capAllows(recentSends?.[channel] ?? [], sendAtMs, channelCap)) {
    return refuse('frequency_cap_channel');
  }
  if (!capAllows(allSends(recentSends), sendAtMs, caps.global)) return refuse('frequency_cap_global');
  return { allowed: true };
}
