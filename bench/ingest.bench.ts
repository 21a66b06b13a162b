/**
 * Ingest on the local stack with a realistic stream: 20,000 events over 2,000 users, 10% delivered
 * twice, sessions of several events per user; one batch in 20 "crashes" after its writes (the
 * invocation fails as a whole), so SQS redelivers batches that were already applied.
 * doubleCounted = events applied more than once (applied total minus distinct valid ids): must be 0.
 */
import type { SQSEvent } from 'aws-lambda';
import { parseIngestEvent } from '#events/index.ts';
import { type IngestOutcome, ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { makeEventStream } from '#local/event-stream.ts';
import { createQueuePoller } from '#local/poller.ts';
import { startLocalStack } from '#local/stack.ts';
import { sendBodies } from '#test/helpers/local-queues.ts';

export async function run(): Promise<Record<string, unknown>> {
  const stack = await startLocalStack();
  try {
    const messages = makeEventStream({ events: 20_000, users: 2_000, duplicateShare: 0.1, seed: 2026 });
    const distinct = new Set(messages.filter((m) => parseIngestEvent(m.body).ok).map((m) => m.id)).size;
    await sendBodies(
      stack.clients.sqs,
      stack.queueUrls.events,
      messages.map((m) => m.body),
    );
    const totals = { applied: 0, duplicates: 0, writeRequests: 0, readRequests: 0, invocations: 0, crashes: 0 };
    const logger = createLogger('ingest-bench', { logLevel: 'ERROR' });
    const deps = {
      doc: stack.clients.doc,
      usersTable: stack.tableNames.users,
      features: { halfLifeDays: 14, defaultTimeZone: 'UTC' },
      now: Date.now,
      logger,
    };
    const handler = async (event: SQSEvent) => {
      const outcome: IngestOutcome = await ingestBatch(
        event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
        deps,
      );
      totals.invocations++;
      totals.applied += outcome.applied;
      totals.duplicates += outcome.duplicates;
      totals.writeRequests += outcome.writeRequests;
      totals.readRequests += outcome.readRequests;
      // a crash after every write of the batch succeeded: SQS will deliver the whole batch again
      if (totals.invocations % 20 === 0) {
        totals.crashes++;
        throw new Error('simulated crash after the writes');
      }
      return { batchItemFailures: outcome.failures.map((f) => ({ itemIdentifier: f.messageId })) };
    };
    const poller = createQueuePoller(stack, 'events', handler, {
      visibilityTimeoutSeconds: 1,
      onError: () => {},
    });
    const started = performance.now();
    poller.start();
    await poller.drain({ timeoutMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;
    await poller.stop();
    return {
      events: messages.length,
      users: 2_000,
      duplicateMessages: messages.filter((m) => m.duplicate).length,
      batchSize: poller.stats.records / Math.max(1, poller.stats.batches),
      redeliveredBatches: totals.crashes,
      eventsPerSecond: Math.round(messages.length / seconds),
      dynamoWriteRequestsPerEvent: Number((totals.writeRequests / messages.length).toFixed(3)),
      dynamoReadRequestsPerEvent: Number((totals.readRequests / messages.length).toFixed(3)),
      doubleCounted: totals.applied - distinct,
      distinctEvents: distinct,
      note: 'local stack on one machine: DynamoDB Local and fauxqs share the 2 cores with the handler',
    };
  } finally {
    await stack.stop();
  }
}
