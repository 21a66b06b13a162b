/**
 * The one definition of every DynamoDB table and SQS queue of the system, as plain data.
 *
 * The CDK stack and the local stack both read this file, so a key, an index or a queue setting
 * changes in one place. No aws-cdk-lib here (the local stack must not load it) and no runtime AWS
 * SDK import: the SDK types below are type-only and erased.
 *
 * Choices, briefly:
 * - Every table is on-demand: traffic follows campaign sends (spiky), and there is nothing to tune.
 * - `users` and `decisions` keep point-in-time recovery: consents / opt-outs and the record of
 *   what was sent are the two things we must never lose (a lost decision can mean a second send).
 * - `decisions.byDue` is a sparse, sharded index: the scheduler writes `dueShard` + `dueAt` on a
 *   decision that waits to be sent and REMOVEs `dueShard` once the send is enqueued, so the index
 *   holds only pending sends; `dueShard` spreads writes over `DUE_SHARD_COUNT` partitions instead of
 *   one hot key. It projects only `status`: the sweeper needs ids and which claim to make; the
 *   dispatcher reads the item anyway (it must, to claim it with a conditional write).
 * - `model` keeps one immutable item per policy version (SK `version`): a learner writes version
 *   n+1 with `attribute_not_exists`, so two concurrent learners cannot both win (optimistic
 *   concurrency), and every decision's `policyVersion` can be replayed against the exact model.
 * - Each queue's visibility timeout is derived from its consumer's Lambda timeout (6x, as AWS asks,
 *   plus the batching window during which received messages already count as in flight): the
 *   input has no visibility field, so the invariant cannot be broken by editing one number.
 * - Every queue has a DLQ that keeps messages longer than its source (for a standard queue the
 *   expiry is counted from the original enqueue time, so a shorter DLQ retention loses messages).
 */

import type { CreateTableCommandInput, UpdateTimeToLiveCommandInput } from '@aws-sdk/client-dynamodb';
import type { CreateQueueCommandInput } from '@aws-sdk/client-sqs';
import { ResourceDefinitionError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

export type ScalarAttributeType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  readonly name: string;
  readonly type: ScalarAttributeType;
}

export type IndexProjection =
  | { readonly type: 'ALL' }
  | { readonly type: 'KEYS_ONLY' }
  | { readonly type: 'INCLUDE'; readonly nonKeyAttributes: readonly string[] };

export interface GlobalIndexDefinition {
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly projection: IndexProjection;
  /** What the index is queried for (documentation). */
  readonly purpose: string;
}

export interface TableDefinition {
  readonly logicalName: string;
  readonly purpose: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Keyed by index name. */
  readonly indexes: Readonly<Record<string, GlobalIndexDefinition>>;
  /** Attribute holding an epoch-seconds expiry, or undefined for no TTL. */
  readonly timeToLiveAttribute?: string;
  readonly billingMode: 'PAY_PER_REQUEST';
  readonly pointInTimeRecovery: boolean;
  /** Keep the table when the stack is deleted. */
  readonly retainOnDelete: boolean;
  /** Environment variable through which a Lambda learns the physical table name. */
  readonly envVar: string;
}

const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/**
 * Checks a table definition and returns it with its literal types kept.
 * @example const t = defineTable({ logicalName: 'users', partitionKey: { name: 'userId', type: 'S' }, ... });
 */
