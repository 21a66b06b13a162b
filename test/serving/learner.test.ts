/**
 * The learner on the local stack: every reward applied exactly once with concurrent learners and
 * redelivered, overlapping batches; invalid records failing alone; the memory of applied decision ids
 * bounded and the model item under DynamoDB's 400 KB; the metrics the handler emits.
 */
import type { SQSEvent } from 'aws-lambda';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnalystConfig } from '#config/schema.ts';
import { decodeApplied } from '#lambdas/learner/applied-rewards.ts';
import { ModelItemTooLargeError } from '#lambdas/learner/errors.ts';
import { createLearnerHandler } from '#lambdas/learner/handler.ts';
import {
  type LearnerDeps,
  type LearnerLogger,
  type LearnerModelStore,
  type LearnerModelVersion,
  type LearnOutcome,
  learnRewards,
  type RewardRecord,
} from '#lambdas/learner/learner.ts';
import type { RewardMessage } from '#lambdas/rewards/index.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { createMetrics, METRICS_NAMESPACE } from '#lambdas/shared/metrics.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { createQueuePoller, type SqsEventSourcePoller } from '#local/poller.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { handlerDeps } from '#test/helpers/config-source.ts';
import { captureMetrics, totals } from '#test/helpers/emf.ts';
import { makeSqsEvent } from '#test/helpers/event-factories.ts';
import { sendBodies } from '#test/helpers/local-queues.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { lambdaContext } from './dispatch-fixtures.ts';
import {
  clearServingState,
  decisionsOf,
  featureRow,
  maxDifference,
  posteriorOf,
  referenceState,
  rewardMessage,
  T0,
  testConfig,
} from './rewards-fixtures.ts';

const stack = useLocalStack();
beforeAll(async () => {
  await initTensorBackend('cpu');
});
beforeEach(async () => {
  await clearServingState(stack());
});

const config: AnalystConfig = testConfig({}, { algorithm: 'linucb', alpha: 0.5 });

interface RecordingLogger extends LearnerLogger {
  warnings: string[];
}

function recordingLogger(): RecordingLogger {
  const warnings: string[] = [];
  return { warnings, info: () => {}, warn: (message: string) => void warnings.push(message), error: () => {} };
}

function learnerDeps(store: LearnerModelStore, overrides: Partial<LearnerDeps> = {}): LearnerDeps {
  return { store, config, now: () => T0, logger: recordingLogger(), maxAttempts: 20, ...overrides };
}

/** n rewards for distinct decisions, with costs on some channels so the net reward differs from the reward. */
function makeRewards(n: number, seed: number, prefix = 'dec'): RewardMessage[] {
  const rng = new Rng(seed);
  const weights = [0, 0, 0.3, 1, -3];
  return Array.from({ length: n }, (_, i) =>
    rewardMessage(
      `${prefix}-${i}`,
      featureRow(rng, i % 3 === 0 ? 0.05 : 0),
      weights[rng.nextUint32() % weights.length],
    ),
  );
}

let seq = 0;
function records(messages: readonly RewardMessage[]): RewardRecord[] {
  return messages.map((m) => ({ messageId: `msg-${++seq}`, body: JSON.stringify(m) }));
}

/** Checks that a head state equals a single learner's applying `distinct` once. */
function expectAppliedOnce(state: Parameters<typeof posteriorOf>[0], distinct: readonly RewardMessage[]) {
  const want = referenceState(config, distinct);
  const got = posteriorOf(state);
  const ref = posteriorOf(want);
  expect(got.updates).toBe(distinct.length);
  expect(maxDifference(got.rewardSum, ref.rewardSum)).toBeLessThan(1e-9);
  expect(maxDifference(got.covariance, ref.covariance)).toBeLessThan(1e-9);
  expect(decisionsOf(state)).toEqual(decisionsOf(want));
}

/** The head version, which the test expects to exist. */
async function headOf(store: LearnerModelStore): Promise<LearnerModelVersion> {
  const head = await store.readHead();
  if (!head) throw new Error(`model ${store.modelId} has no version`);
  return head;
}

let pollers: SqsEventSourcePoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  pollers = [];
});

