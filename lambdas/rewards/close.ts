/**
 * Window closing: a sent decision whose attribution window has ended gets its reward, computed from
 * the event types counted on it (0 when there are none), and one message to the rewards queue.
 *
 * Finding them: a sparse index over the decisions table (REWARD_WINDOW_INDEX, proposed for
 * infra/resources.ts) holds exactly the decisions whose window is open: the send-outcome write SETs
 * `rewardShard` and `windowEndsAt` (openRewardWindow below), the close REMOVEs `rewardShard`.
 *
 * Order: **send, then close**. The closer reads the item (strongly consistent), sends the reward
 * message, and only then writes the close (`rewardClosed = true`, `reward`, REMOVE `rewardShard`) with
 * one conditional UpdateItem. A closer that dies between the two leaves the decision in the index; the
 * next sweep sends it again and closes it, and the learner, which remembers the decision ids it applied,
 * skips the duplicate. Closing first would need a second write per decision to mark "message sent"
 * (or lose the reward on a crash). The resent reward is the same: attribution refuses events once the
 * window plus `lateEventGraceMs` is over, and closing waits that long, so the counted events are final.
 *
 * Cost per decision: its share of a Query page, one strongly consistent read (BatchGetItem), a tenth
 * of a SendMessageBatch, and one write.
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type GlobalIndexDefinition, TABLES } from '#infra/resources.ts';
import { hashString } from '#model/random.ts';
import { DEFAULT_LATE_EVENT_GRACE_MS, type RewardsLogger } from './attribute.ts';
import { REWARD_MESSAGE_FORMAT, type RewardMessage } from './message.ts';
import { computeReward, type RewardSettings } from './reward.ts';

/** Name of the sparse index of open reward windows on the decisions table. */
export const REWARD_WINDOW_INDEX_NAME = 'byRewardWindow';

/** The index definition, from the one source of truth. */
export const REWARD_WINDOW_INDEX: GlobalIndexDefinition = TABLES.decisions.indexes.byRewardWindow;

/** Shards of the open-window index (write spreading, as decisions.byDue). */
export const REWARD_SHARD_COUNT = 8;

/**
 * The `rewardShard` of a decision: a stable hash of its id, so a retried write lands in the same shard.
 * @example rewardShardFor('dec_req-42') // 'reward#5'
 */
export function rewardShardFor(decisionId: string, shards: number = REWARD_SHARD_COUNT): string {
  return `reward#${hashString(decisionId) % shards}`;
}

/**
 * The attributes the send-outcome write (dispatch: `sending -> sent` / `maybe_sent`) SETs to open a
 * decision's attribution window; no extra write.
 * @example
 *   const w = openRewardWindow(decisionId, sentAt, config.reward);
 *   // UpdateExpression: 'SET #status = :sent, sentAt = :at, windowEndsAt = :w, rewardShard = :shard'
 *   // values: { ':w': w.windowEndsAt, ':shard': w.rewardShard, ... }
 */
export function openRewardWindow(
  decisionId: string,
  sentAt: number,
  reward: Pick<RewardSettings, 'attributionWindowHours'>,
): { windowEndsAt: number; rewardShard: string } {
  return {
    windowEndsAt: sentAt + Math.round(reward.attributionWindowHours * 3_600_000),
    rewardShard: rewardShardFor(decisionId),
  };
}

export interface CloseDeps {
  doc: DynamoDBDocumentClient;
  sqs: SQSClient;
  decisionsTable: string;
  rewardsQueueUrl: string;
  /** config.reward: weights and combine */
  reward: Pick<RewardSettings, 'weights' | 'combine'>;
  /** config.version, carried on each message */
  configVersion: string;
  logger: RewardsLogger;
  /** default REWARD_WINDOW_INDEX_NAME */
  indexName?: string;
  /** default REWARD_SHARD_COUNT */
  shards?: number;
  /** default DEFAULT_LATE_EVENT_GRACE_MS; must equal attribution's */
  lateEventGraceMs?: number;
  /** most decisions closed per call (the rest wait for the next sweep); default 2000 */
  maxDecisions?: number;
  /** close writes in parallel; default 16 */
  concurrency?: number;
}

