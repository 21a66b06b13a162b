/**
 * Reward attribution and window closing on the local stack (DynamoDB Local + fauxqs): events counted
 * once per decision and type, only within the window, rewards by the config's weights and combine,
 * windows without engagement closed with 0, and a closer that dies between sending and closing; the
 * closed rewards split by policy (bandit, holdout) and the sweeper's `Reward` metric.
 */
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnalystConfig } from '#config/schema.ts';
import { type IngestEvent, parseIngestEvent } from '#events/index.ts';
import { learnRewards } from '#lambdas/learner/learner.ts';
import {
  type AttributionDeps,
  attributeEngagement,
  CLOSER_WATERMARK_ID,
  type CloseDeps,
  closeExpiredRewards,
  DEFAULT_INDEX_SETTLE_MS,
  DEFAULT_LATE_EVENT_GRACE_MS,
  decodeFeatureRow,
  type RewardsLogger,
  settledReward,
} from '#lambdas/rewards/index.ts';
import { staticConfigSource } from '#lambdas/shared/config-source.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { createMetrics, METRICS_NAMESPACE } from '#lambdas/shared/metrics.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { createSweeperHandler } from '#lambdas/sweeper/handler.ts';
import type { LocalStack } from '#local/stack.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { captureMetrics } from '#test/helpers/emf.ts';
import {
  makeAppOpened,
  makeNotificationClicked,
  makeNotificationDelivered,
  makeProfileUpsert,
} from '#test/helpers/event-factories.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { lambdaContext } from './dispatch-fixtures.ts';
import {
  clearServingState,
  drainQueue,
  engagement,
  ensureRewardWindowIndex,
  featureRow,
  HOUR,
  putSentDecision,
  readDecision,
  T0,
  testConfig,
} from './rewards-fixtures.ts';

const stack = useLocalStack();
beforeAll(async () => {
  await Promise.all([ensureRewardWindowIndex(stack()), initTensorBackend('cpu')]);
});
beforeEach(async () => {
  await clearServingState(stack());
});

const GRACE = DEFAULT_LATE_EVENT_GRACE_MS;
const quiet: RewardsLogger = { info: () => {}, warn: () => {}, error: () => {} };

function attribution(s: LocalStack, config: AnalystConfig, now: number): AttributionDeps {
  return {
    doc: s.clients.doc,
    decisionsTable: s.tableNames.decisions,
    reward: config.reward,
    now: () => now,
    logger: quiet,
  };
}

function closing(s: LocalStack, config: AnalystConfig, overrides: Partial<CloseDeps> = {}): CloseDeps {
  return {
    doc: s.clients.doc,
    sqs: s.clients.sqs,
    decisionsTable: s.tableNames.decisions,
    rewardsQueueUrl: s.queueUrls.rewards,
    reward: config.reward,
    configVersion: config.version,
    logger: quiet,
    ...overrides,
  };
}

/** After the window (24 h by default), the late-event grace and the index's settle time. */
const AFTER_CLOSE = T0 + 24 * HOUR + GRACE + DEFAULT_INDEX_SETTLE_MS + 1;

/**
 * A decision sent at `sentAt`. Dispatch sends at the present, so a real window always ends after the
 * closer's watermark; these sends are in the past of earlier closings in the same test, so the watermark
 * is forgotten first.
 */
async function sendDecision(s: LocalStack, config: AnalystConfig, decisionId: string, seed = 1, sentAt = T0) {
  await s.clients.doc.send(
    new DeleteCommand({ TableName: s.tableNames.decisions, Key: { decisionId: CLOSER_WATERMARK_ID } }),
  );
  const features = featureRow(new Rng(seed));
  await putSentDecision(s, { decisionId, userId: 'user-1', sentAt, features }, config);
  return features;
}

/** Attributes the event types to a fresh decision, closes its window, and returns the reward sent. */
async function rewardOf(config: AnalystConfig, decisionId: string, types: string[]): Promise<number> {
  const s = stack();
  await sendDecision(s, config, decisionId);
  const events = types.map((type, i) => engagement(type, decisionId, T0 + (i + 1) * 60_000));
  await attributeEngagement(events, attribution(s, config, T0 + HOUR));
  await closeExpiredRewards(closing(s, config), AFTER_CLOSE);
  const messages = (await drainQueue(s, s.queueUrls.rewards)).filter((m) => m.decisionId === decisionId);
  expect(messages).toHaveLength(1);
  return messages[0].reward;
}