describe('learner', () => {
  it('applies each reward once when two learners race on overlapping, redelivered batches', async () => {
    // Prepare: 40 rewards; learner A gets 0..29, learner B gets 15..39, each batch also redelivered;
    // A reads the head, then waits until B has written, so A's first write must lose
    const s = stack();
    const rewards = makeRewards(40, 1);
    const base = modelTableStore(s.clients.doc, s.tableNames.model, 'race');
    let releaseA: () => void = () => {};
    const bWrote = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    let aReads = 0;
    const storeA: LearnerModelStore = {
      ...base,
      readHead: async () => {
        const head = await base.readHead();
        if (aReads++ === 0) await bWrote;
        return head;
      },
    };
    const storeB: LearnerModelStore = {
      ...base,
      writeVersion: async (next) => {
        const won = await base.writeVersion(next);
        releaseA();
        return won;
      },
    };
    const batchesA = [rewards.slice(0, 20), rewards.slice(10, 30), rewards.slice(0, 20)];
    const batchesB = [rewards.slice(15, 40), rewards.slice(15, 40)];

    // Act
    const run = async (store: LearnerModelStore, batches: RewardMessage[][]) => {
      const outcomes: LearnOutcome[] = [];
      for (const batch of batches) outcomes.push(await learnRewards(records(batch), learnerDeps(store)));
      return outcomes;
    };
    const [outA, outB] = await Promise.all([run(storeA, batchesA), run(storeB, batchesB)]);

    // Assess
    const all = [...outA, ...outB];
    expect(all.flatMap((o) => o.failures)).toEqual([]);
    expect(outA[0].conflicts).toBeGreaterThanOrEqual(1);
    expect(all.reduce((n, o) => n + o.applied, 0)).toBe(40);
    const head = await headOf(base);
    expectAppliedOnce(head.state, rewards);
    expect(decodeApplied(head.appliedRewards)).toHaveLength(40);
    // the redelivered batches wrote nothing
    expect(outA[2]).toMatchObject({ applied: 0, duplicates: 20 });
    expect(outB[1]).toMatchObject({ applied: 0, duplicates: 25 });
    expect([outA[2].version, outB[1].version]).toEqual([undefined, undefined]);
    // B wrote 15..39, A 0..14 after losing once; A's 10..29 was then known entirely
    expect(all.map((o) => o.version)).toEqual([2, undefined, undefined, 1, undefined]);
    expect(head.version).toBe(2);
  });

  it('applies each reward once through the rewards queue with concurrent learner invocations', async () => {
    // Prepare: 120 distinct rewards, 40 of them sent twice, and the real handler behind two pollers
    const s = stack();
    const rewards = makeRewards(120, 2, 'dec-q');
    const bodies = [...rewards, ...rewards.slice(30, 70)].map((m) => JSON.stringify(m));
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'queue');
    const handler = createLearnerHandler({
      ...handlerDeps(learnerDeps(store)),
      logger: createLogger('learner-test', { logLevel: 'ERROR' }),
    });
    const options = { visibilityTimeoutSeconds: 2, batchSize: 20, maxBatchingWindowMs: 30, concurrency: 1 };

    // Act
    await sendBodies(s.clients.sqs, s.queueUrls.rewards, bodies);
    for (let i = 0; i < 2; i++) pollers.push(createQueuePoller(s, 'rewards', handler, options).start());
    await Promise.all(pollers.map((p) => p.drain({ timeoutMs: 30_000 })));

    // Assess
    const head = await headOf(store);
    expectAppliedOnce(head.state, rewards);
    expect(pollers.reduce((n, p) => n + p.stats.deleted, 0)).toBe(bodies.length);
  });

  it('fails an invalid record alone and learns the others', async () => {
    // Prepare
    const s = stack();
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'poison');
    const handler = createLearnerHandler({
      ...handlerDeps(learnerDeps(store)),
      logger: createLogger('learner-test', { logLevel: 'ERROR' }),
    });
    const good = makeRewards(3, 3, 'dec-ok');
    const short = { ...rewardMessage('dec-short', new Float32Array(4), 1) };
    const bodies = [
      ...good.map((m) => JSON.stringify(m)),
      'not json',
      JSON.stringify(short),
      JSON.stringify({ ...good[0], reward: 'x' }),
    ];
    const event = {
      Records: bodies.map((body, i) => ({
        messageId: `m-${i}`,
        body,
        receiptHandle: `r-${i}`,
        attributes: {},
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: s.queueArns.rewards,
        awsRegion: s.region,
      })),
    } as unknown as SQSEvent;

    // Act
    const response = await handler(event, {} as never);

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-3', 'm-4', 'm-5']);
    const head = await headOf(store);
    expectAppliedOnce(head.state, good);
  });

  it('emits rewards applied, duplicates skipped and messages refused for good, per batch', async () => {
    // Prepare: 4 rewards and a malformed message; then the 4 again with one new reward
    const s = stack();
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'metrics');
    const handler = createLearnerHandler({
      ...handlerDeps(learnerDeps(store)),
      logger: createLogger('learner-test', { logLevel: 'SILENT' }),
      metrics: createMetrics('learner'),
    });
    const rewards = makeRewards(5, 6, 'dec-metric');
    const bodies = (messages: RewardMessage[]) => messages.map((m) => JSON.stringify(m));

    // Act
    const first = await captureMetrics(() =>
      handler(makeSqsEvent([...bodies(rewards.slice(0, 4)), 'not json']), lambdaContext()),
    );
    const second = await captureMetrics(() => handler(makeSqsEvent(bodies(rewards)), lambdaContext()));

    // Assess
    expect(first.result.batchItemFailures).toHaveLength(1);
    const counts = (metrics: typeof first.metrics) =>
      Object.fromEntries(
        ['RewardsApplied', 'RewardDuplicatesSkipped', 'RewardsRejected', 'ModelWriteConflicts'].map((name) => [
          name,
          totals(metrics, name, [])[''],
        ]),
      );
    expect(counts(first.metrics)).toEqual({
      RewardsApplied: 4,
      RewardDuplicatesSkipped: 0,
      RewardsRejected: 1,
      ModelWriteConflicts: 0,
    });
    expect(counts(second.metrics)).toMatchObject({ RewardsApplied: 1, RewardDuplicatesSkipped: 4, RewardsRejected: 0 });
    for (const m of [...first.metrics, ...second.metrics]) {
      expect(m).toMatchObject({ namespace: METRICS_NAMESPACE, unit: 'Count', dimensions: { service: 'learner' } });
      expect(Object.keys(m.dimensions)).toEqual(['service']);
    }
  });

  it('keeps a bounded memory of applied ids, warns when it reaches back too little, and skips what it remembers', async () => {
    // Prepare: a memory of 8 ids; three batches of 5
    const s = stack();
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'bounded');
    const deps = learnerDeps(store, { appliedCapacity: 8 });
    const rewards = makeRewards(15, 4, 'dec-b');

    // Act
    for (let i = 0; i < 15; i += 5) await learnRewards(records(rewards.slice(i, i + 5)), deps);
    const redelivered = await learnRewards(records(rewards.slice(10, 15)), deps);

    // Assess
    const head = await headOf(store);
    expect(head.version).toBe(3);
    expect(decodeApplied(head.appliedRewards)).toHaveLength(8);
    expect(redelivered).toMatchObject({ applied: 0, duplicates: 5 });
    expect((deps.logger as RecordingLogger).warnings).toContain(
      'applied-reward memory reaches back less than the redelivery horizon',
    );
    expectAppliedOnce(head.state, rewards);
  });

  it('refuses a state that leaves no room in the item, and starts a new learner when the config switches algorithm', async () => {
    // Prepare: a linucb model with 5 rewards
    const s = stack();
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'switch');
    await learnRewards(records(makeRewards(5, 7, 'dec-s')), learnerDeps(store));
    const linearTs = testConfig({}, { algorithm: 'linear-ts' });
    const later = makeRewards(3, 8, 'dec-t');

    // Act
    const tooSmall = await learnRewards(records(later), learnerDeps(store, { itemBudgetBytes: 4096 })).catch(
      (error: unknown) => error,
    );
    const switched = await learnRewards(records(later), learnerDeps(store, { config: linearTs }));

    // Assess: the oversized version was not written; the new learner has only the later rewards
    expect(tooSmall).toBeInstanceOf(ModelItemTooLargeError);
    expect(switched.version).toBe(2);
    const head = await headOf(store);
    expect(head.state.bandit.algorithm).toBe('linear-ts');
    expect(head.state.bandit.updates).toBe(3);
  });

  it('forgets applied ids after their window, and keeps the full memory inside one DynamoDB item', async () => {
    // Prepare: 9000 rewards in batches of 500 (the queue's batch size), one minute apart
    const s = stack();
    const store = modelTableStore(s.clients.doc, s.tableNames.model, 'full');
    let now = T0;
    const deps = learnerDeps(store, { now: () => now });
    const rewards = makeRewards(9000, 5, 'dec-f');

    // Act: DynamoDB Local refuses an item over 400 KB, as DynamoDB does
    for (let i = 0; i < rewards.length; i += 500) {
      const outcome = await learnRewards(records(rewards.slice(i, i + 500)), deps);
      expect(outcome.failures).toEqual([]);
      now += 60_000;
    }
    const full = await headOf(store);
    now += 2 * 3_600_000;
    await learnRewards(records(makeRewards(1, 6, 'dec-later')), deps);
    const later = await headOf(store);

    // Assess
    expect(full.version).toBe(18);
    expect(full.state.bandit.updates).toBe(9000);
    expect(decodeApplied(full.appliedRewards)).toHaveLength(8192);
    expect(decodeApplied(later.appliedRewards)).toHaveLength(1);
  });
});
