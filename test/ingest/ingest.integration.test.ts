/**
 * Ingest on the local stack: real SQS (fauxqs) with redrive, real DynamoDB Local, the real handler
 * driven like Lambda's event source. The final users items are compared with the state obtained by
 * applying every distinct event exactly once, in memory, with the same pure update.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import { parseIngestEvent } from '#events/index.ts';
import { type IngestDeps, ingestBatch } from '#lambdas/ingest/apply-events.ts';
import { createIngestHandler, featureDecay } from '#lambdas/ingest/handler.ts';
import { decodeUserState } from '#lambdas/ingest/user-item.ts';
import { staticConfigSource } from '#lambdas/shared/config-source.ts';
import { createLogger } from '#lambdas/shared/logger.ts';
import { makeEventStream, poisonBodies, type StreamMessage } from '#local/event-stream.ts';
import { createQueuePoller, type SqsEventSourcePoller } from '#local/poller.ts';
import type { LocalStack } from '#local/stack.ts';
import { applyEvent, emptyUserState, type StateEvent, type UserState } from '#model/user-state.ts';
import { sendBodies } from '#test/helpers/local-queues.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

const config = defaultConfig();
// the handler takes its features from the config of each batch; the expected states use the same
const features = featureDecay(config);
const NOW = Date.parse('2026-11-20T00:00:00Z');
const stack = useLocalStack({ resetBeforeEach: true });

function deps(
  s: LocalStack,
  doc: DynamoDBDocumentClient = s.clients.doc,
): IngestDeps & { logger: ReturnType<typeof createLogger> } {
  return { doc, usersTable: s.tableNames.users, features, now: () => NOW, logger: createLogger('ingest-test') };
}

/** What the users table must hold: every distinct valid event applied once, in memory. */
function expectedStates(messages: StreamMessage[]): Map<string, UserState> {
  const byId = new Map<string, StateEvent & { userId: string }>();
  for (const m of messages) {
    const parsed = parseIngestEvent(m.body);
    if (parsed.ok) byId.set(parsed.value.id, parsed.value as StateEvent & { userId: string });
  }
  const states = new Map<string, UserState>();
  const events = [...byId.values()].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  for (const e of events) {
    const s = states.get(e.userId) ?? emptyUserState(e.userId);
    applyEvent(s, e, features);
    states.set(e.userId, s);
  }
  return states;
}

async function readState(s: LocalStack, userId: string): Promise<UserState> {
  const { Item } = await s.clients.doc.send(new GetCommand({ TableName: s.tableNames.users, Key: { userId } }));
  expect(Item, `users item ${userId}`).toBeDefined();
  return decodeUserState(Item as never, userId);
}

async function expectTableMatches(s: LocalStack, expected: Map<string, UserState>): Promise<void> {
  for (const [userId, want] of expected) {
    const got = await readState(s, userId);
    expect(got.consent).toEqual(want.consent);
    expect(got.timeZone).toBe(want.timeZone);
    expect(got.firstSeenMs).toBe(want.firstSeenMs);
    expect(got.lastActiveMs).toBe(want.lastActiveMs);
    expect(got.decayRefMs).toBe(want.decayRefMs);
    for (const c of ['email', 'push', 'sms'] as const) {
      for (const k of ['sends', 'opens', 'clicks'] as const) {
        expect(got.channels[c][k]).toBeCloseTo(want.channels[c][k], 9);
      }
    }
    // the histogram is stored as float32: compare at float32 precision
    want.engagementByHourOfWeek.forEach((v, i) => {
      expect(Math.abs(got.engagementByHourOfWeek[i] - v)).toBeLessThanOrEqual(1e-6 * Math.max(1, v));
    });
  }
}

async function drainDlq(s: LocalStack): Promise<string[]> {
  const bodies: string[] = [];
  for (let empty = 0; empty < 3; ) {
    const { Messages = [] } = await s.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: s.dlqUrls.events, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
    );
    if (Messages.length === 0) empty++;
    for (const m of Messages) bodies.push(m.Body ?? '');
  }
  return bodies;
}

let pollers: SqsEventSourcePoller[] = [];
afterEach(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  pollers = [];
  vi.restoreAllMocks();
});

