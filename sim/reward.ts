/**
 * The reward of a decision as the analyst config defines it: the engagement events attributed to it
 * within the attribution window, combined by `reward.combine`, minus the cost of the channel it used.
 * The same function scores every policy, so "mean reward" means the same thing for all of them.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { logNormalCdf, sumOfLogNormalsCdf } from './math.ts';
import type { Population } from './population.ts';
import type { ResponseProbabilities } from './truth.ts';

/** Engagement the simulator produces for a notification. */
export type OutcomeEvent = 'notification_opened' | 'notification_clicked' | 'unsubscribed';

/**
 * Combines the attributed events: 'max' takes the strongest positive weight plus every negative one,
 * 'sum' adds them all; then the channel's cost is subtracted.
 * @example rewardOf(['notification_opened', 'notification_clicked'], 'email', config) // 1 - 0.001
 */
export function rewardOf(events: readonly OutcomeEvent[], channel: ChannelName, config: AnalystConfig): number {
  return engagementReward(events, config) - config.channels[channel].cost;
}

/** The engagement part of the reward (no channel cost). */
export function engagementReward(events: readonly OutcomeEvent[], config: AnalystConfig): number {
  const weights = config.reward.weights;
  if (config.reward.combine === 'sum') return events.reduce((a, e) => a + weights[e], 0);
  let best = 0;
  let negative = 0;
  for (const e of events) {
    const w = weights[e];
    if (w < 0) negative += w;
    else best = Math.max(best, w);
  }
  return best + negative;
}

/** Probabilities that each outcome happens within the attribution window, given that it happens at all. */
export interface WindowShares {
  open: number;
  openThenClick: number;
  unsubscribe: number;
}

/**
 * Per channel, the share of opens, clicks and unsubscribes that land inside the attribution window
 * (delays are log-normal, a click comes after its open).
 * @example windowShares(population, config).email.open // ~0.93 for a 24 h window
 */
export function windowShares(population: Population, config: AnalystConfig): Record<ChannelName, WindowShares> {
  const w = config.reward.attributionWindowHours * 60;
  const out = {} as Record<ChannelName, WindowShares>;
  for (const c of ['email', 'push', 'sms'] as const) {
    const spec = population.channels[c];
    const open = { median: spec.openDelay.medianMinutes, sigma: spec.openDelay.sigma };
    const click = { median: spec.clickDelay.medianMinutes, sigma: spec.clickDelay.sigma };
    out[c] = {
      open: logNormalCdf(w, open.median, open.sigma),
      openThenClick: sumOfLogNormalsCdf(w, open, click),
      unsubscribe: logNormalCdf(w, spec.unsubscribeDelay.medianMinutes, spec.unsubscribeDelay.sigma),
    };
  }
  return out;
}

/**
 * Expected reward of a send with these response probabilities: what the oracle maximises.
 * Exact for the simulator's outcome model (open, then click given open; unsubscribe independent).
 * @example expectedReward({ open: 0.2, clickGivenOpen: 0.1, unsubscribe: 0.001 }, shares.email, 'email', config)
 */
export function expectedReward(
  p: ResponseProbabilities,
  shares: WindowShares,
  channel: ChannelName,
  config: AnalystConfig,
): number {
  const pClick = p.open * p.clickGivenOpen * shares.openThenClick;
  const pOpenOnly = Math.max(0, p.open * shares.open - pClick);
  const pNone = 1 - pClick - pOpenOnly;
  const pUnsub = p.unsubscribe * shares.unsubscribe;
  const value = (events: OutcomeEvent[]) =>
    (1 - pUnsub) * engagementReward(events, config) + pUnsub * engagementReward([...events, 'unsubscribed'], config);
  return (
    pClick * value(['notification_opened', 'notification_clicked']) +
    pOpenOnly * value(['notification_opened']) +
    pNone * value([]) -
    config.channels[channel].cost
  );
}
