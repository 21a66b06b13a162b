/**
 * Fixtures of the reward and learner tests: a test config, sent decision items, the open-window
 * index on the local stack, engagement events, reward messages and the rewards queue.
 */
import { DescribeTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteMessageBatchCommand, PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { BatchWriteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { defaultConfig } from '#config/load.ts';
import { type AnalystConfig, BanditConfigSchema } from '#config/schema.ts';

type BanditConfigInput = Parameters<typeof BanditConfigSchema.parse>[0];

import { TABLES } from '#infra/resources.ts';
import { REWARD_WINDOW_INDEX, REWARD_WINDOW_INDEX_NAME } from '#lambdas/rewards/close.ts';
import {
  decodeFeatureRow,
  encodeFeatureRow,
  openRewardWindow,
  REWARD_MESSAGE_FORMAT,
  type RewardMessage,
} from '#lambdas/rewards/index.ts';
import type { LocalStack } from '#local/stack.ts';
import { type EncodedArray, loadBandit } from '#model/bandit/index.ts';
import { FEATURE_DIMENSION, FEATURE_INDEX } from '#model/features.ts';
import { SendTimePolicy, type SerializedPolicy } from '#model/policy.ts';
import { Rng } from '#model/random.ts';

export const HOUR = 3_600_000;
export const T0 = Date.parse('2026-11-02T09:00:00Z');

/** The default config with the given reward settings and, when given, another bandit (schema defaults filled in). */
export function testConfig(reward: Partial<AnalystConfig['reward']> = {}, bandit?: BanditConfigInput): AnalystConfig {
  const base = defaultConfig();
  return {
    ...base,
    reward: { ...base.reward, ...reward },
    bandit: bandit ? BanditConfigSchema.parse(bandit) : base.bandit,
  };
}

/** A feature row in the features' documented ranges, with channel cost 0 or the given one. */
export function featureRow(rng: Rng, channelCost = 0): Float32Array {
  const row = new Float32Array(FEATURE_DIMENSION);
  for (let i = 0; i < row.length; i++) row[i] = rng.next();
  row[FEATURE_INDEX.channel_cost] = channelCost;
  return row;
}

/**
 * Adds the open-window index to the decisions table when infra/resources.ts does not define it yet
 * (DynamoDB Local builds a new index on an empty table at once). Call after every stack reset.
 */
export async function ensureRewardWindowIndex(stack: LocalStack): Promise<void> {
  const indexes = TABLES.decisions.indexes as Record<string, unknown>;
  if (indexes[REWARD_WINDOW_INDEX_NAME]) return;
  const TableName = stack.tableNames.decisions;
  const { Table } = await stack.clients.dynamo.send(new DescribeTableCommand({ TableName }));
  if (Table?.GlobalSecondaryIndexes?.some((i) => i.IndexName === REWARD_WINDOW_INDEX_NAME)) return;
  await stack.clients.dynamo.send(
    new UpdateTableCommand({
      TableName,
      AttributeDefinitions: [
        { AttributeName: REWARD_WINDOW_INDEX.partitionKey.name, AttributeType: 'S' },
        { AttributeName: REWARD_WINDOW_INDEX.sortKey?.name ?? 'windowEndsAt', AttributeType: 'N' },
      ],
      GlobalSecondaryIndexUpdates: [
        {
          Create: {
            IndexName: REWARD_WINDOW_INDEX_NAME,
            KeySchema: [
              { AttributeName: REWARD_WINDOW_INDEX.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: REWARD_WINDOW_INDEX.sortKey?.name ?? 'windowEndsAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        },
      ],
    }),
  );
  // DynamoDB Local answers InternalFailure to writes while the new index is still CREATING
  for (let i = 0; i < 200; i++) {
    const { Table: after } = await stack.clients.dynamo.send(new DescribeTableCommand({ TableName }));
    const index = after?.GlobalSecondaryIndexes?.find((x) => x.IndexName === REWARD_WINDOW_INDEX_NAME);
    if (index?.IndexStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`index ${REWARD_WINDOW_INDEX_NAME} did not become ACTIVE`);
}

/**
 * Empties the decisions and model tables and the rewards queue and its DLQ, keeping the tables (and
 * so the index ensureRewardWindowIndex built, which a stack reset would drop: rebuilding costs ~1 s).
 */
export async function clearServingState(stack: LocalStack): Promise<void> {
  const tables = [
    { name: stack.tableNames.decisions, key: ['decisionId'] },
    { name: stack.tableNames.model, key: ['modelId', 'version'] },
  ];
  for (const table of tables) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await stack.clients.doc.send(
        new ScanCommand({
          TableName: table.name,
          ProjectionExpression: table.key.join(', '),
          ExclusiveStartKey: start,
        }),
      );
      const keys = page.Items ?? [];
      for (let i = 0; i < keys.length; i += 25) {
        await stack.clients.doc.send(
          new BatchWriteCommand({
            RequestItems: { [table.name]: keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })) },
          }),
        );
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }
  await Promise.all(
    [stack.queueUrls.rewards, stack.dlqUrls.rewards].map((QueueUrl) =>
      stack.clients.sqs.send(new PurgeQueueCommand({ QueueUrl })),
    ),
  );
}

export interface SentDecision {
  decisionId: string;
  userId: string;
  sentAt: number;
  features: Float32Array;
  status?: string;
  /** decided by the holdout's policy; default false */
  holdout?: boolean;
}

/** Writes a decision item as dispatch leaves it after a send: status, features, an open reward window. */
export async function putSentDecision(stack: LocalStack, d: SentDecision, config: AnalystConfig): Promise<void> {
  await stack.clients.doc.send(
    new PutCommand({
      TableName: stack.tableNames.decisions,
      Item: {
        decisionId: d.decisionId,
        userId: d.userId,
        status: d.status ?? 'sent',
        channel: 'push',
        features: encodeFeatureRow(d.features),
        policyVersion: 'linucb-test+features-v1',
        holdout: d.holdout ?? false,
        configVersion: config.version,
        decidedAt: d.sentAt - HOUR,
        sentAt: d.sentAt,
        ...openRewardWindow(d.decisionId, d.sentAt, config.reward),
      },
    }),
  );
}

export async function readDecision(stack: LocalStack, decisionId: string): Promise<Record<string, unknown>> {
  const { Item } = await stack.clients.doc.send(
    new GetCommand({ TableName: stack.tableNames.decisions, Key: { decisionId }, ConsistentRead: true }),
  );
  if (!Item) throw new Error(`no decision item ${decisionId}`);
  return Item;
}

let eventSequence = 0;

/** An engagement event with a decisionId, as ingest hands it to attribution. */
export function engagement(
  type: string,
  decisionId: string,
  at: number,
  overrides: { id?: string; userId?: string } = {},
): { id: string; type: string; userId: string; occurredAt: string; decisionId: string } {
  eventSequence += 1;
  return {
    id: overrides.id ?? `evt-${eventSequence}`,
    type,
    userId: overrides.userId ?? 'user-1',
    occurredAt: new Date(at).toISOString(),
    decisionId,
  };
}

/** Receives and deletes every message of a queue (bodies parsed as JSON). */
export async function drainQueue(stack: LocalStack, queueUrl: string): Promise<RewardMessage[]> {
  const out: RewardMessage[] = [];
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await stack.clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    if (Messages.length === 0) {
      empty++;
      continue;
    }
    for (const m of Messages) out.push(JSON.parse(m.Body ?? '{}') as RewardMessage);
    await stack.clients.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  return out;
}

/** A reward message for a decision (what window closing sends). */
export function rewardMessage(decisionId: string, features: Float32Array, reward: number): RewardMessage {
  return {
    format: REWARD_MESSAGE_FORMAT,
    decisionId,
    features: encodeFeatureRow(features),
    reward,
    events: reward === 0 ? [] : ['notification_clicked'],
    policyVersion: 'linucb-test+features-v1',
    rewardConfigVersion: 'default-1',
    closedAt: T0,
  };
}

/** The numbers of a linear learner's state that do not depend on the order rewards were applied in. */
export interface PosteriorNumbers {
  updates: number;
  /** A^-1 = F F^T, row-major d x d */
  covariance: Float64Array;
  /** b = sum of reward * features */
  rewardSum: Float64Array;
}

function decodeFloat64(array: EncodedArray): Float64Array {
  const bytes = new Uint8Array(Buffer.from(array.base64, 'base64'));
  return new Float64Array(bytes.buffer, 0, bytes.byteLength / 8);
}

/** @example posteriorOf(head.state).updates */
export function posteriorOf(state: SerializedPolicy): PosteriorNumbers {
  const d = state.bandit.dimension;
  const F = decodeFloat64(state.bandit.arrays.sqrtCovariance);
  const covariance = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += F[i * d + k] * F[j * d + k];
      covariance[i * d + j] = acc;
    }
  }
  return { updates: state.bandit.updates, covariance, rewardSum: decodeFloat64(state.bandit.arrays.rewardSum) };
}

/** Largest absolute difference between two arrays of the same length. */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The state a single learner reaches applying each reward once, in memory. */
export function referenceState(config: AnalystConfig, rewards: readonly RewardMessage[]): SerializedPolicy {
  const policy = SendTimePolicy.create(config);
  try {
    policy.learn(rewards.map((r) => ({ features: decodeFeatureRow(r.features), reward: r.reward })));
    return policy.serialize();
  } finally {
    policy.dispose();
  }
}

/** The arms a state's bandit chooses for a fixed batch with a fixed seed (linucb: no randomness but ties). */
export function decisionsOf(state: SerializedPolicy, seed = 11): number[] {
  const bandit = loadBandit(state.bandit);
  try {
    const rng = new Rng(seed);
    const size = 24;
    const arms = 8;
    const d = state.bandit.dimension;
    const features = new Float32Array(size * arms * d);
    for (let i = 0; i < features.length; i++) features[i] = rng.next();
    const allowed = new Uint8Array(size * arms).fill(1);
    return bandit.decide({ size, arms, dimension: d, features, allowed }, rng).map((c) => c.arm);
  } finally {
    bandit.dispose();
  }
}