describe('reward attribution', () => {
  it('counts an event type once per decision, however often it is delivered', async () => {
    // Prepare: a click delivered twice (same event id), a second click event, an open in a later batch
    const s = stack();
    const config = testConfig();
    await sendDecision(s, config, 'dec-dup');
    const click = engagement('notification_clicked', 'dec-dup', T0 + 60_000);
    const deps = attribution(s, config, T0 + HOUR);

    // Act
    const first = await attributeEngagement(
      [click, click, engagement('notification_clicked', 'dec-dup', T0 + 120_000)],
      deps,
    );
    const redelivered = await attributeEngagement([click], deps);
    const open = await attributeEngagement([engagement('notification_opened', 'dec-dup', T0 + 180_000)], deps);

    // Assess
    expect(first.counted).toBe(1);
    expect(first.notCounted.duplicate).toBe(2);
    expect(first.writeRequests).toBe(1);
    expect(redelivered.counted).toBe(0);
    expect(redelivered.notCounted.duplicate).toBe(1);
    expect(open.counted).toBe(1);
    const item = await readDecision(s, 'dec-dup');
    expect([...(item.rewardEvents as Set<string>)].sort()).toEqual(['notification_clicked', 'notification_opened']);
    await closeExpiredRewards(closing(s, config), AFTER_CLOSE);
    const [message, ...rest] = await drainQueue(s, s.queueUrls.rewards);
    expect(rest).toHaveLength(0);
    expect(message.reward).toBe(1);
  });

  it('ignores events after the window, events arriving past the grace, and events after the close', async () => {
    // Prepare
    const s = stack();
    const config = testConfig();
    await sendDecision(s, config, 'dec-late');
    const windowEnd = T0 + 24 * HOUR;

    // Act: a click one second after the window; an open inside the window that arrives after the grace;
    // a conversion in the window, arriving in time, in the same batch as the late click
    const late = await attributeEngagement(
      [
        engagement('notification_clicked', 'dec-late', windowEnd + 1000),
        engagement('converted', 'dec-late', windowEnd - 1000),
      ],
      attribution(s, config, windowEnd + 5000),
    );
    const tooLate = await attributeEngagement(
      [engagement('notification_opened', 'dec-late', windowEnd - 1000)],
      attribution(s, config, windowEnd + GRACE + 1000),
    );
    const closed = await closeExpiredRewards(closing(s, config), AFTER_CLOSE);
    // a complaint in the window that arrives once the window is closed (the closer waited grace + settle)
    const afterClose = await attributeEngagement(
      [engagement('complained', 'dec-late', windowEnd - 1)],
      attribution(s, config, AFTER_CLOSE),
    );

    // Assess: only the conversion counted; its reward was sent
    expect(late.counted).toBe(1);
    expect(late.notCounted.outside_window).toBe(1);
    expect(tooLate.counted).toBe(0);
    expect(tooLate.notCounted.outside_window).toBe(1);
    expect(closed.closed).toBe(1);
    expect(afterClose.counted).toBe(0);
    expect(afterClose.notCounted.outside_window).toBe(1);
    const item = await readDecision(s, 'dec-late');
    expect([...(item.rewardEvents as Set<string>)]).toEqual(['converted']);
    expect(settledReward(item, config.reward, AFTER_CLOSE)).toEqual({ closed: true, reward: 1 });
    const messages = await drainQueue(s, s.queueUrls.rewards);
    expect(messages.map((m) => [m.decisionId, m.reward, m.events])).toEqual([['dec-late', 1, ['converted']]]);
  });

  it('refuses events of another user, of unknown decisions and of decisions not sent, creating no item', async () => {
    // Prepare: one decision sent to user-1, one decided but never sent (no window)
    const s = stack();
    const config = testConfig();
    await sendDecision(s, config, 'dec-mine');
    await s.clients.doc.send(
      new UpdateCommand({
        TableName: s.tableNames.decisions,
        Key: { decisionId: 'dec-unsent' },
        UpdateExpression: 'SET userId = :u, #s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':u': 'user-1', ':s': 'scheduled' },
      }),
    );

    // Act
    const outcome = await attributeEngagement(
      [
        engagement('notification_clicked', 'dec-mine', T0 + 1000, { userId: 'user-2' }),
        engagement('notification_clicked', 'dec-nobody', T0 + 1000),
        engagement('notification_clicked', 'dec-unsent', T0 + 1000),
        engagement('notification_delivered', 'dec-mine', T0 + 1000),
        { ...engagement('notification_clicked', 'x', T0), decisionId: undefined },
      ],
      attribution(s, config, T0 + HOUR),
    );

    // Assess
    expect(outcome.counted).toBe(0);
    expect(outcome.notCounted).toMatchObject({ other_user: 1, unknown_decision: 1, not_sent: 1, not_rewarded: 1 });
    expect(outcome.writeRequests).toBe(3);
    expect((await readDecision(s, 'dec-mine')).rewardEvents).toBeUndefined();
    await expect(readDecision(s, 'dec-nobody')).rejects.toThrow(/no decision item/);
  });
});

