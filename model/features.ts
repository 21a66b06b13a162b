/**
 * The feature builder: one row of FEATURE_DIMENSION floats per arm, written straight into the
 * ArmBatch layout ([decision][arm][feature], Float32Array) the bandit reads.
 *
 * The user's own engagement at the arm's slot and on the arm's channel are arm features (with how much
 * history backs them), so a linear learner can represent the "most-engaged hour on the best channel"
 * heuristic and then learn where it is wrong. Context-only features (recency, tenure, request day)
 * add the same amount to every arm; they sharpen reward estimates, and reach the choice only through
 * the interactions.
 *
 * Index  Name                                  Range    Meaning
 *  0     bias                                  1        constant
 *  1     channel_email                         {0,1}    arm's channel one-hot
 *  2     channel_push                          {0,1}
 *  3     channel_sms                           {0,1}
 *  4     channel_cost                          >= 0     config channels.<c>.cost, unscaled (learn() reads it back)
 *  5     hour_sin                              [-1,1]   sin(2 pi * local time of day of the send / 24 h)
 *  6     hour_cos                              [-1,1]   cos(...)
 *  7     daypart_morning                       {0,1}    local send time in [06:00, 12:00)
 *  8     daypart_afternoon                     {0,1}    [12:00, 18:00)
 *  9     daypart_evening                       {0,1}    [18:00, 24:00) (night [00:00, 06:00) is all three 0)
 * 10     slot_weekend                          {0,1}    local send day is Saturday or Sunday
 * 11     send_delay                            [0,1]    (sendAt - now) / horizon, clipped
 * 12     user_hour_peak                        [0,1]    user's smoothed engagement at the send's local hour of day / at their peak hour
 * 13     user_hour_share                       [0,1]    that hour's share of the user's engagement * 24 / 8, clipped (1/24 -> 0.125)
 * 14     user_week_hour_peak                   [0,1]    as 12, by local hour of week (168 bins)
 * 15     engagement_confidence                 [0,1]    log1p(decayed engagement total) / log1p(100), clipped
 * 16     user_hour_peak_x_confidence           [0,1]    12 * 15
 * 17     user_week_hour_peak_x_confidence      [0,1]    14 * 15
 * 18     channel_rate                          [0,1]    (engaged + k * prior) / (sends + k) on the arm's channel, k = features.priorStrength
 * 19     channel_rate_relative                 [0,1]    18 / the user's best channel rate
 * 20     channel_history                       [0,1]    log1p(decayed sends on the channel) / log1p(50), clipped
 * 21     user_hour_peak_x_channel_rate         [0,1]    12 * 18
 * 22     user_hour_peak_x_channel_relative     [0,1]    12 * 19: "most-engaged hour on the best channel"
 * 23     recency                               [0,1]    2^(-days since last active / 7); 0 when never active
 * 24     tenure                                [0,1]    1 - 2^(-days since first seen / 30)
 * 25     request_weekend                       {0,1}    the decision is made on a local Saturday or Sunday
 * 26-28  transactional_x_{email,push,sms}      {0,1}    kind group one-hot x channel one-hot
 * 29-31  promotional_x_{email,push,sms}        {0,1}    (kind group 'other' is the base, absorbed by 1-3)
 *
 * Hours are smoothed over neighbours with the circular kernel [1/4, 1/2, 1/4], so a user seen at
 * 08:xx and 10:xx counts as engaged at 09:xx too. Decayed counts are read at `now` (no state copy).
 * Pure: no clock, no I/O.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { ArmLayout, SlotSchedule } from './arms.ts';
import {
  CHANNELS as CHANNELS_BINDING,
  HOURS_PER_WEEK as HOURS_PER_WEEK_BINDING,
  type UserState,
} from './user-state.ts';

// Local copies: under tsx and vitest an imported binding is a getter call, which showed up in hot loops.
const HOURS_PER_WEEK = HOURS_PER_WEEK_BINDING;
const CHANNELS = CHANNELS_BINDING;

export const FEATURE_NAMES = [
  'bias',
  'channel_email',
  'channel_push',
  'channel_sms',
  'channel_cost',
  'hour_sin',
  'hour_cos',
  'daypart_morning',
  'daypart_afternoon',
  'daypart_evening',
  'slot_weekend',
  'send_delay',
  'user_hour_peak',
  'user_hour_share',
  'user_week_hour_peak',
  'engagement_confidence',
  'user_hour_peak_x_confidence',
  'user_week_hour_peak_x_confidence',
  'channel_rate',
  'channel_rate_relative',
  'channel_history',
  'user_hour_peak_x_channel_rate',
  'user_hour_peak_x_channel_relative',
  'recency',
  'tenure',
  'request_weekend',
  'transactional_x_email',
  'transactional_x_push',
  'transactional_x_sms',
  'promotional_x_email',
  'promotional_x_push',
  'promotional_x_sms',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** Length of one arm's feature row. */
