/**
 * Baseline policies: the opponents the bandit must beat, and what the holdout runs in production.
 *
 * - heuristicPolicy: the fair commercial baseline. Time: the user's most-engaged local hour of day
 *   (Braze Intelligent Timing, OneSignal, Iterable), the population's hour when the user has too little
 *   history. Channel: Braze Intelligent Channel, the best ratio of engagements (opens + clicks) to
 *   messages received once the user has had at least 3 messages across at least 2 channels, a default
 *   channel before that.
 * - fixedHourPolicy: one local hour for everyone (channel by the same rule unless told otherwise).
 * - randomPolicy: uniform over the allowed arms.
 *
 * All run behind the same guardrails and log the same SendDecision (propensity 1 for the deterministic
 * ones, 1 / allowed arms for random), so they can be compared and evaluated off-policy alike.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { BanditContractError } from './errors.ts';
import type { FeaturePriors } from './features.ts';
import {
  type ArmDistribution,
  type DecideInput,
  DecisionPreparer,
  type NotificationPolicy,
  noArmDecision,
  type PolicyName,
  type PreparedDecision,
  type SendDecision,
  sendDecision,
} from './policy.ts';
import type { Rng } from './random.ts';
import {
  CHANNELS as CHANNELS_BINDING,
  HOURS_PER_WEEK as HOURS_PER_WEEK_BINDING,
  type UserState,
} from './user-state.ts';

// Local copies: under tsx and vitest an imported binding is a getter call, which showed up in hot loops.
const HOURS_PER_WEEK = HOURS_PER_WEEK_BINDING;
const CHANNELS = CHANNELS_BINDING;

export interface HeuristicOptions {
  /** local hour used when the user has too little history; default config.holdout.fixedLocalHour */
  populationHour?: number;
  /** decayed engagements (at decision time) below which the population hour is used; default 5 */
  minHistory?: number;
  /** channel before Intelligent Channel has enough data; default 'email' */
  defaultChannel?: ChannelName;
  /** messages received (decayed count) before ratios are trusted; default 3 */
  minMessages?: number;
  /** channels those messages must span; default 2 */
  minChannels?: number;
  /** priors of the logged features (same as the bandit's, so logs are comparable) */
  priors?: FeaturePriors;
}

const DAY_MS = 86_400_000;

/**
 * The user's most-engaged local hour of day (raw decayed histogram, earliest hour on ties), or the
 * population hour when their decayed engagement at `nowMs` is below `minHistory`.
 * @example preferredHour(user, nowMs, 14, { populationHour: 19 }) // { hour: 8, source: 'user' }
 */
export function preferredHour(
  user: UserState,
  nowMs: number,
  halfLifeDays: number,
  options: { populationHour: number; minHistory?: number },
): { hour: number; source: 'user' | 'population' } {
  const byHour = new Float64Array(24);
  let total = 0;
  for (let i = 0; i < HOURS_PER_WEEK; i++) {
    const v = Math.max(0, user.engagementByHourOfWeek[i]);
    byHour[i % 24] += v;
    total += v;
  }
  const decay = user.decayRefMs > 0 ? 2 ** (-Math.max(0, nowMs - user.decayRefMs) / (halfLifeDays * DAY_MS)) : 1;
  if (total * decay < (options.minHistory ?? 5)) return { hour: options.populationHour, source: 'population' };
  let best = 0;
  for (let h = 1; h < 24; h++) if (byHour[h] > byHour[best]) best = h;
  return { hour: best, source: 'user' };
}

/**
 * Channels in Braze Intelligent Channel's order of preference: by engagements (opens + clicks) per
 * message received, best first, once the user has had `minMessages` messages across `minChannels`
 * channels; the default channel first (then the others in CHANNELS order) before that. Counts are the
 * stored decayed counts, which track recent messages.
 * @example intelligentChannelOrder(user) // ['push', 'email', 'sms']
 */
export function intelligentChannelOrder(
  user: UserState,
  options: { defaultChannel?: ChannelName; minMessages?: number; minChannels?: number } = {},
): ChannelName[] {
  const defaultChannel = options.defaultChannel ?? 'email';
  const fallback = [defaultChannel, ...CHANNELS.filter((c) => c !== defaultChannel)];
  let messages = 0;
  let channelsUsed = 0;
  for (const c of CHANNELS) {
    const sends = user.channels[c].sends;
    if (sends > 0) {
      messages += sends;
      channelsUsed++;
    }
  }
  // A small tolerance: decayed counts of exactly 3 messages read as 2.9999...
  if (messages < (options.minMessages ?? 3) - 1e-9 || channelsUsed < (options.minChannels ?? 2)) return fallback;
  const ratio = (c: ChannelName) => {
    const s = user.channels[c];
    return s.sends > 0 ? (s.opens + s.clicks) / s.sends : Number.NEGATIVE_INFINITY;
  };
  return [...fallback].sort((a, b) => ratio(b) - ratio(a)); // stable: ties keep the fallback order
}

