/**
 * Window closing: a sent decision whose attribution window has ended gets its reward, computed from
 * the event types counted on it (0 when there are none), as one message to the rewards queue. Closing
 * writes nothing per decision: that write was a sixth of the loop's DynamoDB requests per notification.
 *
 * Finding them: a sparse index over the decisions table (REWARD_WINDOW_INDEX, infra/resources.ts) holds
 * every decision whose window was opened: the send-outcome write SETs `rewardShard` and `windowEndsAt`
 * (openRewardWindow below). It projects what the message needs (features, counted events, status,
 * policy version) and whether the decision is in the holdout (the reward per policy the sweeper reports),
 * so closing reads the index alone: no read of the items.
 *
 * What is closed already: one watermark item in the decisions table (CLOSER_WATERMARK_ID) holds, per
 * shard, `closedThrough`: every decision of the shard with windowEndsAt at or before it has had its
 * message sent. Each sweep queries each shard for windowEndsAt in (closedThrough, cutoff], sends the
 * messages, and only then moves the watermarks forward with one conditional write (on the item's
 * version `v`). Never past a decision whose message was not accepted (the mark stops just before it),
 * never into the middle of a run of equal windowEndsAt (a page ends after the whole run).
 *
 * Order: **send, then advance**. A closer that dies between the two, or two overlapping closers, send
 * a reward twice; the learner remembers the decision ids it applied and skips the second (as for an SQS
 * redelivery). The rewards are the same each time: attribution refuses events once the window plus
 * `lateEventGraceMs` is over, and the cutoff waits that long plus `indexSettleMs`, so the index (eventually
 * consistent) has the last counted event type long before it is read.
 *
 * Reward of a decision afterwards (export, reports): computed from the same counted events and the
 * config's weights, final once `windowEndsAt + lateEventGraceMs` has passed (settledReward below).
 *
 * Cost per run: one GetItem, one Query page per shard (more with more decisions), a tenth of a
 * SendMessageBatch per decision, one UpdateItem. Nothing per decision in DynamoDB.
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type NativeAttributeValue,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type GlobalIndexDefinition, TABLES } from '#infra/resources.ts';
import { hashString } from '#model/random.ts';
import { computeReward, type RewardSettings } from '#model/reward.ts';
import { DEFAULT_LATE_EVENT_GRACE_MS, type RewardsLogger } from './attribute.ts';
import { REWARD_MESSAGE_FORMAT, type RewardMessage } from './message.ts';

export const REWARD_WINDOW_INDEX_NAME = 'byRewardWindow';

/** The index definition, from the one source of truth. */
export const REWARD_WINDOW_INDEX: GlobalIndexDefinition = TABLES.decisions.indexes.byRewardWindow;

/**
 * Shards of the reward-window index (write spreading, as decisions.byDue). Each sweep pays one Query per
 * shard; a partition takes about 1,000 writes/s and a send writes the index once (plus one per counted
 * event type), so 2 shards carry about 2,000 sends a second. Changing it strands open windows in the
 * dropped shards.
 */
export const REWARD_SHARD_COUNT = 2;

/**
 * The `rewardShard` of a decision: a stable hash of its id, so a retried write lands in the same shard.
 * @example rewardShardFor('dec_req-42') // 'reward#1'
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

/** Key (decisionId) of the closer's watermark item in the decisions table; no decision id has this form. */
export const CLOSER_WATERMARK_ID = 'closer#rewards';

/** How long after the cutoff the index is trusted to hold the last write (GSIs are eventually consistent). */
export const DEFAULT_INDEX_SETTLE_MS = 60_000;

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
  /** default DEFAULT_INDEX_SETTLE_MS */
  indexSettleMs?: number;
  /** about the most decisions closed per call (the rest wait for the next sweep); default 2000 */
  maxDecisions?: number;
}

/** The policy that made a decision: the bandit, or the holdout's heuristic (decision item `holdout`). */
export type DecisionPolicy = 'bandit' | 'holdout';

/** The rewards of the decisions one call closed under one policy. */
export interface PolicyRewards {
  count: number;
  sum: number;
  /** each closed decision's reward, in closing order (count of them) */
  rewards: number[];
}

export interface CloseOutcome {
  /** decisions closed by this call: message accepted, or closed without one */
  closed: number;
  /** reward messages sent (a decision resent after a crash or by an overlapping closer counts again) */
  sent: number;
  /** closed without a message: the send was never confirmed (maybe_sent, no engagement) or its row is unusable */
  closedWithoutMessage: number;
  /** decisions left for the next sweep after a failed send */
  failed: number;
  /** another closer moved the watermark first: this call's messages were duplicates the learner skips */
  watermarkConflict: boolean;
  /** the budget was reached: call again */
  more: boolean;
  readRequests: number;
  writeRequests: number;
  /**
   * The reward of every decision this call closed, by the policy that made it: as `sto report` counts them,
   * every closed send (sent or maybe_sent), a window without engagement at 0, whether or not the learner
   * gets a message. Empty when the closing did not count (the watermark write failed: the next sweep closes
   * them again; another closer moved it first: that closer reports them).
   */
  rewardByPolicy: Record<DecisionPolicy, PolicyRewards>;
}

