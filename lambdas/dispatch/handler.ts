/**
 * Dispatch Lambda: due decisions from the dispatch queue to SES / SNS, at most once each.
 * Thin: the config comes from the ConfigSource each batch, `dispatchBatch` does the work, Powertools builds
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
import { addCountsBy } from '../shared/metrics.ts';
import { type DispatchBatchOutcome, type DispatchDeps, type DispatchOutcome, dispatchBatch } from './dispatch.ts';
import { DispatchError } from './errors.ts';

/** Raised for a record `dispatchBatch` hands back to SQS, so Powertools lists it in batchItemFailures. */
class RecordNotSettledError extends DispatchError {
  constructor(messageId: string, result: DispatchOutcome) {
    super(`dispatch record ${messageId} handed back to SQS: ${result.outcome}`);
    this.name = 'RecordNotSettledError';
  }
}

/** What dispatch needs besides the config, which comes from the ConfigSource at the start of each batch. */
export type DispatchHandlerDeps = Omit<DispatchDeps, 'config' | 'logger'> & {
  configSource: ConfigSource;
  logger: Logger;
  metrics?: Metrics;
};

/**
 * Builds the handler around injected dependencies (clients, providers, tables, config source, clock), so
 * the local stack and the tests run exactly what Lambda runs.
 * @example export const handler = createDispatchHandler({ doc, decisionsTable, usersTable, providers, configSource, now: Date.now, logger });
 */
export function createDispatchHandler(deps: DispatchHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const { configSource, metrics, ...clients } = deps;
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const config = await configSource.current();
    const outcome = await dispatchBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      { ...clients, config },
    );
    const retry = new Map(outcome.records.filter((r) => r.retry).map((r) => [r.messageId, r.result]));
    deps.logger.info('dispatch batch settled', {
      configVersion: config.version,
      records: event.Records.length,
      ...outcome.counts,
    });
    if (metrics) recordMetrics(metrics, outcome);
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const result = retry.get(record.messageId);
        if (result) throw new RecordNotSettledError(record.messageId, result);
      },
      processor,
      { throwOnFullBatchFailure: false },
    );
  };
  const wrapped = middy(handle).use(injectLambdaContext(deps.logger));
  return metrics ? wrapped.use(logMetrics(metrics)) : wrapped;
}

/** The outcomes that settle a send: each is counted once per decision as `Sends`. */
const SETTLED: ReadonlySet<DispatchOutcome['outcome']> = new Set(['sent', 'maybe_sent', 'failed', 'stopped']);

/**
 * `Sends` by channel and outcome (sent, maybe_sent, failed, stopped), `SendsStopped` by the guardrail
 * that stopped a send at send time, `DispatchRetried` for records handed back to SQS. Duplicates and
 * requeues are not sends; a requeued send counts once it settles.
 */
function recordMetrics(metrics: Metrics, outcome: DispatchBatchOutcome): void {
  const sends = new Map<string, { dimensions: { channel: string; outcome: string }; count: number }>();
  const stops = new Map<string, { dimensions: { reason: string }; count: number }>();
  for (const { channel = 'none', result } of outcome.records) {
    if (!SETTLED.has(result.outcome)) continue;
    const key = `${channel}/${result.outcome}`;
    const entry = sends.get(key) ?? { dimensions: { channel, outcome: result.outcome }, count: 0 };
    entry.count++;
    sends.set(key, entry);
    if (result.outcome === 'stopped') {
      const stop = stops.get(result.reason) ?? { dimensions: { reason: result.reason }, count: 0 };
      stop.count++;
      stops.set(result.reason, stop);
    }
  }
  addCountsBy(metrics, 'Sends', sends.values());
  addCountsBy(metrics, 'SendsStopped', stops.values());
  // records handed back to SQS (throttled, in flight elsewhere, errors); always stored, so publishing never warns
  metrics.addMetric('DispatchRetried', MetricUnit.Count, outcome.records.filter((r) => r.retry).length);
}
