/**
 * Ingest Lambda: engagement and profile events from the events queue into the users table.
 * Thin: the config comes from the ConfigSource each batch, `ingestBatch` does the work, Powertools builds
 * the partial batch response.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { AnalystConfig } from '#config/schema.ts';
import type { DecayOptions } from '#model/user-state.ts';
import type { ConfigSource } from '../shared/config-source.ts';
import { type IngestDeps, type IngestOutcome, ingestBatch } from './apply-events.ts';

/** Raised for a record that `ingestBatch` reported as failed, so Powertools lists it in batchItemFailures. */
class RecordNotAppliedError extends Error {
  constructor(messageId: string, reason: string) {
    super(`record ${messageId} not applied: ${reason}`);
    this.name = 'RecordNotAppliedError';
  }
}

/** What ingest needs besides the config: the features and reward weights come from the config of each batch. */
export type IngestHandlerDeps = Omit<IngestDeps, 'features' | 'attribution' | 'logger'> & {
  configSource: ConfigSource;
  logger: Logger;
  /** reward attribution on the decisions table (the weights are the batch's config.reward.weights) */
  attribution?: Omit<NonNullable<IngestDeps['attribution']>, 'reward'>;
};

/** The decay settings of the users' features under a config. */
export function featureDecay(config: AnalystConfig): DecayOptions {
  return { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone };
}

/**
 * Builds the handler around injected dependencies (clients, table name, config source, clock), so the
 * local stack and the tests run exactly what Lambda runs.
 * @example export const handler = createIngestHandler({ doc, usersTable, configSource, now: Date.now, logger });
 */
export function createIngestHandler(deps: IngestHandlerDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const { configSource, attribution, ...clients } = deps;
  const handle = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const config = await configSource.current();
    // Grouping by user happens before the per-record pass: one write per user per batch is the cost design.
    const outcome: IngestOutcome = await ingestBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      {
        ...clients,
        features: featureDecay(config),
        ...(attribution && { attribution: { ...attribution, reward: config.reward } }),
      },
    );
    const failed = new Map(outcome.failures.map((f) => [f.messageId, f.reason]));
    deps.logger.info('batch applied', {
      configVersion: config.version,
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
