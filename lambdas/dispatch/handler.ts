/**
 * Dispatch Lambda: due decisions from the dispatch queue to SES / SNS, at most once each.
 * Thin: Powertools builds the partial batch response, `dispatchBatch` does the work.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type DispatchDeps, type DispatchOutcome, dispatchBatch } from './dispatch.ts';
import { DispatchError } from './errors.ts';

/** Raised for a record `dispatchBatch` hands back to SQS, so Powertools lists it in batchItemFailures. */
class RecordNotSettledError extends DispatchError {
  constructor(messageId: string, result: DispatchOutcome) {
    super(`dispatch record ${messageId} handed back to SQS: ${result.outcome}`);
    this.name = 'RecordNotSettledError';
  }
}

/**
 * Builds the handler around injected dependencies (clients, providers, tables, config, clock), so the
 * local stack and the tests run exactly what Lambda runs.
 * @example export const handler = createDispatchHandler({ doc, decisionsTable, usersTable, providers, config, now: Date.now, logger });
 */
export function createDispatchHandler(deps: DispatchDeps & { logger: Logger }) {
  const processor = new BatchProcessor(EventType.SQS);
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const outcome = await dispatchBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      deps,
    );
    const retry = new Map(outcome.records.filter((r) => r.retry).map((r) => [r.messageId, r.result]));
    deps.logger.info('dispatch batch settled', { records: event.Records.length, ...outcome.counts });
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