/** The attributes of a decision as the window index projects them. */
interface ClosingItem {
  decisionId: string;
  rewardShard: string;
  windowEndsAt: number;
  userId?: string;
  status?: string;
  features?: string | Uint8Array;
  policyVersion?: string;
  rewardEvents?: Set<string>;
  holdout?: boolean;
}

interface Closing {
  item: ClosingItem;
  reward: number;
  events: string[];
  message?: RewardMessage;
}

/** Per shard (its number), every decision with windowEndsAt at or before the mark has been closed. */
type Watermarks = Record<number, number>;

/**
 * Closes every decision whose attribution window ended more than the late-event grace (plus the index's
 * settle time) before `now`: sends its reward to the rewards queue, then moves the shard's watermark past
 * it. Idempotent and safe to run concurrently (a reward sent twice is applied once by the learner).
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
    failed: 0,
    watermarkConflict: false,
    more: false,
    readRequests: 0,
    writeRequests: 0,
    rewardByPolicy: noRewards(),
  };
  // windows that ended strictly before now - grace - settle: windowEndsAt <= through (epoch ms are integers)
  const through =
    now - (deps.lateEventGraceMs ?? DEFAULT_LATE_EVENT_GRACE_MS) - (deps.indexSettleMs ?? DEFAULT_INDEX_SETTLE_MS) - 1;
  const { marks, version } = await readWatermarks(deps, outcome);
  const shards = deps.shards ?? REWARD_SHARD_COUNT;
  const perShard = Math.max(1, Math.ceil((deps.maxDecisions ?? 2000) / shards));
  const found = await Promise.all(
    Array.from({ length: shards }, (_, n) => endedWindows(deps, n, marks[n] ?? 0, through, perShard, outcome)),
  );

  const closings = found.flatMap((f) => f.items.map((item) => prepareClosing(item, deps, now)));
  const failedIds = await sendRewards(deps, closings, outcome);

  const next: Watermarks = {};
  for (const [n, f] of found.entries()) {
    const from = marks[n] ?? 0;
    // everything up to here was read; stop just before the first decision whose message was not accepted
    let mark = f.complete ? through : (f.items.at(-1)?.windowEndsAt ?? from);
    for (const item of f.items) {
      if (failedIds.has(item.decisionId)) {
        mark = Math.min(mark, item.windowEndsAt - 1);
        break;
      }
    }
    // a shard with nothing in range keeps its mark: no write, and nothing can enter that range any more
    if (f.items.length > 0 && mark > from) next[n] = mark;
  }
  for (const c of closings) {
    if (failedIds.has(c.item.decisionId)) continue;
    outcome.closed++;
    if (!c.message) outcome.closedWithoutMessage++;
    const policy = outcome.rewardByPolicy[c.item.holdout === true ? 'holdout' : 'bandit'];
    policy.count++;
    policy.sum += c.reward;
    policy.rewards.push(c.reward);
  }
  if (Object.keys(next).length > 0) await advanceWatermarks(deps, next, version, outcome);
  if (outcome.watermarkConflict) outcome.rewardByPolicy = noRewards();
  if (outcome.closed + outcome.failed > 0 || outcome.watermarkConflict) {
    const { rewardByPolicy, ...counts } = outcome;
    deps.logger.info('reward windows closed', {
      ...counts,
      // counts and sums only: a line stays small however many decisions closed
      rewardByPolicy: {
        bandit: { count: rewardByPolicy.bandit.count, sum: rewardByPolicy.bandit.sum },
        holdout: { count: rewardByPolicy.holdout.count, sum: rewardByPolicy.holdout.sum },
      },
    });
  }
  return outcome;
}

function noRewards(): Record<DecisionPolicy, PolicyRewards> {
  return { bandit: { count: 0, sum: 0, rewards: [] }, holdout: { count: 0, sum: 0, rewards: [] } };
}

/**
 * A decision's reward as the closer computes it, and whether it is final (attribution counts nothing
 * after windowEndsAt + the grace). For exports and reports: the decision item keeps the counted event
 * types, not the reward. Items closed by an earlier version carry `rewardClosed` and `reward`; those win.
 * @example settledReward(item, config.reward, Date.now()) // { closed: true, reward: 0.3 }
 */
