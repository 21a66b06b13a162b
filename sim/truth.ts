/**
 * The hidden truth of each simulated user, drawn from the population deterministically from the seed,
 * and the response model every policy is judged by (the oracle reads it; no other policy may).
 *
 * Open probability of a send on channel c, of kind k, at local hour of week H, after n sends in the
 * fatigue window:
 *   pOpen = clamp(open[c] * affinity[k][c] * (1 + timeSensitivity[c] * (response[H] - 1)) * responsePerSend^n)
 *   pClick | open = clickGivenOpen[c]
 *   pUnsubscribe = unsubscribePerSend[c] * (1 + unsubscribeGrowthPerSend * n)
 * `response` has mean 1 over the week, so open[c] is the user's open rate at an average hour.
 */
import { CHANNEL_NAMES, type ChannelName } from '#config/schema.ts';
import { localTime } from '#model/local-time.ts';
import type { Rng } from '#model/random.ts';
import { HOURS_PER_WEEK } from '#model/user-state.ts';
import { logit, logNormal, poisson, sigmoid } from './math.ts';
import type { Population } from './population.ts';
import type { OutcomeEvent } from './reward.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface UserTruth {
  index: number;
  userId: string;
  zone: string;
  /** when the user first appears (their profile upsert) */
  arrivalMs: number;
  /** false for cold-start users: no app-session history before they arrive */
  hasHistory: boolean;
  /** response multiplier by local hour of week (Monday 00:00 = 0), mean 1 */
  response: Float64Array;
  /** share of the user's app sessions in each local hour of week, sums to 1 */
  sessionShare: Float64Array;
  sessionsPerDay: number;
  reachable: Record<ChannelName, boolean>;
  /** open probability at an average hour, before kind affinity and fatigue */
  open: Record<ChannelName, number>;
  clickGivenOpen: Record<ChannelName, number>;
}

/** Local hour of week of instants in a few zones, with the UTC offset cached per zone and UTC hour. */
export class ZoneClock {
  private readonly offsets = new Map<string, Map<number, number>>();

  /** Offset of local time from UTC in minutes at this instant. */
  offsetMinutes(zone: string, atMs: number): number {
    let byHour = this.offsets.get(zone);
    if (!byHour) {
      byHour = new Map();
      this.offsets.set(zone, byHour);
    }
    const hour = Math.floor(atMs / HOUR_MS);
    let offset = byHour.get(hour);
    if (offset === undefined) {
      // Zones change offset on UTC hour boundaries, so one lookup per zone and hour is exact.
      offset = localTime(hour * HOUR_MS, zone).offsetMinutes;
      byHour.set(hour, offset);
    }
    return offset;
  }

  /**
   * Local hour of week (Monday 00:00 = 0) of an instant.
   * @example new ZoneClock().hourOfWeek('Europe/Berlin', Date.parse('2026-11-02T07:30:00Z')) // 8 (Monday 08:30)
   */
  hourOfWeek(zone: string, atMs: number): number {
    const localMs = atMs + this.offsetMinutes(zone, atMs) * MINUTE_MS;
    // 1970-01-01 was a Thursday: day 3 when Monday is 0.
    const day = (Math.floor(localMs / DAY_MS) + 3) % 7;
    const hour = Math.floor((localMs % DAY_MS) / HOUR_MS);
    return day * 24 + hour;
  }
}

/** Epoch ms of simulated day 0, 00:00 UTC. */
export function simulationStartMs(population: Population): number {
  return Date.parse(`${population.startDate}T00:00:00Z`);
}

