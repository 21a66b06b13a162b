/**
 * The sweeper: runs every minute (EventBridge schedule) and moves what is due (docs/serving-loop.md).
 *
 * Why a due-time index and a sweeper: sends are due minutes to days ahead; SQS delays stop at 15 minutes
 * and DynamoDB TTL is not a clock (deletion can lag by days). A sparse GSI (`byDue`: dueShard, dueAt)
 * holds exactly the decisions the sweeper has something to do with; it costs one Query page per shard
 * per minute when idle, runs the same on the local stack, and every transition is one conditional write.
 *
 * Each run, for every shard, Query `dueAt <= now + lookahead` (lookahead = the schedule interval plus a
 * margin) and:
 * - `scheduled`: claim (`scheduled -> enqueued`, conditional on the dueAt we saw, so of two overlapping
 *   sweepers exactly one wins) and SendMessage to the dispatch queue with DelaySeconds = time until the
 *   send instant, so a send leaves on time instead of up to a minute late. The item stays in the index
 *   under a lease (dueAt = send instant + lease): a sweeper that died between claim and SendMessage, or a
 *   message SQS gave up on, is enqueued again when the lease ends (dispatch's claim makes a second message
 *   harmless).
 * - `enqueued` whose lease ended: the same claim again.
 * - `deferred` (no arm was allowed; retryAt reached) and `redeciding` whose lease ended: claim
 *   (`-> redeciding`) and send the stored request back to the requests queue; decide overwrites the item.
 * Then it closes the reward windows that ended (lambdas/rewards/close.ts).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AnalystConfig } from '#config/schema.ts';
import { allDueShards, QUEUES } from '#infra/resources.ts';
import { type CloseOutcome, closeExpiredRewards } from '../rewards/close.ts';

export type SweeperLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** The sweeper runs once a minute. */
export const SWEEP_INTERVAL_MS = 60_000;
/** Claims reach this far ahead, so a send due just after the next run still leaves on time. */
export const DEFAULT_LOOKAHEAD_MS = SWEEP_INTERVAL_MS + 30_000;
/** SQS's largest DelaySeconds. */
const MAX_DELAY_SECONDS = 900;
/** Twice the dispatch queue's visibility timeout: SQS's own redelivery normally comes first. */
export const DEFAULT_LEASE_MS = 2 * QUEUES.dispatch.visibilityTimeoutSeconds * 1000;

export interface SweeperDeps {
  doc: DynamoDBDocumentClient;
  sqs: SQSClient;
  decisionsTable: string;
  dispatchQueueUrl: string;
  requestsQueueUrl: string;
  rewardsQueueUrl: string;
  config: AnalystConfig;
  now: () => number;
  logger: SweeperLogger;
  lookaheadMs?: number;
  leaseMs?: number;
  /** default allDueShards() */
  shards?: readonly string[];
  /** most claims per run (the rest wait for the next); default 5000 */
  maxClaims?: number;
  /** claims in parallel; default 16 */
  concurrency?: number;
  /** close reward windows too; default true */
  closeRewards?: boolean;
}

export interface SweepOutcome {
  /** sends claimed and handed to dispatch */
  enqueued: number;
  /** of which were re-enqueued after their lease ended */
  reEnqueued: number;
  /** deferred requests sent back to decide */
  redecided: number;
  /** claims another sweeper won */
  lostClaims: number;
  /** claims whose message could not be sent (recovered when the lease ends) */
  unsent: number;
  /** for each enqueued send: (instant its message becomes visible) - (send instant), ms; >= 0 */
  latenessMs: number[];
  readRequests: number;
  writeRequests: number;
  /** the claim budget was used up: more is due */
  more: boolean;
  close?: CloseOutcome;
}

interface DueKey {
  decisionId: string;
  dueAt: number;
  status?: string;
}

interface Claimed {
  decisionId: string;
  kind: 'dispatch' | 'redecide';
  body: string;
  delaySeconds: number;
  sendAt: number;
  reEnqueued: boolean;
}

/**
 * One sweep: claims what is due, hands it on, closes ended reward windows.
 * @example const outcome = await sweep(deps); // outcome.enqueued sends went to the dispatch queue
 */
