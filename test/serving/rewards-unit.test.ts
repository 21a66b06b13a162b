/**
 * The pure parts of rewards and the learner's memory: reward by weights and combine, the rewards-queue
 * message codec, the pruning of applied decision ids, and rewards published as metric values.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appliedEntry, dedupHorizonMs, fitApplied, pruneApplied } from '#lambdas/learner/applied-rewards.ts';
import {
  computeReward,
  decodeFeatureRow,
  encodeFeatureRow,
  isRewardedType,
  openRewardWindow,
  parseRewardMessage,
  REWARD_SHARD_COUNT,
  rewardShardFor,
} from '#lambdas/rewards/index.ts';
import { createMetrics, publishValues } from '#lambdas/shared/metrics.ts';
import { captureMetrics } from '#test/helpers/emf.ts';
import { HOUR, rewardMessage, T0, testConfig } from './rewards-fixtures.ts';

const weights = testConfig().reward.weights;
const TYPES = [...Object.keys(weights), 'notification_delivered', 'app_opened'];

describe('computeReward', () => {
  it('follows the config weights under both combine rules', () => {
    expect(computeReward([], { weights, combine: 'max' })).toBe(0);
    expect(computeReward(['notification_opened'], { weights, combine: 'max' })).toBe(0.3);
    expect(computeReward(['notification_opened', 'notification_clicked'], { weights, combine: 'max' })).toBe(1);
    expect(computeReward(['notification_opened', 'notification_clicked'], { weights, combine: 'sum' })).toBeCloseTo(
      1.3,
      12,
    );
    expect(computeReward(['complained', 'unsubscribed'], { weights, combine: 'max' })).toBe(-8);
    expect(computeReward(['notification_delivered', 'app_opened'], { weights, combine: 'sum' })).toBe(0);
  });

  it("never counts a type twice, ignores order, and 'max' never exceeds 'sum'", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TYPES), { maxLength: 12 }), (types) => {
        const max = computeReward(types, { weights, combine: 'max' });
        const sum = computeReward(types, { weights, combine: 'sum' });
        const distinct = [...new Set(types)];
        expect(computeReward([...distinct].reverse(), { weights, combine: 'max' })).toBe(max);
        expect(computeReward(distinct, { weights, combine: 'sum' })).toBeCloseTo(sum, 12);
        expect(max).toBeLessThanOrEqual(sum + 1e-12);
        const positives = distinct.filter((t) => (weights[t as keyof typeof weights] ?? 0) > 0);
        if (positives.length <= 1) expect(max).toBeCloseTo(sum, 12);
      }),
    );
  });

  it('writes only types that can change a reward', () => {
    expect(isRewardedType('notification_clicked', { weights })).toBe(true);
    expect(isRewardedType('unsubscribed', { weights })).toBe(true);
    expect(isRewardedType('notification_dismissed', { weights })).toBe(false);
    expect(isRewardedType('notification_delivered', { weights })).toBe(false);
    expect(isRewardedType('toString', { weights })).toBe(false);
  });
});

describe('reward window and message', () => {
  it('opens the window for the configured hours in a stable shard', () => {
    const w = openRewardWindow('dec-1', T0, { attributionWindowHours: 36 });
    expect(w.windowEndsAt).toBe(T0 + 36 * HOUR);
    expect(w.rewardShard).toBe(rewardShardFor('dec-1'));
    expect(w.rewardShard).toMatch(/^reward#[0-9]+$/);
    const shards = new Set(Array.from({ length: 200 }, (_, i) => rewardShardFor(`dec_req-${i}`)));
    expect(shards).toEqual(new Set(Array.from({ length: REWARD_SHARD_COUNT }, (_, n) => `reward#${n}`)));
  });

  it('round-trips a message and its feature row, and names the field of a bad one', () => {
    const row = Float32Array.from([0.5, -1, 3.25, 0]);
    const message = rewardMessage('dec-1', row, -3);
    const parsed = parseRewardMessage(JSON.stringify(message));
    expect(parsed).toEqual({ ok: true, value: message });
    expect(Array.from(decodeFeatureRow(encodeFeatureRow(row)))).toEqual(Array.from(row));
    expect(parseRewardMessage('{')).toEqual({ ok: false, reason: 'body is not JSON' });
    const bad = parseRewardMessage(JSON.stringify({ ...message, reward: 'high' }));
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.reason).toMatch(/^reward /);
  });

  it('never throws on arbitrary bodies', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (body) => {
        const parsed = parseRewardMessage(body);
        expect(typeof parsed.ok).toBe('boolean');
      }),
    );
  });
});

describe('memory of applied rewards', () => {
  it('keeps the newest entries within the window and capacity, the given order within a minute', () => {
    const now = T0 + 10 * HOUR;
    const old = appliedEntry('dec-old', now - 2 * HOUR);
    const a = appliedEntry('dec-a', now);
    const b = appliedEntry('dec-b', now);
    const c = appliedEntry('dec-c', now - 60_000);
    expect(pruneApplied([a, b, c, old], now, { capacity: 10, windowMs: HOUR })).toEqual([a, b, c]);
    expect(pruneApplied([a, b, c, old], now, { capacity: 2, windowMs: HOUR })).toEqual([a, b]);
    expect(pruneApplied([c, a], now, { capacity: 1, windowMs: HOUR })).toEqual([a]);
  });

  it('reports how far back the memory reaches, and how many ids fit next to the state', () => {
    const now = T0;
    const kept = [appliedEntry('a', now), appliedEntry('b', now - 5 * 60_000)];
    expect(dedupHorizonMs(kept, false, now, HOUR)).toBe(HOUR);
    expect(dedupHorizonMs(kept, true, now, HOUR)).toBe(now - Math.floor((now - 5 * 60_000) / 60_000) * 60_000);
    expect(fitApplied(20_000, 390_000)).toBe(Math.floor(370_000 / 12));
    expect(fitApplied(400_000, 390_000)).toBe(0);
  });
});

describe('rewards as metric values', () => {
  it('publishes every value under its dimensions, 100 per EMF line, leaving stored metrics their own', async () => {
    // Prepare
    const metrics = createMetrics('sweeper');
    const rewards = Array.from({ length: 250 }, (_, i) => (i % 4) / 4);

    // Act
    const { metrics: emitted } = await captureMetrics(async () => {
      metrics.addMetric('RewardsClosed', MetricUnit.Count, 250);
      publishValues(metrics, 'Reward', MetricUnit.NoUnit, { policy: 'holdout' }, rewards);
      publishValues(metrics, 'Reward', MetricUnit.NoUnit, { policy: 'bandit' }, []);
      metrics.addMetric('SendsEnqueued', MetricUnit.Count, 3);
      metrics.publishStoredMetrics();
    });

    // Assess
    const reward = emitted.filter((m) => m.name === 'Reward');
    expect(reward.map((m) => m.values.length)).toEqual([100, 100, 50]);
    expect(reward.flatMap((m) => m.values)).toEqual(rewards);
    for (const m of reward) expect(m.dimensions).toEqual({ service: 'sweeper', policy: 'holdout' });
    for (const name of ['RewardsClosed', 'SendsEnqueued']) {
      expect(emitted.find((m) => m.name === name)?.dimensions).toEqual({ service: 'sweeper' });
    }
  });
});