function drawCurve(rng: Rng, pref: Population['preference']): Float64Array {
  const bumps = rng.categorical(pref.bumpsPerUser) + 1;
  const modeWeights = pref.bumpCenters.map((c) => c.weight);
  const centers: number[] = [];
  const widths: number[] = [];
  const weights: number[] = [];
  for (let b = 0; b < bumps; b++) {
    const mode = pref.bumpCenters[rng.categorical(modeWeights)];
    centers.push(mode.hour + mode.spreadHours * rng.normal());
    widths.push(Math.max(0.25, pref.bumpWidthHours.mean + pref.bumpWidthHours.sd * rng.normal()));
    weights.push(0.5 + rng.next());
  }
  const shift = pref.weekendShiftHours.mean + pref.weekendShiftHours.sd * rng.normal();
  const level = Math.max(0.05, pref.weekendLevel.mean + pref.weekendLevel.sd * rng.normal());
  const curve = new Float64Array(HOURS_PER_WEEK);
  let total = 0;
  for (let h = 0; h < HOURS_PER_WEEK; h++) {
    const weekend = h >= 5 * 24;
    const hourOfDay = (h % 24) + 0.5;
    let v = 0;
    for (let b = 0; b < bumps; b++) {
      let x = hourOfDay - centers[b] - (weekend ? shift : 0);
      x = ((((x + 12) % 24) + 24) % 24) - 12; // circular distance: 23:00 is close to 01:00
      // Divided by the width so every bump carries the same mass: a narrow bump is a sharp peak.
      v += (weights[b] * Math.exp(-(x * x) / (2 * widths[b] * widths[b]))) / widths[b];
    }
    curve[h] = weekend ? v * level : v;
    total += curve[h];
  }
  const mean = total / HOURS_PER_WEEK;
  for (let h = 0; h < HOURS_PER_WEEK; h++) curve[h] = pref.floor + (1 - pref.floor) * (curve[h] / mean);
  return curve;
}

/**
 * Draws one user's hidden truth; depends only on the seed and the user's index.
 * @example const truth = drawUserTruth(population, new Rng(1), 0, startMs, true);
 */
export function drawUserTruth(
  population: Population,
  worldRng: Rng,
  index: number,
  arrivalMs: number,
  hasHistory: boolean,
): UserTruth {
  const rng = worldRng.fork(`user/${index}`);
  const zoneIndex = rng.categorical(population.timeZones.map((t) => t.weight));
  const response = drawCurve(rng.fork('response'), population.preference);
  const unrelated = drawCurve(rng.fork('sessions'), population.preference);
  const noise = population.sessions.noiseShare;
  const sessionShare = new Float64Array(HOURS_PER_WEEK);
  for (let h = 0; h < HOURS_PER_WEEK; h++) {
    sessionShare[h] = ((1 - noise) * response[h] + noise * unrelated[h]) / HOURS_PER_WEEK;
  }
  const shared = rng.normal();
  const rho = population.responsivenessCorrelation;
  const reachable = {} as Record<ChannelName, boolean>;
  const open = {} as Record<ChannelName, number>;
  const clickGivenOpen = {} as Record<ChannelName, number>;
  for (const c of CHANNEL_NAMES) {
    const spec = population.channels[c];
    reachable[c] = rng.bernoulli(spec.reachable);
    const z = Math.sqrt(rho) * shared + Math.sqrt(1 - rho) * rng.normal();
    open[c] = sigmoid(logit(spec.open.median) + spec.open.logitSd * z);
    clickGivenOpen[c] = sigmoid(logit(spec.clickGivenOpen.median) + spec.clickGivenOpen.logitSd * rng.normal());
  }
  // Log-normal activity with the requested mean and coefficient of variation 1/sqrt(shape).
  const { mean, shape } = population.sessions.perDay;
  const sigma = Math.sqrt(Math.log(1 + 1 / shape));
  const r = population.sessions.responsivenessCorrelation;
  const zActivity = r * shared + Math.sqrt(1 - r * r) * rng.normal();
  const sessionsPerDay = mean > 0 ? mean * Math.exp(sigma * zActivity - (sigma * sigma) / 2) : 0;
  return {
    index,
    userId: `user-${index}`,
    zone: population.timeZones[zoneIndex].zone,
    arrivalMs,
    hasHistory,
    response,
    sessionShare,
    sessionsPerDay,
    reachable,
    open,
    clickGivenOpen,
  };
}

/**
 * The users present at day 0: a `coldStart.share` of them arrive at day 0 with no history, the others
 * `warmupDays` before it.
 * @example const users = drawInitialUsers(population, new Rng(seed));
 */
export function drawInitialUsers(population: Population, worldRng: Rng): UserTruth[] {
  const start = simulationStartMs(population);
  const rng = worldRng.fork('cold-start');
  const users: UserTruth[] = [];
  for (let i = 0; i < population.users; i++) {
    const cold = rng.bernoulli(population.coldStart.share) || population.coldStart.warmupDays === 0;
    const arrival = cold ? start : start - population.coldStart.warmupDays * DAY_MS;
    users.push(drawUserTruth(population, worldRng, i, arrival, !cold));
  }
  return users;
}

/**
 * New users arriving during simulated day `day` (Poisson count, uniform arrival times), indexed from `firstIndex`.
 * @example const newcomers = drawArrivals(population, rng, 3, users.length);
 */