export function defineTable<const T extends TableDefinition>(table: T): T {
  const at = `tables.${table.logicalName}`;
  if (!/^[a-z][a-zA-Z0-9]*$/.test(table.logicalName)) {
    throw new ResourceDefinitionError(`${at}.logicalName`, 'must be camelCase letters and digits');
  }
  const keyTypes = new Map<string, ScalarAttributeType>();
  const checkKey = (path: string, key: KeyAttribute | undefined) => {
    if (!key) return;
    if (!ATTRIBUTE_NAME.test(key.name)) throw new ResourceDefinitionError(path, `invalid attribute name '${key.name}'`);
    const seen = keyTypes.get(key.name);
    // DynamoDB has one AttributeDefinition per name: the same attribute cannot be S in one key and N in another
    if (seen && seen !== key.type) {
      throw new ResourceDefinitionError(path, `attribute '${key.name}' is ${key.type} here but ${seen} elsewhere`);
    }
    keyTypes.set(key.name, key.type);
  };
  checkKey(`${at}.partitionKey`, table.partitionKey);
  checkKey(`${at}.sortKey`, table.sortKey);
  const indexNames = Object.keys(table.indexes);
  if (indexNames.length > 20) throw new ResourceDefinitionError(`${at}.indexes`, 'at most 20 GSIs per table');
  for (const indexName of indexNames) {
    const index = table.indexes[indexName];
    checkKey(`${at}.indexes.${indexName}.partitionKey`, index.partitionKey);
    checkKey(`${at}.indexes.${indexName}.sortKey`, index.sortKey);
    if (index.projection.type === 'INCLUDE' && index.projection.nonKeyAttributes.length === 0) {
      throw new ResourceDefinitionError(`${at}.indexes.${indexName}.projection`, 'INCLUDE needs nonKeyAttributes');
    }
  }
  if (table.timeToLiveAttribute !== undefined) {
    if (!ATTRIBUTE_NAME.test(table.timeToLiveAttribute)) {
      throw new ResourceDefinitionError(`${at}.timeToLiveAttribute`, 'invalid attribute name');
    }
    // TTL must be a Number attribute; a key attribute typed S/B would silently never expire
    const keyType = keyTypes.get(table.timeToLiveAttribute);
    if (keyType !== undefined && keyType !== 'N') {
      throw new ResourceDefinitionError(`${at}.timeToLiveAttribute`, 'a TTL attribute must be a Number');
    }
  }
  if (!/^[A-Z][A-Z0-9_]*$/.test(table.envVar)) {
    throw new ResourceDefinitionError(`${at}.envVar`, 'must be UPPER_SNAKE_CASE');
  }
  return table;
}

/**
 * How many `due#<n>` partitions the `decisions.byDue` index spreads pending sends over. Each sweep pays one
 * Query per shard, every minute whatever the traffic, so fewer is cheaper; each partition of an index takes
 * about 1,000 writes/s and a send writes this index twice (scheduled, claimed), so 4 shards carry about
 * 2,000 sends a second. Changing it strands pending sends in the dropped shards: drain them first.
 */
export const DUE_SHARD_COUNT = 4;

/**
 * The `dueShard` value of a decision: a stable hash of its id (FNV-1a), so a retried write of the
 * same decision lands in the same shard.
 * @example dueShardFor('dec-42') // 'due#0'
 */
export function dueShardFor(decisionId: string, shards: number = DUE_SHARD_COUNT): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < decisionId.length; i++) {
    hash ^= decisionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `due#${(hash >>> 0) % shards}`;
}

/**
 * Every `dueShard` value, for the sweeper to Query each.
 * @example allDueShards(2) // ['due#0', 'due#1']
 */
export function allDueShards(shards: number = DUE_SHARD_COUNT): string[] {
  return Array.from({ length: shards }, (_, i) => `due#${i}`);
}

