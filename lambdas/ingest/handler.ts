/**
 * Ingest Lambda: engagement and profile events from the events queue into the users table.
 * Thin: Powertools builds the partial batch response, `ingestBatch` does the work.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type IngestDeps, type IngestOutcome, ingestBatch } from './apply-events.ts';

/** Raised for a record that `ingestBatch` reported as failed, so Powertools lists it in batchItemFailures. */
class RecordNotAppliedError extends Error {
  constructor(messageId: string, reason: string) {
    super(`record ${messageId} not applied: ${reason}`);
    this.name = 'RecordNotAppliedError';
  }
}

/**
 * Builds the handler around injected dependencies (clients, table name, clock), so the local stack
 * and the tests run exactly what Lambda runs.
 * @example export const handler = createIngestHandler({ doc, usersTable, features, now: Date.now, logger });
 */
export function createIngestHandler(deps: IngestDeps & { logger: Logger }) {
  const processor = new BatchProcessor(EventType.SQS);
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    // Grouping by user happens before the per-record pass: one write per user per batch is the cost design.
    const outcome: IngestOutcome = await ingestBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      deps,
    );
    const failed = new Map(outcome.failures.map((f) => [f.messageId, f.reason]));
    deps.logger.info('batch applied', {
      records: event.Records.length,
      applied: outcome.applied,
      duplicates: outcome.duplicates,
      failed: failed.size,
      writeRequests: outcome.writeRequests,
    });
    return processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const reason = failed.get(record.messageId);
        if (reason) throw new RecordNotAppliedError(record.messageId, reason);
      },
      processor,
      { throwOnFullBatchFailure: false },
    );
  };
  return middy(handle).use(injectLambdaContext(deps.logger));
}
