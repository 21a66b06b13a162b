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
import type { OutcomeEvent } from './reward.ts';
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

/** One legacy notification of the warm-up history, with what it led to (before day 0 only). */
export interface LegacySend {
  atMs: number;
  channel: ChannelName;
  kind: string;
  /** outcome events that happened before day 0, in the order drawn */
  outcomes: { type: OutcomeEvent; atMs: number }[];
}

/** What a user did before day 0, as a deployment's event log would hold it. */
export interface WarmupLog {
  sessions: number[];
  sends: LegacySend[];
}

/**
 * The state of a day-0 user after their warm-up history (cold-start users: just their profile).
 * With `log`, also records the sessions and legacy sends it applied (for replayWarmup).
 * @example const state = warmedUpState(user, ctx);
 */
export function warmedUpState(user: UserTruth, ctx: WarmupContext, log?: WarmupLog): UserState {
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
    if (log && atMs < startMs && type !== 'notification_delivered')
      log.sends[log.sends.length - 1].outcomes.push({ type, atMs });
  };
  const kinds = population.requests.kinds;
  const kindWeights = kinds.map((k) => k.weight);
  const sent: number[] = [];
  for (let d = -population.coldStart.warmupDays; d < 0; d++) {
    for (const t of timeline.sessions(user, d)) {
      applyEvent(state, { type: 'app_opened', occurredAt: iso(t) }, decay);
      log?.sessions.push(t);
    }
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
      if (log && atMs < startMs) log.sends.push({ atMs, channel, kind: kind.kind, outcomes: [] });
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

/** A legacy send as a decision log replays it: the user's state just before it, and its outcome. */
export interface ReplayedSend {
  /** the user's observed state at the send (live: read it before the iteration moves on) */
  user: UserState;
  send: LegacySend;
  /** earlier legacy sends to this user, per channel (what frequency caps and fatigue would see) */
  recentSends: Record<ChannelName, number[]>;
  /** end of the log (day 0): outcomes after it are not in it */
  logEndMs: number;
}

/**
 * Replays a user's warm-up log in time order from their arrival state, yielding at each legacy send the
 * state as it was then (sessions and outcomes strictly before the send): the context the send's decision
 * would have had, for learning from the history that every policy starts with.
 * @example for (const r of replayWarmup(user, log, decay)) rows.push(featuresOf(r.user, r.send));
 */
export function* replayWarmup(
  user: UserTruth,
  log: WarmupLog,
  decay: DecayOptions,
  logEndMs: number,
): Generator<ReplayedSend> {
  const state = arrivalState(user, decay);
  type Item = { atMs: number; apply: () => void } | { atMs: number; send: LegacySend };
  const items: Item[] = [];
  for (const t of log.sessions) {
    items.push({ atMs: t, apply: () => applyEvent(state, { type: 'app_opened', occurredAt: iso(t) }, decay) });
  }
  for (const send of log.sends) {
    items.push({ atMs: send.atMs, send });
    for (const o of send.outcomes) {
      items.push({
        atMs: o.atMs,
        apply: () => applyEvent(state, { type: o.type, occurredAt: iso(o.atMs), channel: send.channel }, decay),
      });
    }
  }
  // Stable sort: at equal instants the order of the log is kept.
  items.sort((a, b) => a.atMs - b.atMs);
  const recentSends: Record<ChannelName, number[]> = { email: [], push: [], sms: [] };
  for (const item of items) {
    if ('send' in item) {
      yield { user: state, send: item.send, recentSends, logEndMs };
      applyEvent(
        state,
        { type: 'notification_delivered', occurredAt: iso(item.atMs), channel: item.send.channel },
        decay,
      );
      recentSends[item.send.channel].push(item.atMs);
    } else item.apply();
  }
}
