/**
 * Learner Lambda: reward messages from the rewards queue into a new model version.
 * Thin: the config comes from the ConfigSource each batch, `learnRewards` does the work, Powertools builds
 * the partial batch response and publishes the metrics.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ConfigSource } from '../shared/config-source.ts';
import { type LearnerDeps, type LearnOutcome, learnRewards } from './learner.ts';

/** Raised for a record that `learnRewards` reported as failed, so Powertools lists it in batchItemFailures. */
class RewardNotAppliedError extends Error {
  constructor(messageId: string, reason: string) {
    super(`reward ${messageId} not applied: ${reason}`);
    this.name = 'RewardNotAppliedError';
  }
}

/** What the learner needs besides the config, which comes from the ConfigSource at the start of each batch. */
export type LearnerHandlerDeps = Omit<LearnerDeps, 'config' | 'logger'> & {
  configSource: ConfigSource;
  logger: Logger;
  metrics?: Metrics;
};

/**
 * Builds the handler around injected dependencies (model store, config source, clock), so the local
 * stack and the tests run exactly what Lambda runs.
 * @example export const handler = createLearnerHandler({ store, configSource, now: Date.now, logger });
 */
export function createLearnerHandler(deps: LearnerHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const { configSource, metrics, ...clients } = deps;
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const config = await configSource.current();
    // The whole batch is one model version: learn first, then map the outcome to records.
    const outcome = await learnRewards(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      { ...clients, config },
    );
    const failed = new Map(outcome.failures.map((f) => [f.messageId, f.reason]));
    deps.logger.info('reward batch learned', {
      configVersion: config.version,
      records: event.Records.length,
      applied: outcome.applied,
      duplicates: outcome.duplicates,
      failed: failed.size,
      conflicts: outcome.conflicts,
      version: outcome.version,
    });
    if (metrics) recordMetrics(metrics, outcome);
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const reason = failed.get(record.messageId);
        if (reason) throw new RewardNotAppliedError(record.messageId, reason);
      },
      processor,
      { throwOnFullBatchFailure: false },
    );
  };
  const wrapped = middy(handle).use(injectLambdaContext(deps.logger));
  return metrics ? wrapped.use(logMetrics(metrics)) : wrapped;
}

/**
 * Rewards applied to the model, valid rewards skipped as already applied (a redelivery or a reward the
 * closer sent twice), messages refused for good (to the DLQ), and model writes lost to another learner.
 */
function recordMetrics(metrics: Metrics, outcome: LearnOutcome): void {
  metrics.addMetric('RewardsApplied', MetricUnit.Count, outcome.applied);
  metrics.addMetric('RewardDuplicatesSkipped', MetricUnit.Count, outcome.duplicates);
  metrics.addMetric('RewardsRejected', MetricUnit.Count, outcome.failures.filter((f) => !f.retryable).length);
  metrics.addMetric('ModelWriteConflicts', MetricUnit.Count, outcome.conflicts);
}
