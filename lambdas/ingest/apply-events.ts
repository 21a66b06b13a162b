/**
 * Applies a batch of engagement and profile events to the users table, exactly once per event id.
 *
 * Cost design (target: <= 1.2 write requests per event): events of one batch are grouped by user,
 * and each user's item is read once (GetItem, strongly consistent) and written once (a conditional
 * UpdateItem), whatever number of that user's events the batch holds. The ids of applied events are
 * remembered inside the same item (`seen`), so deduplication costs no extra write either: a separate
 * idempotency record per event would double the writes. A batch whose events are all duplicates writes
 * nothing. Concurrent invocations for the same user are serialised by the item's ingest version `iv`:
 * a conditional write that loses re-reads and re-applies (the decayed features are order-independent,
 * see model/user-state.ts), so nothing is lost and nothing applied twice.
 *
 * Crash safety: an item's features and its `seen` ids change in one write. If the function dies after
 * writing some users, SQS redelivers the whole batch; the users already written recognise the ids and
 * skip them, the others apply them: each event counts once.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type IngestEvent, parseIngestEvent } from '#events/index.ts';
import type { RewardSettings } from '#model/reward.ts';
import { applyEvent, type DecayOptions, type StateEvent } from '#model/user-state.ts';
import { type AttributionOutcome, attributeEngagement, type EngagementForAttribution } from '../rewards/attribute.ts';
import { UserWriteConflictError } from './errors.ts';
import {
  decodeSeen,
  decodeUserState,
  encodeSeen,
  encodeUserState,
  fingerprint,
  pruneSeen,
  type StoredUserItem,
  seenKey,
} from './user-item.ts';

/** The part of the Powertools logger ingest uses (lambdas/shared/logger.ts masks personal data). */
export type IngestLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface IngestDeps {
  doc: DynamoDBDocumentClient;
  usersTable: string;
  features: DecayOptions;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: IngestLogger;
  /** users written in parallel within one batch */
  concurrency?: number;
  /** optimistic-concurrency retries per user before its records are handed back to SQS */
  maxAttempts?: number;
  /**
   * Reward attribution (lambdas/rewards/attribute.ts): events carrying a decisionId are counted on their
   * decision. Absent: ingest only keeps the users' features (tests of ingest alone).
   */
  attribution?: { decisionsTable: string; reward: Pick<RewardSettings, 'weights'>; lateEventGraceMs?: number };
}

export interface IngestRecord {
  messageId: string;
  body: string;
}

export interface RecordFailure {
  messageId: string;
  /** machine-readable reason: the parse reason code, or 'write_failed' */
  reason: string;
  /** whether redelivery can help (a write failure) or the record is poison (invalid) */
  retryable: boolean;
}

export interface IngestOutcome {
  failures: RecordFailure[];
  /** events applied to a user item by this call */
  applied: number;
  /** valid events skipped because their id was already applied */
  duplicates: number;
  /** DynamoDB write requests made (successful or not) */
  writeRequests: number;
  readRequests: number;
  /** reward attribution of the batch, when deps.attribution is set */
  attribution?: AttributionOutcome;
}

interface ValidEvent {
  messageId: string;
  event: IngestEvent;
}

/**
 * Applies a batch of SQS bodies; returns which records failed and why.
 * @example
 *   const outcome = await ingestBatch(event.Records.map((r) => ({ messageId: r.messageId, body: r.body })), deps);
 *   return { batchItemFailures: outcome.failures.map((f) => ({ itemIdentifier: f.messageId })) };
 */
export async function ingestBatch(records: IngestRecord[], deps: IngestDeps): Promise<IngestOutcome> {
  const outcome: IngestOutcome = { failures: [], applied: 0, duplicates: 0, writeRequests: 0, readRequests: 0 };
  const byUser = new Map<string, ValidEvent[]>();
  for (const record of records) {
    const parsed = parseIngestEvent(record.body);
    if (!parsed.ok) {
      // The reason names fields and why, never their values: no address or number can reach the log.
      deps.logger.warn('invalid event record', {
        messageId: record.messageId,
        reason: parsed.error.reason,
        detail: parsed.error.message,
      });
      outcome.failures.push({ messageId: record.messageId, reason: parsed.error.reason, retryable: false });
      continue;
    }
    const list = byUser.get(parsed.value.userId) ?? [];
    list.push({ messageId: record.messageId, event: parsed.value });
    byUser.set(parsed.value.userId, list);
  }

  const users = [...byUser.entries()];
  const concurrency = Math.max(1, deps.concurrency ?? 16);
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const [userId, events] = users[next++];
      try {
        await applyUserEvents(userId, events, deps, outcome);
      } catch (error) {
        deps.logger.error('user update failed; records handed back for redelivery', {
          userId,
          records: events.length,
          error: (error as Error).name,
          detail: (error as Error).message,
        });
        for (const e of events)
          outcome.failures.push({ messageId: e.messageId, reason: 'write_failed', retryable: true });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, worker));
  if (deps.attribution) await attribute(byUser, deps, deps.attribution, outcome);
  return outcome;
}

