/**
 * Decide: a batch of notification requests becomes one decision item each (docs/serving-loop.md).
 *
 * Per batch:
 * 1. Parse every record; an invalid one is reported (it reaches the DLQ after maxReceiveCount) and the
 *    others go on.
 * 2. Read the users of the batch with one strongly consistent BatchGetItem: features, consents, contact
 *    endpoints and the send log (frequency caps count scheduled sends too).
 * 3. Decide with the head model (cached per container, HeadModelCache), or with the holdout policy for
 *    users in the holdout (a stable hash, model/policy.ts isInHoldout). Several requests for one user in
 *    one batch are decided in turn, each seeing the sends the previous ones scheduled.
 * 4. Reserve the sends in the user's send log with one write conditional on its version: a concurrent
 *    decide for the same user makes one of them read again and decide again, so caps hold.
 * 5. Write each decision with `attribute_not_exists(decisionId)` (or over its own `redeciding` item): a
 *    request delivered twice is decided once. When the item exists already, the send-log entry is made to
 *    match the decision that stands.
 *
 * No arm allowed: config guardrails.whenNoArm. `defer` looks for the first hour in the request's window at
 * which the guardrails would allow an arm (caps age out, quiet hours end) and parks the request until
 * then; `redecide` parks it for an hour; `drop` (or nothing allowed anywhere in the window) records
 * `dropped`. Either way the reason counts are on the item.
 *
 * Cost per decided request: 1 read (its share of the BatchGetItem), 2 writes (send log, decision);
 * the model read is amortised over the refresh interval.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type NativeAttributeValue,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AnalystConfig } from '#config/schema.ts';
import { type NotificationRequest, parseNotificationRequest } from '#events/index.ts';
import { allowedArms, type RecentSends } from '#model/guardrails.ts';
import { holdoutPolicy } from '#model/heuristic.ts';
import type { DecideInput, NotificationPolicy, SendDecision } from '#model/policy.ts';
import { isInHoldout } from '#model/policy.ts';
import { hashString, Rng } from '#model/random.ts';
import { decodeUserState } from '../ingest/user-item.ts';
import {
  type DecisionItem,
  type DecisionStatus,
  decisionIdFor,
  decisionItem,
  PENDING_STATUSES,
} from '../shared/decision-item.ts';
import {
  capHorizonMs,
  nextSendLog,
  reachableChannels,
  recentSendsFrom,
  type SendLogEntry,
  setSendLogEntry,
  type UserItemWithSendLog,
  writeSendLog,
} from '../shared/user-send-log.ts';
import type { CachedPolicy } from './head-model-cache.ts';

/** The part of the Powertools logger decide uses. */
export type DecideLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface DecideDeps {
  doc: DynamoDBDocumentClient;
  usersTable: string;
  decisionsTable: string;
  /** the head model (lambdas/shared/model-store.ts HeadModelCache) */
  models: { current(config: AnalystConfig): Promise<CachedPolicy> };
  config: AnalystConfig;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: DecideLogger;
  /** read-decide-write attempts per user when concurrent decides conflict; default 5 */
  maxUserAttempts?: number;
  /** how long `redecide` waits; default 1 hour */
  redecideDelayMs?: number;
  /** decision writes in parallel; default 10 */
  concurrency?: number;
}

export interface DecideRecord {
  messageId: string;
  body: string;
}

export interface DecideFailure {
  messageId: string;
  /** the parse reason code, or what failed */
  reason: string;
  /** false for a record no redelivery can fix (it goes to the DLQ after maxReceiveCount) */
  retryable: boolean;
}

export interface DecidedRequest {
  messageId: string;
  decisionId: string;
  userId: string;
  status: DecisionStatus;
  holdout: boolean;
  /** the request had been decided already (redelivery or a producer's duplicate) */
  duplicate: boolean;
  channel?: string;
  sendAt?: number;
  propensity?: number;
  policyName?: string;
  noArmReasons?: Record<string, number>;
}