export async function sweep(deps: SweeperDeps): Promise<SweepOutcome> {
  const outcome: SweepOutcome = {
    enqueued: 0,
    reEnqueued: 0,
    redecided: 0,
    lostClaims: 0,
    unsent: 0,
    latenessMs: [],
    readRequests: 0,
    writeRequests: 0,
    more: false,
  };
  const now = deps.now();
  const until = now + (deps.lookaheadMs ?? DEFAULT_LOOKAHEAD_MS);
  const maxClaims = deps.maxClaims ?? 5_000;
  const due: DueKey[] = [];
  for (const shard of deps.shards ?? allDueShards()) {
    let startKey: Record<string, unknown> | undefined;
    do {
      outcome.readRequests++;
      const page = await deps.doc.send(
        new QueryCommand({
          TableName: deps.decisionsTable,
          IndexName: 'byDue',
          KeyConditionExpression: 'dueShard = :shard AND dueAt <= :until',
          ExpressionAttributeValues: { ':shard': shard, ':until': until },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const key = item as DueKey;
        // only sends may be claimed ahead of time; leases and deferrals wait for their instant
        if (key.status === 'scheduled' || key.dueAt <= now) due.push(key);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && due.length < maxClaims);
    if (due.length >= maxClaims) {
      outcome.more = true;
      break;
    }
  }
  due.sort((a, b) => a.dueAt - b.dueAt);

  const claimed: Claimed[] = [];
  let next = 0;
  const work = due.slice(0, maxClaims);
  const worker = async () => {
    while (next < work.length) {
      const key = work[next++];
      const c = await claim(key, now, deps, outcome);
      if (c) claimed.push(c);
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 16, work.length) }, worker));

  await sendAll(
    claimed.filter((c) => c.kind === 'dispatch'),
    deps.dispatchQueueUrl,
    deps,
    outcome,
    now,
  );
  await sendAll(
    claimed.filter((c) => c.kind === 'redecide'),
    deps.requestsQueueUrl,
    deps,
    outcome,
    now,
  );

  if (deps.closeRewards !== false) {
    outcome.close = await closeExpiredRewards(
      {
        doc: deps.doc,
        sqs: deps.sqs,
        decisionsTable: deps.decisionsTable,
        rewardsQueueUrl: deps.rewardsQueueUrl,
        reward: deps.config.reward,
        configVersion: deps.config.version,
        logger: deps.logger,
      },
      now,
    );
  }
  deps.logger.info('sweep done', {
    enqueued: outcome.enqueued,
    reEnqueued: outcome.reEnqueued,
    redecided: outcome.redecided,
    lostClaims: outcome.lostClaims,
    unsent: outcome.unsent,
    more: outcome.more,
    rewardsClosed: outcome.close?.closed,
  });
  return outcome;
}

async function claim(key: DueKey, now: number, deps: SweeperDeps, outcome: SweepOutcome): Promise<Claimed | undefined> {
  const lease = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const toDispatch = key.status === 'scheduled' || key.status === 'enqueued';
  const toDecide = key.status === 'deferred' || key.status === 'redeciding';
  if (!toDispatch && !toDecide) {
    deps.logger.warn('due index holds a decision in an unexpected status', {
      decisionId: key.decisionId,
      status: key.status,
    });
    return undefined;
  }
  const sendAt = key.status === 'scheduled' ? key.dueAt : now;
  const newStatus = toDispatch ? 'enqueued' : 'redeciding';
  try {
    outcome.writeRequests++;
    const { Attributes } = await deps.doc.send(
      new UpdateCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId: key.decisionId },
        UpdateExpression: 'SET #status = :next, dueAt = :lease, enqueuedAt = :now',
        ConditionExpression: '#status = :seen AND dueAt = :dueAt',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':next': newStatus,
          ':seen': key.status,
          ':dueAt': key.dueAt,
          ':lease': Math.max(now, sendAt) + lease,
          ':now': now,
        },
        ReturnValues: toDecide ? 'ALL_NEW' : 'NONE',
      }),
    );
    if (toDispatch) {
      return {
        decisionId: key.decisionId,
        kind: 'dispatch',
        body: JSON.stringify({ decisionId: key.decisionId }),
        delaySeconds: Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((sendAt - now) / 1000))),
        sendAt,
        reEnqueued: key.status === 'enqueued',
      };
    }
    const request = Attributes?.request;
    if (typeof request !== 'string') {
      deps.logger.error('deferred decision has no stored request; it cannot be decided again', {
        decisionId: key.decisionId,
      });
      return undefined;
    }
    return { decisionId: key.decisionId, kind: 'redecide', body: request, delaySeconds: 0, sendAt, reEnqueued: false };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      outcome.lostClaims++;
      return undefined;
    }
    deps.logger.error('claim failed; the next sweep tries again', {
      decisionId: key.decisionId,
      error: (error as Error).name,
    });
    return undefined;
  }
}

async function sendAll(
  claimed: readonly Claimed[],
  queueUrl: string,
  deps: SweeperDeps,
  outcome: SweepOutcome,
  now: number,
): Promise<void> {
  for (let i = 0; i < claimed.length; i += 10) {
    const chunk = claimed.slice(i, i + 10);
    const entries: SendMessageBatchRequestEntry[] = chunk.map((c, j) => ({
      Id: `m${j}`,
      MessageBody: c.body,
      ...(c.delaySeconds > 0 && { DelaySeconds: c.delaySeconds }),
    }));
    let failedIds = new Set<string>();
    try {
      const answer = await deps.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      failedIds = new Set((answer.Failed ?? []).map((f) => f.Id as string));
    } catch (error) {
      failedIds = new Set(entries.map((e) => e.Id as string));
      deps.logger.error('SendMessageBatch failed; the claims are recovered when their lease ends', {
        error: (error as Error).name,
        messages: entries.length,
      });
    }
    chunk.forEach((c, j) => {
      if (failedIds.has(`m${j}`)) {
        outcome.unsent++;
        return;
      }
      if (c.kind === 'redecide') {
        outcome.redecided++;
        return;
      }
      outcome.enqueued++;
      if (c.reEnqueued) outcome.reEnqueued++;
      outcome.latenessMs.push(Math.max(0, now + c.delaySeconds * 1000 - c.sendAt));
    });
  }
}
