/**
 * Per-user engagement features, kept up to date event by event, with exponential decay.
 *
 * Every decayed quantity is stored as its value at a reference instant `decayRefMs`:
 * S(ref) = sum_i w_i * 2^(-(ref - t_i) / halfLife). Adding an event later than `ref` decays the
 * stored values to the event's time and moves `ref` forward; adding an earlier (late-arriving) event
 * adds its weight decayed to `ref`. Either way the result is the same whatever order events arrive in,
 * which is what makes redelivery and out-of-order batches safe (up to floating-point rounding).
 *
 * Pure: no AWS, no clock. Used by the ingest Lambda, the simulator and the feature builder alike.
 */
import type { ChannelName } from '#config/schema.ts';
import { localTime } from './local-time.ts';

export const HOURS_PER_WEEK = 168;
export const CHANNELS: readonly ChannelName[] = ['email', 'push', 'sms'];

export interface ChannelStats {
  /** decayed count of notifications delivered on this channel */
  sends: number;
  /** decayed count of opens of those notifications */
  opens: number;
  /** decayed count of clicks */
  clicks: number;
}

export type SuppressionReason = 'unsubscribed' | 'bounced' | 'complained';

export interface ChannelConsent {
  /** explicit opt-in state from the last profile upsert; undefined = never stated */
  optedIn?: boolean;
  /** set when an unsubscribe, permanent bounce or complaint turned the channel off */
  suppressed?: SuppressionReason;
  /** event time (ms) of the last consent or suppression change; older events do not override newer ones */
  changedAtMs?: number;
}

export interface UserState {
  userId: string;
  timeZone?: string;
  /** the user's own quiet hours, overriding the config default */
  quietHours?: { start: string; end: string };
  consent: Record<ChannelName, ChannelConsent>;
  firstSeenMs?: number;
  lastActiveMs?: number;
  /** reference instant of every decayed quantity below */
  decayRefMs: number;
  /** decayed engagement (app opens, notification opens and clicks) by local hour of week, Monday 00:00 = 0 */
  engagementByHourOfWeek: number[];
  channels: Record<ChannelName, ChannelStats>;
}

/** What the engagement and profile events mean to the features; a structural subset of the event contract. */
export type StateEvent =
  | { type: 'app_opened'; occurredAt: string; timeZone?: string }
  | {
      type: 'notification_delivered' | 'notification_opened' | 'notification_clicked' | 'notification_dismissed';
      occurredAt: string;
      channel: ChannelName;
      timeZone?: string;
    }
  | { type: 'unsubscribed' | 'complained'; occurredAt: string; channel: ChannelName; timeZone?: string }
  | {
      type: 'bounced';
      occurredAt: string;
      channel: ChannelName;
      bounceType: 'permanent' | 'transient';
      timeZone?: string;
    }
  | { type: 'converted'; occurredAt: string; timeZone?: string }
  | {
      type: 'profile_upserted';
      occurredAt: string;
      timeZone?: string;
      consents?: Partial<Record<ChannelName, boolean>>;
      email?: string;
      phone?: string;
      pushEndpointArn?: string;
      quietHours?: { start: string; end: string };
    };

export interface DecayOptions {
  halfLifeDays: number;
  /** zone used for hour-of-week when neither the event nor the user has one */
  defaultTimeZone: string;
}

/** A user never seen before. */
export function emptyUserState(userId: string): UserState {
  return {
    userId,
    consent: { email: {}, push: {}, sms: {} },
    decayRefMs: 0,
    engagementByHourOfWeek: new Array(HOURS_PER_WEEK).fill(0),
    channels: {
      email: { sends: 0, opens: 0, clicks: 0 },
      push: { sends: 0, opens: 0, clicks: 0 },
      sms: { sends: 0, opens: 0, clicks: 0 },
    },
  };
}

function halfLifeMs(opts: DecayOptions): number {
  return opts.halfLifeDays * 86_400_000;
}

/** Factor by which a quantity recorded at `fromMs` has decayed at `toMs`. */
export function decayFactor(fromMs: number, toMs: number, opts: DecayOptions): number {
  return 2 ** (-(toMs - fromMs) / halfLifeMs(opts));
}

/** Moves the reference instant forward to `toMs`, decaying every stored quantity (no-op for earlier times). */
export function decayTo(state: UserState, toMs: number, opts: DecayOptions): void {
  if (toMs <= state.decayRefMs) return;
  if (state.decayRefMs === 0) {
    state.decayRefMs = toMs;
    return;
  }
  const f = decayFactor(state.decayRefMs, toMs, opts);
  const h = state.engagementByHourOfWeek;
  for (let i = 0; i < h.length; i++) h[i] *= f;
  for (const c of CHANNELS) {
    const s = state.channels[c];
    s.sends *= f;
    s.opens *= f;
    s.clicks *= f;
  }
  state.decayRefMs = toMs;
}

