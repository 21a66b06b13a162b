import { describe, expect, it } from 'vitest';
import { ResourceDefinitionError } from '#infra/errors.ts';
import {
  allDueShards,
  createTableInput,
  DUE_SHARD_COUNT,
  deadLetterQueueInput,
  defineQueue,
  defineTable,
  dueShardFor,
  QUEUE_NAMES,
  QUEUES,
  type QueueInput,
  queueInput,
  TABLE_NAMES,
  TABLES,
  type TableDefinition,
  timeToLiveInput,
  visibilityTimeoutFor,
} from '#infra/resources.ts';

const baseQueue: QueueInput = {
  logicalName: 'sample',
  purpose: 'test',
  consumer: {
    functionName: 'sample',
    timeoutSeconds: 30,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    reportBatchItemFailures: true,
  },
  messageRetentionSeconds: 4 * 86_400,
  deadLetter: { maxReceiveCount: 5, messageRetentionSeconds: 14 * 86_400 },
  urlEnvVar: 'SAMPLE_QUEUE_URL',
  dlqUrlEnvVar: 'SAMPLE_DLQ_URL',
};

const baseTable: TableDefinition = {
  logicalName: 'sample',
  purpose: 'test',
  partitionKey: { name: 'id', type: 'S' },
  indexes: {},
  billingMode: 'PAY_PER_REQUEST',
  pointInTimeRecovery: false,
  retainOnDelete: false,
  envVar: 'SAMPLE_TABLE_NAME',
};

describe('queue definitions', () => {
  it.each(QUEUE_NAMES)('%s: visibility timeout is at least 6x its consumer timeout', (name) => {
    const queue = QUEUES[name];
    expect(queue.visibilityTimeoutSeconds).toBe(visibilityTimeoutFor(queue.consumer));
    expect(queue.visibilityTimeoutSeconds).toBeGreaterThanOrEqual(6 * queue.consumer.timeoutSeconds);
    expect(queue.deadLetter.messageRetentionSeconds).toBeGreaterThan(queue.messageRetentionSeconds);
  });

  it('derives the visibility timeout and ignores one smuggled into the input', () => {
    const queue = defineQueue({ ...baseQueue, visibilityTimeoutSeconds: 1 } as QueueInput);
    expect(queue.visibilityTimeoutSeconds).toBe(180);
    expect(queueInput(queue, 'p', 'arn:dlq').Attributes?.VisibilityTimeout).toBe('180');
  });

  it.each([
    ['a batch above 10 without a batching window', { consumer: { ...baseQueue.consumer, batchSize: 11 } }, 'batchSize'],
    [
      'a Lambda timeout above 15 minutes',
      { consumer: { ...baseQueue.consumer, timeoutSeconds: 901 } },
      'timeoutSeconds',
    ],
    [
      'a DLQ that keeps messages shorter than its source',
      { deadLetter: { maxReceiveCount: 5, messageRetentionSeconds: 86_400 } },
      'deadLetter.messageRetentionSeconds',
    ],
    [
      'a maxReceiveCount of 0',
      { deadLetter: { maxReceiveCount: 0, messageRetentionSeconds: 14 * 86_400 } },
      'maxReceiveCount',
    ],
    ['a maxConcurrency of 1', { consumer: { ...baseQueue.consumer, maxConcurrency: 1 } }, 'maxConcurrency'],
  ] as const)('refuses %s', (_, change, path) => {
    const attempt = () => defineQueue({ ...baseQueue, ...change } as QueueInput);
    expect(attempt).toThrow(ResourceDefinitionError);
    expect(attempt).toThrow(new RegExp(`queues\\.sample\\..*${path.replaceAll('.', '\\.')}`));
  });

  it('stays within the SQS maximum visibility timeout even at the Lambda maximums', () => {
    // 6 * 900 s + 300 s = 5700 s, far under SQS's 43200 s: the derived value is always valid
    expect(
      defineQueue({
        ...baseQueue,
        consumer: { ...baseQueue.consumer, timeoutSeconds: 900, maxBatchingWindowSeconds: 300, batchSize: 100 },
      }).visibilityTimeoutSeconds,
    ).toBe(5_700);
  });

  it('builds the DLQ and the source queue inputs with the redrive policy', () => {
    const queue = QUEUES.events;
    expect(deadLetterQueueInput(queue, 'sto-x')).toEqual({
      QueueName: 'sto-x-events-dlq',
      Attributes: { MessageRetentionPeriod: String(queue.deadLetter.messageRetentionSeconds) },
    });
    const input = queueInput(queue, 'sto-x', 'arn:aws:sqs:us-east-1:000000000000:sto-x-events-dlq');
    expect(input.QueueName).toBe('sto-x-events');
    expect(JSON.parse(input.Attributes?.RedrivePolicy ?? '')).toEqual({
      deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:sto-x-events-dlq',
      maxReceiveCount: queue.deadLetter.maxReceiveCount,
    });
  });
});

describe('table definitions', () => {
  it.each(TABLE_NAMES)('%s: every key attribute is declared once, with its type', (name) => {
    const input = createTableInput(TABLES[name], 'p');
    const declared = new Map(input.AttributeDefinitions?.map((a) => [a.AttributeName, a.AttributeType]));
    expect(declared.size).toBe(input.AttributeDefinitions?.length);
    const used = [
      ...(input.KeySchema ?? []),
      ...(input.GlobalSecondaryIndexes ?? []).flatMap((index) => index.KeySchema ?? []),
    ];
    for (const key of used) expect(declared.has(key.AttributeName)).toBe(true);
    expect(input.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('puts the TTL on decisions and model, not on users', () => {
    expect(timeToLiveInput(TABLES.decisions, 'p')?.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
    expect(timeToLiveInput(TABLES.model, 'p')?.TimeToLiveSpecification?.AttributeName).toBe('expiresAt');
    expect(timeToLiveInput(TABLES.users, 'p')).toBeUndefined();
  });

  it('refuses one attribute with two types across keys', () => {
    expect(() =>
      defineTable({
        ...baseTable,
        indexes: { byId: { partitionKey: { name: 'id', type: 'N' }, projection: { type: 'ALL' }, purpose: 't' } },
      }),
    ).toThrow(/tables\.sample\.indexes\.byId\.partitionKey: attribute 'id' is N here but S elsewhere/);
  });

  it('refuses an INCLUDE projection without attributes and a TTL on a string key', () => {
    expect(() =>
      defineTable({
        ...baseTable,
        indexes: {
          byX: {
            partitionKey: { name: 'x', type: 'S' },
            projection: { type: 'INCLUDE', nonKeyAttributes: [] },
            purpose: 't',
          },
        },
      }),
    ).toThrow(ResourceDefinitionError);
    expect(() => defineTable({ ...baseTable, timeToLiveAttribute: 'id' })).toThrow(/must be a Number/);
  });
});

describe('due shards', () => {
  it('spreads decision ids over every shard, stably', () => {
    const shards = new Set(Array.from({ length: 2_000 }, (_, i) => dueShardFor(`dec-${i}`)));
    expect([...shards].sort()).toEqual(allDueShards().sort());
    expect(allDueShards()).toHaveLength(DUE_SHARD_COUNT);
    expect(dueShardFor('dec-42')).toBe(dueShardFor('dec-42'));
  });
});