/** Minutes from a local minute of day to the local hour [hour:00, hour+1:00), around the clock; 0 inside it. */
function minutesFromHour(minuteOfDay: number, hour: number): number {
  const start = hour * 60;
  const offset = (minuteOfDay - start + 1440) % 1440;
  if (offset < 60) return 0;
  return Math.min(1440 - offset, offset - 59);
}

/**
 * The allowed arm on the first channel (in order) that has one, whose send time is nearest the
 * preferred local hour; among equally near arms the earliest send.
 */
function nearestAllowedArm(d: PreparedDecision, channels: readonly ChannelName[], hour: number): number {
  const { mask } = d;
  const n = mask.layout.slotCount;
  const { sendAtMs, localMinute } = mask.schedule;
  for (const channel of channels) {
    const c = CHANNELS.indexOf(channel);
    let bestSlot = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (let s = 0; s < n; s++) {
      if (mask.allowed[c * n + s] !== 1) continue;
      const distance = minutesFromHour(localMinute[s], hour);
      if (distance < bestDistance || (distance === bestDistance && sendAtMs[s] < sendAtMs[bestSlot])) {
        bestSlot = s;
        bestDistance = distance;
      }
    }
    if (bestSlot >= 0) return c * n + bestSlot;
  }
  return -1;
}

/** Picks one allowed arm of a prepared decision (mask, schedule and input), with the probability it had. */
export type ArmChooser = (d: PreparedDecision, rng: Rng) => { arm: number; propensity: number; explored: boolean };

/** The distribution an ArmChooser draws from, over every arm of the layout (0 on masked arms). */
export type ArmDistributionOf = (d: PreparedDecision) => Float64Array;

class BaselinePolicy implements NotificationPolicy {
  private readonly prep: DecisionPreparer;

  constructor(
    readonly name: PolicyName,
    readonly version: string,
    config: AnalystConfig,
    private readonly choose: ArmChooser,
    priors?: FeaturePriors,
    private readonly distributionOf?: ArmDistributionOf,
  ) {
    this.prep = new DecisionPreparer(config, priors);
  }

  /**
   * A chooser's distribution: the one given, or, for a deterministic chooser (propensity 1), all mass on
   * its arm. A randomised chooser without a distribution is refused rather than guessed.
   */
  armDistributions(inputs: readonly DecideInput[], rng: Rng): (ArmDistribution | undefined)[] {
    const { decisions } = this.prep.prepare(inputs);
    return decisions.map((d) => {
      if (d.row < 0) return undefined;
      if (this.distributionOf) return { probabilities: this.distributionOf(d), allowed: d.mask.allowed };
      const choice = this.choose(d, rng);
      if (choice.propensity !== 1 || d.mask.allowed[choice.arm] !== 1) {
        throw new BanditContractError(
          `${this.name} chooses at random (propensity ${choice.propensity}) and gives no distribution`,
          { userId: d.input.user.userId },
        );
      }
      const probabilities = new Float64Array(d.mask.allowed.length);
      probabilities[choice.arm] = 1;
      return { probabilities, allowed: d.mask.allowed };
    });
  }

  decide(inputs: readonly DecideInput[], rng: Rng): SendDecision[] {
    const { decisions, batch } = this.prep.prepare(inputs);
    return decisions.map((d) => {
      if (d.row < 0) return noArmDecision(this.prep, d, this.name, this.version);
      const choice = this.choose(d, rng);
      if (d.mask.allowed[choice.arm] !== 1 || !(choice.propensity > 0 && choice.propensity <= 1)) {
        throw new BanditContractError(`${this.name} chose arm ${choice.arm} (propensity ${choice.propensity})`, {
          userId: d.input.user.userId,
          allowed: d.mask.allowed[choice.arm] === 1,
        });
      }
      return sendDecision(this.prep, batch, d, choice.arm, {
        ...choice,
        policy: this.name,
        policyVersion: this.version,
      });
    });
  }
}

/**
 * A policy of your own behind the same guardrails and logging: `choose` sees the allowed arms and their
 * send instants and returns one of them (the simulator's oracle is one). A masked arm is refused.
 * @example
 *   const oracle = guardedPolicy(config, 'oracle', 'oracle/1', (d) => ({ arm: bestTrueArm(d), propensity: 1, explored: false }));
 */
