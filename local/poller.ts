/**
 * Drives an SQS-triggered Lambda handler locally the way Lambda's SQS event source mapping does:
 * batches of real-shaped SQSRecords, partial batch responses, nothing deleted when the handler
 * throws or times out, messages back after the visibility timeout, and redrive to the DLQ by the
 * queue's RedrivePolicy (fauxqs moves a message on the receive after maxReceiveCount, as SQS does).
 *
 * Not emulated: Lambda's scaling (concurrency is fixed), its 6 MB payload cap, and the sandbox being
 * killed on timeout (a timed-out handler keeps running here; its batch is failed all the same).
 */

import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttribute,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { QUEUES, type QueueLogicalName } from '#infra/resources.ts';
import { DrainTimeoutError, HandlerTimeoutError, InvalidBatchResponseError, PollerError } from './errors.ts';
import { sleep } from './processes.ts';
import type { LocalStack } from './stack.ts';

/** An SQS-triggered Lambda handler (a middy-wrapped one fits). */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler typed Promise<void> (it reports no partial failures) must fit
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined | void>;

export interface SqsEventSourcePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handler: SqsHandler;
  /** The event source ARN put in each record; looked up once with GetQueueAttributes when omitted. */
  queueArn?: string;
  /** awsRegion of each record; default the client's region. */
  region?: string;
  /** Largest batch handed to the handler (Lambda: 1..10, up to 10,000 with a batching window). Default 10. */
  batchSize?: number;
  /** How long to keep gathering records after the first one before invoking. Default 0. */
  maxBatchingWindowMs?: number;
  /** VisibilityTimeout passed with each receive (whole seconds), e.g. 1 in tests; default the queue's. */
  visibilityTimeoutSeconds?: number;
  /** Number of batch loops running at once (Lambda's concurrent invocations). Default 1. */
  concurrency?: number;
  /** The Lambda timeout: past it the batch fails as a whole. Default: none. */
  timeoutMs?: number;
  /** As the event source mapping's ReportBatchItemFailures; default true (every queue here sets it). */
  reportBatchItemFailures?: boolean;
  /** Name in the Lambda context; default `local-<queue name>`. */
  functionName?: string;
  /**
   * Longest sleep between empty receives (the sleep starts at 5 ms and doubles). Default 50 ms.
   * Short polls rather than long polls: fauxqs keeps serving a long poll after its client gave up, so a
   * stopped poller's abandoned long poll would take (and hide) the next message sent to the queue.
   */
  maxIdleSleepMs?: number;
  /**
   * Told about every failure the poller sees: handler errors and timeouts, invalid responses, receive
   * and delete errors. Default: one console.warn line with the message ids (never the bodies: they
   * may hold email addresses or phone numbers).
   */
  onError?: (error: Error, messageIds: string[]) => void;
}

export interface PollerStats {
  /** Handler invocations. */
  batches: number;
  /** Records handed to the handler (a redelivered message counts again). */
  records: number;
  /** Records deleted after success. */
  deleted: number;
  /** Records left on the queue after a failure (they come back after the visibility timeout). */
  failed: number;
  /** Invocations that threw, timed out or answered an invalid batch response. */
  failedBatches: number;
}

export interface DrainOptions {
  /** Give up (DrainTimeoutError) after this long; default 30 s. */
  timeoutMs?: number;
}

export interface PendingCounts {
  visible: number;
  inFlight: number;
  delayed: number;
  inHandler: number;
}

const MAX_RECEIVE = 10;

/**
 * A local stand-in for Lambda's SQS event source mapping.
 * @example
 * const poller = new SqsEventSourcePoller({ sqs: stack.clients.sqs, queueUrl: stack.queueUrls.events, handler, visibilityTimeoutSeconds: 1 });
 * poller.start();
 * await poller.drain();
 * await poller.stop();
 */
export class SqsEventSourcePoller {
  readonly queueUrl: string;
  readonly stats: PollerStats = { batches: 0, records: 0, deleted: 0, failed: 0, failedBatches: 0 };

  private readonly options: SqsEventSourcePollerOptions;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly functionName: string;
  private loops: Promise<void>[] = [];
  private running = false;
  private idleAbort = new AbortController();
  private inHandler = 0;
  private eventSourceArn: string | undefined;
  private region: string | undefined;

