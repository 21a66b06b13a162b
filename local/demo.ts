/**
 * `npm run demo`: the system's main job on the local stack (no AWS account, no Docker).
 * Starts DynamoDB Local, fauxqs and aws-ses-v2-local, pushes a realistic stream of engagement and
 * profile events (with duplicates and poison records) through SQS into the real ingest handler,
 * and prints what landed: events applied once, duplicates skipped, poison in the DLQ with reasons,
 * DynamoDB writes per event, and a sample user's most-engaged local hours.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { parseIngestEvent } from '#events/index.ts';
import { ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { decodeUserState } from '#lambdas/ingest/user-item.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { makeEventStream, poisonBodies } from '#local/event-stream.ts';
import { createQueuePoller } from '#local/poller.ts';
import { startLocalStack } from '#local/stack.ts';
import { sendBodies } from '#test/helpers/local-queues.ts';

const EVENTS = 6_000;
const USERS = 600;

let progressDone = false;
function progress(label: string, done: number, total: number): void {
  if (progressDone) return;
  progressDone = done >= total;
  const width = 30;
  const filled = Math.round((done / Math.max(1, total)) * width);
  const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${done >= total ? '\n' : ''}`);
  else if (done >= total) process.stderr.write(`${line}\n`);
}

const t0 = performance.now();
console.log('Starting the local stack (DynamoDB Local, fauxqs, aws-ses-v2-local)...');
const stack = await startLocalStack();
try {
  console.log(`  up in ${(stack.timings.totalMs / 1000).toFixed(1)} s`);
  const messages = makeEventStream({ events: EVENTS, users: USERS, duplicateShare: 0.1, seed: 42 });
  const poison = poisonBodies();
  const bodies = messages.map((m) => m.body);
  poison.forEach((p, i) => {
    bodies.splice(101 * (i + 1), 0, p.body);
  });
  console.log(
    `Producing ${bodies.length} messages: ${messages.length - messages.filter((m) => m.duplicate).length} events, ` +
      `${messages.filter((m) => m.duplicate).length} duplicate deliveries, ${poison.length} poison records`,
  );
  await sendBodies(stack.clients.sqs, stack.queueUrls.events, bodies);

  const totals = { applied: 0, duplicates: 0, writes: 0, refused: new Map<string, number>() };
  const distinct = new Set(messages.filter((m) => parseIngestEvent(m.body).ok).map((m) => m.id)).size;
  const deps = {
    doc: stack.clients.doc,
    usersTable: stack.tableNames.users,
    features: { halfLifeDays: 14, defaultTimeZone: 'UTC' },
    now: Date.now,
    logger: createLogger('ingest', { logLevel: 'ERROR' }),
  };
  const handler = async (event: SQSEvent) => {
    const outcome = await ingestBatch(
      event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
      deps,
    );
    totals.applied += outcome.applied;
    totals.duplicates += outcome.duplicates;
    totals.writes += outcome.writeRequests;
    for (const f of outcome.failures) totals.refused.set(f.reason, (totals.refused.get(f.reason) ?? 0) + 1);
    progress('ingest', totals.applied, distinct);
    return { batchItemFailures: outcome.failures.map((f) => ({ itemIdentifier: f.messageId })) };
  };
  const poller = createQueuePoller(stack, 'events', handler, { visibilityTimeoutSeconds: 1, maxBatchingWindowMs: 100 });
  poller.start();
  await poller.drain({ timeoutMs: 240_000 });
  await poller.stop();

  const { Messages = [] } = await stack.clients.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.events, MaxNumberOfMessages: 10 }),
  );
  const sample = await stack.clients.doc.send(
    new GetCommand({ TableName: stack.tableNames.users, Key: { userId: 'user-7' } }),
  );
  const user = decodeUserState(sample.Item as never, 'user-7');
  const byHour = new Array(24).fill(0);
  user.engagementByHourOfWeek.forEach((v, i) => {
    byHour[i % 24] += v;
  });
  const topHours = byHour
    .map((v, h) => ({ h, v }))
    .sort((a, b) => b.v - a.v)
    .slice(0, 3)
    .map(({ h, v }) => `${String(h).padStart(2, '0')}:00 (${v.toFixed(2)})`);

  console.log('\nSummary');
  console.log(`  events applied exactly once      ${totals.applied} of ${distinct} distinct`);
  console.log(`  duplicate deliveries skipped     ${totals.duplicates}`);
  console.log(`  double-counted                   ${totals.applied - distinct}`);
  console.log(`  DynamoDB writes per event        ${(totals.writes / bodies.length).toFixed(3)}`);
  console.log(`  poison records in the DLQ        ${Messages.length} of ${poison.length}`);
  console.log(`  refusals seen (per receive)      ${[...totals.refused].map(([r, n]) => `${r} ${n}`).join(', ')}`);
  console.log(`  user-7 (${user.timeZone}) most engaged local hours: ${topHours.join(', ')}`);
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (totals.applied !== distinct || Messages.length !== poison.length) process.exitCode = 1;
} finally {
  await stack.stop();
}