function startIngest(s: LocalStack, handlerDeps = deps(s), timeoutMs?: number): SqsEventSourcePoller {
  const { features: _fromConfig, ...clients } = handlerDeps;
  const handler = createIngestHandler({ ...clients, configSource: staticConfigSource(config) });
  const poller = createQueuePoller(s, 'events', handler, {
    visibilityTimeoutSeconds: 1,
    maxBatchingWindowMs: 50,
    ...(timeoutMs ? { timeoutMs } : {}),
  }).start();
  pollers.push(poller);
  return poller;
}

describe('ingest on the local stack', () => {
  it('applies a mixed batch once, sends exactly the poison records to the DLQ, and logs no contact data', async () => {
    // Prepare: 600 events over 40 users, 10% delivered twice, with every kind of poison mixed in
    const s = stack();
    const messages = makeEventStream({ events: 600, users: 40, duplicateShare: 0.1, seed: 11 });
    const poison = poisonBodies();
    const bodies = messages.map((m) => m.body);
    poison.forEach((p, i) => {
      bodies.splice(37 * (i + 1), 0, p.body);
    });
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    // Powertools writes info to stdout, warnings and errors to stderr
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    // Act
    await sendBodies(s.clients.sqs, s.queueUrls.events, bodies);
    const poller = startIngest(s);
    await poller.drain({ timeoutMs: 60_000 });
    for (const spy of spies) spy.mockRestore();
    // Assess: the table holds each distinct event once
    await expectTableMatches(s, expectedStates(messages));
    // the DLQ holds exactly the poison records, bodies intact
    expect((await drainDlq(s)).sort()).toEqual(poison.map((p) => p.body).sort());
    // reasons were logged, without an address or a number
    const log = lines.join('');
    expect(log).toContain('"reason":"unknown_type"');
    expect(log).toContain('"reason":"oversize"');
    expect(log).not.toMatch(/@example\.com|secret\.person|\+1555/);
  });

  it('changes nothing when the whole stream is delivered a second time', async () => {
    const s = stack();
    const messages = makeEventStream({ events: 300, users: 25, duplicateShare: 0, seed: 12 });
    await sendBodies(
      s.clients.sqs,
      s.queueUrls.events,
      messages.map((m) => m.body),
    );
    const poller = startIngest(s);
    await poller.drain({ timeoutMs: 60_000 });
    const before = await readState(s, 'user-3');
    // Act: every message again
    await sendBodies(
      s.clients.sqs,
      s.queueUrls.events,
      messages.map((m) => m.body),
    );
    await poller.drain({ timeoutMs: 60_000 });
    // Assess
    expect(await readState(s, 'user-3')).toEqual(before);
    await expectTableMatches(s, expectedStates(messages));
  });

  it('recovers from a crash after a partial write: the redelivered batch applies each event once', async () => {
    // Prepare: the first invocation dies (hangs past the Lambda timeout) after writing 3 users
    const s = stack();
    const messages = makeEventStream({ events: 200, users: 30, duplicateShare: 0.05, seed: 13 });
    let writes = 0;
    let crashed = false;
    const crashingDoc = {
      send: (command: unknown) => {
        if (command instanceof UpdateCommand && !crashed && ++writes > 3) {
          crashed = true;
          return new Promise(() => {}); // the invocation never returns: Lambda's timeout ends it
        }
        return s.clients.doc.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    // Act
    await sendBodies(
      s.clients.sqs,
      s.queueUrls.events,
      messages.map((m) => m.body),
    );
    const poller = startIngest(s, deps(s, crashingDoc), 1_000);
    await poller.drain({ timeoutMs: 60_000 });
    // Assess
    expect(crashed).toBe(true);
    expect(poller.stats.failedBatches).toBeGreaterThanOrEqual(1);
    await expectTableMatches(s, expectedStates(messages));
  });

  it('loses nothing when two invocations write the same user at once', async () => {
    // Prepare: two batches for the same users, applied concurrently (optimistic concurrency on `iv`)
    const s = stack();
    const messages = makeEventStream({ events: 200, users: 5, duplicateShare: 0, seed: 14 });
    const records = messages.map((m, i) => ({ messageId: `m-${i}`, body: m.body }));
    const half = Math.floor(records.length / 2);
    // Act
    const [a, b] = await Promise.all([
      ingestBatch(records.slice(0, half), { ...deps(s), concurrency: 1 }),
      ingestBatch(records.slice(half), { ...deps(s), concurrency: 1 }),
    ]);
    // Assess
    expect(a.failures).toEqual([]);
    expect(b.failures).toEqual([]);
    expect(a.applied + b.applied).toBe(records.length);
    await expectTableMatches(s, expectedStates(messages));
  });
});