  constructor(options: SqsEventSourcePollerOptions) {
    this.options = options;
    this.queueUrl = options.queueUrl;
    this.batchSize = options.batchSize ?? 10;
    this.concurrency = options.concurrency ?? 1;
    const window = options.maxBatchingWindowMs ?? 0;
    const fail = (reason: string) => {
      throw new PollerError(options.queueUrl, reason);
    };
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 10_000) {
      fail(`batchSize must be an integer in [1, 10000], got ${this.batchSize}`);
    }
    // as Lambda: more than 10 records need a batching window to gather them
    if (this.batchSize > MAX_RECEIVE && window <= 0) fail('batchSize above 10 needs maxBatchingWindowMs > 0');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      fail(`concurrency must be a positive integer, got ${this.concurrency}`);
    }
    const visibility = options.visibilityTimeoutSeconds;
    if (visibility !== undefined && (!Number.isInteger(visibility) || visibility < 0 || visibility > 43_200)) {
      fail(`visibilityTimeoutSeconds must be an integer in [0, 43200], got ${visibility}`);
    }
    this.functionName = options.functionName ?? `local-${options.queueUrl.split('/').at(-1)}`;
    this.eventSourceArn = options.queueArn;
    this.region = options.region;
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Starts the batch loops; returns at once. Idempotent.
   * @example poller.start();
   */
  start(): this {
    if (this.running) return this;
    this.running = true;
    this.idleAbort = new AbortController();
    this.loops = Array.from({ length: this.concurrency }, () => this.loop());
    return this;
  }

  /**
   * Stops receiving, lets the batches already received finish (and be deleted), then resolves.
   * @example await poller.stop();
   */
  async stop(): Promise<void> {
    this.running = false;
    this.idleAbort.abort();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /**
   * Resolves once the queue has no visible, in-flight or delayed message and no batch is in the
   * handler: every message was handled and deleted, or moved to the DLQ. A failed message waits out
   * its visibility timeout first, so use a short one in tests.
   * @example await poller.drain({ timeoutMs: 10_000 });
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (!this.running) throw new PollerError(this.queueUrl, 'drain() needs a started poller');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = await this.pendingCounts();
      if (isEmpty(counts)) return;
      if (Date.now() >= deadline) throw new DrainTimeoutError(this.queueUrl, timeoutMs, counts);
      await sleep(20);
    }
  }

  /**
   * Whether the queue is empty and no batch is in the handler right now (one look, no waiting).
   * @example if (await poller.isDrained()) console.log('idle');
   */
  async isDrained(): Promise<boolean> {
    return isEmpty(await this.pendingCounts());
  }

  /**
   * What is still to do: the queue's visible, in-flight and delayed messages, and the messages this
   * poller has received and not yet settled.
   * @example const { visible, inFlight } = await poller.pendingCounts();
   */
  async pendingCounts(): Promise<PendingCounts> {
    const inHandler = this.inHandler;
    const { Attributes = {} } = await this.options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
      inHandler: Math.max(inHandler, this.inHandler),
    };
  }

  private async loop(): Promise<void> {
    let idleMs = 0;
    let errorBackoffMs = 0;
    const maxIdle = this.options.maxIdleSleepMs ?? 50;
    while (this.running) {
      let messages: Message[];
      try {
        messages = await this.gather();
        errorBackoffMs = 0;
      } catch (error) {
        if (!this.running) break;
        this.report(asError(error), []);
        errorBackoffMs = Math.min(Math.max(errorBackoffMs * 2, 100), 2_000);
        await this.idle(errorBackoffMs);
        continue;
      }
      if (messages.length === 0) {
        idleMs = Math.min(Math.max(idleMs * 2, 5), maxIdle);
        await this.idle(idleMs);
        continue;
      }
      idleMs = 0;
      try {
        await this.invoke(messages);
      } catch (error) {
        // e.g. the ARN lookup failed: nothing was deleted, the messages come back after the visibility timeout
        this.report(
          asError(error),
          messages.map((message) => message.MessageId ?? '?'),
        );
      } finally {
        this.inHandler -= messages.length;
      }
    }
  }

  /** Sleeps, but wakes at once when stop() is called. */
  private async idle(ms: number): Promise<void> {
    try {
      await sleep(ms, this.idleAbort.signal);
    } catch {
      // aborted by stop()
    }
  }

  private async receive(max: number): Promise<Message[]> {
    const { Messages = [] } = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        ...(this.options.visibilityTimeoutSeconds !== undefined && {
          VisibilityTimeout: this.options.visibilityTimeoutSeconds,
        }),
      }),
    );
    // counted from the moment they are ours, so drain() never sees them nowhere
    this.inHandler += Messages.length;
    return Messages;
  }

  /** One receive, then more until the batch is full or the batching window has passed. */
  private async gather(): Promise<Message[]> {
    const batch = await this.receive(Math.min(MAX_RECEIVE, this.batchSize));
    const windowMs = this.options.maxBatchingWindowMs ?? 0;
    if (batch.length === 0 || windowMs <= 0) return batch;
    const deadline = Date.now() + windowMs;
    while (batch.length < this.batchSize && Date.now() < deadline) {
      let more: Message[];
      try {
        more = await this.receive(Math.min(MAX_RECEIVE, this.batchSize - batch.length));
      } catch (error) {
        // keep what we have: those messages are in flight and must reach the handler
        this.report(asError(error), []);
        break;
      }
      batch.push(...more);
      if (more.length === 0) await sleep(Math.min(10, Math.max(0, deadline - Date.now())));
    }
    return batch;
  }

  private async invoke(messages: Message[]): Promise<void> {
    const records = await this.toRecords(messages);
    const ids = records.map((record) => record.messageId);
    this.stats.batches++;
    this.stats.records += records.length;

    const timeoutMs = this.options.timeoutMs;
    const deadline = Date.now() + (timeoutMs ?? 900_000);
    let failedIds: Set<string>;
    try {
      const response = await this.callHandler({ Records: records }, this.context(deadline), timeoutMs, ids);
      failedIds = this.failuresOf(response, ids);
    } catch (error) {
      this.stats.failedBatches++;
      this.stats.failed += records.length;
      this.report(asError(error), ids);
      return;
    }
    const succeeded = records.filter((record) => !failedIds.has(record.messageId));
    this.stats.failed += records.length - succeeded.length;
    await this.delete(succeeded);
  }

  private async callHandler(event: SQSEvent, context: Context, timeoutMs: number | undefined, ids: string[]) {
    // a handler that throws synchronously fails its batch like one that rejects
    const run = Promise.resolve().then(() => this.options.handler(event, context));
    if (timeoutMs === undefined) return run;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HandlerTimeoutError(this.queueUrl, timeoutMs, ids)), timeoutMs);
    });
    try {
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
      // the handler keeps running after a timeout; its late rejection must not crash the process
      run.catch(() => {});
    }
  }

  /** Lambda's reading of a partial batch response; throws when Lambda would fail the whole batch. */
  private failuresOf(response: unknown, ids: string[]): Set<string> {
    if (this.options.reportBatchItemFailures === false || response === undefined || response === null) {
      return new Set();
    }
    const invalid = (reason: string): never => {
      throw new InvalidBatchResponseError(this.queueUrl, reason);
    };
    if (typeof response !== 'object' || Array.isArray(response))
      return invalid(`a ${typeof response} is not an object`);
    const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) return invalid('batchItemFailures is not an array');
    const inBatch = new Set(ids);
    const failed = new Set<string>();
    for (const failure of failures) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      if (typeof id !== 'string' || id === '') return invalid('an itemIdentifier is missing or empty');
      if (!inBatch.has(id)) return invalid(`itemIdentifier ${id} is not a message of this batch`);
      failed.add(id);
    }
    return failed;
  }

  private async delete(records: SQSRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += MAX_RECEIVE) {
      const chunk = records.slice(i, i + MAX_RECEIVE);
      try {
        const { Failed = [] } = await this.options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
          }),
        );
        this.stats.deleted += chunk.length - Failed.length;
        if (Failed.length > 0) {
          const failedIds = Failed.map((entry) => chunk[Number(entry.Id)]?.messageId ?? '?');
          this.report(new PollerError(this.queueUrl, `DeleteMessageBatch failed: ${Failed[0].Code}`), failedIds);
        }
      } catch (error) {
        this.report(
          asError(error),
          chunk.map((record) => record.messageId),
        );
      }
    }
  }

  private async toRecords(messages: Message[]): Promise<SQSRecord[]> {
    this.region ??= await this.options.sqs.config.region();
    this.eventSourceArn ??= await this.lookUpArn();
    const eventSourceARN = this.eventSourceArn;
    const awsRegion = this.region;
    return messages.map((message) => toSqsRecord(message, eventSourceARN, awsRegion));
  }

  private async lookUpArn(): Promise<string> {
    const { Attributes } = await this.options.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }),
    );
    if (!Attributes?.QueueArn) throw new PollerError(this.queueUrl, 'the queue has no QueueArn');
    return Attributes.QueueArn;
  }

  private context(deadline: number): Context {
    const region = this.region ?? 'us-east-1';
    const unsupported = () => {
      throw new PollerError(this.queueUrl, 'callback-style context methods are not supported: return a promise');
    };
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: this.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${this.functionName}`,
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${this.functionName}`,
      logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: unsupported,
      fail: unsupported,
      succeed: unsupported,
    };
  }

  private report(error: Error, messageIds: string[]): void {
    if (this.options.onError) {
      this.options.onError(error, messageIds);
      return;
    }
    console.warn(
      `[${this.functionName}] ${error.name}: ${error.message} (messages: ${messageIds.join(', ') || 'none'})`,
    );
  }
}