export const FEATURE_DIMENSION = FEATURE_NAMES.length;

/** Changes whenever a feature's meaning or index changes; a saved model with another version is refused. */
export const FEATURE_VERSION = 'features-v1';

/** Index of each feature by name, e.g. FEATURE_INDEX.channel_cost === 4. */
export const FEATURE_INDEX = Object.freeze(
  Object.fromEntries(FEATURE_NAMES.map((name, i) => [name, i])) as Record<FeatureName, number>,
);

/** Documented range of each feature (channel_cost is bounded by the largest configured cost). */
export const FEATURE_RANGES: Readonly<Record<FeatureName, readonly [number, number]>> = Object.freeze(
  Object.fromEntries(
    FEATURE_NAMES.map((name) => [
      name,
      name === 'hour_sin' || name === 'hour_cos'
        ? ([-1, 1] as const)
        : name === 'channel_cost'
          ? ([0, Number.POSITIVE_INFINITY] as const)
          : ([0, 1] as const),
    ]),
  ) as Record<FeatureName, readonly [number, number]>,
);

export type KindGroup = 'transactional' | 'promotional' | 'other';

const PROMOTIONAL_KINDS = new Set(['marketing', 'promotional', 'promotion', 'campaign', 'newsletter', 'offer']);

/**
 * The coarse group of a request kind that the features encode. Kinds are free text in requests, so the
 * model only distinguishes the groups whose response differs most by channel.
 * @example kindGroup('marketing') // 'promotional'
 */
export function kindGroup(kind: string): KindGroup {
  const k = kind.toLowerCase();
  if (k === 'transactional') return 'transactional';
  return PROMOTIONAL_KINDS.has(k) ? 'promotional' : 'other';
}

/** Engagement rate assumed for a channel when no population rate is passed in. */
export const DEFAULT_CHANNEL_RATE = 0.1;

export interface FeaturePriors {
  /** population engagement rate per channel (engaged messages / sends), the prior of the smoothed rates */
  channelRates?: Partial<Record<ChannelName, number>>;
}

export interface ArmFeatureContext {
  user: UserState;
  nowMs: number;
  /** request kind, e.g. 'marketing' */
  kind: string;
  /** send instants and local times of the slots for this decision (arms.ts slotSchedule) */
  schedule: SlotSchedule;
}

const DAY_MS = 86_400_000;
const LOG_ENGAGEMENT_SCALE = Math.log1p(100);
const LOG_SENDS_SCALE = Math.log1p(50);
const TWO_PI = 2 * Math.PI;

// NaN maps to 0: a corrupt count must not reach the learner.
const clamp01 = (x: number) => (x > 0 ? Math.min(x, 1) : 0);
const count = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);

/** Smoothed engagement rate (Beta-style shrinkage toward the prior): (engaged + k * prior) / (sends + k), in [0, 1]. */
export function smoothedRate(engaged: number, sends: number, prior: number, k: number): number {
  const denominator = sends + k;
  if (!(denominator > 0)) return clamp01(prior);
  return clamp01((engaged + k * prior) / denominator);
}

/**
 * Writes feature rows for every arm of one decision. Reuses its scratch buffers: one builder per
 * thread of work, not shared across concurrent calls.
 * @example
 *   const builder = new FeatureBuilder(config, { channelRates: { email: 0.08, push: 0.12, sms: 0.2 } });
 *   const out = new Float32Array(batchSize * layout.armCount * FEATURE_DIMENSION);
 *   builder.writeArms(out, i * layout.armCount * FEATURE_DIMENSION, { user, nowMs, kind: 'marketing', schedule });
 */