describe('reward attribution from ingest', () => {
  it("takes ingest's parsed events as they are and attributes only what carries a decision and a weight", async () => {
    // Prepare: the events of one ingest batch, parsed by the events contract
    const s = stack();
    const config = testConfig();
    await sendDecision(s, config, 'dec-ingest');
    const at = new Date(T0 + 60_000).toISOString();
    const bodies = [
      makeNotificationClicked({ decisionId: 'dec-ingest', occurredAt: at }),
      makeNotificationDelivered({ decisionId: 'dec-ingest', occurredAt: at }),
      makeAppOpened({ occurredAt: at }),
      makeProfileUpsert(),
    ].map((e) => JSON.stringify(e));
    const events: IngestEvent[] = bodies.flatMap((body) => {
      const parsed = parseIngestEvent(body);
      return parsed.ok ? [parsed.value] : [];
    });

    // Act
    const outcome = await attributeEngagement(events, attribution(s, config, T0 + HOUR));

    // Assess
    expect(events).toHaveLength(4);
    expect(outcome).toMatchObject({ counted: 1, writeRequests: 1, failedEventIds: [] });
    expect(outcome.notCounted.not_rewarded).toBe(1);
    expect([...((await readDecision(s, 'dec-ingest')).rewardEvents as Set<string>)]).toEqual(['notification_clicked']);
  });
});

describe('reward by the config weights', () => {
  it('gives an unsubscribe its negative weight', async () => {
    const config = testConfig();
    expect(await rewardOf(config, 'dec-unsub', ['unsubscribed'])).toBe(-3);
    expect(await rewardOf(config, 'dec-complaint', ['notification_opened', 'complained'])).toBeCloseTo(0.3 - 5, 12);
  });

  it("combines several events by 'max' (strongest positive plus the negatives) or by 'sum'", async () => {
    const max = testConfig({ combine: 'max' });
    const sum = testConfig({ combine: 'sum' });
    const engaged = ['notification_opened', 'notification_clicked', 'converted'];
    expect(await rewardOf(max, 'dec-max', engaged)).toBe(1);
    expect(await rewardOf(sum, 'dec-sum', engaged)).toBeCloseTo(2.3, 12);
    const regret = ['notification_clicked', 'unsubscribed'];
    expect(await rewardOf(max, 'dec-max-neg', regret)).toBe(-2);
    expect(await rewardOf(sum, 'dec-sum-neg', regret)).toBe(-2);
  });

  it('uses the weights the config gives', async () => {
    const config = testConfig({ weights: { ...testConfig().reward.weights, notification_opened: 0.7 } });
    expect(await rewardOf(config, 'dec-weights', ['notification_opened'])).toBe(0.7);
  });
});