export interface DecideOutcome {
  failures: DecideFailure[];
  decided: DecidedRequest[];
  modelVersion?: number;
  readRequests: number;
  writeRequests: number;
  /** send-log writes lost to a concurrent writer and redone */
  conflicts: number;
}

interface Pending {
  messageId: string;
  request: NotificationRequest;
  decisionId: string;
}

interface Planned {
  pending: Pending;
  input: DecideInput;
  decision: SendDecision;
  holdout: boolean;
  item: DecisionItem;
}

const BATCH_GET_LIMIT = 100;
const HOUR_MS = 3_600_000;

/**
 * Decides a batch of requests-queue records.
 * @example
 *   const outcome = await decideBatch(event.Records.map((r) => ({ messageId: r.messageId, body: r.body })), deps);
 *   return { batchItemFailures: outcome.failures.map((f) => ({ itemIdentifier: f.messageId })) };
 */
export async function decideBatch(records: readonly DecideRecord[], deps: DecideDeps): Promise<DecideOutcome> {
  const copies = new Map<string, string>();
  const outcome = await decideDistinct(records, deps, copies);
  // A copy of a request in the same batch may be the very SQS message its original is (a duplicate
  // delivery), and SQS deletes a message only by its latest receipt: when the original is handed back,
  // so is the copy, or the request could be deleted undecided.
  const failed = new Map(outcome.failures.map((f) => [f.messageId, f]));
  for (const [copy, original] of copies) {
    const failure = failed.get(original);
    if (!failure) continue;
    outcome.decided = outcome.decided.filter((d) => d.messageId !== copy);
    outcome.failures.push({ messageId: copy, reason: failure.reason, retryable: failure.retryable });
  }
  return outcome;
}

/** decideBatch, with the in-batch copies of a request (copy messageId -> original messageId) left to the caller. */
async function decideDistinct(
  records: readonly DecideRecord[],
  deps: DecideDeps,
  copies: Map<string, string>,
): Promise<DecideOutcome> {
  const outcome: DecideOutcome = { failures: [], decided: [], readRequests: 0, writeRequests: 0, conflicts: 0 };
  const byUser = new Map<string, Pending[]>();
  const seenRequests = new Map<string, string>();
  for (const record of records) {
    const parsed = parseNotificationRequest(record.body);
    if (!parsed.ok) {
      deps.logger.warn('invalid notification request', {
        messageId: record.messageId,
        reason: parsed.error.reason,
        detail: parsed.error.message,
      });
      outcome.failures.push({ messageId: record.messageId, reason: parsed.error.reason, retryable: false });
      continue;
    }
    const request = parsed.value;
    const decisionId = decisionIdFor(request.id);
    const original = seenRequests.get(decisionId);
    if (original !== undefined) {
      // the same request twice in one batch: decided once, the copy is done with (unless the original fails)
      copies.set(record.messageId, original);
      outcome.decided.push({
        messageId: record.messageId,
        decisionId,
        userId: request.userId,
        status: 'scheduled',
        holdout: false,
        duplicate: true,
      });
      continue;
    }
    seenRequests.set(decisionId, record.messageId);
    const list = byUser.get(request.userId) ?? [];
    list.push({ messageId: record.messageId, request, decisionId });
    byUser.set(request.userId, list);
  }
  if (byUser.size === 0) return outcome;

  const config = deps.config;
  let model: CachedPolicy;
  try {
    model = await deps.models.current(config);
  } catch (error) {
    failAll(outcome, [...byUser.values()].flat(), 'model_unavailable', deps, error);
    return outcome;
  }
  outcome.modelVersion = model.modelVersion;
  const holdout = holdoutPolicy(config);

  let users: Map<string, UserItemWithSendLog | undefined>;
  try {
    users = await readUsers(deps, [...byUser.keys()], outcome);
  } catch (error) {
    failAll(outcome, [...byUser.values()].flat(), 'user_read_failed', deps, error);
    return outcome;
  }

  // Plan, reserve, and on a send-log conflict read the user again and plan again.
  let todo = [...byUser.keys()];
  const planned: Planned[] = [];
  const maxAttempts = deps.maxUserAttempts ?? 5;
  for (let attempt = 1; todo.length > 0; attempt++) {
    const nowMs = deps.now();
    const plans = planUsers(todo, byUser, users, model.policy, holdout, config, nowMs);
    const retry: string[] = [];
    await Promise.all(
      todo.map(async (userId) => {
        const userPlans = plans.get(userId) ?? [];
        const read = users.get(userId);
        const entries: SendLogEntry[] = userPlans.flatMap((p) =>
          p.decision.kind === 'send'
            ? [{ decisionId: p.pending.decisionId, channel: p.decision.channel, at: p.decision.sendAtMs }]
            : [],
        );
        const ownIds = userPlans.map((p) => p.pending.decisionId);
        const hadOwn = read?.sendLog?.some((e) => ownIds.includes(e.decisionId)) ?? false;
        if (entries.length > 0 || hadOwn) {
          const log = nextSendLog(read?.sendLog, { put: entries, remove: ownIds }, nowMs, capHorizonMs(config));
          let written: boolean;
          try {
            outcome.writeRequests++;
            written = await writeSendLog(deps.doc, deps.usersTable, userId, read, log);
          } catch (error) {
            failAll(outcome, byUser.get(userId) ?? [], 'send_log_write_failed', deps, error);
            return;
          }
          if (!written) {
            outcome.conflicts++;
            if (attempt >= maxAttempts) {
              failAll(outcome, byUser.get(userId) ?? [], 'send_log_conflict', deps);
              return;
            }
            try {
              outcome.readRequests++;
              const { Item } = await deps.doc.send(
                new GetCommand({ TableName: deps.usersTable, Key: { userId }, ConsistentRead: true }),
              );
              users.set(userId, Item as UserItemWithSendLog | undefined);
              retry.push(userId);
            } catch (error) {
              failAll(outcome, byUser.get(userId) ?? [], 'user_read_failed', deps, error);
            }
            return;
          }
        }
        planned.push(...userPlans);
      }),
    );
    todo = retry;
  }

  await forEachLimited(planned, deps.concurrency ?? 10, (plan) => writeDecision(plan, deps, outcome));
  return outcome;
}