export class FeatureBuilder {
  private readonly cost: Float64Array;
  private readonly prior: Float64Array;
  private readonly k: number;
  private readonly halfLifeMs: number;
  private readonly horizonMs: number;
  private readonly how = new Float64Array(HOURS_PER_WEEK);
  private readonly hod = new Float64Array(24);
  private readonly hodSmooth = new Float64Array(24);
  private readonly howSmooth = new Float64Array(HOURS_PER_WEEK);
  private readonly rate = new Float64Array(CHANNELS.length);
  private readonly relative = new Float64Array(CHANNELS.length);
  private readonly history = new Float64Array(CHANNELS.length);

  constructor(config: AnalystConfig, priors: FeaturePriors = {}) {
    this.cost = Float64Array.from(CHANNELS, (c) => config.channels[c].cost);
    this.prior = Float64Array.from(CHANNELS, (c) => priors.channelRates?.[c] ?? DEFAULT_CHANNEL_RATE);
    this.k = config.features.priorStrength;
    this.halfLifeMs = config.features.halfLifeDays * DAY_MS;
    this.horizonMs = config.slots.horizonDays * DAY_MS;
  }

  /** Floats one decision occupies in an ArmBatch for this layout. */
  static stride(layout: ArmLayout): number {
    return layout.armCount * FEATURE_DIMENSION;
  }

