/**
 * Dispatch: a due decision becomes at most one provider call (docs/serving-loop.md, state machine).
 *
 * Per decision id, in order:
 * 1. Claim `enqueued -> sending` with one conditional UpdateItem (a fresh attempt token, REMOVE dueShard,
 *    ReturnValues ALL_NEW: the claim is also the read). Only the claimant calls a provider, so a second
 *    message for the same decision is a no-op whatever SQS or the sweeper did.
 * 2. A claim refused because the decision is already `sending`: if the claim is older than
 *    `abandonedClaimMs` (longer than any invocation lives), its invocation died between claim and
 *    outcome and we cannot know whether the provider accepted: `maybe_sent`, never resent. A younger claim
 *    may still be in flight in another invocation (a concurrent duplicate): the record is handed back to
 *    SQS and, when it returns after the visibility timeout, finds the outcome.
 * 3. Read the users item (GetItem, strongly consistent) and re-check with checkSendAllowed at the real send
 *    instant: consent, suppression, endpoint, window, quiet hours, caps may have changed since the decision.
 *    Refused: `stopped` with the reason, and the send-log entry is removed.
 * 4. Call the provider. Throttling is retried with exponential backoff and full jitter inside the
 *    invocation; still throttled (or refused for a reason that is not the user's, see providers.ts): back
 *    to `enqueued` (provably not accepted) and the record is handed back to SQS. Ambiguous: `maybe_sent`.
 *    Rejected: `failed`, the channel suppressed for the user when the endpoint is at fault, the send-log
 *    entry removed.
 * Every outcome write is conditional on `status = sending AND attempt = <our token>`: a claimant whose
 * claim was declared abandoned cannot overwrite what the other invocation wrote.
 *
 * Cost per delivered notification: 2 writes (claim, outcome) and 1 read (users item), as the doc budgets.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type AttributeValue, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { dueShardFor, QUEUES } from '#infra/resources.ts';
import { type ArmBlockReason, checkSendAllowed } from '#model/guardrails.ts';
import { CHANNELS, type SuppressionReason } from '#model/user-state.ts';
import { decodeUserState } from '../ingest/user-item.ts';
import { openRewardWindow } from '../rewards/close.ts';
import {
  contactEndpoints,
  recentSendsFrom,
  setSendLogEntry,
  type UserItemWithSendLog,
} from '../shared/user-send-log.ts';
import { InvalidDecisionForDispatchError, SuppressionConflictError } from './errors.ts';
import {
  classifyProviderError,
  type DispatchProviders,
  type ProviderAcceptance,
  type ProviderFailure,
  type ProviderSend,
} from './providers.ts';

/** The part of the Powertools logger dispatch uses (lambdas/shared/logger.ts masks personal data). */
export type DispatchLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Exponential backoff with full jitter for throttled provider calls, inside one invocation. */
export interface ThrottleRetry {
  /** provider calls after the first; default 3 */
  retries: number;
  /** first backoff ceiling; default 100 ms */
  baseDelayMs: number;
  /** backoff ceiling; default 1000 ms */
  maxDelayMs: number;
}

export interface DispatchDeps {
  doc: DynamoDBDocumentClient;
  decisionsTable: string;
  usersTable: string;
  providers: DispatchProviders;
  /** guardrails for the re-check; reward.attributionWindowHours for the reward window the outcome opens */
  config: AnalystConfig;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: DispatchLogger;
  /** sleeps between throttled attempts; default setTimeout (tests pass an instant one) */
  sleep?: (ms: number) => Promise<void>;
  /** uniform in [0, 1) for the jitter; default Math.random */
  random?: () => number;
  /** a fresh attempt token per claim; default randomUUID */
  attemptToken?: () => string;
  throttleRetry?: Partial<ThrottleRetry>;
  /**
   * A `sending` claim older than this belongs to an invocation that is gone. Default: twice the dispatch
   * Lambda timeout; SQS redelivers only after the visibility timeout (6x), so a redelivery always
   * finds an abandoned claim abandoned.
   */
  abandonedClaimMs?: number;
  /**
   * When a send goes back to `enqueued`, it is also put back in the sweeper's due index with
   * dueAt = now + this: if SQS gives up on the message (DLQ), the sweeper's lease recovery enqueues it
   * again. Default: twice the dispatch queue's visibility timeout, so SQS's redelivery normally comes first.
   */
  requeueLeaseMs?: number;
  /** decisions dispatched in parallel within one batch; default 10 */
  concurrency?: number;
  /** optimistic-concurrency attempts of the suppression write; default 5 */
  suppressionAttempts?: number;
}