/**
 * Counts every valid event of the batch on its decision, duplicates included: a crash between the user
 * write and this call would otherwise lose them (attribution has its own once-per-type condition).
 * An event whose decision write failed hands its record back to SQS.
 */
async function attribute(
  byUser: ReadonlyMap<string, ValidEvent[]>,
  deps: IngestDeps,
  settings: NonNullable<IngestDeps['attribution']>,
  outcome: IngestOutcome,
): Promise<void> {
  const valid = [...byUser.values()].flat();
  const attributable = valid.filter((v) => 'decisionId' in v.event && v.event.decisionId);
  if (attributable.length === 0) return;
  const result = await attributeEngagement(
    attributable.map((v) => v.event as EngagementForAttribution),
    {
      doc: deps.doc,
      decisionsTable: settings.decisionsTable,
      reward: settings.reward,
      now: deps.now,
      logger: deps.logger,
      ...(settings.lateEventGraceMs !== undefined && { lateEventGraceMs: settings.lateEventGraceMs }),
    },
  );
  outcome.attribution = result;
  outcome.writeRequests += result.writeRequests;
  const failedEvents = new Set(result.failedEventIds);
  const alreadyFailed = new Set(outcome.failures.map((f) => f.messageId));
  for (const v of attributable) {
    if (failedEvents.has(v.event.id) && !alreadyFailed.has(v.messageId)) {
      alreadyFailed.add(v.messageId);
      outcome.failures.push({ messageId: v.messageId, reason: 'attribution_failed', retryable: true });
    }
  }
}

async function applyUserEvents(
  userId: string,
  events: ValidEvent[],
  deps: IngestDeps,
  outcome: IngestOutcome,
): Promise<void> {
  const maxAttempts = deps.maxAttempts ?? 5;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const read = await deps.doc.send(
      new GetCommand({ TableName: deps.usersTable, Key: { userId }, ConsistentRead: true }),
    );
    outcome.readRequests++;
    const item = read.Item as (StoredUserItem & { ct?: Record<string, number> }) | undefined;
    const state = decodeUserState(item, userId);
    const nowMs = deps.now();
    const seen = decodeSeen(item?.seen);
    const known = new Set(seen.map(seenKey));
    const fresh: IngestEvent[] = [];
    let duplicates = 0;
    for (const { event } of events) {
      const fp = fingerprint(event.id, nowMs);
      if (known.has(seenKey(fp))) {
        duplicates++;
        continue;
      }
      known.add(seenKey(fp));
      seen.push(fp);
      fresh.push(event);
    }
    if (fresh.length === 0) {
      outcome.duplicates += duplicates;
      return; // nothing new: no write at all
    }
    // Events apply in time order so that consent changes settle on the latest; decayed counts do not care.
    fresh.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    const contactTimes = { ...(item?.ct ?? {}) };
    const contact: Record<string, string> = {};
    for (const event of fresh) {
      applyEvent(state, event as StateEvent, deps.features);
      if (event.type === 'profile_upserted') collectContact(event, contactTimes, contact);
    }
    const { st, hist } = encodeUserState(state);
    const prev = item?.iv;
    const names: Record<string, string> = { '#st': 'st', '#hist': 'hist', '#seen': 'seen', '#iv': 'iv' };
    const values: Record<string, unknown> = {
      ':st': st,
      ':hist': hist,
      ':seen': encodeSeen(pruneSeen(seen)),
      ':next': (prev ?? 0) + 1,
    };
    const sets = ['#st = :st', '#hist = :hist', '#seen = :seen', '#iv = :next'];
    for (const [field, value] of Object.entries(contact)) {
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    if (Object.keys(contact).length) {
      names['#ct'] = 'ct';
      values[':ct'] = contactTimes;
      sets.push('#ct = :ct');
    }
    let condition = 'attribute_not_exists(#iv)';
    if (prev !== undefined) {
      condition = '#iv = :prev';
      values[':prev'] = prev;
    }
    try {
      outcome.writeRequests++;
      await deps.doc.send(
        new UpdateCommand({
          TableName: deps.usersTable,
          Key: { userId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      outcome.applied += fresh.length;
      outcome.duplicates += duplicates;
      return;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Another invocation wrote this user since our read: read again and re-apply.
    }
  }
  throw new UserWriteConflictError(userId, maxAttempts);
}

const CONTACT_FIELDS = ['email', 'phone', 'pushEndpointArn'] as const;

/** Contact endpoints follow the newest profile event by occurredAt, whatever order they arrive in. */
function collectContact(
  event: Extract<IngestEvent, { type: 'profile_upserted' }>,
  times: Record<string, number>,
  out: Record<string, string>,
): void {
  const at = Date.parse(event.occurredAt);
  for (const field of CONTACT_FIELDS) {
    const value = event[field];
    if (value !== undefined && at >= (times[field] ?? 0)) {
      out[field] = value;
      times[field] = at;
    }
  }
}