  /**
   * Writes layout.armCount rows of FEATURE_DIMENSION floats into `out` from `offset` (arm-major, as ArmBatch).
   * Every arm gets a finite row, masked or not, so a batch never carries garbage.
   */
  writeArms(out: Float32Array, offset: number, ctx: ArmFeatureContext): void {
    const { user, nowMs, kind, schedule } = ctx;
    const layout = schedule.layout;
    const D = FEATURE_DIMENSION;
    if (offset < 0 || offset + layout.armCount * D > out.length) {
      throw new RangeError(`feature buffer too small: need ${offset + layout.armCount * D}, have ${out.length}`);
    }
    // Decayed quantities are stored at decayRefMs; scale them to `now`. A reference in the future
    // (clock skew) is read as is rather than inflated.
    const f = user.decayRefMs > 0 ? 2 ** (-Math.max(0, nowMs - user.decayRefMs) / this.halfLifeMs) : 1;

    // Hour-of-day and hour-of-week engagement, smoothed circularly. Negative or NaN bins (corrupt
    // state) read as 0, so one bad item cannot poison a batch.
    const how = this.how;
    const hod = this.hod;
    hod.fill(0);
    let total = 0;
    for (let i = 0; i < HOURS_PER_WEEK; i++) {
      const v = count(user.engagementByHourOfWeek[i]);
      how[i] = v;
      hod[i % 24] += v;
      total += v;
    }
    const hodSmooth = this.hodSmooth;
    let hodMax = 0;
    for (let i = 0; i < 24; i++) {
      const v = 0.25 * hod[(i + 23) % 24] + 0.5 * hod[i] + 0.25 * hod[(i + 1) % 24];
      hodSmooth[i] = v;
      hodMax = Math.max(hodMax, v);
    }
    const howSmooth = this.howSmooth;
    let howMax = 0;
    for (let i = 0; i < HOURS_PER_WEEK; i++) {
      const v =
        0.25 * how[(i + HOURS_PER_WEEK - 1) % HOURS_PER_WEEK] + 0.5 * how[i] + 0.25 * how[(i + 1) % HOURS_PER_WEEK];
      howSmooth[i] = v;
      howMax = Math.max(howMax, v);
    }
    const confidence = clamp01(Math.log1p(total * f) / LOG_ENGAGEMENT_SCALE);

    // Per-channel smoothed rates, relative to the user's best channel.
    let bestRate = 0;
    for (let c = 0; c < CHANNELS.length; c++) {
      const st = user.channels[CHANNELS[c]];
      const sends = count(st.sends) * f;
      const engaged = Math.max(count(st.opens), count(st.clicks)) * f;
      this.rate[c] = smoothedRate(engaged, sends, this.prior[c], this.k);
      this.history[c] = clamp01(Math.log1p(sends) / LOG_SENDS_SCALE);
      if (this.rate[c] > bestRate) bestRate = this.rate[c];
    }
    for (let c = 0; c < CHANNELS.length; c++) this.relative[c] = bestRate > 0 ? this.rate[c] / bestRate : 0;

    const recency =
      user.lastActiveMs !== undefined ? clamp01(2 ** (-Math.max(0, nowMs - user.lastActiveMs) / (7 * DAY_MS))) : 0;
    const tenure =
      user.firstSeenMs !== undefined ? clamp01(1 - 2 ** (-Math.max(0, nowMs - user.firstSeenMs) / (30 * DAY_MS))) : 0;
    const requestWeekend = schedule.nowLocal.dayOfWeek >= 5 ? 1 : 0;
    const group = kindGroup(kind);
    const transactional = group === 'transactional' ? 1 : 0;
    const promotional = group === 'promotional' ? 1 : 0;

    const n = layout.slotCount;
    for (let s = 0; s < n; s++) {
      const minute = schedule.localMinute[s];
      const hour = Math.floor(minute / 60);
      const dow = schedule.localDayOfWeek[s];
      const angle = (TWO_PI * minute) / 1440;
      const sin = Math.sin(angle);
      const cos = Math.cos(angle);
      const morning = hour >= 6 && hour < 12 ? 1 : 0;
      const afternoon = hour >= 12 && hour < 18 ? 1 : 0;
      const evening = hour >= 18 ? 1 : 0;
      const weekend = dow >= 5 ? 1 : 0;
      const delay = this.horizonMs > 0 ? clamp01((schedule.sendAtMs[s] - nowMs) / this.horizonMs) : 0;
      const hourPeak = hodMax > 0 ? hodSmooth[hour] / hodMax : 0;
      const hourShare = total > 0 ? Math.min(1, (hodSmooth[hour] / total) * 3) : 0; // * 24 / 8
      const weekPeak = howMax > 0 ? howSmooth[dow * 24 + hour] / howMax : 0;
      for (let c = 0; c < CHANNELS.length; c++) {
        const o = offset + (c * n + s) * D;
        const rate = this.rate[c];
        const rel = this.relative[c];
        out[o] = 1;
        out[o + 1] = c === 0 ? 1 : 0;
        out[o + 2] = c === 1 ? 1 : 0;
        out[o + 3] = c === 2 ? 1 : 0;
        out[o + 4] = this.cost[c];
        out[o + 5] = sin;
        out[o + 6] = cos;
        out[o + 7] = morning;
        out[o + 8] = afternoon;
        out[o + 9] = evening;
        out[o + 10] = weekend;
        out[o + 11] = delay;
        out[o + 12] = hourPeak;
        out[o + 13] = hourShare;
        out[o + 14] = weekPeak;
        out[o + 15] = confidence;
        out[o + 16] = hourPeak * confidence;
        out[o + 17] = weekPeak * confidence;
        out[o + 18] = rate;
        out[o + 19] = rel;
        out[o + 20] = this.history[c];
        out[o + 21] = hourPeak * rate;
        out[o + 22] = hourPeak * rel;
        out[o + 23] = recency;
        out[o + 24] = tenure;
        out[o + 25] = requestWeekend;
        out[o + 26] = transactional && c === 0 ? 1 : 0;
        out[o + 27] = transactional && c === 1 ? 1 : 0;
        out[o + 28] = transactional && c === 2 ? 1 : 0;
        out[o + 29] = promotional && c === 0 ? 1 : 0;
        out[o + 30] = promotional && c === 1 ? 1 : 0;
        out[o + 31] = promotional && c === 2 ? 1 : 0;
      }
    }
  }
}

/**
 * Feature rows of every arm of one decision in a fresh array (convenience for tests and tools; the policy
 * writes into a preallocated batch buffer instead).
 * @example buildArmFeatures(config, { user, nowMs, kind: 'marketing', schedule })[FEATURE_INDEX.channel_cost]
 */
export function buildArmFeatures(config: AnalystConfig, ctx: ArmFeatureContext, priors?: FeaturePriors): Float32Array {
  const out = new Float32Array(FeatureBuilder.stride(ctx.schedule.layout));
  new FeatureBuilder(config, priors).writeArms(out, 0, ctx);
  return out;
}
