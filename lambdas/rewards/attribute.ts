/**
 * Reward attribution: engagement events that carry a decisionId are counted on their decision item.
 *
 * One conditional UpdateItem per decision per batch (docs/serving-loop.md, Rewards):
 * `ADD rewardEvents :types` only if the decision belongs to the event's user, its attribution window
 * (windowEndsAt, set when the send happened) has not ended at the event's time, it is not closed, and at
 * least one of the types is new. A string set makes counting idempotent by construction: an event type
 * counts once per decision however often it is delivered, and a duplicate costs no state change.
 *
 * Late arrivals are bounded: an event is also refused once processing time is past windowEndsAt plus
 * `lateEventGraceMs`. Window closing waits for the same grace, so a closed decision's counted events are
 * final before its reward is computed (see close.ts): the reward sent to the learner is the one stored.
 *
 * Types whose weight is 0 or undefined (delivered, dismissed by default) are not written: they cannot
 * change a reward under either combine rule, and each would cost a write.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type AttributeValue, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isRewardedType, type RewardSettings } from '#model/reward.ts';
import { AttributionConflictError } from './errors.ts';

/** How long after a window's end a late-arriving event (queue backlog, retries) still counts. */
export const DEFAULT_LATE_EVENT_GRACE_MS = 30 * 60_000;

/** The part of the Powertools logger rewards use (lambdas/shared/logger.ts masks personal data). */
export type RewardsLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Any event ingest validated; only those with a decisionId and a rewarded type are attributed. */
export interface EngagementForAttribution {
  id: string;
  type: string;
  userId: string;
  occurredAt: string;
  decisionId?: string;
}

export interface AttributionDeps {
  doc: DynamoDBDocumentClient;
  decisionsTable: string;
  /** config.reward: weights decide which types are worth a write */
  reward: Pick<RewardSettings, 'weights'>;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: RewardsLogger;
  /** default DEFAULT_LATE_EVENT_GRACE_MS; must equal the closer's */
  lateEventGraceMs?: number;
  /** decisions written in parallel; default 16 */
  concurrency?: number;
}

/** Why an event did not add a type to its decision. */
export type NotCountedReason =
  | 'duplicate'
  | 'outside_window'
  | 'closed'
  | 'not_sent'
  | 'unknown_decision'
  | 'other_user'
  | 'not_rewarded';

export interface AttributionOutcome {
  /** event types newly added to a decision */
  counted: number;
  /** events that added nothing, by reason */
  notCounted: Record<NotCountedReason, number>;
  /**
   * events whose write failed (throttling, network): retryable. Ingest hands their records back to SQS;
   * a redelivered event is counted at most once all the same.
   */
  failedEventIds: string[];
  writeRequests: number;
}

interface TypeCandidate {
  type: string;
  /** earliest occurrence of this type for the decision in the batch (ms) */
  at: number;
  eventIds: string[];
}

interface DecisionGroup {
  decisionId: string;
  userId: string;
  candidates: Map<string, TypeCandidate>;
}

function emptyOutcome(): AttributionOutcome {
  return {
    counted: 0,
    notCounted: {
      duplicate: 0,
      outside_window: 0,
      closed: 0,
      not_sent: 0,
      unknown_decision: 0,
      other_user: 0,
      not_rewarded: 0,
    },
    failedEventIds: [],
    writeRequests: 0,
  };
}

/**
 * Counts a batch of engagement events on their decisions: one conditional UpdateItem per decision.
 * Safe to call with every valid event of a redelivered batch (ingest must not filter out the events
 * its own dedup memory has seen: a crash between ingest's user write and this call would lose them).
 * @example
 *   const outcome = await attributeEngagement(validEvents, {
 *     doc, decisionsTable, reward: config.reward, now: Date.now, logger,
 *   });
 *   const retry = new Set(outcome.failedEventIds); // hand these events' records back to SQS
 */
export async function attributeEngagement(
  events: readonly EngagementForAttribution[],
  deps: AttributionDeps,
): Promise<AttributionOutcome> {
  const outcome = emptyOutcome();
  const groups = new Map<string, DecisionGroup>();
  for (const event of events) {
    if (!event.decisionId) continue;
    if (!isRewardedType(event.type, deps.reward)) {
      outcome.notCounted.not_rewarded++;
      continue;
    }
    // one decision may see events of different users only through a producer bug; keep them apart
    const key = `${event.decisionId}\u0000${event.userId}`;
    const group = groups.get(key) ?? { decisionId: event.decisionId, userId: event.userId, candidates: new Map() };
    groups.set(key, group);
    const at = Date.parse(event.occurredAt);
    const candidate = group.candidates.get(event.type);
    if (candidate) {
      candidate.at = Math.min(candidate.at, at);
      candidate.eventIds.push(event.id);
    } else {
      group.candidates.set(event.type, { type: event.type, at, eventIds: [event.id] });
    }
  }

  const list = [...groups.values()];
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const group = list[next++];
      try {
        await attributeToDecision(group, deps, outcome);
      } catch (error) {
        deps.logger.error('reward attribution failed; events handed back for redelivery', {
          decisionId: group.decisionId,
          error: (error as Error).name,
          detail: (error as Error).message,
        });
        for (const c of group.candidates.values()) outcome.failedEventIds.push(...c.eventIds);
      }
    }
  };
  const concurrency = Math.max(1, deps.concurrency ?? 16);
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  return outcome;
}

