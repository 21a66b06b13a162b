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
 * 29-31  promotional_x_{email,push,sms}        {0,1}    (kind group 'other', a kind none of the groups
 * 32-34  reminder_x_{email,push,sms}           {0,1}     names, is the base, absorbed by 1-3; see kindGroup)
 * 35-37  digest_x_{email,push,sms}             {0,1}
 * 38-40  social_x_{email,push,sms}             {0,1}
 * 41     population_hour_rate                  [0,4]    24 * the population's share of engagement at the send's local hour (mean 1), clipped
 * 42     user_hour_rate                        [0,4]    the user's relative engagement at the send's local hour (mean 1), clipped:
 *                                                       Gaussian-smoothed (sd 1.5 h) histogram of the slot's day type (weekday or
 *                                                       weekend), shrunk toward the user's all-days curve, itself shrunk toward the
 *                                                       population's (HOUR_PRIOR_STRENGTH engagements each)
 * 43-45  value_x_{email,push,sms}              [0,1]    expected engagement reward per send on the arm's channel, in that channel's
 *                                                       column: w_open * open rate + (w_click - w_open) * click rate, both smoothed
 *                                                       toward the population like 18 (reward.weights; 'sum' adds w_click whole)
 * 46-48  value_x_hour_rate_x_{email,push,sms}  [0,4]    43-45 * 42: how much the channel's value moves with the hour differs by channel
 * 49     sends_24h                             [0,1]    sends to the user (made or scheduled, any channel) in the 24 h before the
 *                                                       arm's send instant, / 4, clipped: fatigue
 * 50     channel_sends_24h                     [0,1]    as 49 on the arm's channel only, / 2, clipped
 * 51     value_x_sends_24h                     [0,1]    the arm's value (43-45) * 49: fatigue scales the response
 *
 * Hours are smoothed over neighbours with the circular kernel [1/4, 1/2, 1/4], so a user seen at
 * 08:xx and 10:xx counts as engaged at 09:xx too (12-17); 42 uses a wider Gaussian and priors, so that a
 * few dozen sessions give a usable curve. Decayed counts are read at `now` (no state copy).
 * Pure: no clock, no I/O.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { ArmLayout, SlotSchedule } from './arms.ts';
import type { RecentSends } from './guardrails.ts';
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
  'reminder_x_email',
  'reminder_x_push',
  'reminder_x_sms',
  'digest_x_email',
  'digest_x_push',
  'digest_x_sms',
  'social_x_email',
  'social_x_push',
  'social_x_sms',
  'population_hour_rate',
  'user_hour_rate',
  'value_x_email',
  'value_x_push',
  'value_x_sms',
  'value_x_hour_rate_x_email',
  'value_x_hour_rate_x_push',
  'value_x_hour_rate_x_sms',
  'sends_24h',
  'channel_sends_24h',
  'value_x_sends_24h',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** Length of one arm's feature row. */
export const FEATURE_DIMENSION = FEATURE_NAMES.length;

/** Changes whenever a feature's meaning or index changes; a saved model with another version is refused. */
export const FEATURE_VERSION = 'features-v2';

/** Index of each feature by name, e.g. FEATURE_INDEX.channel_cost === 4. */
export const FEATURE_INDEX = Object.freeze(
  Object.fromEntries(FEATURE_NAMES.map((name, i) => [name, i])) as Record<FeatureName, number>,
);

/** Upper clip of the relative hour rates (41, 42, 46-48): a rate of 4 is four times the hour average. */
export const MAX_HOUR_RATE = 4;

/** Documented range of each feature (channel_cost is bounded by the largest configured cost). */
export const FEATURE_RANGES: Readonly<Record<FeatureName, readonly [number, number]>> = Object.freeze(
  Object.fromEntries(
    FEATURE_NAMES.map((name) => [
      name,
      name === 'hour_sin' || name === 'hour_cos'
        ? ([-1, 1] as const)
        : name === 'channel_cost'
          ? ([0, Number.POSITIVE_INFINITY] as const)
          : name.endsWith('hour_rate') || name.includes('_hour_rate_x_')
            ? ([0, MAX_HOUR_RATE] as const)
            : ([0, 1] as const),
    ]),
  ) as Record<FeatureName, readonly [number, number]>,
);