/** Decisions for every request of the given users: the r-th request of each user in one policy call. */
function planUsers(
  userIds: readonly string[],
  byUser: ReadonlyMap<string, Pending[]>,
  users: ReadonlyMap<string, UserItemWithSendLog | undefined>,
  policy: NotificationPolicy,
  holdout: NotificationPolicy,
  config: AnalystConfig,
  nowMs: number,
): Map<string, Planned[]> {
  const plans = new Map<string, Planned[]>();
  const sends = new Map<string, RecentSends>();
  const rounds = Math.max(...userIds.map((u) => byUser.get(u)?.length ?? 0));
  for (let round = 0; round < rounds; round++) {
    const live: { pending: Pending; input: DecideInput }[] = [];
    const held: { pending: Pending; input: DecideInput }[] = [];
    for (const userId of userIds) {
      const pending = byUser.get(userId)?.[round];
      if (!pending) continue;
      const item = users.get(userId);
      const ownIds = new Set((byUser.get(userId) ?? []).map((p) => p.decisionId));
      const recent =
        sends.get(userId) ??
        recentSendsFrom(
          item?.sendLog?.filter((e) => !ownIds.has(e.decisionId)),
          undefined,
        );
      sends.set(userId, recent);
      const input: DecideInput = {
        user: decodeUserState(item, userId),
        request: {
          kind: pending.request.kind,
          allowedChannels: pending.request.allowedChannels,
          window: {
            notBeforeMs: Date.parse(pending.request.window.notBefore),
            notAfterMs: Date.parse(pending.request.window.notAfter),
          },
          ...(pending.request.ignoreQuietHours && { ignoreQuietHours: true }),
        },
        nowMs,
        recentSends: recent,
        reachable: reachableChannels(item),
      };
      (isInHoldout(userId, config.holdout) ? held : live).push({ pending, input });
    }
    const rng = new Rng(
      (config.bandit.seed ^
        hashString(
          live
            .concat(held)
            .map((x) => x.pending.decisionId)
            .join('\u0000'),
        ) ^
        nowMs) >>>
        0,
    );
    const decide = (group: typeof live, p: NotificationPolicy, inHoldout: boolean) => {
      if (group.length === 0) return;
      const decisions = p.decide(
        group.map((g) => g.input),
        rng,
      );
      group.forEach(({ pending, input }, i) => {
        const decision = decisions[i];
        const userId = pending.request.userId;
        const item = itemFor(decision, pending, input, inHoldout, config, nowMs);
        const list = plans.get(userId) ?? [];
        list.push({ pending, input, decision, holdout: inHoldout, item });
        plans.set(userId, list);
        if (decision.kind === 'send') {
          const recent = { ...(sends.get(userId) ?? {}) };
          recent[decision.channel] = [...(recent[decision.channel] ?? []), decision.sendAtMs];
          sends.set(userId, recent);
        }
      });
    };
    decide(live, policy, false);
    decide(held, holdout, true);
  }
  return plans;
}