export function drawArrivals(population: Population, worldRng: Rng, day: number, firstIndex: number): UserTruth[] {
  const rng = worldRng.fork(`arrivals/${day}`);
  const n = poisson(rng, population.coldStart.newUsersPerDay);
  const dayStart = simulationStartMs(population) + day * DAY_MS;
  const times = Array.from({ length: n }, () => dayStart + Math.floor(rng.next() * DAY_MS)).sort((a, b) => a - b);
  return times.map((t, i) => drawUserTruth(population, worldRng, firstIndex + i, t, false));
}

export interface ResponseProbabilities {
  open: number;
  clickGivenOpen: number;
  unsubscribe: number;
}

/** Everything about a send that the truth needs to say how the user responds. */
export interface SendContext {
  channel: ChannelName;
  kind: string;
  /** local hour of week at the send */
  hourOfWeek: number;
  /** sends to this user (any channel) in the fatigue window before this one */
  recentSends: number;
}

/** Per-kind channel affinity, looked up by kind name. */
export type AffinityTable = Map<string, Record<ChannelName, number>>;

/** @example const affinity = affinityTable(population); affinity.get('promotion')?.push */
export function affinityTable(population: Population): AffinityTable {
  const table: AffinityTable = new Map();
  for (const k of population.requests.kinds) {
    table.set(k.kind, {
      email: k.channelAffinity.email ?? 1,
      push: k.channelAffinity.push ?? 1,
      sms: k.channelAffinity.sms ?? 1,
    });
  }
  return table;
}

/**
 * How this user would respond to this send: the hidden truth the outcomes are drawn from.
 * @example responseProbabilities(population, affinity, user, { channel: 'push', kind: 'promotion', hourOfWeek: 19, recentSends: 0 })
 */
export function responseProbabilities(
  population: Population,
  affinity: AffinityTable,
  user: UserTruth,
  send: SendContext,
): ResponseProbabilities {
  const spec = population.channels[send.channel];
  const timeMultiplier = 1 + spec.timeSensitivity * (user.response[send.hourOfWeek] - 1);
  const kindMultiplier = affinity.get(send.kind)?.[send.channel] ?? 1;
  const fatigue = population.fatigue.responsePerSend ** send.recentSends;
  const open = Math.min(0.98, Math.max(0, user.open[send.channel] * kindMultiplier * timeMultiplier * fatigue));
  const unsubscribe = Math.min(
    0.5,
    spec.unsubscribePerSend * (1 + population.fatigue.unsubscribeGrowthPerSend * send.recentSends),
  );
  return { open, clickGivenOpen: user.clickGivenOpen[send.channel], unsubscribe };
}

/**
 * What a user does after a send, drawn from the truth: open (after a log-normal delay), click given open,
 * unsubscribe. The six draws come from `rng` in a fixed order whatever happens, so two policies sending
 * the same request on the same channel see the same outcome (common random numbers).
 * @example drawSendOutcomes(population.channels.push, p, sentAt, rng.fork(`outcome/${request.id}`))
 */
export function drawSendOutcomes(
  spec: Population['channels']['email'],
  p: ResponseProbabilities,
  atMs: number,
  rng: Rng,
): { type: OutcomeEvent; atMs: number }[] {
  const uOpen = rng.next();
  const uClick = rng.next();
  const uUnsubscribe = rng.next();
  const zOpen = rng.normal();
  const zClick = rng.normal();
  const zUnsubscribe = rng.normal();
  const drawn: { type: OutcomeEvent; atMs: number }[] = [];
  if (uOpen < p.open) {
    const openAt =
      atMs + Math.max(1, Math.round(logNormal(spec.openDelay.medianMinutes, spec.openDelay.sigma, zOpen))) * MINUTE_MS;
    drawn.push({ type: 'notification_opened', atMs: openAt });
    if (uClick < p.clickGivenOpen) {
      const clickAfter = logNormal(spec.clickDelay.medianMinutes, spec.clickDelay.sigma, zClick);
      drawn.push({ type: 'notification_clicked', atMs: openAt + Math.max(1, Math.round(clickAfter)) * MINUTE_MS });
    }
  }
  if (uUnsubscribe < p.unsubscribe) {
    const after = logNormal(spec.unsubscribeDelay.medianMinutes, spec.unsubscribeDelay.sigma, zUnsubscribe);
    drawn.push({ type: 'unsubscribed', atMs: atMs + Math.max(1, Math.round(after)) * MINUTE_MS });
  }
  return drawn;
}