/** Kind groups with their own channel columns: the request contract's kinds (events/request.ts), and 'other'. */
export const KIND_GROUPS = ['transactional', 'promotional', 'reminder', 'digest', 'social'] as const;
export type KindGroup = (typeof KIND_GROUPS)[number] | 'other';

const KIND_SYNONYMS: Readonly<Record<string, KindGroup>> = {
  transactional: 'transactional',
  promotional: 'promotional',
  promotion: 'promotional',
  marketing: 'promotional',
  campaign: 'promotional',
  offer: 'promotional',
  reminder: 'reminder',
  digest: 'digest',
  newsletter: 'digest',
  summary: 'digest',
  social: 'social',
};

/**
 * The group of a request kind that the features encode: the five kinds of the request contract, and
 * common synonyms of them (kinds are free text for producers of older schemas); anything else is 'other'.
 * @example kindGroup('marketing') // 'promotional'
 */
export function kindGroup(kind: string): KindGroup {
  return KIND_SYNONYMS[kind.toLowerCase()] ?? 'other';
}

/** Engagements of prior weight when a user's hour curve is shrunk toward the population's (and a day type's toward the user's). */
export const HOUR_PRIOR_STRENGTH = 8;
/** Standard deviation, in hours, of the Gaussian that smooths the hour curve of user_hour_rate. */
export const HOUR_SMOOTHING_SD = 1.5;

/** Engagement rate assumed for a channel when no population rate is passed in. */
export const DEFAULT_CHANNEL_RATE = 0.1;

export interface FeaturePriors {
  /** population engagement rate per channel (engaged messages / sends), the prior of the smoothed rates */
  channelRates?: Partial<Record<ChannelName, number>>;
  /** population click rate per channel (clicks / sends), the prior of the smoothed click rates; default rate / 10 */
  clickRates?: Partial<Record<ChannelName, number>>;
  /** population share of engagement by local hour of day (24 values; normalised here); default uniform */
  hourOfDay?: ArrayLike<number>;
}

export interface ArmFeatureContext {
  user: UserState;
  nowMs: number;
  /** request kind, e.g. 'marketing' */
  kind: string;
  /** send instants and local times of the slots for this decision (arms.ts slotSchedule) */
  schedule: SlotSchedule;
  /** sends already made or scheduled to this user, per channel (as the guardrails read them) */
  recentSends?: RecentSends;
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
  private readonly clickPrior: Float64Array;
  /** population share of engagement by local hour, sums to 1 */
  private readonly popHour = new Float64Array(24);
  private readonly wOpen: number;
  private readonly wClickExtra: number;
  private readonly k: number;
  private readonly halfLifeMs: number;
  private readonly horizonMs: number;
  private readonly how = new Float64Array(HOURS_PER_WEEK);
  private readonly hod = new Float64Array(24);
  private readonly hodSmooth = new Float64Array(24);
  private readonly howSmooth = new Float64Array(HOURS_PER_WEEK);
  private readonly byDayType = [new Float64Array(24), new Float64Array(24)];
  private readonly wide = new Float64Array(24);
  private readonly userRate = new Float64Array(24);
  /** relative hour rate by day type (0 weekday, 1 weekend) and local hour */
  private readonly hourRate = [new Float64Array(24), new Float64Array(24)];
  private readonly rate = new Float64Array(CHANNELS.length);
  private readonly value = new Float64Array(CHANNELS.length);
  private readonly relative = new Float64Array(CHANNELS.length);
  private readonly history = new Float64Array(CHANNELS.length);
  private readonly sendTimes: number[][] = CHANNELS.map(() => []);