export interface DispatchRecord {
  messageId: string;
  body: string;
}

/** What happened to one decision. `retry` outcomes hand the record back to SQS. */
export type DispatchOutcome =
  | { outcome: 'sent'; providerMessageId: string }
  | { outcome: 'maybe_sent'; reason: string }
  | { outcome: 'failed'; reason: string; suppressed?: SuppressionReason }
  | { outcome: 'stopped'; reason: ArmBlockReason }
  /** already claimed and settled (or not claimable): the message was a duplicate */
  | { outcome: 'duplicate'; status: string }
  /** provably not accepted; back to `enqueued`, redelivered by SQS */
  | { outcome: 'requeued'; reason: string }
  /** another invocation holds a fresh claim; redelivered by SQS, then sees its outcome */
  | { outcome: 'in_flight' }
  /** the provider was called but the outcome write failed: the redelivery records `maybe_sent` */
  | { outcome: 'unrecorded'; providerMessageId?: string }
  | { outcome: 'unknown_decision' }
  | { outcome: 'invalid_message'; reason: string }
  /** a DynamoDB failure before any provider call (the claim, if made, was given back): redelivered */
  | { outcome: 'error'; reason: string };

export type DispatchOutcomeKind = DispatchOutcome['outcome'];

/** Outcomes whose record goes back to SQS (batch item failure). */
export const RETRY_OUTCOMES: ReadonlySet<DispatchOutcomeKind> = new Set([
  'requeued',
  'in_flight',
  'unrecorded',
  'unknown_decision',
  'invalid_message',
  'error',
]);

export interface RecordResult {
  messageId: string;
  decisionId?: string;
  /** the decision's channel, when its item names one (metrics: sends by channel) */
  channel?: ChannelName;
  result: DispatchOutcome;
  /** hand the record back to SQS */
  retry: boolean;
}

export interface DispatchBatchOutcome {
  records: RecordResult[];
  /** decisions by outcome */
  counts: Partial<Record<DispatchOutcomeKind, number>>;
}

const DEFAULT_THROTTLE_RETRY: ThrottleRetry = { retries: 3, baseDelayMs: 100, maxDelayMs: 1_000 };
const DISPATCH_LAMBDA_TIMEOUT_MS = QUEUES.dispatch.consumer.timeoutSeconds * 1000;
const DEFAULT_ABANDONED_CLAIM_MS = 2 * DISPATCH_LAMBDA_TIMEOUT_MS;
const DEFAULT_REQUEUE_LEASE_MS = 2 * QUEUES.dispatch.visibilityTimeoutSeconds * 1000;

/**
 * Reads a dispatch message body: `{"decisionId": "..."}`.
 * @example parseDispatchMessage('{"decisionId":"dec_req-1"}') // { ok: true, decisionId: 'dec_req-1' }
 */
export function parseDispatchMessage(body: string): { ok: true; decisionId: string } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const id = (value as { decisionId?: unknown } | null)?.decisionId;
  if (typeof id !== 'string' || id.length === 0 || id.length > 1024) {
    return { ok: false, reason: 'decisionId must be a non-empty string' };
  }
  return { ok: true, decisionId: id };
}