describe('window closing', () => {
  it('closes a window without engagement with reward 0, only once its end, the grace and the settle time have passed', async () => {
    // Prepare
    const s = stack();
    const config = testConfig();
    const features = await sendDecision(s, config, 'dec-quiet', 7);

    // Act: before the end, after the end but within the grace, within the settle time, after all, and once more
    const early = await closeExpiredRewards(closing(s, config), T0 + 24 * HOUR - 1);
    const inGrace = await closeExpiredRewards(closing(s, config), T0 + 24 * HOUR + GRACE - 1);
    const settling = await closeExpiredRewards(closing(s, config), AFTER_CLOSE - 1);
    const due = await closeExpiredRewards(closing(s, config), AFTER_CLOSE);
    const again = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + HOUR);

    // Assess: one message; no write on the decision, one watermark write per call that moved it
    expect(early.closed + inGrace.closed + settling.closed).toBe(0);
    expect(due).toMatchObject({ closed: 1, sent: 1, failed: 0, writeRequests: 1 });
    expect(again).toMatchObject({ closed: 0, sent: 0, writeRequests: 0 });
    const item = await readDecision(s, 'dec-quiet');
    expect(item.rewardClosed).toBeUndefined();
    expect(settledReward(item, config.reward, T0 + 24 * HOUR + GRACE - 1)).toEqual({ closed: false });
    expect(settledReward(item, config.reward, AFTER_CLOSE)).toEqual({ closed: true, reward: 0 });
    const watermark = await readDecision(s, CLOSER_WATERMARK_ID);
    const shard = Number((item.rewardShard as string).split('#')[1]);
    // moved by the call that closed it; a later call that finds nothing writes nothing
    expect(watermark[`closedThrough${shard}`]).toBe(AFTER_CLOSE - GRACE - DEFAULT_INDEX_SETTLE_MS - 1);
    const messages = await drainQueue(s, s.queueUrls.rewards);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ decisionId: 'dec-quiet', reward: 0, events: [], closedAt: AFTER_CLOSE });
    expect(Array.from(decodeFeatureRow(messages[0].features))).toEqual(Array.from(features));
  });

  it('closes an unconfirmed send without engagement without teaching the learner', async () => {
    const s = stack();
    const config = testConfig();
    await putSentDecision(
      s,
      { decisionId: 'dec-maybe', userId: 'user-1', sentAt: T0, features: featureRow(new Rng(3)), status: 'maybe_sent' },
      config,
    );
    const outcome = await closeExpiredRewards(closing(s, config), AFTER_CLOSE);
    const again = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + HOUR);
    expect(outcome).toMatchObject({ closed: 1, sent: 0, closedWithoutMessage: 1 });
    expect(again.closed).toBe(0);
    expect(await drainQueue(s, s.queueUrls.rewards)).toHaveLength(0);
    expect(settledReward(await readDecision(s, 'dec-maybe'), config.reward, AFTER_CLOSE)).toEqual({
      closed: true,
      reward: 0,
    });
  });

  it('closes many decisions across shards and pages, within the per-call budget', async () => {
    // Prepare: 30 decisions sent a second apart, windows ended
    const s = stack();
    const config = testConfig();
    const ids = Array.from({ length: 30 }, (_, i) => `dec-many-${i}`);
    await Promise.all(ids.map((id, i) => sendDecision(s, config, id, i + 1, T0 + i * 1000)));

    // Act: a budget of 16 per call
    const first = await closeExpiredRewards(closing(s, config, { maxDecisions: 16 }), AFTER_CLOSE + 30_000);
    const rest = await closeExpiredRewards(closing(s, config, { maxDecisions: 100 }), AFTER_CLOSE + 30_000);

    // Assess
    expect(first.closed).toBeLessThanOrEqual(16);
    expect(first.closed + rest.closed).toBe(30);
    const messages = await drainQueue(s, s.queueUrls.rewards);
    expect(new Set(messages.map((m) => m.decisionId))).toEqual(new Set(ids));
    expect(messages).toHaveLength(30);
  });

  it('never splits decisions whose windows end at the same instant across the budget', async () => {
    // Prepare: 40 decisions sent at the same millisecond, a budget of 8 (4 per shard)
    const s = stack();
    const config = testConfig();
    const ids = Array.from({ length: 40 }, (_, i) => `dec-same-${i}`);
    await Promise.all(ids.map((id, i) => sendDecision(s, config, id, i + 1)));

    // Act
    const first = await closeExpiredRewards(closing(s, config, { maxDecisions: 8 }), AFTER_CLOSE);
    const second = await closeExpiredRewards(closing(s, config, { maxDecisions: 8 }), AFTER_CLOSE + 60_000);

    // Assess: the watermark can only stand at that instant, so every one of them goes in the first call
    expect(first).toMatchObject({ closed: 40, sent: 40 });
    expect(second.sent).toBe(0);
    const messages = await drainQueue(s, s.queueUrls.rewards);
    expect(new Set(messages.map((m) => m.decisionId))).toEqual(new Set(ids));
    expect(messages).toHaveLength(40);
  });

  it('stops the watermark before a reward the queue refused, and sends it on the next sweep', async () => {
    // Prepare: three decisions in one shard's order; the queue refuses the middle one's message once
    const s = stack();
    const config = testConfig();
    const ids = ['dec-refused-a', 'dec-refused-b', 'dec-refused-c'];
    await Promise.all(ids.map((id, i) => sendDecision(s, config, id, i + 1, T0 + i * 1000)));
    let refusals = 0;
    const refusing = new Proxy(s.clients.sqs, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { input: { Entries?: { Id: string; MessageBody: string }[] } }) => {
          const entries = command.input.Entries ?? [];
          const refused = refusals++ === 0 ? entries.filter((e) => e.MessageBody.includes('dec-refused-b')) : [];
          const kept = entries.filter((e) => !refused.includes(e));
          const sent = kept.length
            ? await target.send(new SendMessageBatchCommand({ ...command.input, Entries: kept } as never))
            : { Successful: [] };
          return { ...sent, Failed: refused.map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })) };
        };
      },
    });

    // Act
    const first = await closeExpiredRewards(closing(s, config, { sqs: refusing }), AFTER_CLOSE + 2000);
    const second = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 60_000);
    const third = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 120_000);

    // Assess: b's reward is sent in the end; nothing is lost, nothing is sent after the shards settled
    expect(first).toMatchObject({ sent: 2, failed: 1 });
    expect(second.sent).toBeGreaterThanOrEqual(1);
    expect(third.sent).toBe(0);
    const sent = (await drainQueue(s, s.queueUrls.rewards)).map((m) => m.decisionId);
    expect(new Set(sent)).toEqual(new Set(ids));
    expect(sent.filter((id) => id === 'dec-refused-b')).toHaveLength(1);
  });

  it('resends, never loses, the reward of a closer that died between sending and closing', async () => {
    // Prepare: a clicked decision; a document client whose close write fails as if the closer died
    const s = stack();
    const config = testConfig();
    await sendDecision(s, config, 'dec-crash');
    await attributeEngagement(
      [engagement('notification_clicked', 'dec-crash', T0 + 1000)],
      attribution(s, config, T0 + HOUR),
    );
    const dying = new Proxy(s.clients.doc, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (command: { constructor: { name: string } }) => {
          if (command.constructor.name === 'UpdateCommand') return Promise.reject(new Error('sandbox killed'));
          return target.send(command as never);
        };
      },
    });

    // Act
    const crashed = await closeExpiredRewards(closing(s, config, { doc: dying }), AFTER_CLOSE);
    const retried = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 60_000);

    const after = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 120_000);

    // Assess: sent twice with the same reward, closed once (and its reward counted once), then never again
    expect(crashed).toMatchObject({ sent: 1, closed: 0, failed: 1 });
    expect(retried).toMatchObject({ sent: 1, closed: 1 });
    expect(crashed.rewardByPolicy.bandit.count).toBe(0);
    expect(retried.rewardByPolicy.bandit).toEqual({ count: 1, sum: 1, rewards: [1] });
    expect(after).toMatchObject({ sent: 0, closed: 0 });
    const messages = await drainQueue(s, s.queueUrls.rewards);
    expect(messages.map((m) => [m.decisionId, m.reward])).toEqual([
      ['dec-crash', 1],
      ['dec-crash', 1],
    ]);
    expect(settledReward(await readDecision(s, 'dec-crash'), config.reward, AFTER_CLOSE)).toEqual({
      closed: true,
      reward: 1,
    });
    // and the learner applies the reward once
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'crash');
    const learned = await learnRewards(
      messages.map((m, i) => ({ messageId: `m-${i}`, body: JSON.stringify(m) })),
      { store, config, now: () => AFTER_CLOSE, logger: quiet },
    );
    expect(learned).toMatchObject({ applied: 1, duplicates: 1, failures: [] });
    expect((await store.readHead())?.state.bandit.updates).toBe(1);
  });
});