function itemFor(
  decision: SendDecision,
  pending: Pending,
  input: DecideInput,
  holdout: boolean,
  config: AnalystConfig,
  nowMs: number,
): DecisionItem {
  const meta = {
    request: pending.request,
    input,
    holdout,
    decidedAt: nowMs,
    attributionWindowHours: config.reward.attributionWindowHours,
  };
  if (decision.kind === 'send') return decisionItem(decision, meta);
  const retryAt = retryInstant(input, config, nowMs);
  return decisionItem(decision, meta, retryAt === undefined ? { status: 'dropped' } : { status: 'deferred', retryAt });
}

/**
 * When a request with no allowed arm is decided again, per config.guardrails.whenNoArm; undefined = drop.
 * `defer`: the first whole hour after now at which some arm of the window would be allowed, with the
 * sends known now (caps age out, quiet hours end); none before the window closes = drop.
 */
export function retryInstant(
  input: DecideInput,
  config: AnalystConfig,
  nowMs: number,
  redecideDelayMs = HOUR_MS,
): number | undefined {
  const { notAfterMs } = input.request.window;
  switch (config.guardrails.whenNoArm) {
    case 'drop':
      return undefined;
    case 'redecide': {
      const at = nowMs + redecideDelayMs;
      return at < notAfterMs ? at : undefined;
    }
    case 'defer': {
      for (let at = Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS; at < notAfterMs; at += HOUR_MS) {
        if (allowedArms({ ...input, nowMs: at }, config).allowedCount > 0) return at;
      }
      return undefined;
    }
  }
}