  constructor(config: AnalystConfig, priors: FeaturePriors = {}) {
    this.cost = Float64Array.from(CHANNELS, (c) => config.channels[c].cost);
    this.prior = Float64Array.from(CHANNELS, (c) => priors.channelRates?.[c] ?? DEFAULT_CHANNEL_RATE);
    this.clickPrior = Float64Array.from(CHANNELS, (c, i) => priors.clickRates?.[c] ?? this.prior[i] / 10);
    let popTotal = 0;
    for (let h = 0; h < 24; h++) popTotal += count(Number(priors.hourOfDay?.[h] ?? 0));
    for (let h = 0; h < 24; h++) {
      this.popHour[h] = popTotal > 0 ? count(Number(priors.hourOfDay?.[h] ?? 0)) / popTotal : 1 / 24;
    }
    const w = config.reward.weights;
    this.wOpen = Math.max(0, w.notification_opened);
    const wClick = Math.max(0, w.notification_clicked);
    this.wClickExtra = config.reward.combine === 'sum' ? wClick : Math.max(0, wClick - this.wOpen);
    this.k = config.features.priorStrength;
    this.halfLifeMs = config.features.halfLifeDays * DAY_MS;
    this.horizonMs = config.slots.horizonDays * DAY_MS;
  }

  /** Floats one decision occupies in an ArmBatch for this layout. */
  static stride(layout: ArmLayout): number {
    return layout.armCount * FEATURE_DIMENSION;
  }

