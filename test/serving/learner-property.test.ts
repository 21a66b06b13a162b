/**
 * Property: whatever the interleaving of concurrent learners' reads and writes, and however the
 * rewards queue redelivers and overlaps batches, every distinct reward is applied to the model exactly
 * once: 0 double-counted, 0 lost. fast-check's scheduler chooses the order in which the learners' model
 * reads and writes start; the reads and writes themselves go to DynamoDB Local.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { appliedEntry, appliedKey, decodeApplied } from '#lambdas/learner/applied-rewards.ts';
import {
  type LearnerLogger,
  type LearnerModelStore,
  type LearnOutcome,
  learnRewards,
} from '#lambdas/learner/learner.ts';
import { modelTableStore } from '#lambdas/shared/model-store.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import {
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

const config = testConfig({}, { algorithm: 'linucb', alpha: 0.5 });
const quiet: LearnerLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** A store whose every read and write starts only when the scheduler says so. */
function scheduledStore(base: LearnerModelStore, s: fc.Scheduler, learner: number): LearnerModelStore {
  return {
    modelId: base.modelId,
    readHead: async () => {
      await s.schedule(Promise.resolve(), `learner ${learner} reads the head`);
      return base.readHead();
    },
    writeVersion: async (next) => {
      await s.schedule(Promise.resolve(), `learner ${learner} writes version ${next.version}`);
      return base.writeVersion(next);
    },
  };
}

const scenario = fc.integer({ min: 1, max: 12 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    learners: fc.integer({ min: 2, max: 3 }),
    // each delivery: the learner invocation that gets it, and its records (indices may repeat: duplicates)
    deliveries: fc.array(
      fc.record({
        learner: fc.nat(2),
        batch: fc.array(fc.nat(n - 1), { minLength: 1, maxLength: 8 }),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  }),
);

describe('learner property', () => {
  it('applies every distinct reward exactly once under any interleaving of concurrent learners and redeliveries', async () => {
    let run = 0;
    let conflicts = 0;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), scenario, async (s, { n, learners, deliveries }) => {
        // Prepare: a model of its own per run
        const st = stack();
        const base = modelTableStore(st.clients.doc, st.tableNames.model, `prop-${run++}`);
        const rng = new Rng(run);
        const rewards = Array.from({ length: n }, (_, i) =>
          rewardMessage(`dec-${i}`, featureRow(rng, i % 2 ? 0.05 : 0), [0, 1, 0.3, -3][i % 4]),
        );
        let messageId = 0;

        // Act: each learner handles its deliveries in order; learners run concurrently
        const tasks = Array.from({ length: learners }, async (_, learner) => {
          const store = scheduledStore(base, s, learner);
          const outcomes: LearnOutcome[] = [];
          for (const delivery of deliveries.filter((d) => d.learner % learners === learner)) {
            const records = delivery.batch.map((i) => ({
              messageId: `m-${++messageId}`,
              body: JSON.stringify(rewards[i]),
            }));
            outcomes.push(
              await learnRewards(records, { store, config, now: () => T0, logger: quiet, maxAttempts: 20 }),
            );
          }
          return outcomes;
        });
        let finished = false;
        const all = Promise.all(tasks).finally(() => {
          finished = true;
        });
        while (!finished) {
          if (s.count() > 0) await s.waitNext(1);
          else await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const outcomes = (await all).flat();
        conflicts += outcomes.reduce((sum, o) => sum + o.conflicts, 0);

        // Assess
        const distinct = [...new Set(deliveries.flatMap((d) => d.batch))].sort((a, b) => a - b).map((i) => rewards[i]);
        expect(outcomes.flatMap((o) => o.failures)).toEqual([]);
        expect(outcomes.reduce((sum, o) => sum + o.applied, 0)).toBe(distinct.length);
        const head = await base.readHead();
        expect(head).toBeDefined();
        if (!head) return;
        const got = posteriorOf(head.state);
        const want = referenceState(config, distinct);
        expect(got.updates).toBe(distinct.length);
        expect(maxDifference(got.rewardSum, posteriorOf(want).rewardSum)).toBeLessThan(1e-9);
        expect(maxDifference(got.covariance, posteriorOf(want).covariance)).toBeLessThan(1e-9);
        expect(decisionsOf(head.state)).toEqual(decisionsOf(want));
        expect(new Set(decodeApplied(head.appliedRewards).map(appliedKey))).toEqual(
          new Set(distinct.map((r) => appliedKey(appliedEntry(r.decisionId, T0)))),
        );
        // one version per write that applied something: no write was lost or made twice
        expect(head.version).toBe(outcomes.filter((o) => o.version !== undefined).length);
      }),
      { numRuns: 60 },
    );
    // the interleavings explored include learners losing the race for a version
    expect(conflicts).toBeGreaterThan(0);
  });
});