export interface CloseOutcome {
  /** decisions closed by this call */
  closed: number;
  /** reward messages sent (a decision resent after a crash counts again) */
  sent: number;
  /** closed without a message: the send was never confirmed (maybe_sent, no engagement) or its row is unusable */
  closedWithoutMessage: number;
  /** found in the index but closed already (index lag, or a concurrent closer won) */
  alreadyClosed: number;
  /** decisions left for the next sweep after a failed send or write */
  failed: number;
  /** the budget was reached or a read was throttled: call again */
  more: boolean;
  readRequests: number;
  writeRequests: number;
}

/** The attributes of a decision item closing reads. */
interface ClosingItem {
  decisionId: string;
  userId?: string;
  status?: string;
  features?: string | Uint8Array;
  policyVersion?: string;
  rewardEvents?: Set<string>;
  rewardClosed?: boolean;
  windowEndsAt?: number;
}

interface Closing {
  item: ClosingItem;
  reward: number;
  events: string[];
  message?: RewardMessage;
}

/**
 * Closes every decision whose attribution window ended more than the late-event grace before `now`:
 * sends its reward to the rewards queue, then marks it closed. Idempotent and safe to run concurrently
 * (the close is conditional; a reward sent twice is applied once by the learner).
 * @example
 *   // in the sweeper, each run:
 *   const outcome = await closeExpiredRewards({ doc, sqs, decisionsTable, rewardsQueueUrl,
 *     reward: config.reward, configVersion: config.version, logger }, Date.now());
 */
export async function closeExpiredRewards(deps: CloseDeps, now: number): Promise<CloseOutcome> {
  const outcome: CloseOutcome = {
    closed: 0,
    sent: 0,
    closedWithoutMessage: 0,
    alreadyClosed: 0,
    failed: 0,
    more: false,
    readRequests: 0,
    writeRequests: 0,
  };
  const cutoff = now - (deps.lateEventGraceMs ?? DEFAULT_LATE_EVENT_GRACE_MS);
  const ids = await expiredDecisionIds(deps, cutoff, outcome);
  const items = await readDecisions(deps, ids, outcome);

  const closings: Closing[] = [];
  for (const item of items) {
    if (item.rewardClosed === true) {
      outcome.alreadyClosed++;
      continue;
    }
    if (item.windowEndsAt === undefined || !(item.windowEndsAt < cutoff)) continue;
    closings.push(prepareClosing(item, deps, now));
  }

  const sent = await sendRewards(deps, closings, outcome);
  const toClose = closings.filter((c) => !c.message || sent.has(c.item.decisionId));
  await forEachLimited(toClose, deps.concurrency ?? 16, (c) => closeDecision(deps, c, cutoff, now, outcome));
  if (outcome.closed + outcome.alreadyClosed + outcome.failed > 0) {
    deps.logger.info('reward windows closed', { ...outcome });
  }
  return outcome;
}

function prepareClosing(item: ClosingItem, deps: CloseDeps, now: number): Closing {
  const events = [...(item.rewardEvents ?? [])].sort();
  const reward = computeReward(events, deps.reward);
  const features = featuresBase64(item.features);
  // A send that was never confirmed and drew no engagement may not have happened: learning 0 from it
  // would teach the bandit that its arm failed.
  const confirmed = item.status === 'sent' || events.length > 0;
  if (!confirmed || !features) {
    if (!features) deps.logger.error('closed decision has no usable feature row', { decisionId: item.decisionId });
    return { item, reward, events };
  }
  return {
    item,
    reward,
    events,
    message: {
      format: REWARD_MESSAGE_FORMAT,
      decisionId: item.decisionId,
      features,
      reward,
      events,
      policyVersion: item.policyVersion ?? 'unknown',
      rewardConfigVersion: deps.configVersion,
      closedAt: now,
    },
  };
}

function featuresBase64(value: string | Uint8Array | undefined): string | undefined {
  if (value === undefined) return undefined;
  const base64 = typeof value === 'string' ? value : Buffer.from(value).toString('base64');
  return base64.length >= 4 ? base64 : undefined;
}

