/**
 * The reward of one decision from the engagement event types counted on it, by the analysts' weights
 * (config reward.weights) and combine rule (config reward.combine). Pure.
 */
import type { AnalystConfig } from '#config/schema.ts';

export type RewardSettings = AnalystConfig['reward'];
export type RewardEventType = keyof RewardSettings['weights'];

/**
 * The weight of an event type, or undefined when the type does not count towards a reward
 * (e.g. notification_delivered, app_opened).
 * @example rewardWeight('notification_clicked', config.reward) // 1
 */
export function rewardWeight(type: string, reward: Pick<RewardSettings, 'weights'>): number | undefined {
  return Object.hasOwn(reward.weights, type) ? reward.weights[type as RewardEventType] : undefined;
}

/**
 * Whether an event of this type is worth an attribution write: a weight of 0 can change no reward
 * under either combine rule, so it costs nothing to leave it out.
 * @example isRewardedType('notification_delivered', config.reward) // false
 */
export function isRewardedType(type: string, reward: Pick<RewardSettings, 'weights'>): boolean {
  const weight = rewardWeight(type, reward);
  return weight !== undefined && weight !== 0;
}

/**
 * Combines the weights of the counted event types: 'sum' adds them all; 'max' keeps the strongest
 * positive one and adds every negative one (a click that ends in an unsubscribe is a net loss). No
 * events: 0.
 * @example computeReward(['notification_opened', 'notification_clicked'], { weights, combine: 'max' }) // 1
 * @example computeReward(['notification_clicked', 'unsubscribed'], { weights, combine: 'max' }) // 1 + -3
 */
export function computeReward(types: Iterable<string>, reward: Pick<RewardSettings, 'weights' | 'combine'>): number {
  let sum = 0;
  let bestPositive = 0;
  let negatives = 0;
  for (const type of new Set(types)) {
    const weight = rewardWeight(type, reward) ?? 0;
    sum += weight;
    if (weight > 0) bestPositive = Math.max(bestPositive, weight);
    else negatives += weight;
  }
  return reward.combine === 'sum' ? sum : bestPositive + negatives;
}