/**
 * Dispatches a batch of dispatch-queue records; several records for one decision are dispatched once.
 * @example
 *   const outcome = await dispatchBatch(event.Records.map((r) => ({ messageId: r.messageId, body: r.body })), deps);
 *   const failures = outcome.records.filter((r) => r.retry).map((r) => ({ itemIdentifier: r.messageId }));
 */
export async function dispatchBatch(records: DispatchRecord[], deps: DispatchDeps): Promise<DispatchBatchOutcome> {
  const results: RecordResult[] = [];
  const byDecision = new Map<string, DispatchRecord[]>();
  for (const record of records) {
    const parsed = parseDispatchMessage(record.body);
    if (!parsed.ok) {
      deps.logger.warn('invalid dispatch message', { messageId: record.messageId, reason: parsed.reason });
      const result: DispatchOutcome = { outcome: 'invalid_message', reason: parsed.reason };
      results.push({ messageId: record.messageId, result, retry: true });
      continue;
    }
    const list = byDecision.get(parsed.decisionId) ?? [];
    list.push(record);
    byDecision.set(parsed.decisionId, list);
  }
  const decisions = [...byDecision.entries()];
  let next = 0;
  const worker = async () => {
    while (next < decisions.length) {
      const [decisionId, copies] = decisions[next++];
      const seen: SeenDecision = {};
      let result: DispatchOutcome;
      try {
        result = await dispatchTracked(decisionId, deps, seen);
      } catch (error) {
        // A DynamoDB failure before any provider call: nothing was sent, SQS retries the record.
        deps.logger.error('dispatch failed before the provider call; record handed back for redelivery', {
          decisionId,
          error: (error as Error).name,
          detail: (error as Error).message,
        });
        result = { outcome: 'error', reason: (error as Error).name || 'error' };
      }
      const [first, ...extra] = copies;
      results.push({
        messageId: first.messageId,
        decisionId,
        ...(seen.channel && { channel: seen.channel }),
        result,
        retry: RETRY_OUTCOMES.has(result.outcome),
      });
      // One copy carries the decision forward; the others are duplicates by construction.
      for (const copy of extra) {
        results.push({
          messageId: copy.messageId,
          decisionId,
          result: { outcome: 'duplicate', status: 'same_batch' },
          retry: false,
        });
      }
    }
  };
  const concurrency = Math.max(1, deps.concurrency ?? 10);
  await Promise.all(Array.from({ length: Math.min(concurrency, decisions.length) }, worker));
  const counts: Partial<Record<DispatchOutcomeKind, number>> = {};
  for (const r of results) counts[r.result.outcome] = (counts[r.result.outcome] ?? 0) + 1;
  return { records: results, counts };
}

/** The decision item attributes dispatch reads. */
interface ClaimedDecision {
  decisionId: string;
  userId: string;
  channel: ChannelName;
  kind: string;
  window: { notBeforeMs: number; notAfterMs: number };
  ignoreQuietHours: boolean;
  content: Record<string, unknown>;
}

/**
 * Dispatches one decision (see the module comment for the steps). Throws only for a DynamoDB failure
 * before the provider was called (safe to retry); every other path returns its outcome.
 * @example const result = await dispatchDecision('dec_req-42', deps); // { outcome: 'sent', providerMessageId: '...' }
 */
export async function dispatchDecision(decisionId: string, deps: DispatchDeps): Promise<DispatchOutcome> {
  return dispatchTracked(decisionId, deps, {});
}

/** What dispatchTracked learnt of a decision on the way, besides its outcome. */
interface SeenDecision {
  channel?: ChannelName;
}

