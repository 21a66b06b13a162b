/**
 * The history users bring to day 0: the app sessions of the warm-up days and the notifications the
 * product sent them before any policy under test (legacy campaigns), all fed through applyEvent.
 * It is the same for every policy, so it is built once per seed and copied into each world.
 */
import type { ChannelName } from '#config/schema.ts';
import type { Rng } from '#model/random.ts';
import { applyEvent, type DecayOptions, emptyUserState, type UserState } from '#model/user-state.ts';
import { logNormal, poisson } from './math.ts';
import type { Population } from './population.ts';
import type { Timeline } from './timeline.ts';
import {
  type AffinityTable,
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  responseProbabilities,
  simulationStartMs,
  type UserTruth,
  type ZoneClock,
} from './truth.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A user's state at arrival: the profile upsert a producer sends (time zone and consents).
 * @example arrivalState(truth, { halfLifeDays: 14, defaultTimeZone: 'UTC' }).consent.email.optedIn
 */
export function arrivalState(user: UserTruth, decay: DecayOptions): UserState {
  const state = emptyUserState(user.userId);
  applyEvent(
    state,
    { type: 'profile_upserted', occurredAt: iso(user.arrivalMs), timeZone: user.zone, consents: { ...user.reachable } },
    decay,
  );
  return state;
}

export interface WarmupContext {
  population: Population;
  decay: DecayOptions;
  rng: Rng;
  clock: ZoneClock;
  affinity: AffinityTable;
  timeline: Timeline;
}

/** A local time of day 09:00-20:59 on that UTC day, the way legacy campaigns were scheduled. */
function legacySendTime(rng: Rng, clock: ZoneClock, zone: string, dayStart: number): number {
  let t = dayStart + Math.floor(rng.next() * DAY_MS);
  for (let i = 0; i < 24; i++) {
    const hour = clock.hourOfWeek(zone, t) % 24;
    if (hour >= 9 && hour < 21) return t;
    t = dayStart + Math.floor(rng.next() * DAY_MS);
  }
  return t;
}

/**
 * The state of a day-0 user after their warm-up history (cold-start users: just their profile).
 * @example const state = warmedUpState(user, ctx);
 */
export function warmedUpState(user: UserTruth, ctx: WarmupContext): UserState {
  const { population, decay, clock, timeline } = ctx;
  const state = arrivalState(user, decay);
  if (!user.hasHistory) return state;
  const startMs = simulationStartMs(population);
  const apply = (
    type: 'notification_delivered' | 'notification_opened' | 'notification_clicked' | 'unsubscribed',
    atMs: number,
    channel: ChannelName,
  ) => {
    if (atMs < startMs) applyEvent(state, { type, occurredAt: iso(atMs), channel }, decay);
  };
  const kinds = population.requests.kinds;
  const kindWeights = kinds.map((k) => k.weight);
  const sent: number[] = [];
  for (let d = -population.coldStart.warmupDays; d < 0; d++) {
    for (const t of timeline.sessions(user, d)) applyEvent(state, { type: 'app_opened', occurredAt: iso(t) }, decay);
    const rng = ctx.rng.fork(`warmup/${user.index}/${d}`);
    const n = poisson(rng, population.coldStart.warmupNotificationsPerDay);
    const dayStart = startMs + d * DAY_MS;
    for (let i = 0; i < n; i++) {
      const kind = kinds[rng.categorical(kindWeights)];
      const channels = kind.allowedChannels.filter(
        (c) => user.reachable[c] && state.consent[c].suppressed === undefined,
      );
      if (!channels.length) continue;
      const channel = channels[rng.int(channels.length)];
      const atMs = legacySendTime(rng, clock, user.zone, dayStart);
      const recentSends = sent.filter((s) => s > atMs - population.fatigue.windowHours * HOUR_MS && s < atMs).length;
      sent.push(atMs);
      const p = responseProbabilities(population, ctx.affinity, user, {
        channel,
        kind: kind.kind,
        hourOfWeek: clock.hourOfWeek(user.zone, atMs),
        recentSends,
      });
      const spec = population.channels[channel];
      apply('notification_delivered', atMs, channel);
      if (rng.next() < p.open) {
        const openAt =
          atMs +
          Math.max(1, Math.round(logNormal(spec.openDelay.medianMinutes, spec.openDelay.sigma, rng.normal()))) *
            MINUTE_MS;
        apply('notification_opened', openAt, channel);
        if (rng.next() < p.clickGivenOpen) {
          const after = logNormal(spec.clickDelay.medianMinutes, spec.clickDelay.sigma, rng.normal());
          apply('notification_clicked', openAt + Math.max(1, Math.round(after)) * MINUTE_MS, channel);
        }
      }
      if (rng.next() < p.unsubscribe) {
        const after = logNormal(spec.unsubscribeDelay.medianMinutes, spec.unsubscribeDelay.sigma, rng.normal());
        apply('unsubscribed', atMs + Math.max(1, Math.round(after)) * MINUTE_MS, channel);
      }
    }
  }
  return state;
}