/** Weight of an event that happened at `atMs`, expressed at the state's reference instant (after decayTo). */
function weightAtRef(state: UserState, atMs: number, opts: DecayOptions): number {
  return atMs >= state.decayRefMs ? 1 : decayFactor(atMs, state.decayRefMs, opts);
}

function applyConsent(state: UserState, channel: ChannelName, atMs: number, change: (c: ChannelConsent) => void): void {
  const c = state.consent[channel];
  if (c.changedAtMs !== undefined && c.changedAtMs > atMs) return; // a newer change already won
  change(c);
  c.changedAtMs = atMs;
}

/**
 * Applies one event to a user's state in place. Order-independent for the decayed counts;
 * consent changes follow the latest event time (last writer wins by occurredAt, not by arrival).
 * @example
 *   const s = emptyUserState('u1');
 *   applyEvent(s, { type: 'app_opened', occurredAt: '2026-11-23T08:05:00Z' }, { halfLifeDays: 14, defaultTimeZone: 'UTC' });
 *   s.engagementByHourOfWeek[24 * 0 + 8] // 1 (a Monday, 08:00 UTC)
 */
export function applyEvent(state: UserState, event: StateEvent, opts: DecayOptions): void {
  const atMs = Date.parse(event.occurredAt);
  if (Number.isNaN(atMs)) throw new RangeError(`occurredAt is not a date: ${event.occurredAt}`);
  if (event.type === 'profile_upserted') {
    applyProfile(state, event, atMs);
    return;
  }
  if (event.timeZone && !state.timeZone) state.timeZone = event.timeZone;
  state.firstSeenMs = Math.min(state.firstSeenMs ?? atMs, atMs);
  decayTo(state, atMs, opts);
  const w = weightAtRef(state, atMs, opts);
  const zone = event.timeZone ?? state.timeZone ?? opts.defaultTimeZone;
  const addEngagement = () => {
    state.engagementByHourOfWeek[localTime(atMs, zone).hourOfWeek] += w;
    state.lastActiveMs = Math.max(state.lastActiveMs ?? atMs, atMs);
  };
  switch (event.type) {
    case 'app_opened':
      addEngagement();
      break;
    case 'notification_delivered':
      state.channels[event.channel].sends += w;
      break;
    case 'notification_opened':
      state.channels[event.channel].opens += w;
      addEngagement();
      break;
    case 'notification_clicked':
      state.channels[event.channel].clicks += w;
      addEngagement();
      break;
    case 'notification_dismissed':
    case 'converted':
      break;
    case 'unsubscribed':
    case 'complained':
      applyConsent(state, event.channel, atMs, (c) => {
        c.suppressed = event.type;
        c.optedIn = false;
      });
      break;
    case 'bounced':
      if (event.bounceType === 'permanent') {
        applyConsent(state, event.channel, atMs, (c) => {
          c.suppressed = 'bounced';
        });
      }
      break;
  }
}

function applyProfile(state: UserState, event: Extract<StateEvent, { type: 'profile_upserted' }>, atMs: number): void {
  state.firstSeenMs = Math.min(state.firstSeenMs ?? atMs, atMs);
  if (event.timeZone) state.timeZone = event.timeZone;
  if (event.quietHours) state.quietHours = event.quietHours;
  for (const channel of CHANNELS) {
    const optedIn = event.consents?.[channel];
    if (optedIn !== undefined) {
      applyConsent(state, channel, atMs, (c) => {
        c.optedIn = optedIn;
        // An explicit opt-in after an unsubscribe or complaint is the user asking back in.
        if (optedIn && (c.suppressed === 'unsubscribed' || c.suppressed === 'complained')) c.suppressed = undefined;
      });
    }
  }
  // A new address or endpoint is what ends a permanent bounce.
  const newEndpoint: Partial<Record<ChannelName, unknown>> = {
    email: event.email,
    sms: event.phone,
    push: event.pushEndpointArn,
  };
  for (const channel of CHANNELS) {
    if (newEndpoint[channel] !== undefined && state.consent[channel].suppressed === 'bounced') {
      applyConsent(state, channel, atMs, (c) => {
        c.suppressed = undefined;
      });
    }
  }
}

/** Whether the user can receive this channel now: opted in and not suppressed. */
export function canReceive(state: UserState, channel: ChannelName): boolean {
  const c = state.consent[channel];
  return c.optedIn === true && c.suppressed === undefined;
}

/** A copy of the state with every decayed quantity expressed at `nowMs` (for features). */
export function decayedView(state: UserState, nowMs: number, opts: DecayOptions): UserState {
  const copy = structuredClone(state);
  decayTo(copy, nowMs, opts);
  return copy;
}