describe('reward by policy', () => {
  /** Bandit: a click, a quiet send, an item written without `holdout`. Holdout: a click, an unconfirmed quiet send. */
  async function sendMixedDecisions(s: LocalStack, config: AnalystConfig): Promise<void> {
    const sent = [
      { decisionId: 'dec-b-click', holdout: false },
      { decisionId: 'dec-b-quiet', holdout: false },
      { decisionId: 'dec-b-old' },
      { decisionId: 'dec-h-click', holdout: true },
      { decisionId: 'dec-h-maybe', holdout: true, status: 'maybe_sent' },
    ];
    await Promise.all(
      sent.map((d, i) =>
        putSentDecision(
          s,
          { userId: `user-${i}`, sentAt: T0 + i * 1000, features: featureRow(new Rng(i + 1)), ...d },
          config,
        ),
      ),
    );
    await s.clients.doc.send(
      new UpdateCommand({
        TableName: s.tableNames.decisions,
        Key: { decisionId: 'dec-b-old' },
        UpdateExpression: 'REMOVE holdout',
      }),
    );
    await attributeEngagement(
      [
        engagement('notification_clicked', 'dec-b-click', T0 + HOUR, { userId: 'user-0' }),
        engagement('notification_clicked', 'dec-h-click', T0 + HOUR, { userId: 'user-3' }),
      ],
      attribution(s, config, T0 + 2 * HOUR),
    );
  }

  it('splits the closed rewards into the bandit and the holdout, counting unconfirmed sends as sto report does', async () => {
    // Prepare
    const s = stack();
    const config = testConfig();
    await sendMixedDecisions(s, config);

    // Act
    const outcome = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 10_000);
    const again = await closeExpiredRewards(closing(s, config), AFTER_CLOSE + 70_000);

    // Assess: no extra request for it (one GetItem, one Query per shard, one watermark write)
    expect(outcome).toMatchObject({ closed: 5, sent: 4, closedWithoutMessage: 1, readRequests: 3, writeRequests: 1 });
    const { bandit, holdout } = outcome.rewardByPolicy;
    expect({ count: bandit.count, sum: bandit.sum, rewards: [...bandit.rewards].sort() }).toEqual({
      count: 3,
      sum: 1,
      rewards: [0, 0, 1],
    });
    expect({ count: holdout.count, sum: holdout.sum, rewards: [...holdout.rewards].sort() }).toEqual({
      count: 2,
      sum: 1,
      rewards: [0, 1],
    });
    expect(again.rewardByPolicy).toEqual({
      bandit: { count: 0, sum: 0, rewards: [] },
      holdout: { count: 0, sum: 0, rewards: [] },
    });
  });

  it('the sweeper emits each closed reward as a Reward value under its policy', async () => {
    // Prepare
    const s = stack();
    const config = testConfig();
    await sendMixedDecisions(s, config);
    const handler = createSweeperHandler({
      doc: s.clients.doc,
      sqs: s.clients.sqs,
      decisionsTable: s.tableNames.decisions,
      dispatchQueueUrl: s.queueUrls.dispatch,
      requestsQueueUrl: s.queueUrls.requests,
      rewardsQueueUrl: s.queueUrls.rewards,
      configSource: staticConfigSource(config),
      now: () => AFTER_CLOSE + 10_000,
      logger: createLogger('sweeper-test', { logLevel: 'SILENT' }),
      metrics: createMetrics('sweeper'),
    });

    // Act
    const { result, metrics } = await captureMetrics(() => handler(undefined, lambdaContext()));

    // Assess
    expect(result.rewardsClosed).toBe(5);
    const rewards = metrics.filter((m) => m.name === 'Reward');
    for (const m of rewards) {
      expect(m).toMatchObject({ namespace: METRICS_NAMESPACE, unit: 'None' });
      expect(Object.keys(m.dimensions).sort()).toEqual(['policy', 'service']);
    }
    const valuesOf = (policy: string) =>
      rewards
        .filter((m) => m.dimensions.policy === policy)
        .flatMap((m) => m.values)
        .sort();
    expect(valuesOf('bandit')).toEqual([0, 0, 1]);
    expect(valuesOf('holdout')).toEqual([0, 1]);
    const closed = metrics.find((m) => m.name === 'RewardsClosed');
    expect(closed).toMatchObject({ values: [5], dimensions: { service: 'sweeper' } });
    expect(closed?.dimensions.policy).toBeUndefined();
  });
});