  /**
   * user_hour_rate for both day types: the user's hour-of-day curve (Gaussian-smoothed, shrunk toward the
   * population's), then per day type its own smoothed curve shrunk toward that.
   */
  private hourRates(): void {
    const pop = this.popHour;
    let total = 0;
    for (let h = 0; h < 24; h++) total += this.hod[h];
    gaussianSmooth(this.hod, this.wide);
    for (let h = 0; h < 24; h++) {
      this.userRate[h] = (this.wide[h] + HOUR_PRIOR_STRENGTH * pop[h]) / (total + HOUR_PRIOR_STRENGTH);
    }
    for (let t = 0; t < 2; t++) {
      const days = this.byDayType[t];
      let dayTotal = 0;
      for (let h = 0; h < 24; h++) dayTotal += days[h];
      gaussianSmooth(days, this.wide);
      const out = this.hourRate[t];
      for (let h = 0; h < 24; h++) {
        const share = (this.wide[h] + HOUR_PRIOR_STRENGTH * this.userRate[h]) / (dayTotal + HOUR_PRIOR_STRENGTH);
        out[h] = Math.min(MAX_HOUR_RATE, 24 * share);
      }
    }
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
    const weekday = this.byDayType[0];
    const weekendDays = this.byDayType[1];
    hod.fill(0);
    weekday.fill(0);
    weekendDays.fill(0);
    let total = 0;
    for (let i = 0; i < HOURS_PER_WEEK; i++) {
      const v = count(user.engagementByHourOfWeek[i]);
      how[i] = v;
      hod[i % 24] += v;
      (i >= 120 ? weekendDays : weekday)[i % 24] += v * f;
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
    // The shrunk curves weigh decayed counts at `now` against the prior.
    for (let h = 0; h < 24; h++) hod[h] *= f;
    this.hourRates();

    // Per-channel smoothed rates, relative to the user's best channel, and the expected reward per send.
    let bestRate = 0;
    for (let c = 0; c < CHANNELS.length; c++) {
      const st = user.channels[CHANNELS[c]];
      const sends = count(st.sends) * f;
      const engaged = Math.max(count(st.opens), count(st.clicks)) * f;
      this.rate[c] = smoothedRate(engaged, sends, this.prior[c], this.k);
      const clickRate = smoothedRate(count(st.clicks) * f, sends, this.clickPrior[c], this.k);
      this.value[c] = clamp01(this.wOpen * this.rate[c] + this.wClickExtra * clickRate);
      this.history[c] = clamp01(Math.log1p(sends) / LOG_SENDS_SCALE);
      if (this.rate[c] > bestRate) bestRate = this.rate[c];
    }
    for (let c = 0; c < CHANNELS.length; c++) this.relative[c] = bestRate > 0 ? this.rate[c] / bestRate : 0;

    // Sends that count toward fatigue at a slot: those in the 24 h before it (made or scheduled).
    let anySends = false;
    for (let c = 0; c < CHANNELS.length; c++) {
      const times = this.sendTimes[c];
      times.length = 0;
      const recent = ctx.recentSends?.[CHANNELS[c]];
      if (recent) for (const t of recent) if (Number.isFinite(t)) times.push(t);
      if (times.length) anySends = true;
    }

    const recency =
      user.lastActiveMs !== undefined ? clamp01(2 ** (-Math.max(0, nowMs - user.lastActiveMs) / (7 * DAY_MS))) : 0;
    const tenure =
      user.firstSeenMs !== undefined ? clamp01(1 - 2 ** (-Math.max(0, nowMs - user.firstSeenMs) / (30 * DAY_MS))) : 0;
    const requestWeekend = schedule.nowLocal.dayOfWeek >= 5 ? 1 : 0;
    const group = kindGroup(kind);
    // Offset of the kind's three channel columns from transactional_x_email (-1: 'other', none set).
    const kindColumn = group === 'other' ? -1 : KIND_GROUPS.indexOf(group) * 3;

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
      const sendAt = schedule.sendAtMs[s];
      const delay = this.horizonMs > 0 ? clamp01((sendAt - nowMs) / this.horizonMs) : 0;
      const hourPeak = hodMax > 0 ? hodSmooth[hour] / hodMax : 0;
      const hourShare = total > 0 ? Math.min(1, (hodSmooth[hour] / total) * 3) : 0; // * 24 / 8
      const weekPeak = howMax > 0 ? howSmooth[dow * 24 + hour] / howMax : 0;
      const popRate = Math.min(MAX_HOUR_RATE, 24 * this.popHour[hour]);
      const hourRate = this.hourRate[weekend][hour];
      let totalRecent = 0;
      if (anySends) {
        for (let c = 0; c < CHANNELS.length; c++) {
          for (const t of this.sendTimes[c]) if (t < sendAt && t > sendAt - DAY_MS) totalRecent++;
        }
      }
      const sends24 = Math.min(1, totalRecent / 4);
      for (let c = 0; c < CHANNELS.length; c++) {
        const o = offset + (c * n + s) * D;
        const rate = this.rate[c];
        const rel = this.relative[c];
        const value = this.value[c];
        let channelRecent = 0;
        if (anySends) for (const t of this.sendTimes[c]) if (t < sendAt && t > sendAt - DAY_MS) channelRecent++;
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
        for (let j = 26; j <= 40; j++) out[o + j] = 0;
        if (kindColumn >= 0) out[o + 26 + kindColumn + c] = 1;
        out[o + 41] = popRate;
        out[o + 42] = hourRate;
        out[o + 43] = c === 0 ? value : 0;
        out[o + 44] = c === 1 ? value : 0;
        out[o + 45] = c === 2 ? value : 0;
        out[o + 46] = c === 0 ? value * hourRate : 0;
        out[o + 47] = c === 1 ? value * hourRate : 0;
        out[o + 48] = c === 2 ? value * hourRate : 0;
        out[o + 49] = sends24;
        out[o + 50] = Math.min(1, channelRecent / 2);
        out[o + 51] = value * sends24;
      }
    }
  }
}

const GAUSS = (() => {
  const w = new Float64Array(25);
  let sum = 0;
  for (let d = -12; d <= 12; d++) {
    w[d + 12] = Math.exp(-(d * d) / (2 * HOUR_SMOOTHING_SD * HOUR_SMOOTHING_SD));
    sum += d === 12 || d === -12 ? w[d + 12] / 2 : w[d + 12];
  }
  for (let i = 0; i < 25; i++) w[i] /= sum;
  return w;
})();

/** Circular Gaussian smoothing of a 24-hour curve (mass preserving): out[h] = sum_d w(d) in[h + d]. */
function gaussianSmooth(input: Float64Array, out: Float64Array): void {
  for (let h = 0; h < 24; h++) {
    let v = 0;
    // d = +-12 are the same hour; each gets half its weight (the normalisation counts it once).
    for (let d = -12; d <= 12; d++) {
      const w = d === 12 || d === -12 ? GAUSS[d + 12] / 2 : GAUSS[d + 12];
      v += w * input[(h + d + 24) % 24];
    }
    out[h] = v;
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