/** The attributes of a decision item the attribution condition reads (raw: the SDK does not unmarshall them). */
interface DecisionRewardState {
  userId?: string;
  windowEndsAt?: number;
  rewardClosed?: boolean;
  rewardEvents: Set<string>;
}

function readRaw(item: Record<string, AttributeValue>): DecisionRewardState {
  const windowEndsAt = item.windowEndsAt?.N;
  return {
    userId: item.userId?.S,
    windowEndsAt: windowEndsAt === undefined ? undefined : Number(windowEndsAt),
    rewardClosed: item.rewardClosed?.BOOL,
    rewardEvents: new Set(item.rewardEvents?.SS ?? []),
  };
}

/** Why one candidate type cannot be counted on a decision in `state`, or undefined if it can. */
function refusal(
  candidate: TypeCandidate,
  state: DecisionRewardState,
  userId: string,
  graceFloor: number,
): NotCountedReason | undefined {
  if (state.userId !== userId) return 'other_user';
  if (state.rewardClosed === true) return 'closed';
  if (state.windowEndsAt === undefined) return 'not_sent';
  if (state.rewardEvents.has(candidate.type)) return 'duplicate';
  if (!(candidate.at <= state.windowEndsAt) || state.windowEndsAt < graceFloor) return 'outside_window';
  return undefined;
}

async function attributeToDecision(group: DecisionGroup, deps: AttributionDeps, outcome: AttributionOutcome) {
  const grace = deps.lateEventGraceMs ?? DEFAULT_LATE_EVENT_GRACE_MS;
  let candidates = [...group.candidates.values()];
  // Each retry follows a refusal that told us the item's state: at most one retry per concurrent change.
  const maxAttempts = 4;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const graceFloor = deps.now() - grace;
    const values: Record<string, unknown> = {
      ':types': new Set(candidates.map((c) => c.type)),
      ':userId': group.userId,
      ':latest': Math.max(...candidates.map((c) => c.at)),
      ':graceFloor': graceFloor,
      ':true': true,
    };
    const anyNew = candidates.map((c, i) => {
      values[`:t${i}`] = c.type;
      return `NOT contains(rewardEvents, :t${i})`;
    });
    try {
      outcome.writeRequests++;
      const result = await deps.doc.send(
        new UpdateCommand({
          TableName: deps.decisionsTable,
          Key: { decisionId: group.decisionId },
          UpdateExpression: 'ADD rewardEvents :types',
          // attribute_not_exists spelled out: what a comparison with a missing attribute yields is not
          // something to rely on
          ConditionExpression:
            'userId = :userId AND windowEndsAt >= :latest AND windowEndsAt >= :graceFloor AND ' +
            '(attribute_not_exists(rewardClosed) OR rewardClosed <> :true) AND ' +
            `(attribute_not_exists(rewardEvents) OR ${anyNew.join(' OR ')})`,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const before = (result.Attributes?.rewardEvents as Set<string> | undefined) ?? new Set<string>();
      for (const c of candidates) {
        if (before.has(c.type)) outcome.notCounted.duplicate += c.eventIds.length;
        else {
          outcome.counted++;
          outcome.notCounted.duplicate += c.eventIds.length - 1;
        }
      }
      return;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!error.Item) {
        outcome.notCounted.unknown_decision += countEvents(candidates);
        return;
      }
      // The item as it was: refuse what cannot count, retry with what still can (e.g. one type of two in window)
      const state = readRaw(error.Item);
      const still: TypeCandidate[] = [];
      for (const c of candidates) {
        const reason = refusal(c, state, group.userId, graceFloor);
        if (reason) outcome.notCounted[reason] += c.eventIds.length;
        else still.push(c);
      }
      if (still.length === 0) return;
      candidates = still;
    }
  }
  throw new AttributionConflictError(group.decisionId, maxAttempts);
}

function countEvents(candidates: readonly TypeCandidate[]): number {
  return candidates.reduce((n, c) => n + c.eventIds.length, 0);
}
