/**
 * Population priors of the per-user features, from the users' observed history: what a deployment would
 * compute from its users table before starting the bandit (and refresh now and then).
 */
import type { ChannelName } from '#config/schema.ts';
import type { FeaturePriors } from '#model/features.ts';
import { CHANNELS, HOURS_PER_WEEK, type UserState } from '#model/user-state.ts';

/**
 * Population engagement and click rate per channel, and the population's share of engagement by local
 * hour of day (each user's histogram normalised first, so heavy users do not outvote everyone).
 * @example channelPriors(users) // { channelRates: { email: 0.17, push: 0.05, sms: 0.13 }, clickRates: {...}, hourOfDay: [...] }
 */
export function channelPriors(users: Iterable<UserState>): FeaturePriors {
  const sends = { email: 0, push: 0, sms: 0 };
  const engaged = { email: 0, push: 0, sms: 0 };
  const clicks = { email: 0, push: 0, sms: 0 };
  const hours = new Float64Array(24);
  const byHour = new Float64Array(24);
  let anyHours = false;
  for (const user of users) {
    for (const c of CHANNELS) {
      sends[c] += user.channels[c].sends;
      engaged[c] += Math.max(user.channels[c].opens, user.channels[c].clicks);
      clicks[c] += user.channels[c].clicks;
    }
    byHour.fill(0);
    let total = 0;
    for (let i = 0; i < HOURS_PER_WEEK; i++) {
      const v = Math.max(0, user.engagementByHourOfWeek[i]);
      byHour[i % 24] += v;
      total += v;
    }
    if (total > 0) {
      anyHours = true;
      for (let h = 0; h < 24; h++) hours[h] += byHour[h] / total;
    }
  }
  const channelRates: Partial<Record<ChannelName, number>> = {};
  const clickRates: Partial<Record<ChannelName, number>> = {};
  // Below a few dozen sends a rate is noise; the feature builder's default is better than that.
  for (const c of CHANNELS) {
    if (sends[c] >= 30) {
      channelRates[c] = engaged[c] / sends[c];
      clickRates[c] = clicks[c] / sends[c];
    }
  }
  return { channelRates, clickRates, ...(anyHours ? { hourOfDay: Array.from(hours) } : {}) };
}