async function expiredDecisionIds(deps: CloseDeps, cutoff: number, outcome: CloseOutcome): Promise<string[]> {
  const shards = deps.shards ?? REWARD_SHARD_COUNT;
  const budget = deps.maxDecisions ?? 2000;
  const perShard = Math.max(1, Math.ceil(budget / shards));
  const lists = await Promise.all(
    Array.from({ length: shards }, async (_, n) => {
      const ids: string[] = [];
      let start: Record<string, NativeAttributeValue> | undefined;
      do {
        const page = await deps.doc.send(
          new QueryCommand({
            TableName: deps.decisionsTable,
            IndexName: deps.indexName ?? REWARD_WINDOW_INDEX_NAME,
            KeyConditionExpression: 'rewardShard = :shard AND windowEndsAt < :cutoff',
            ExpressionAttributeValues: { ':shard': `reward#${n}`, ':cutoff': cutoff },
            Limit: Math.min(perShard - ids.length, 1000),
            ExclusiveStartKey: start,
          }),
        );
        outcome.readRequests++;
        for (const item of page.Items ?? []) ids.push(item.decisionId as string);
        start = page.LastEvaluatedKey;
      } while (start && ids.length < perShard);
      if (start) outcome.more = true;
      return ids;
    }),
  );
  return [...new Set(lists.flat())];
}

async function readDecisions(deps: CloseDeps, ids: string[], outcome: CloseOutcome): Promise<ClosingItem[]> {
  const items: ClosingItem[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    let keys: Record<string, NativeAttributeValue>[] = ids.slice(i, i + 100).map((decisionId) => ({ decisionId }));
    for (let attempt = 0; keys.length > 0 && attempt < 4; attempt++) {
      const result = await deps.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [deps.decisionsTable]: {
              Keys: keys,
              // strongly consistent: the counted events must be the final ones, not an index's or a replica's
              ConsistentRead: true,
              ProjectionExpression:
                'decisionId, userId, #status, features, policyVersion, rewardEvents, rewardClosed, windowEndsAt',
              ExpressionAttributeNames: { '#status': 'status' },
            },
          },
        }),
      );
      outcome.readRequests++;
      items.push(...((result.Responses?.[deps.decisionsTable] ?? []) as ClosingItem[]));
      keys = (result.UnprocessedKeys?.[deps.decisionsTable]?.Keys ?? []) as Record<string, NativeAttributeValue>[];
    }
    if (keys.length > 0) outcome.more = true;
  }
  return items;
}

/** Sends the messages of the closings that have one; returns the decision ids whose message was accepted. */
async function sendRewards(deps: CloseDeps, closings: Closing[], outcome: CloseOutcome): Promise<Set<string>> {
  const accepted = new Set<string>();
  const withMessage = closings.filter((c) => c.message);
  const chunks: Closing[][] = [];
  for (let i = 0; i < withMessage.length; i += 10) chunks.push(withMessage.slice(i, i + 10));
  await forEachLimited(chunks, 4, async (chunk) => {
    const entries: SendMessageBatchRequestEntry[] = chunk.map((c, i) => ({
      Id: String(i),
      MessageBody: JSON.stringify(c.message),
    }));
    try {
      const result = await deps.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: deps.rewardsQueueUrl, Entries: entries }),
      );
      for (const ok of result.Successful ?? []) accepted.add(chunk[Number(ok.Id)].item.decisionId);
      for (const bad of result.Failed ?? []) {
        outcome.failed++;
        deps.logger.warn('reward message not accepted; the decision stays open for the next sweep', {
          decisionId: chunk[Number(bad.Id)].item.decisionId,
          code: bad.Code,
        });
      }
    } catch (error) {
      outcome.failed += chunk.length;
      deps.logger.warn('reward messages not sent; the decisions stay open for the next sweep', {
        decisions: chunk.length,
        error: (error as Error).name,
        detail: (error as Error).message,
      });
    }
  });
  outcome.sent += accepted.size;
  return accepted;
}

async function closeDecision(deps: CloseDeps, c: Closing, cutoff: number, now: number, outcome: CloseOutcome) {
  try {
    outcome.writeRequests++;
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId: c.item.decisionId },
        UpdateExpression: 'SET rewardClosed = :true, reward = :reward, rewardClosedAt = :now REMOVE rewardShard',
        ConditionExpression:
          'attribute_exists(decisionId) AND (attribute_not_exists(rewardClosed) OR rewardClosed <> :true) AND ' +
          'windowEndsAt < :cutoff',
        ExpressionAttributeValues: { ':true': true, ':reward': c.reward, ':now': now, ':cutoff': cutoff },
      }),
    );
    outcome.closed++;
    if (!c.message) outcome.closedWithoutMessage++;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      outcome.alreadyClosed++;
      return;
    }
    outcome.failed++;
    deps.logger.warn('reward window not closed; the next sweep retries (the learner skips a resent reward)', {
      decisionId: c.item.decisionId,
      error: (error as Error).name,
      detail: (error as Error).message,
    });
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
