/**
 * Decide Lambda: notification requests from the requests queue into decision items.
 * Thin: the config comes from the ConfigSource each batch, `decideBatch` does the work, Powertools builds
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
import { type DecideDeps, type DecideOutcome, decideBatch } from './decide.ts';

class RequestNotDecidedError extends Error {
  constructor(messageId: string, reason: string) {
    super(`request ${messageId} not decided: ${reason}`);
    this.name = 'RequestNotDecidedError';
  }
}

export type DecideHandlerDeps = Omit<DecideDeps, 'config' | 'logger'> & {
  configSource: ConfigSource;
  logger: Logger;
  metrics?: Metrics;
};

/**
 * @example export const handler = createDecideHandler({ doc, usersTable, decisionsTable, models, configSource, now: Date.now, logger });
 */
export function createDecideHandler(deps: DecideHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const config = await deps.configSource.current();
    const outcome = await decideBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      { ...deps, config },
    );
    deps.logger.info('batch decided', {
      records: event.Records.length,
      decided: outcome.decided.length,
      failed: outcome.failures.length,
      modelVersion: outcome.modelVersion,
      configVersion: config.version,
      readRequests: outcome.readRequests,
      writeRequests: outcome.writeRequests,
      conflicts: outcome.conflicts,
    });
    if (deps.metrics) recordMetrics(deps.metrics, outcome);
    const failed = new Map(outcome.failures.map((f) => [f.messageId, f.reason]));
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const reason = failed.get(record.messageId);
        if (reason) throw new RequestNotDecidedError(record.messageId, reason);
      },
      processor,
      { throwOnFullBatchFailure: false },
    );
  };
  const wrapped = middy(handle).use(injectLambdaContext(deps.logger));
  return deps.metrics ? wrapped.use(logMetrics(deps.metrics)) : wrapped;
}

/** Decisions by policy, channel and status, and no-arm reasons (namespace and service set by the entry). */
function recordMetrics(metrics: Metrics, outcome: DecideOutcome): void {
  for (const d of outcome.decided) {
    if (d.duplicate) {
      metrics.addMetric('DuplicateRequests', MetricUnit.Count, 1);
      continue;
    }
    const single = metrics.singleMetric();
    single.addDimensions({
      policy: d.holdout ? 'holdout' : 'bandit',
      channel: d.channel ?? 'none',
      status: d.status,
    });
    single.addMetric('Decisions', MetricUnit.Count, 1);
    for (const [reason, arms] of Object.entries(d.noArmReasons ?? {})) {
      if (arms > 0) metrics.addMetric(`NoArm_${reason}`, MetricUnit.Count, 1);
    }
  }
  metrics.addMetric('InvalidRequests', MetricUnit.Count, outcome.failures.filter((f) => !f.retryable).length);
  metrics.addMetric('SendLogConflicts', MetricUnit.Count, outcome.conflicts);
}
