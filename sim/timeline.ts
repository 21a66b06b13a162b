/**
 * What happens in the simulated world whatever the policies do: users arrive, open the app, and
 * producers ask for notifications. Every draw comes from a fork keyed by (what, user, day), so the
 * same seed gives the same timeline to every policy and in every run.
 */
import type { ChannelName } from '#config/schema.ts';
import type { Rng } from '#model/random.ts';
import { poisson } from './math.ts';
import type { Population } from './population.ts';
import { DAY_MS, HOUR_MS, simulationStartMs, type UserTruth, type ZoneClock } from './truth.ts';

/** A notification request as a producer sends it (the world's, not a policy's, view). */
export interface SimRequest {
  /** stable across policies and runs: the key of its common random numbers */
  id: string;
  userIndex: number;
  kind: string;
  arrivalMs: number;
  window: { notBeforeMs: number; notAfterMs: number };
  allowedChannels: ChannelName[];
  ignoreQuietHours: boolean;
  /** simulated day of arrival (0-based), for the reward-by-day curve */
  day: number;
}

export type WorldEvent =
  | { type: 'arrival'; atMs: number; user: UserTruth }
  | { type: 'session'; atMs: number; user: UserTruth }
  | { type: 'request'; atMs: number; request: SimRequest };

/** Local hour of week of each UTC hour of a day, per zone; sessions need it for every user and day. */
class DayHours {
  private readonly cache = new Map<string, Int16Array>();
  constructor(private readonly clock: ZoneClock) {}

  get(zone: string, dayStartMs: number): Int16Array {
    const key = `${zone}/${dayStartMs}`;
    let hours = this.cache.get(key);
    if (!hours) {
      hours = new Int16Array(24);
      for (let h = 0; h < 24; h++) hours[h] = this.clock.hourOfWeek(zone, dayStartMs + h * HOUR_MS);
      this.cache.set(key, hours);
      if (this.cache.size > 4096) this.cache.delete(this.cache.keys().next().value as string);
    }
    return hours;
  }
}

/** Generates the policy-independent events of the world, one simulated day at a time. */
export class Timeline {
  private readonly dayHours: DayHours;
  private readonly startMs: number;
  private readonly kindWeights: number[];

  constructor(
    private readonly population: Population,
    private readonly worldRng: Rng,
    clock: ZoneClock,
  ) {
    this.dayHours = new DayHours(clock);
    this.startMs = simulationStartMs(population);
    this.kindWeights = population.requests.kinds.map((k) => k.weight);
  }

  /**
   * App sessions of one user on one simulated day (negative days are the warm-up), in time order.
   * @example timeline.sessions(user, -3) // [1762...., ...]
   */
  sessions(user: UserTruth, day: number): number[] {
    if (user.sessionsPerDay <= 0) return [];
    const dayStart = this.startMs + day * DAY_MS;
    if (dayStart + DAY_MS <= user.arrivalMs) return [];
    const rng = this.worldRng.fork(`sessions/${user.index}/${day}`);
    const hours = this.dayHours.get(user.zone, dayStart);
    const rates = new Float64Array(24);
    let total = 0;
    for (let h = 0; h < 24; h++) {
      // sessionShare is per hour of week: 7x it is the share of a day's sessions in that hour.
      rates[h] = 7 * user.sessionsPerDay * user.sessionShare[hours[h]];
      total += rates[h];
    }
    const n = poisson(rng, total);
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = dayStart + rng.categorical(rates) * HOUR_MS + Math.floor(rng.next() * HOUR_MS);
      if (t >= user.arrivalMs) times.push(t);
    }
    return times.sort((a, b) => a - b);
  }

  /**
   * Notification requests for one user on one simulated day.
   * @example timeline.requests(user, 0)[0].window // { notBeforeMs, notAfterMs }
   */
  requests(user: UserTruth, day: number): SimRequest[] {
    const dayStart = this.startMs + day * DAY_MS;
    if (dayStart + DAY_MS <= user.arrivalMs) return [];
    const rng = this.worldRng.fork(`requests/${user.index}/${day}`);
    const n = poisson(rng, this.population.requests.perUserPerDay);
    const out: SimRequest[] = [];
    for (let i = 0; i < n; i++) {
      const spec = this.population.requests.kinds[rng.categorical(this.kindWeights)];
      const from = spec.arrivalUtcHours?.start ?? 0;
      const to = spec.arrivalUtcHours?.end ?? 24;
      const arrivalMs = dayStart + from * HOUR_MS + Math.floor(rng.next() * (to - from) * HOUR_MS);
      const windowHours = spec.windowHours.min + rng.next() * (spec.windowHours.max - spec.windowHours.min);
      if (arrivalMs < user.arrivalMs) continue;
      out.push({
        id: `${user.index}/${day}/${i}`,
        userIndex: user.index,
        kind: spec.kind,
        arrivalMs,
        window: { notBeforeMs: arrivalMs, notAfterMs: arrivalMs + Math.round(windowHours * HOUR_MS) },
        allowedChannels: [...spec.allowedChannels],
        ignoreQuietHours: spec.ignoreQuietHours,
        day,
      });
    }
    return out;
  }

  /**
   * All world events of a simulated day for these users (including arrivals of `newcomers`), in time order.
   * @example for (const e of timeline.day(3, users, newcomers)) ...
   */
  day(day: number, users: readonly UserTruth[], newcomers: readonly UserTruth[]): WorldEvent[] {
    const events: WorldEvent[] = [];
    for (const user of newcomers) events.push({ type: 'arrival', atMs: user.arrivalMs, user });
    for (const user of users) {
      for (const atMs of this.sessions(user, day)) events.push({ type: 'session', atMs, user });
      for (const request of this.requests(user, day))
        events.push({ type: 'request', atMs: request.arrivalMs, request });
    }
    // Stable order for equal times: arrivals first (a newcomer's own events cannot precede it), then by insertion.
    const rank = { arrival: 0, session: 1, request: 2 } as const;
    return events
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.atMs - b.e.atMs || rank[a.e.type] - rank[b.e.type] || a.i - b.i)
      .map(({ e }) => e);
  }
}
