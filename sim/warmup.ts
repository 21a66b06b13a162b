/**
 * The history users bring to day 0: the app sessions of the warm-up days and the notifications the
 * product sent them before any policy under test (legacy campaigns), all fed through applyEvent.
 * It is the same for every policy, so it is built once per seed and copied into each world.
 */
import type { ChannelName } from '#config/schema.ts';
import type { IngestEvent } from '#events/ingest-event.ts';
import type { ProfileUpsert } from '#events/profile.ts';
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
 * With `log`, also records the sessions and legacy sends it applied (for warmupEvents).
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

/** Id of the decision and delivery event of a user's i-th legacy send (warmupEvents). */
export function legacyDecisionId(user: Pick<UserTruth, 'index'>, i: number): string {
  return `legacy-${user.index}-${i}`;
}

export interface WarmupEventOptions {
  /** put legacyDecisionId on each delivery and its outcomes (default true); false: a real legacy log's shape */
  decisionIds?: boolean;
  /** more fields of the arrival profile (contact endpoints, quiet hours) */
  profile?: Partial<Omit<ProfileUpsert, 'schemaVersion' | 'id' | 'type' | 'userId' | 'occurredAt'>>;
}

/**
 * A user's warm-up history as a deployment's event log holds it (the IngestEvent contract): the arrival
 * profile, the app sessions, each legacy send's delivery and the outcomes it led to before day 0. The
 * simulator knows which send each outcome belongs to, so by default the delivery and its outcomes carry a
 * decisionId (legacyDecisionId) and pretrainRows attributes them exactly; a real legacy log has none
 * (`decisionIds: false`), and pretrainRows then falls back to the nearest preceding delivery on the channel
 * (model/pretrain.ts), which scores about 1% of the default population's warm-up sends differently.
 * @example pretrainRows(warmupEvents(user, log), config, { endMs: startMs })
 */
export function warmupEvents(user: UserTruth, log: WarmupLog, options: WarmupEventOptions = {}): IngestEvent[] {
  const events: IngestEvent[] = [
    {
      schemaVersion: 1,
      id: `profile-${user.index}`,
      type: 'profile_upserted',
      userId: user.userId,
      occurredAt: iso(user.arrivalMs),
      timeZone: user.zone,
      consents: { ...user.reachable },
      ...options.profile,
    },
  ];
  for (const [i, t] of log.sessions.entries()) {
    events.push({
      schemaVersion: 1,
      id: `s-${user.index}-h${i}`,
      type: 'app_opened',
      userId: user.userId,
      occurredAt: iso(t),
    });
  }
  const withIds = options.decisionIds ?? true;
  for (const [i, send] of log.sends.entries()) {
    const id = legacyDecisionId(user, i);
    const base = {
      schemaVersion: 1 as const,
      userId: user.userId,
      channel: send.channel,
      ...(withIds && { decisionId: id }),
    };
    events.push({ ...base, id, type: 'notification_delivered', occurredAt: iso(send.atMs) });
    for (const [j, o] of send.outcomes.entries()) {
      events.push({ ...base, id: `${id}-${j}`, type: o.type, occurredAt: iso(o.atMs) });
    }
  }
  return events;
}

/** The history every policy starts with: what a deployment would pretrain the bandit on (sim/bandit.ts). */
export interface WarmupHistory {
  /** every warm-up user's events (warmupEvents), built on each call */
  events(): Iterable<IngestEvent>;
  /** end of the log: day 0 (outcomes after it are not in it) */
  endMs: number;
  /** the kind of a legacy send, by its decisionId (the event contract has no kind) */
  kindOf(decisionId: string | undefined): string | undefined;
}

/**
 * The warm-up logs of a seed as one history.
 * @example const history = warmupHistory(logs, simulationStartMs(population));
 */
export function warmupHistory(logs: ReadonlyMap<UserTruth, WarmupLog>, endMs: number): WarmupHistory {
  const kinds = new Map<string, string>();
  for (const [user, log] of logs) {
    for (const [i, send] of log.sends.entries()) kinds.set(legacyDecisionId(user, i), send.kind);
  }
  return {
    *events() {
      for (const [user, log] of logs) yield* warmupEvents(user, log);
    },
    endMs,
    kindOf: (decisionId) => (decisionId === undefined ? undefined : kinds.get(decisionId)),
  };
}