export const TABLES = {
  users: defineTable({
    logicalName: 'users',
    purpose:
      'One item per user: decayed engagement features, consents and opt-outs, contact endpoints, ' +
      'ids of events already counted (dedup), frequency-cap counters.',
    partitionKey: { name: 'userId', type: 'S' },
    indexes: {},
    billingMode: 'PAY_PER_REQUEST',
    pointInTimeRecovery: true,
    retainOnDelete: true,
    envVar: 'USERS_TABLE_NAME',
  }),
  decisions: defineTable({
    logicalName: 'decisions',
    purpose:
      'One item per notification decision: chosen channel and send time, propensity, policy version and ' +
      'context (for off-policy replay), send status, and later the observed reward.',
    partitionKey: { name: 'decisionId', type: 'S' },
    indexes: {
      byDue: {
        partitionKey: { name: 'dueShard', type: 'S' },
        sortKey: { name: 'dueAt', type: 'N' },
        // status tells the sweeper which claim to make (send, or re-decide a deferred request) without a read
        projection: { type: 'INCLUDE', nonKeyAttributes: ['status'] },
        purpose:
          "Scheduler sweep: Query each 'due#<n>' shard with dueAt <= now + lookahead (epoch ms). Sparse: dispatch " +
          'REMOVEs dueShard when it claims the send; a claimed-but-unsent item stays under a lease.',
      },
      byUser: {
        partitionKey: { name: 'userId', type: 'S' },
        sortKey: { name: 'decidedAt', type: 'N' },
        projection: { type: 'KEYS_ONLY' },
        purpose:
          "A user's decisions in time order (epoch ms): attribution of events without a decisionId, " +
          'support and replay. Read the items with BatchGetItem.',
      },
      byRewardWindow: {
        partitionKey: { name: 'rewardShard', type: 'S' },
        sortKey: { name: 'windowEndsAt', type: 'N' },
        // what a reward message needs, and the policy (holdout) its reward is reported under, so closing
        // reads the index alone (lambdas/rewards/close.ts)
        projection: {
          type: 'INCLUDE',
          nonKeyAttributes: ['userId', 'status', 'features', 'policyVersion', 'rewardEvents', 'holdout'],
        },
        purpose:
          "Reward window closing: Query each 'reward#<n>' shard for windowEndsAt between the closer's watermark and " +
          'now - grace (epoch ms). Sparse: the send outcome SETs rewardShard with windowEndsAt.',
      },
    },
    timeToLiveAttribute: 'expiresAt',
    billingMode: 'PAY_PER_REQUEST',
    pointInTimeRecovery: true,
    retainOnDelete: true,
    envVar: 'DECISIONS_TABLE_NAME',
  }),
  model: defineTable({
    logicalName: 'model',
    purpose:
      'Bandit state, one immutable item per version. The head is the highest version: Query ' +
      'ScanIndexForward=false, Limit=1. A learner writes version n+1 with attribute_not_exists(version).',
    partitionKey: { name: 'modelId', type: 'S' },
    sortKey: { name: 'version', type: 'N' },
    indexes: {},
    // set expiresAt on a version when it is superseded (same transaction as the new version), so the head never expires
    timeToLiveAttribute: 'expiresAt',
    billingMode: 'PAY_PER_REQUEST',
    pointInTimeRecovery: true,
    retainOnDelete: true,
    envVar: 'MODEL_TABLE_NAME',
  }),
} as const;

export type TableLogicalName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableLogicalName[];

/**
 * The physical table name under a prefix.
 * @example physicalTableName(TABLES.users, 'sto-dev') // 'sto-dev-users'
 */
export function physicalTableName(table: TableDefinition, prefix: string): string {
  return `${prefix}-${table.logicalName}`;
}

function keySchema(partitionKey: KeyAttribute, sortKey: KeyAttribute | undefined) {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' as const },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: 'RANGE' as const }] : []),
  ];
}

/**
 * The DynamoDB CreateTable input for a definition.
 * @example await dynamo.send(new CreateTableCommand(createTableInput(TABLES.decisions, 'sto-test')));
 */