export function settledReward(
  item: { windowEndsAt?: number; rewardEvents?: Iterable<string>; rewardClosed?: boolean; reward?: number },
  reward: Pick<RewardSettings, 'weights' | 'combine'>,
  now: number,
  lateEventGraceMs: number = DEFAULT_LATE_EVENT_GRACE_MS,
): { closed: boolean; reward?: number } {
  if (item.rewardClosed === true && typeof item.reward === 'number') return { closed: true, reward: item.reward };
  const windowEndsAt = item.windowEndsAt === undefined ? undefined : Number(item.windowEndsAt);
  if (windowEndsAt === undefined || !(windowEndsAt + lateEventGraceMs < now)) return { closed: false };
  return { closed: true, reward: computeReward(item.rewardEvents ?? [], reward) };
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

const markAttribute = (n: number) => `closedThrough${n}`;

async function readWatermarks(
  deps: CloseDeps,
  outcome: CloseOutcome,
): Promise<{ marks: Watermarks; version?: number }> {
  const { Item } = await deps.doc.send(
    new GetCommand({ TableName: deps.decisionsTable, Key: { decisionId: CLOSER_WATERMARK_ID }, ConsistentRead: true }),
  );
  outcome.readRequests++;
  const marks: Watermarks = {};
  if (!Item) return { marks };
  for (let n = 0; n < (deps.shards ?? REWARD_SHARD_COUNT); n++) {
    const mark = Item[markAttribute(n)];
    if (typeof mark === 'number') marks[n] = mark;
  }
  return { marks, version: typeof Item.v === 'number' ? Item.v : undefined };
}

/** One conditional write for every shard that moved: lost to a concurrent closer, it changes nothing. */
async function advanceWatermarks(
  deps: CloseDeps,
  next: Watermarks,
  version: number | undefined,
  outcome: CloseOutcome,
) {
  const names: Record<string, string> = {};
  const values: Record<string, NativeAttributeValue> = { ':one': 1 };
  const sets = Object.entries(next).map(([n, mark]) => {
    names[`#m${n}`] = markAttribute(Number(n));
    values[`:m${n}`] = mark;
    return `#m${n} = :m${n}`;
  });
  if (version !== undefined) values[':v'] = version;
  try {
    outcome.writeRequests++;
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId: CLOSER_WATERMARK_ID },
        UpdateExpression: `SET ${sets.join(', ')} ADD v :one`,
        ConditionExpression: version === undefined ? 'attribute_not_exists(v)' : 'v = :v',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) {
      // the messages went out: the next run resends them, the learner skips the duplicates
      deps.logger.warn('reward watermark not moved; the next sweep resends (the learner skips a resent reward)', {
        error: (error as Error).name,
        detail: (error as Error).message,
      });
      outcome.failed += outcome.closed;
      outcome.closed = 0;
      outcome.closedWithoutMessage = 0;
      outcome.rewardByPolicy = noRewards();
      return;
    }
    outcome.watermarkConflict = true;
  }
}

/**
 * The decisions of one shard with windowEndsAt in (from, through], oldest first, about `budget` of them:
 * a page that reaches the budget still takes every decision with the same windowEndsAt as its last, so
 * a watermark at that instant skips none. `complete`: nothing more up to `through`.
 */
async function endedWindows(
  deps: CloseDeps,
  shard: number,
  from: number,
  through: number,
  budget: number,
  outcome: CloseOutcome,
): Promise<{ items: ClosingItem[]; complete: boolean }> {
  const items: ClosingItem[] = [];
  if (!(through > from)) return { items, complete: true };
  let start: Record<string, NativeAttributeValue> | undefined;
  do {
    const page = await deps.doc.send(
      new QueryCommand({
        TableName: deps.decisionsTable,
        IndexName: deps.indexName ?? REWARD_WINDOW_INDEX_NAME,
        KeyConditionExpression: 'rewardShard = :shard AND windowEndsAt BETWEEN :from AND :through',
        ExpressionAttributeValues: { ':shard': `reward#${shard}`, ':from': from + 1, ':through': through },
        Limit: Math.min(Math.max(budget - items.length, 0) + 1, 1000),
        ExclusiveStartKey: start,
      }),
    );
    outcome.readRequests++;
    for (const item of (page.Items ?? []) as ClosingItem[]) {
      const last = items.at(-1);
      if (items.length >= budget && last && item.windowEndsAt !== last.windowEndsAt) {
        outcome.more = true;
        return { items, complete: false };
      }
      items.push(item);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { items, complete: true };
}

/** Sends the messages of the closings that have one; returns the decision ids whose message was not accepted. */
async function sendRewards(deps: CloseDeps, closings: Closing[], outcome: CloseOutcome): Promise<Set<string>> {
  const failed = new Set<string>();
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
      outcome.sent += result.Successful?.length ?? 0;
      for (const bad of result.Failed ?? []) {
        outcome.failed++;
        failed.add(chunk[Number(bad.Id)].item.decisionId);
        deps.logger.warn('reward message not accepted; the decision stays open for the next sweep', {
          decisionId: chunk[Number(bad.Id)].item.decisionId,
          code: bad.Code,
        });
      }
    } catch (error) {
      outcome.failed += chunk.length;
      for (const c of chunk) failed.add(c.item.decisionId);
      deps.logger.warn('reward messages not sent; the decisions stay open for the next sweep', {
        decisions: chunk.length,
        error: (error as Error).name,
        detail: (error as Error).message,
      });
    }
  });
  return failed;
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