/** dispatchDecision, noting in `seen` the channel the decision item names (from the claim's read). */
async function dispatchTracked(decisionId: string, deps: DispatchDeps, seen: SeenDecision): Promise<DispatchOutcome> {
  const token = (deps.attemptToken ?? randomUUID)();
  const claimedAt = deps.now();
  let item: Record<string, unknown>;
  try {
    const claimed = await deps.doc.send(
      new UpdateCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId },
        UpdateExpression: 'SET #status = :sending, #attempt = :token, #claimedAt = :now REMOVE #dueShard',
        ConditionExpression: '#status = :enqueued',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#attempt': 'attempt',
          '#claimedAt': 'claimedAt',
          '#dueShard': 'dueShard',
        },
        ExpressionAttributeValues: {
          ':sending': 'sending',
          ':enqueued': 'enqueued',
          ':token': token,
          ':now': claimedAt,
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    item = claimed.Attributes ?? {};
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    seen.channel = channelOf(error.Item?.channel?.S);
    return notClaimed(decisionId, error.Item, deps);
  }
  seen.channel = channelOf(item.channel);

  let prepared: Prepared;
  try {
    prepared = await prepareSend(decisionId, item, token, deps);
  } catch (error) {
    // Nothing was sent: give the claim back rather than leave it to be found abandoned (maybe_sent).
    await releaseClaim(deps, decisionId, token, (error as Error).name || 'error').catch(() => {});
    throw error;
  }
  if ('settled' in prepared) return prepared.settled;
  const { decision, userItem, endpoint } = prepared;

  const attempt = await callProvider(deps, toProviderSend(decision, endpoint));
  try {
    return await settle(deps, decision, token, attempt, endpoint, userItem);
  } catch (error) {
    // The provider was called but the outcome was not written: the claim stays `sending` and the redelivered
    // message records maybe_sent (never a second call). The provider's id, if any, lets an operator reconcile.
    const providerMessageId = 'accepted' in attempt ? attempt.accepted.providerMessageId : undefined;
    deps.logger.error('provider called but the outcome was not written', {
      decisionId,
      ...(providerMessageId && { providerMessageId }),
      error: (error as Error).name,
      detail: (error as Error).message,
    });
    return { outcome: 'unrecorded', ...(providerMessageId && { providerMessageId }) };
  }
}

type Prepared =
  | { settled: DispatchOutcome }
  | { decision: ClaimedDecision; userItem: DispatchUserItem | undefined; endpoint: string };

/** After the claim: decode the decision, read the user, re-check the guardrails at the real send instant. */
async function prepareSend(
  decisionId: string,
  item: Record<string, unknown>,
  token: string,
  deps: DispatchDeps,
): Promise<Prepared> {
  let decision: ClaimedDecision;
  try {
    decision = readClaimedDecision(decisionId, item);
  } catch (error) {
    // A decision we cannot send from will not get better: settle it, never send.
    const reason = 'invalid_decision';
    deps.logger.error('decision cannot be dispatched', { decisionId, detail: (error as Error).message });
    if (!(await writeOutcome(deps, decisionId, token, 'failed', { failureReason: reason }))) {
      return { settled: superseded(decisionId, deps) };
    }
    if (typeof item.userId === 'string') await removeFromSendLog(deps, item.userId, decisionId);
    return { settled: { outcome: 'failed', reason } };
  }

  const read = await deps.doc.send(
    new GetCommand({ TableName: deps.usersTable, Key: { userId: decision.userId }, ConsistentRead: true }),
  );
  const userItem = read.Item as DispatchUserItem | undefined;
  const endpoints = contactEndpoints(userItem);
  const check = checkSendAllowed(
    decodeUserState(userItem, decision.userId),
    decision.channel,
    deps.now(),
    {
      kind: decision.kind,
      allowedChannels: [decision.channel],
      window: decision.window,
      ignoreQuietHours: decision.ignoreQuietHours,
    },
    recentSendsFrom(userItem?.sendLog, decisionId),
    deps.config,
    { reachable: CHANNELS.filter((c) => endpoints[c] !== undefined) },
  );
  if (!check.allowed) {
    if (!(await writeOutcome(deps, decisionId, token, 'stopped', { stopReason: check.reason }))) {
      return { settled: superseded(decisionId, deps) };
    }
    await removeFromSendLog(deps, decision.userId, decisionId);
    deps.logger.info('send stopped by the re-check', {
      decisionId,
      userId: decision.userId,
      channel: decision.channel,
      reason: check.reason,
    });
    return { settled: { outcome: 'stopped', reason: check.reason } };
  }
  return { decision, userItem, endpoint: endpoints[decision.channel] as string };
}