export function createTableInput(table: TableDefinition, prefix: string): CreateTableCommandInput {
  const attributes = new Map<string, ScalarAttributeType>();
  const addKey = (key: KeyAttribute | undefined) => {
    if (key) attributes.set(key.name, key.type);
  };
  addKey(table.partitionKey);
  addKey(table.sortKey);
  const indexes = Object.entries(table.indexes);
  for (const [, index] of indexes) {
    addKey(index.partitionKey);
    addKey(index.sortKey);
  }
  return {
    TableName: physicalTableName(table, prefix),
    BillingMode: table.billingMode,
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: keySchema(table.partitionKey, table.sortKey),
    ...(indexes.length > 0 && {
      GlobalSecondaryIndexes: indexes.map(([IndexName, index]) => ({
        IndexName,
        KeySchema: keySchema(index.partitionKey, index.sortKey),
        Projection:
          index.projection.type === 'INCLUDE'
            ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.projection.nonKeyAttributes] }
            : { ProjectionType: index.projection.type },
      })),
    }),
  };
}

/**
 * The UpdateTimeToLive input for a definition, or undefined when the table has no TTL.
 * @example const ttl = timeToLiveInput(TABLES.decisions, 'sto-test'); if (ttl) await dynamo.send(new UpdateTimeToLiveCommand(ttl));
 */
export function timeToLiveInput(table: TableDefinition, prefix: string): UpdateTimeToLiveCommandInput | undefined {
  if (table.timeToLiveAttribute === undefined) return undefined;
  return {
    TableName: physicalTableName(table, prefix),
    TimeToLiveSpecification: { AttributeName: table.timeToLiveAttribute, Enabled: true },
  };
}

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

/** The Lambda that consumes a queue, and its event source mapping. */
export interface ConsumerDefinition {
  /** Logical name of the Lambda (the CDK stack maps it to an entry file). */
  readonly functionName: string;
  readonly timeoutSeconds: number;
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  /** Event source mapping maximum concurrency (2..1000), or undefined for no limit. */
  readonly maxConcurrency?: number;
  /** Always on: handlers return batchItemFailures so one bad record does not fail its batch. */
  readonly reportBatchItemFailures: true;
}

export interface DeadLetterDefinition {
  /** Receives before SQS moves a message to the DLQ. */
  readonly maxReceiveCount: number;
  readonly messageRetentionSeconds: number;
}

export interface QueueInput {
  readonly logicalName: string;
  readonly purpose: string;
  readonly consumer: ConsumerDefinition;
  readonly messageRetentionSeconds: number;
  readonly deadLetter: DeadLetterDefinition;
  /** Environment variables through which a Lambda learns the queue URLs. */
  readonly urlEnvVar: string;
  readonly dlqUrlEnvVar: string;
}

export interface QueueDefinition extends QueueInput {
  /** Derived: 6 x consumer timeout + batching window. Never set by hand. */
  readonly visibilityTimeoutSeconds: number;
}

/** SQS's bounds and Lambda's event source mapping bounds. */
const LIMITS = {
  lambdaTimeoutSeconds: 900,
  batchingWindowSeconds: 300,
  batchSizeWithoutWindow: 10,
  batchSizeWithWindow: 10_000,
  retentionSeconds: { min: 60, max: 1_209_600 },
  maxReceiveCount: 1_000,
  maxConcurrency: { min: 2, max: 1_000 },
} as const;

/**
 * The visibility timeout a queue needs for its consumer: six times the Lambda timeout (AWS's rule:
 * room for retries when the function is throttled) plus the batching window, during which
 * received messages are already invisible.
 * @example visibilityTimeoutFor({ timeoutSeconds: 30, maxBatchingWindowSeconds: 1 }) // 181
 */
export function visibilityTimeoutFor(
  consumer: Pick<ConsumerDefinition, 'timeoutSeconds' | 'maxBatchingWindowSeconds'>,
) {
  return 6 * consumer.timeoutSeconds + consumer.maxBatchingWindowSeconds;
}

