import { createHash } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { QUEUES } from '#infra/resources.ts';
import { DrainTimeoutError, PollerError } from '#local/errors.ts';
import {
  createQueuePoller,
  drainAll,
  SqsEventSourcePoller as Poller,
  type SqsEventSourcePoller,
} from '#local/poller.ts';
import { createQueueWithDeadLetter, queueCounts, receiveAll, sendBodies } from '#test/helpers/local-queues.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';

const stack = useLocalStack();

const started: SqsEventSourcePoller[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((poller) => poller.stop()));
});

/** A handler that records every event and answers with `respond`. */
function recordingHandler(respond: (event: SQSEvent, call: number) => SQSBatchResponse | undefined | Promise<never>) {
  const events: SQSEvent[] = [];
  const contexts: Context[] = [];
  const handler = async (event: SQSEvent, context: Context) => {
    events.push(event);
    contexts.push(context);
    return respond(event, events.length);
  };
  const deliveries = (body: string) =>
    events.flatMap((event) => event.Records).filter((record: SQSRecord) => record.body === body);
  return { handler, events, contexts, deliveries };
}

function startPoller(options: ConstructorParameters<typeof Poller>[0]) {
  const poller = new Poller({ onError: () => {}, ...options });
  started.push(poller.start());
  return poller;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe('SqsEventSourcePoller', () => {
  it('delivers batches of real-shaped SQS records and deletes them after success', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'shape', { maxReceiveCount: 3 });
    const bodies = Array.from({ length: 25 }, (_, i) => JSON.stringify({ n: i }));
    await sendBodies(sqs, queue.url, bodies, {
      kind: { DataType: 'String', StringValue: 'engagement' },
      payload: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
    });
    const { handler, events, contexts } = recordingHandler(() => undefined);

    // Act
    const poller = startPoller({ sqs, queueUrl: queue.url, handler, batchSize: 10, timeoutMs: 5_000 });
    await poller.drain();

    // Assess
    const records = events.flatMap((event) => event.Records);
    expect(records.map((record) => record.body).sort()).toEqual([...bodies].sort());
    expect(Math.max(...events.map((event) => event.Records.length))).toBeLessThanOrEqual(10);
    const record = records[0];
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: stack().region,
      md5OfBody: md5(record.body),
      attributes: { ApproximateReceiveCount: '1', SenderId: expect.any(String) },
      messageAttributes: {
        kind: { stringValue: 'engagement', stringListValues: [], binaryListValues: [], dataType: 'String' },
        payload: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
      },
    });
    expect(record.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(record.receiptHandle).not.toBe('');
    expect(record.md5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
      Number(record.attributes.SentTimestamp),
    );
    expect(contexts[0].getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(contexts[0].getRemainingTimeInMillis()).toBeLessThanOrEqual(5_000);
    expect(contexts[0].invokedFunctionArn).toMatch(/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:/);
    expect(poller.stats).toMatchObject({ records: 25, deleted: 25, failed: 0, failedBatches: 0 });
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('gathers more than ten records into one batch within the batching window', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'window', { maxReceiveCount: 3 });
    await sendBodies(
      sqs,
      queue.url,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const { handler, events } = recordingHandler(() => undefined);

    // Act
    const poller = startPoller({ sqs, queueUrl: queue.url, handler, batchSize: 25, maxBatchingWindowMs: 300 });
    await poller.drain();

    // Assess
    const sizes = events.map((event) => event.Records.length);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(25);
    expect(Math.max(...sizes)).toBeGreaterThan(10);
  });

  it('deletes only the successes of a partial batch failure and redelivers the failures', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'partial', { maxReceiveCount: 3 });
    await sendBodies(sqs, queue.url, ['ok-1', 'fail-1', 'ok-2', 'fail-2', 'ok-3']);
    const seen = new Map<string, number>();
    const { handler, deliveries } = recordingHandler((event) => ({
      // each failing record fails on its first delivery only
      batchItemFailures: event.Records.filter((record) => {
        const count = (seen.get(record.body) ?? 0) + 1;
        seen.set(record.body, count);
        return record.body.startsWith('fail') && count === 1;
      }).map((record) => ({ itemIdentifier: record.messageId })),
    }));

    // Act
    const poller = startPoller({ sqs, queueUrl: queue.url, handler, visibilityTimeoutSeconds: 1 });
    await poller.drain();

    // Assess
    for (const body of ['ok-1', 'ok-2', 'ok-3']) expect(deliveries(body)).toHaveLength(1);
    for (const body of ['fail-1', 'fail-2']) {
      expect(deliveries(body).map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
      expect(new Set(deliveries(body).map((record) => record.messageId)).size).toBe(1);
    }
    expect(poller.stats).toMatchObject({ deleted: 5, failed: 2, failedBatches: 0 });
    expect(await queueCounts(sqs, queue.dlqUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('moves a record that keeps failing to the DLQ after maxReceiveCount, body and attributes intact', async () => {
    // Prepare: the real requests queue and its redrive policy from infra/resources.ts
    const { sqs } = stack().clients;
    const maxReceiveCount = QUEUES.requests.deadLetter.maxReceiveCount;
    const poison = JSON.stringify({ userId: 'u-7', kind: 'digest', note: 'poison ✉' });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: stack().queueUrls.requests,
        MessageBody: poison,
        MessageAttributes: { producer: { DataType: 'String', StringValue: 'crm' } },
      }),
    );
    await sendBodies(sqs, stack().queueUrls.requests, ['good-1', 'good-2']);
    const { handler, deliveries } = recordingHandler((event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === poison).map((record) => ({
        itemIdentifier: record.messageId,
      })),
    }));

    // Act: visibility 0 makes each failure visible again at once, so the redrive takes milliseconds
    const poller = createQueuePoller(stack(), 'requests', handler, {
      visibilityTimeoutSeconds: 0,
      concurrency: 1,
      onError: () => {},
    });
    started.push(poller.start());
    await poller.drain();

    // Assess
    expect(deliveries(poison).map((record) => record.attributes.ApproximateReceiveCount)).toEqual(
      Array.from({ length: maxReceiveCount }, (_, i) => String(i + 1)),
    );
    expect(deliveries('good-1')).toHaveLength(1);
    expect(deliveries('good-2')).toHaveLength(1);
    const dead = await receiveAll(sqs, stack().dlqUrls.requests);
    expect(dead).toHaveLength(1);
    expect(dead[0].Body).toBe(poison);
    expect(dead[0].MessageId).toBe(deliveries(poison)[0].messageId);
    expect(dead[0].MessageAttributes?.producer?.StringValue).toBe('crm');
  });

  it('redelivers the whole batch when the handler throws', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'throws', { maxReceiveCount: 3 });
    await sendBodies(sqs, queue.url, ['a', 'b', 'c']);
    const { handler, events } = recordingHandler((_, call) => {
      if (call === 1) return Promise.reject(new Error('downstream unavailable'));
      return undefined;
    });
    const errors: string[] = [];

    // Act
    const poller = startPoller({
      sqs,
      queueUrl: queue.url,
      handler,
      visibilityTimeoutSeconds: 1,
      onError: (error) => errors.push(error.message),
    });
    await poller.drain();

    // Assess
    const [first, ...rest] = events;
    expect(first.Records.map((record) => record.body).sort()).toEqual(['a', 'b', 'c']);
    const redelivered = rest.flatMap((event) => event.Records);
    expect(redelivered.map((record) => record.messageId).sort()).toEqual(
      first.Records.map((record) => record.messageId).sort(),
    );
    expect(redelivered.every((record) => record.attributes.ApproximateReceiveCount === '2')).toBe(true);
    expect(errors).toEqual(['downstream unavailable']);
    expect(poller.stats).toMatchObject({ deleted: 3, failed: 3, failedBatches: 1 });
  });

  it('fails the whole batch when the response names a message that is not in it, as Lambda does', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'invalid', { maxReceiveCount: 3 });
    await sendBodies(sqs, queue.url, ['x', 'y']);
    const { handler, events } = recordingHandler((_, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-a-message-of-this-batch' }] } : undefined,
    );

    // Act
    const poller = startPoller({ sqs, queueUrl: queue.url, handler, visibilityTimeoutSeconds: 0 });
    await poller.drain();

    // Assess
    expect(events[0].Records).toHaveLength(2);
    expect(
      events
        .slice(1)
        .flatMap((event) => event.Records.map((record) => record.body))
        .sort(),
    ).toEqual(['x', 'y']);
    expect(poller.stats).toMatchObject({ deleted: 2, failed: 2, failedBatches: 1 });
  });

  it('fails the batch of a handler that runs past its timeout', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'timeout', { maxReceiveCount: 3 });
    await sendBodies(sqs, queue.url, ['slow']);
    let calls = 0;
    const handler = async () => {
      calls++;
      if (calls === 1) await new Promise((resolve) => setTimeout(resolve, 400));
    };
    const errors: Error[] = [];

    // Act
    const poller = startPoller({
      sqs,
      queueUrl: queue.url,
      handler,
      timeoutMs: 100,
      visibilityTimeoutSeconds: 0,
      onError: (error) => errors.push(error),
    });
    await poller.drain();

    // Assess
    expect(calls).toBe(2);
    expect(errors.map((error) => error.name)).toEqual(['HandlerTimeoutError']);
    expect(poller.stats).toMatchObject({ deleted: 1, failed: 1, failedBatches: 1 });
  });

  it('drainAll waits for a pipeline in which one handler feeds the next queue', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const first = await createQueueWithDeadLetter(sqs, 'stage-1', { maxReceiveCount: 3 });
    const second = await createQueueWithDeadLetter(sqs, 'stage-2', { maxReceiveCount: 3 });
    const arrived: string[] = [];
    const forward = startPoller({
      sqs,
      queueUrl: first.url,
      handler: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        await sendBodies(
          sqs,
          second.url,
          event.Records.map((record) => `${record.body}+`),
        );
      },
    });
    const sink = startPoller({
      sqs,
      queueUrl: second.url,
      handler: async (event) => {
        arrived.push(...event.Records.map((record) => record.body));
      },
    });
    await sendBodies(
      sqs,
      first.url,
      Array.from({ length: 12 }, (_, i) => `p${i}`),
    );

    // Act
    await drainAll([forward, sink]);

    // Assess
    expect(arrived.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `p${i}+`).sort());
  });

  it('runs concurrent batch loops and stop() lets the batches in the handler finish', async () => {
    // Prepare
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'concurrent', { maxReceiveCount: 3 });
    await sendBodies(
      sqs,
      queue.url,
      Array.from({ length: 8 }, (_, i) => `c${i}`),
    );
    let inHandler = 0;
    let mostAtOnce = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handler = async () => {
      inHandler++;
      mostAtOnce = Math.max(mostAtOnce, inHandler);
      await gate;
      inHandler--;
    };
    const poller = new Poller({ sqs, queueUrl: queue.url, handler, batchSize: 2, concurrency: 3, onError: () => {} });
    poller.start();
    await expect.poll(() => mostAtOnce).toBe(3);

    // Act
    const stopped = poller.stop();
    release();
    await stopped;

    // Assess: the three batches in the handler were deleted; the rest stays on the queue
    expect(poller.stats.deleted).toBe(6);
    expect(await queueCounts(sqs, queue.url)).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
  });

  it('refuses options Lambda refuses and drain() before start()', async () => {
    const sqs = stack().clients.sqs;
    const handler = async () => undefined;
    expect(() => new Poller({ sqs, queueUrl: 'q', handler, batchSize: 11 })).toThrow(PollerError);
    expect(() => new Poller({ sqs, queueUrl: 'q', handler, concurrency: 0 })).toThrow(/concurrency/);
    await expect(new Poller({ sqs, queueUrl: 'q', handler }).drain()).rejects.toThrow(/started/);
  });

  it('drain() reports what is left when it times out', async () => {
    // Prepare: a handler that always fails, on a queue without a DLQ
    const { sqs } = stack().clients;
    const queue = await createQueueWithDeadLetter(sqs, 'stuck', { maxReceiveCount: 1000 });
    await sendBodies(sqs, queue.url, ['never']);
    const poller = startPoller({
      sqs,
      queueUrl: queue.url,
      handler: () => Promise.reject(new Error('always')),
      visibilityTimeoutSeconds: 0,
    });

    // Act
    const drained = poller.drain({ timeoutMs: 200 });

    // Assess
    await expect(drained).rejects.toBeInstanceOf(DrainTimeoutError);
    await expect(drained).rejects.toThrow(/not drained after 200 ms/);
  });
});
