/**
 * An independent check of every send the simulator is about to make, written from the product's promise
 * rather than from model/guardrails.ts: never outside the request's window, never in the user's quiet
 * hours, never past a frequency cap, never on a channel the user cannot receive or the request does not
 * allow. A send that fails it is a breach: the simulator refuses it and counts it (the count must be 0).
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { TRANSACTIONAL_KIND } from '#model/guardrails.ts';
import { canReceive, type UserState } from '#model/user-state.ts';
import { HOUR_MS, MINUTE_MS, type ZoneClock } from './truth.ts';

export type BreachKind = 'outside_window' | 'quiet_hours' | 'frequency_cap' | 'channel_not_allowed' | 'cannot_receive';

export interface AuditedSend {
  channel: ChannelName;
  sendAtMs: number;
  window: { notBeforeMs: number; notAfterMs: number };
  allowedChannels: readonly ChannelName[];
  kind: string;
  ignoreQuietHours: boolean;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/**
 * Whether a local minute of the day falls in quiet hours [start, end), which may wrap midnight.
 * @example inQuietHours(22 * 60, { start: '21:00', end: '08:00' }) // true
 */
export function inQuietHours(minuteOfDay: number, quiet: { start: string; end: string }): boolean {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  return start < end ? minuteOfDay >= start && minuteOfDay < end : minuteOfDay >= start || minuteOfDay < end;
}

/**
 * The guardrails a send would break, none when it may go.
 * `pastSends` are the other sends to this user that count against caps: made, and (at decision time) scheduled.
 * @example auditSend(config, clock, state, otherSends, send) // [] or ['quiet_hours']
 */
export function auditSend(
  config: AnalystConfig,
  clock: ZoneClock,
  state: UserState,
  pastSends: readonly { channel: ChannelName; atMs: number }[],
  send: AuditedSend,
): BreachKind[] {
  const breaches: BreachKind[] = [];
  if (send.sendAtMs < send.window.notBeforeMs || send.sendAtMs > send.window.notAfterMs)
    breaches.push('outside_window');
  if (!send.allowedChannels.includes(send.channel) || !config.channels[send.channel].enabled) {
    breaches.push('channel_not_allowed');
  }
  if (!canReceive(state, send.channel)) breaches.push('cannot_receive');
  // Only a transactional request may ask to skip quiet hours (the product's rule, see TRANSACTIONAL_KIND).
  if (!(send.ignoreQuietHours && send.kind === TRANSACTIONAL_KIND)) {
    const zone = state.timeZone ?? config.guardrails.defaultTimeZone;
    const localMs = send.sendAtMs + clock.offsetMinutes(zone, send.sendAtMs) * MINUTE_MS;
    const minuteOfDay = Math.floor((((localMs % 86_400_000) + 86_400_000) % 86_400_000) / MINUTE_MS);
    if (inQuietHours(minuteOfDay, state.quietHours ?? config.guardrails.quietHours)) breaches.push('quiet_hours');
  }
  const caps = config.guardrails.frequencyCaps;
  let capped = !capHolds(
    pastSends.map((s) => s.atMs),
    send.sendAtMs,
    caps.global,
  );
  const channelCap = caps.perChannel[send.channel];
  if (channelCap) {
    const same = pastSends.filter((s) => s.channel === send.channel).map((s) => s.atMs);
    if (!capHolds(same, send.sendAtMs, channelCap)) capped = true;
  }
  if (capped) breaches.push('frequency_cap');
  return breaches;
}

/**
 * Whether every window of `perHours` (half-open, [a, a + perHours)) that contains the new send holds at
 * most `maxSends` sends, the new one included. Sends may lie before or after it (scheduled ones).
 * Written plainly rather than fast: it is the second opinion on model/guardrails.ts capAllows.
 * @example capHolds([t, t + HOUR_MS], t + 2 * HOUR_MS, { maxSends: 2, perHours: 24 }) // false
 */
export function capHolds(sends: readonly number[], atMs: number, cap: { maxSends: number; perHours: number }): boolean {
  const span = cap.perHours * HOUR_MS;
  const all = [...sends, atMs];
  // The fullest window containing atMs can be taken to start at one of the sends in (atMs - span, atMs].
  for (const start of all) {
    if (start <= atMs - span || start > atMs) continue;
    const inWindow = all.filter((t) => t >= start && t < start + span).length;
    if (inWindow > cap.maxSends) return false;
  }
  return true;
}