function isEmpty(counts: PendingCounts): boolean {
  return counts.visible === 0 && counts.inFlight === 0 && counts.delayed === 0 && counts.inHandler === 0;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function toMessageAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  return {
    ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
    ...(value.BinaryValue !== undefined && { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
    dataType: (value.DataType ?? 'String') as SQSMessageAttribute['dataType'],
  };
}

/**
 * The SQSRecord Lambda would hand over for a received SQS message.
 * @example const record = toSqsRecord(message, 'arn:aws:sqs:us-east-1:000000000000:q', 'us-east-1');
 */
export function toSqsRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const system = message.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
    SentTimestamp: system.SentTimestamp ?? String(Date.now()),
    SenderId: system.SenderId ?? '000000000000',
    ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    ...(system.AWSTraceHeader !== undefined && { AWSTraceHeader: system.AWSTraceHeader }),
    ...(system.SequenceNumber !== undefined && { SequenceNumber: system.SequenceNumber }),
    ...(system.MessageGroupId !== undefined && { MessageGroupId: system.MessageGroupId }),
    ...(system.MessageDeduplicationId !== undefined && { MessageDeduplicationId: system.MessageDeduplicationId }),
  };
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = toMessageAttribute(value);
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

/**
 * Waits until every poller's queue is empty at the same time, so a pipeline (requests -> decide ->
 * dispatch -> ...) has settled, including messages one handler sent to another's queue.
 * @example await drainAll([ingest, decide, dispatch], { timeoutMs: 20_000 });
 */
export async function drainAll(pollers: SqsEventSourcePoller[], options: DrainOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (const poller of pollers) {
    if (!poller.isRunning) throw new PollerError(poller.queueUrl, 'drainAll() needs started pollers');
  }
  let quietPasses = 0;
  // two quiet passes in a row: a handler that finished during the first pass may have sent to a
  // queue that pass had already looked at; the second pass sees that message
  for (;;) {
    const counts = await Promise.all(pollers.map((poller) => poller.pendingCounts()));
    quietPasses = counts.every(isEmpty) ? quietPasses + 1 : 0;
    if (quietPasses >= 2) return;
    if (Date.now() >= deadline) {
      const index = Math.max(
        0,
        counts.findIndex((count) => !isEmpty(count)),
      );
      throw new DrainTimeoutError(pollers[index].queueUrl, timeoutMs, counts[index]);
    }
    if (quietPasses === 0) await sleep(20);
  }
}

export interface QueuePollerOverrides
  extends Partial<Omit<SqsEventSourcePollerOptions, 'sqs' | 'queueUrl' | 'queueArn' | 'handler' | 'region'>> {}

/**
 * A poller for one of the stack's queues, configured like its Lambda event source mapping in
 * infra/resources.ts (batch size, batching window, timeout; concurrency = maxConcurrency, else 2).
 * @example const ingest = createQueuePoller(stack, 'events', handler, { visibilityTimeoutSeconds: 1 }).start();
 */
export function createQueuePoller(
  stack: Pick<LocalStack, 'clients' | 'queueUrls' | 'queueArns' | 'region'>,
  queue: QueueLogicalName,
  handler: SqsHandler,
  overrides: QueuePollerOverrides = {},
): SqsEventSourcePoller {
  const consumer = QUEUES[queue].consumer;
  const maxConcurrency: number | undefined = 'maxConcurrency' in consumer ? consumer.maxConcurrency : undefined;
  return new SqsEventSourcePoller({
    sqs: stack.clients.sqs,
    queueUrl: stack.queueUrls[queue],
    queueArn: stack.queueArns[queue],
    region: stack.region,
    handler,
    batchSize: consumer.batchSize,
    maxBatchingWindowMs: consumer.maxBatchingWindowSeconds * 1000,
    timeoutMs: consumer.timeoutSeconds * 1000,
    concurrency: maxConcurrency ?? 2,
    functionName: consumer.functionName,
    ...overrides,
  });
}
