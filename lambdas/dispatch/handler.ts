/**
 * Dispatch Lambda: due decisions from the dispatch queue to SES / SNS, at most once each.
 * Thin: the config comes from the ConfigSource each batch, `dispatchBatch` does the work, Powertools builds
 * the partial batch response.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ConfigSource } from '../shared/config-source.ts';
import { type DispatchDeps, type DispatchOutcome, dispatchBatch } from './dispatch.ts';
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
};

/**
 * Builds the handler around injected dependencies (clients, providers, tables, config source, clock), so
 * the local stack and the tests run exactly what Lambda runs.
 * @example export const handler = createDispatchHandler({ doc, decisionsTable, usersTable, providers, configSource, now: Date.now, logger });
 */
export function createDispatchHandler(deps: DispatchHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const { configSource, ...clients } = deps;
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
  return middy(handle).use(injectLambdaContext(deps.logger));
}