function checkInteger(path: string, value: number, min: number, max: number) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ResourceDefinitionError(path, `must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/**
 * Checks a queue definition against SQS and Lambda rules and derives its visibility timeout.
 * @example const q = defineQueue({ logicalName: 'events', consumer: { timeoutSeconds: 30, ... }, ... });
 */
export function defineQueue<const T extends QueueInput>(input: T): T & { readonly visibilityTimeoutSeconds: number } {
  const at = `queues.${input.logicalName}`;
  if (!/^[a-z][a-zA-Z0-9]*$/.test(input.logicalName)) {
    throw new ResourceDefinitionError(`${at}.logicalName`, 'must be camelCase letters and digits');
  }
  const c = input.consumer;
  checkInteger(`${at}.consumer.timeoutSeconds`, c.timeoutSeconds, 1, LIMITS.lambdaTimeoutSeconds);
  checkInteger(`${at}.consumer.maxBatchingWindowSeconds`, c.maxBatchingWindowSeconds, 0, LIMITS.batchingWindowSeconds);
  // Lambda refuses a batch size above 10 without a batching window of at least one second
  const maxBatch = c.maxBatchingWindowSeconds >= 1 ? LIMITS.batchSizeWithWindow : LIMITS.batchSizeWithoutWindow;
  checkInteger(`${at}.consumer.batchSize`, c.batchSize, 1, maxBatch);
  if (c.maxConcurrency !== undefined) {
    checkInteger(
      `${at}.consumer.maxConcurrency`,
      c.maxConcurrency,
      LIMITS.maxConcurrency.min,
      LIMITS.maxConcurrency.max,
    );
  }
  if (c.reportBatchItemFailures !== true) {
    throw new ResourceDefinitionError(`${at}.consumer.reportBatchItemFailures`, 'must be true');
  }
  const { min, max } = LIMITS.retentionSeconds;
  checkInteger(`${at}.messageRetentionSeconds`, input.messageRetentionSeconds, min, max);
  checkInteger(`${at}.deadLetter.messageRetentionSeconds`, input.deadLetter.messageRetentionSeconds, min, max);
  if (input.deadLetter.messageRetentionSeconds <= input.messageRetentionSeconds) {
    throw new ResourceDefinitionError(
      `${at}.deadLetter.messageRetentionSeconds`,
      'must be longer than the source queue retention: a redriven message keeps its original enqueue time',
    );
  }
  checkInteger(`${at}.deadLetter.maxReceiveCount`, input.deadLetter.maxReceiveCount, 1, LIMITS.maxReceiveCount);
  // at Lambda's maximums (900 s timeout, 300 s window) this is 5700 s, far below SQS's 43200 s cap
  const visibilityTimeoutSeconds = visibilityTimeoutFor(c);
  for (const key of ['urlEnvVar', 'dlqUrlEnvVar'] as const) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(input[key]))
      throw new ResourceDefinitionError(`${at}.${key}`, 'must be UPPER_SNAKE_CASE');
  }
  return { ...input, visibilityTimeoutSeconds };
}

const FOUR_DAYS = 4 * 86_400;
const FOURTEEN_DAYS = 14 * 86_400;

export const QUEUES = {
  events: defineQueue({
    logicalName: 'events',
    purpose: 'Engagement events and profile / consent upserts from producers, consumed by ingest.',
    // high volume, cheap per record: large batches amortise the per-invocation cost
    consumer: {
      functionName: 'ingest',
      timeoutSeconds: 30,
      batchSize: 100,
      maxBatchingWindowSeconds: 1,
      reportBatchItemFailures: true,
    },
    messageRetentionSeconds: FOUR_DAYS,
    deadLetter: { maxReceiveCount: 5, messageRetentionSeconds: FOURTEEN_DAYS },
    urlEnvVar: 'EVENTS_QUEUE_URL',
    dlqUrlEnvVar: 'EVENTS_DLQ_URL',
  }),
  requests: defineQueue({
    logicalName: 'requests',
    purpose: 'Notification requests (user, campaign, content per channel, window), consumed by decide.',
    // a request waits for no one: no batching window, so its decision is made as soon as it arrives
    consumer: {
      functionName: 'decide',
      timeoutSeconds: 30,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
    },
    messageRetentionSeconds: FOUR_DAYS,
    deadLetter: { maxReceiveCount: 5, messageRetentionSeconds: FOURTEEN_DAYS },
    urlEnvVar: 'REQUESTS_QUEUE_URL',
    dlqUrlEnvVar: 'REQUESTS_DLQ_URL',
  }),
  dispatch: defineQueue({
    logicalName: 'dispatch',
    purpose: 'Sends that are due (decision ids), from the scheduler, consumed by dispatch (SES / SNS).',
    // small batches: one slow provider call must not hold many sends past their slot
    consumer: {
      functionName: 'dispatch',
      timeoutSeconds: 30,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
    },
    messageRetentionSeconds: FOUR_DAYS,
    deadLetter: { maxReceiveCount: 5, messageRetentionSeconds: FOURTEEN_DAYS },
    urlEnvVar: 'DISPATCH_QUEUE_URL',
    dlqUrlEnvVar: 'DISPATCH_DLQ_URL',
  }),
  rewards: defineQueue({
    logicalName: 'rewards',
    purpose: 'Closed decisions with their observed reward, consumed by the learner.',
    // big batches and few concurrent learners: fewer model versions, fewer optimistic-concurrency conflicts;
    // conflicts are retried, hence the higher maxReceiveCount
    consumer: {
      functionName: 'learner',
      timeoutSeconds: 60,
      batchSize: 500,
      maxBatchingWindowSeconds: 5,
      maxConcurrency: 2,
      reportBatchItemFailures: true,
    },
    messageRetentionSeconds: FOUR_DAYS,
    deadLetter: { maxReceiveCount: 10, messageRetentionSeconds: FOURTEEN_DAYS },
    urlEnvVar: 'REWARDS_QUEUE_URL',
    dlqUrlEnvVar: 'REWARDS_DLQ_URL',
  }),
} as const;

export type QueueLogicalName = keyof typeof QUEUES;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueLogicalName[];

/**
 * The physical queue name under a prefix.
 * @example physicalQueueName(QUEUES.events, 'sto-dev') // 'sto-dev-events'
 */
export function physicalQueueName(queue: QueueDefinition, prefix: string): string {
  return `${prefix}-${queue.logicalName}`;
}

/**
 * The physical name of a queue's DLQ under a prefix.
 * @example physicalDeadLetterQueueName(QUEUES.events, 'sto-dev') // 'sto-dev-events-dlq'
 */
export function physicalDeadLetterQueueName(queue: QueueDefinition, prefix: string): string {
  return `${prefix}-${queue.logicalName}-dlq`;
}

/**
 * The CreateQueue input for a queue's DLQ (create it first: the source queue needs its ARN).
 * @example const { QueueUrl } = await sqs.send(new CreateQueueCommand(deadLetterQueueInput(QUEUES.events, 'sto-test')));
 */
export function deadLetterQueueInput(queue: QueueDefinition, prefix: string): CreateQueueCommandInput {
  return {
    QueueName: physicalDeadLetterQueueName(queue, prefix),
    Attributes: { MessageRetentionPeriod: String(queue.deadLetter.messageRetentionSeconds) },
  };
}

/**
 * The CreateQueue input for a source queue, with its redrive policy to the DLQ at `deadLetterArn`.
 * @example await sqs.send(new CreateQueueCommand(queueInput(QUEUES.events, 'sto-test', dlqArn)));
 */
export function queueInput(queue: QueueDefinition, prefix: string, deadLetterArn: string): CreateQueueCommandInput {
  return {
    QueueName: physicalQueueName(queue, prefix),
    Attributes: {
      VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(queue.messageRetentionSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetterArn,
        maxReceiveCount: queue.deadLetter.maxReceiveCount,
      }),
    },
  };
}