async function readUsers(
  deps: DecideDeps,
  userIds: readonly string[],
  outcome: DecideOutcome,
): Promise<Map<string, UserItemWithSendLog | undefined>> {
  const users = new Map<string, UserItemWithSendLog | undefined>(userIds.map((u) => [u, undefined]));
  for (let i = 0; i < userIds.length; i += BATCH_GET_LIMIT) {
    let keys: Record<string, NativeAttributeValue>[] = userIds.slice(i, i + BATCH_GET_LIMIT).map((userId) => ({
      userId,
    }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= 8) throw new Error('BatchGetItem left keys unprocessed 8 times in a row');
      outcome.readRequests += keys.length;
      const answer = await deps.doc.send(
        new BatchGetCommand({ RequestItems: { [deps.usersTable]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of answer.Responses?.[deps.usersTable] ?? []) {
        users.set(item.userId as string, item as UserItemWithSendLog);
      }
      keys = (answer.UnprocessedKeys?.[deps.usersTable]?.Keys ?? []) as Record<string, NativeAttributeValue>[];
      if (keys.length > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** round));
    }
  }
  return users;
}

async function writeDecision(plan: Planned, deps: DecideDeps, outcome: DecideOutcome): Promise<void> {
  const { pending, item } = plan;
  try {
    outcome.writeRequests++;
    await deps.doc.send(
      new PutCommand({
        TableName: deps.decisionsTable,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#id) OR #status = :redeciding',
        ExpressionAttributeNames: { '#id': 'decisionId', '#status': 'status' },
        ExpressionAttributeValues: { ':redeciding': 'redeciding' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      await settleDuplicate(plan, deps, outcome);
      return;
    }
    deps.logger.error('decision not written; request handed back for redelivery', {
      decisionId: pending.decisionId,
      error: (error as Error).name,
      detail: (error as Error).message,
    });
    // the send-log entry stays; the redelivered request replaces it (same decision id)
    outcome.failures.push({ messageId: pending.messageId, reason: 'decision_write_failed', retryable: true });
    return;
  }
  outcome.decided.push({
    messageId: pending.messageId,
    decisionId: pending.decisionId,
    userId: pending.request.userId,
    status: item.status,
    holdout: item.holdout,
    duplicate: false,
    channel: item.channel,
    sendAt: item.sendAt,
    propensity: item.propensity,
    policyName: item.policyName,
    ...(item.noArmReasons && { noArmReasons: item.noArmReasons as Record<string, number> }),
  });
  deps.logger.info('decided', {
    decisionId: pending.decisionId,
    userId: pending.request.userId,
    status: item.status,
    policy: item.policyName,
    holdout: item.holdout,
    ...(item.channel && { channel: item.channel, sendAt: item.sendAt, propensity: item.propensity }),
    ...(item.noArmReasons && { noArmReasons: item.noArmReasons }),
  });
}

/**
 * The request was decided before (a redelivery, or the producer sent it twice): the decision that stands
 * wins, and the send-log entry this call reserved is made to match it.
 */
async function settleDuplicate(plan: Planned, deps: DecideDeps, outcome: DecideOutcome): Promise<void> {
  const { pending } = plan;
  const userId = pending.request.userId;
  try {
    outcome.readRequests++;
    const { Item } = await deps.doc.send(
      new GetCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId: pending.decisionId },
        ConsistentRead: true,
        ProjectionExpression: '#s, channel, sendAt, userId',
        ExpressionAttributeNames: { '#s': 'status' },
      }),
    );
    const standing = Item as Pick<DecisionItem, 'status' | 'channel' | 'sendAt' | 'userId'> | undefined;
    const counts =
      standing?.channel !== undefined &&
      standing.sendAt !== undefined &&
      (PENDING_STATUSES.has(standing.status) || standing.status === 'sent' || standing.status === 'maybe_sent');
    const entry = counts
      ? {
          decisionId: pending.decisionId,
          channel: standing.channel as SendLogEntry['channel'],
          at: standing.sendAt as number,
        }
      : undefined;
    if (standing?.userId === undefined || standing.userId === userId) {
      if (
        await setSendLogEntry(deps.doc, deps.usersTable, userId, pending.decisionId, entry, deps.config, deps.now())
      ) {
        outcome.writeRequests++;
      }
    }
    outcome.decided.push({
      messageId: pending.messageId,
      decisionId: pending.decisionId,
      userId,
      status: standing?.status ?? 'scheduled',
      holdout: plan.holdout,
      duplicate: true,
    });
    deps.logger.info('request already decided; duplicate ignored', {
      decisionId: pending.decisionId,
      userId,
      status: standing?.status,
    });
  } catch (error) {
    deps.logger.error('duplicate request not settled; handed back for redelivery', {
      decisionId: pending.decisionId,
      error: (error as Error).name,
    });
    outcome.failures.push({ messageId: pending.messageId, reason: 'duplicate_settle_failed', retryable: true });
  }
}

function failAll(
  outcome: DecideOutcome,
  pending: readonly Pending[],
  reason: string,
  deps: DecideDeps,
  error?: unknown,
): void {
  deps.logger.error('requests handed back for redelivery', {
    reason,
    requests: pending.length,
    ...(error !== undefined && { error: (error as Error).name, detail: (error as Error).message }),
  });
  for (const p of pending) outcome.failures.push({ messageId: p.messageId, reason, retryable: true });
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}