/** Back to `enqueued` (and into the sweeper's due index under a lease): provably not sent, try again later. */
async function releaseClaim(deps: DispatchDeps, decisionId: string, token: string, reason: string): Promise<boolean> {
  return writeOutcome(deps, decisionId, token, 'enqueued', {
    failureReason: reason,
    dueShard: dueShardFor(decisionId),
    dueAt: deps.now() + (deps.requeueLeaseMs ?? DEFAULT_REQUEUE_LEASE_MS),
  });
}

/** Writes what the provider's answer means (one conditional write on the decision, plus the user's side). */
async function settle(
  deps: DispatchDeps,
  decision: ClaimedDecision,
  token: string,
  attempt: ProviderAttempt,
  endpoint: string,
  userItem: DispatchUserItem | undefined,
): Promise<DispatchOutcome> {
  const { decisionId, channel } = decision;
  const at = deps.now();
  if ('accepted' in attempt) {
    const { providerMessageId } = attempt.accepted;
    const written = await writeOutcome(deps, decisionId, token, 'sent', {
      providerMessageId,
      sentAt: at,
      ...openRewardWindow(decisionId, at, deps.config.reward),
    });
    if (!written) return superseded(decisionId, deps);
    await logSendInstant(deps, decision.userId, decisionId, channel, at, userItem);
    deps.logger.info('sent', {
      decisionId,
      userId: decision.userId,
      channel,
      providerMessageId,
      throttledAttempts: attempt.throttled,
    });
    return { outcome: 'sent', providerMessageId };
  }

  const failure = attempt.failure;
  switch (failure.kind) {
    case 'throttled':
    case 'not_accepted': {
      if (!(await releaseClaim(deps, decisionId, token, failure.code))) return superseded(decisionId, deps);
      deps.logger.warn('send not accepted; back to enqueued for a later attempt', {
        decisionId,
        channel,
        kind: failure.kind,
        code: failure.code,
        throttledAttempts: attempt.throttled,
      });
      return { outcome: 'requeued', reason: failure.code };
    }
    case 'ambiguous': {
      const written = await writeOutcome(deps, decisionId, token, 'maybe_sent', {
        failureReason: failure.code,
        sentAt: at,
        ...openRewardWindow(decisionId, at, deps.config.reward),
      });
      if (!written) return superseded(decisionId, deps);
      await logSendInstant(deps, decision.userId, decisionId, channel, at, userItem);
      deps.logger.warn('send outcome unknown: maybe_sent, never retried', { decisionId, channel, code: failure.code });
      return { outcome: 'maybe_sent', reason: failure.code };
    }
    case 'rejected':
      return settleRejected(deps, decision, token, failure, endpoint, userItem, at);
  }
}

async function settleRejected(
  deps: DispatchDeps,
  decision: ClaimedDecision,
  token: string,
  failure: ProviderFailure,
  endpoint: string,
  userItem: DispatchUserItem | undefined,
  at: number,
): Promise<DispatchOutcome> {
  const { decisionId, userId, channel } = decision;
  // The user's side first: if we die after it, the redelivery records maybe_sent, but the bad endpoint
  // is suppressed; the other order could lose the suppression and bounce again.
  let suppressed: SuppressionReason | undefined;
  if (failure.suppress) {
    try {
      if (await suppressChannel(deps, userId, channel, failure.suppress, endpoint, userItem, at)) {
        suppressed = failure.suppress;
      }
    } catch (error) {
      // The decision still settles; the provider's own bounce / opt-out event will suppress the channel.
      deps.logger.error('channel suppression not written', {
        decisionId,
        userId,
        channel,
        error: (error as Error).name,
        detail: (error as Error).message,
      });
    }
  }
  const written = await writeOutcome(deps, decisionId, token, 'failed', { failureReason: failure.code });
  if (!written) return superseded(decisionId, deps);
  await removeFromSendLog(deps, userId, decisionId);
  deps.logger.warn('send rejected by the provider: failed', {
    decisionId,
    userId,
    channel,
    code: failure.code,
    suppressed: suppressed ?? 'no',
  });
  return { outcome: 'failed', reason: failure.code, ...(suppressed && { suppressed }) };
}