export function guardedPolicy(
  config: AnalystConfig,
  name: PolicyName,
  version: string,
  choose: ArmChooser,
  options: { priors?: FeaturePriors } = {},
): NotificationPolicy {
  return new BaselinePolicy(name, version, config, choose, options.priors);
}

/**
 * The most-engaged-hour + Intelligent Channel baseline (see the module comment).
 * @example heuristicPolicy(config, { populationHour: populationPeakHour(users) ?? 10 }).decide(inputs, rng)
 */
export function heuristicPolicy(config: AnalystConfig, options: HeuristicOptions = {}): NotificationPolicy {
  const populationHour = options.populationHour ?? config.holdout.fixedLocalHour;
  return new BaselinePolicy(
    'heuristic',
    `heuristic/1/h${populationHour}`,
    config,
    (d) => {
      const { hour } = preferredHour(d.input.user, d.input.nowMs, config.features.halfLifeDays, {
        populationHour,
        minHistory: options.minHistory,
      });
      const arm = nearestAllowedArm(d, intelligentChannelOrder(d.input.user, options), hour);
      return { arm, propensity: 1, explored: false };
    },
    options.priors,
  );
}

/**
 * Sends at one local hour (the allowed arm nearest it), on the Intelligent Channel choice by default or
 * always the default channel with `channelRule: 'default'` (then falling back in CHANNELS order).
 * @example fixedHourPolicy(config, 10).decide(inputs, rng)
 */
export function fixedHourPolicy(
  config: AnalystConfig,
  hour: number,
  options: HeuristicOptions & { channelRule?: 'intelligent' | 'default' } = {},
): NotificationPolicy {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new RangeError(`hour must be 0..23, got ${hour}`);
  const rule = options.channelRule ?? 'intelligent';
  return new BaselinePolicy(
    'fixed-hour',
    `fixed-hour/1/h${hour}/${rule}`,
    config,
    (d) => {
      const order =
        rule === 'intelligent'
          ? intelligentChannelOrder(d.input.user, options)
          : intelligentChannelOrder(d.input.user, { ...options, minMessages: Number.POSITIVE_INFINITY });
      return { arm: nearestAllowedArm(d, order, hour), propensity: 1, explored: false };
    },
    options.priors,
  );
}

/**
 * Uniform over the allowed arms (propensity 1 / allowed arms).
 * @example randomPolicy(config).decide(inputs, new Rng(7))
 */
export function randomPolicy(config: AnalystConfig, options: { priors?: FeaturePriors } = {}): NotificationPolicy {
  return new BaselinePolicy(
    'random',
    'random/1',
    config,
    (d, rng) => {
      const k = rng.int(d.mask.allowedCount);
      let seen = 0;
      for (let arm = 0; arm < d.mask.allowed.length; arm++) {
        if (d.mask.allowed[arm] === 1 && seen++ === k)
          return { arm, propensity: 1 / d.mask.allowedCount, explored: true };
      }
      throw new Error('unreachable: allowedCount disagrees with the mask');
    },
    options.priors,
    (d) => {
      const probabilities = new Float64Array(d.mask.allowed.length);
      for (let arm = 0; arm < probabilities.length; arm++) {
        if (d.mask.allowed[arm] === 1) probabilities[arm] = 1 / d.mask.allowedCount;
      }
      return probabilities;
    },
  );
}

/**
 * The policy the holdout runs, as config.holdout says.
 * @example withHoldout(bandit, holdoutPolicy(config), config.holdout)
 */
export function holdoutPolicy(config: AnalystConfig, options: HeuristicOptions = {}): NotificationPolicy {
  return config.holdout.policy === 'fixed-hour'
    ? fixedHourPolicy(config, config.holdout.fixedLocalHour, options)
    : heuristicPolicy(config, options);
}

/**
 * The population's most-engaged local hour: each user's hour-of-day histogram normalised (so heavy
 * users do not outvote everyone), summed; undefined when nobody has engaged yet.
 * @example populationPeakHour(users) // 19
 */
export function populationPeakHour(users: Iterable<UserState>): number | undefined {
  const sum = new Float64Array(24);
  let any = false;
  const byHour = new Float64Array(24);
  for (const user of users) {
    byHour.fill(0);
    let total = 0;
    for (let i = 0; i < HOURS_PER_WEEK; i++) {
      const v = Math.max(0, user.engagementByHourOfWeek[i]);
      byHour[i % 24] += v;
      total += v;
    }
    if (total <= 0) continue;
    any = true;
    for (let h = 0; h < 24; h++) sum[h] += byHour[h] / total;
  }
  if (!any) return undefined;
  let best = 0;
  for (let h = 1; h < 24; h++) if (sum[h] > sum[best]) best = h;
  return best;
}