type ProviderAttempt =
  | { accepted: ProviderAcceptance; throttled: number }
  | { failure: ProviderFailure; throttled: number };

async function callProvider(deps: DispatchDeps, message: ProviderSend): Promise<ProviderAttempt> {
  const retry = { ...DEFAULT_THROTTLE_RETRY, ...deps.throttleRetry };
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = deps.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      const accepted = await sendThrough(deps.providers, message);
      return { accepted, throttled: attempt };
    } catch (error) {
      const failure = classifyProviderError(error, message.channel);
      if (failure.kind !== 'throttled' || attempt >= retry.retries) return { failure, throttled: attempt };
      // full jitter: a fleet of throttled invocations must not retry in lockstep
      await sleep(Math.floor(random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt)));
    }
  }
}

function sendThrough(providers: DispatchProviders, message: ProviderSend): Promise<ProviderAcceptance> {
  switch (message.channel) {
    case 'email':
      return providers.email.send(message);
    case 'push':
      return providers.push.send(message);
    case 'sms':
      return providers.sms.send(message);
  }
}

function toProviderSend(decision: ClaimedDecision, endpoint: string): ProviderSend {
  const { decisionId, kind, content } = decision;
  switch (decision.channel) {
    case 'email':
      return { channel: 'email', decisionId, kind, to: endpoint, content: content as never };
    case 'push':
      return { channel: 'push', decisionId, kind, endpointArn: endpoint, content: content as never };
    case 'sms':
      return { channel: 'sms', decisionId, kind, phoneNumber: endpoint, content: content as never };
  }
}

type OutcomeStatus = 'sent' | 'maybe_sent' | 'failed' | 'stopped' | 'enqueued';

/**
 * One conditional UpdateItem from our claim to `status`. False when the claim is no longer ours
 * (another invocation declared it abandoned and settled the decision).
 */
async function writeOutcome(
  deps: DispatchDeps,
  decisionId: string,
  token: string,
  status: OutcomeStatus,
  fields: Record<string, string | number>,
): Promise<boolean> {
  const names: Record<string, string> = { '#status': 'status', '#attempt': 'attempt' };
  const values: Record<string, unknown> = { ':status': status, ':sending': 'sending', ':token': token };
  const sets = ['#status = :status'];
  Object.entries(fields).forEach(([field, value], i) => {
    names[`#f${i}`] = field;
    values[`:f${i}`] = value;
    sets.push(`#f${i} = :f${i}`);
  });
  // A send that went through after a requeue keeps no stale failure reason.
  let remove = '';
  if (status === 'sent') {
    names['#failureReason'] = 'failureReason';
    remove = ' REMOVE #failureReason';
  }
  try {
    await deps.doc.send(
      new UpdateCommand({
        TableName: deps.decisionsTable,
        Key: { decisionId },
        UpdateExpression: `SET ${sets.join(', ')}${remove}`,
        ConditionExpression: '#status = :sending AND #attempt = :token',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

function superseded(decisionId: string, deps: DispatchDeps): DispatchOutcome {
  deps.logger.warn('our claim was settled by another invocation; outcome not written', { decisionId });
  return { outcome: 'duplicate', status: 'superseded' };
}

/** A claim refused: the decision is missing, settled, not yet due, or held by another (live or dead) invocation. */
async function notClaimed(
  decisionId: string,
  raw: Record<string, AttributeValue> | undefined,
  deps: DispatchDeps,
): Promise<DispatchOutcome> {
  if (!raw) {
    deps.logger.warn('dispatch message for an unknown decision', { decisionId });
    return { outcome: 'unknown_decision' };
  }
  const status = raw.status?.S ?? 'unknown';
  if (status !== 'sending') {
    deps.logger.info('duplicate dispatch message: decision not enqueued', { decisionId, status });
    return { outcome: 'duplicate', status };
  }
  const claimedAt = Number(raw.claimedAt?.N ?? 0);
  const token = raw.attempt?.S;
  const now = deps.now();
  if (now - claimedAt < (deps.abandonedClaimMs ?? DEFAULT_ABANDONED_CLAIM_MS) || token === undefined) {
    return { outcome: 'in_flight' };
  }
  // The claimant died after claiming; whether its provider call happened is unknowable: never resend.
  const at = claimedAt;
  const written = await writeOutcome(deps, decisionId, token, 'maybe_sent', {
    failureReason: 'claim_abandoned',
    sentAt: at,
    ...openRewardWindow(decisionId, at, deps.config.reward),
  });
  if (!written) return { outcome: 'duplicate', status: 'superseded' };
  const userId = raw.userId?.S;
  const channel = raw.channel?.S as ChannelName | undefined;
  if (userId && channel && (CHANNELS as readonly string[]).includes(channel)) {
    await logSendInstant(deps, userId, decisionId, channel, at, undefined);
  }
  deps.logger.warn('abandoned claim found: maybe_sent, never resent', { decisionId });
  return { outcome: 'maybe_sent', reason: 'claim_abandoned' };
}

function channelOf(value: unknown): ChannelName | undefined {
  return (CHANNELS as readonly unknown[]).includes(value) ? (value as ChannelName) : undefined;
}

function readClaimedDecision(decisionId: string, item: Record<string, unknown>): ClaimedDecision {
  const fail = (field: string, reason: string): never => {
    throw new InvalidDecisionForDispatchError(decisionId, field, reason);
  };
  const userId = typeof item.userId === 'string' ? item.userId : fail('userId', 'is missing');
  const channel = (CHANNELS as readonly unknown[]).includes(item.channel)
    ? (item.channel as ChannelName)
    : fail('channel', 'is not a channel');
  const kind = typeof item.kind === 'string' ? item.kind : fail('kind', 'is missing');
  const context = (item.context ?? {}) as Record<string, unknown>;
  const window = (context.window ?? {}) as Record<string, unknown>;
  const notBeforeMs =
    typeof window.notBeforeMs === 'number' ? window.notBeforeMs : fail('context.window', 'is missing');
  const notAfterMs = typeof window.notAfterMs === 'number' ? window.notAfterMs : fail('context.window', 'is missing');
  const content =
    typeof item.content === 'object' && item.content !== null
      ? (item.content as Record<string, unknown>)
      : fail('content', 'is missing');
  return {
    decisionId,
    userId,
    channel,
    kind,
    window: { notBeforeMs, notAfterMs },
    ignoreQuietHours: item.ignoreQuietHours === true || context.ignoreQuietHours === true,
    content,
  };
}

// ---------------------------------------------------------------------------------------------
// The users item: endpoints, send log, suppression
// ---------------------------------------------------------------------------------------------

/** The users item as dispatch reads it: ingest's attributes plus decide's send log. */
type DispatchUserItem = UserItemWithSendLog;

/** How far a send may leave from its logged instant before the entry is corrected (SQS delays round up to a second). */
const SEND_LOG_TOLERANCE_MS = 60_000;

/**
 * Caps count the send log's instants. A send that left well off its planned instant (redeliveries, throttling,
 * an outage) is logged at the instant it left, or the user's next sends would be capped against where it was
 * planned, hours off, and three sends could land in one cap window. Costs a read and a write only for a send
 * more than SEND_LOG_TOLERANCE_MS off (`userItem`: the re-check's read; undefined = unknown, always checked).
 * A failed correction is logged, never fatal: the send is made and recorded.
 */
async function logSendInstant(
  deps: DispatchDeps,
  userId: string,
  decisionId: string,
  channel: ChannelName,
  at: number,
  userItem: DispatchUserItem | undefined,
): Promise<void> {
  const logged = userItem?.sendLog?.find((e) => e.decisionId === decisionId);
  if (logged && logged.channel === channel && Math.abs(logged.at - at) <= SEND_LOG_TOLERANCE_MS) return;
  try {
    const entry = { decisionId, channel, at };
    await setSendLogEntry(deps.doc, deps.usersTable, userId, decisionId, entry, deps.config, deps.now());
  } catch (error) {
    deps.logger.warn('send-log entry not moved to the instant the send left; caps count its planned instant', {
      decisionId,
      userId,
      error: (error as Error).name,
    });
  }
}

/** A stale entry only makes caps stricter, so a failed removal is logged, never fatal. */
async function removeFromSendLog(deps: DispatchDeps, userId: string, decisionId: string): Promise<void> {
  try {
    await setSendLogEntry(deps.doc, deps.usersTable, userId, decisionId, undefined, deps.config, deps.now());
  } catch (error) {
    deps.logger.warn('send-log entry not removed; it counts against caps until it ages out', {
      decisionId,
      userId,
      error: (error as Error).name,
    });
  }
}

/**
 * Suppresses a channel after a permanent failure, as ingest would for a bounce event: the same `st.consent`
 * shape, `changedAtMs` = now. Ingest rewrites the whole `st` map from its read, so a nested write alone
 * could be overwritten by an ingest that read before it; the write therefore also bumps ingest's version
 * `iv`, conditional on the value read: ingest's own conditional write then fails, re-reads and keeps the
 * suppression; ours, on conflict, re-reads and re-applies. A newer address / endpoint than the one that
 * failed means the user changed it meanwhile: nothing to suppress. Returns whether the channel is suppressed.
 */
async function suppressChannel(
  deps: DispatchDeps,
  userId: string,
  channel: ChannelName,
  reason: SuppressionReason,
  failedEndpoint: string,
  firstRead: DispatchUserItem | undefined,
  at: number,
): Promise<boolean> {
  const attempts = deps.suppressionAttempts ?? 5;
  let item = firstRead;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      const read = await deps.doc.send(
        new GetCommand({ TableName: deps.usersTable, Key: { userId }, ConsistentRead: true }),
      );
      item = read.Item as DispatchUserItem | undefined;
    }
    if (!item?.st || contactEndpoints(item)[channel] !== failedEndpoint) return false;
    const current =
      (item.st.consent as Partial<Record<ChannelName, Record<string, unknown>>> | undefined)?.[channel] ?? {};
    if (current.suppressed !== undefined) return current.suppressed === reason;
    if (typeof current.changedAtMs === 'number' && current.changedAtMs > at) return false; // a newer change won
    const next = {
      ...current,
      suppressed: reason,
      changedAtMs: at,
      ...(reason === 'unsubscribed' && { optedIn: false }),
    };
    const hasConsentMap = typeof item.st.consent === 'object' && item.st.consent !== null;
    const values: Record<string, unknown> = { ':next': (item.iv ?? 0) + 1 };
    const names: Record<string, string> = { '#st': 'st', '#consent': 'consent', '#iv': 'iv' };
    let set: string;
    if (hasConsentMap) {
      names['#channel'] = channel;
      values[':consent'] = next;
      set = '#st.#consent.#channel = :consent';
    } else {
      values[':consent'] = { [channel]: next };
      set = '#st.#consent = :consent';
    }
    let condition = 'attribute_not_exists(#iv)';
    if (item.iv !== undefined) {
      condition = '#iv = :prev';
      values[':prev'] = item.iv;
    }
    try {
      await deps.doc.send(
        new UpdateCommand({
          TableName: deps.usersTable,
          Key: { userId },
          UpdateExpression: `SET ${set}, #iv = :next`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
  throw new SuppressionConflictError(userId, attempts);
}
