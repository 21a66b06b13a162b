/**
 * The decision item (decisions table, PK decisionId): what decide writes for every notification request,
 * and what the sweeper, dispatch, reward attribution, window closing and `sto export` read. See
 * docs/serving-loop.md for the state machine; this module is the one place that knows the attribute names
 * decide writes.
 *
 * Besides the chosen arm, an item keeps the decision's whole input (`input`: the user's decayed state as
 * the policy saw it, recent sends, reachable channels, the request's window): `sto evaluate` rebuilds every
 * arm's features from it to replay a candidate policy on the logged decisions. Content for the chosen
 * channel is kept for dispatch and never exported.
 */
import type { ChannelName } from '#config/schema.ts';
import type { NotificationRequest } from '#events/index.ts';
import { dueShardFor } from '#infra/resources.ts';
import type { ArmBlockReason, RecentSends } from '#model/guardrails.ts';
import type { DecideInput, PolicyName, SendDecision } from '#model/policy.ts';
import { CHANNELS } from '#model/user-state.ts';
import { decodeUserState, encodeUserState, type StoredUserItem } from '../ingest/user-item.ts';
import { encodeFeatureRow } from '../rewards/message.ts';

export const DECISION_ID_PREFIX = 'dec_';

/** Every status a decision item can be in (docs/serving-loop.md). */
export const DECISION_STATUSES = [
  'scheduled',
  'enqueued',
  'sending',
  'sent',
  'maybe_sent',
  'failed',
  'stopped',
  'deferred',
  'redeciding',
  'dropped',
] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

/** Statuses a send can still leave from. */
export const PENDING_STATUSES: ReadonlySet<DecisionStatus> = new Set(['scheduled', 'enqueued', 'sending']);

/** How long a decision item outlives its delivery window (TTL), in days. */
export const DECISION_RETENTION_DAYS = 90;

/**
 * The decision id of a request: the same request (redelivered, or sent twice by its producer) always
 * maps to the same item, which decide writes only if it does not exist.
 * @example decisionIdFor('req:winback:u-1') // 'dec_req:winback:u-1'
 */
export function decisionIdFor(requestId: string): string {
  return `${DECISION_ID_PREFIX}${requestId}`;
}

/** What decide saw: enough to rebuild the DecideInput of the decision exactly. */
export interface StoredDecisionInput {
  /** the user's state attributes as the users item stores them (decayed to their own reference time) */
  st: StoredUserItem['st'];
  /** hour-of-week histogram, Float32 bytes */
  hist: Uint8Array;
  recentSends: RecentSends;
  reachable: ChannelName[];
}

/** The request's side of the decision that dispatch re-checks against. */
export interface StoredDecisionContext {
  window: { notBeforeMs: number; notAfterMs: number };
  allowedChannels: ChannelName[];
  ignoreQuietHours?: boolean;
  priority?: 'normal' | 'high';
}

export interface DecisionItem {
  decisionId: string;
  requestId: string;
  userId: string;
  campaignId: string;
  kind: string;
  status: DecisionStatus;
  decidedAt: number;
  policyName: PolicyName;
  policyVersion: string;
  configVersion: string;
  holdout: boolean;
  context: StoredDecisionContext;
  input: StoredDecisionInput;
  /** the chosen arm (absent when no arm was allowed) */
  channel?: ChannelName;
  slotIndex?: number;
  armIndex?: number;
  sendAt?: number;
  timeZone?: string;
  propensity?: number;
  explored?: boolean;
  allowedArms?: number;
  /** base64 little-endian Float32 feature row of the chosen arm */
  features?: string;
  /** the request's content for the chosen channel */
  content?: Record<string, unknown>;
  /** no arm allowed: how many arms each reason masked, and what config said to do */
  noArmReasons?: Partial<Record<ArmBlockReason, number>>;
  /** a deferred decision is decided again from this instant (epoch ms) */
  retryAt?: number;
  /** a deferred decision keeps its request (JSON) for the sweeper to send back to decide */
  request?: string;
  /** sparse byDue index: present while the sweeper has something to do with the item */
  dueShard?: string;
  dueAt?: number;
  /** TTL, epoch seconds */
  expiresAt: number;
  // written later by dispatch and the reward path
  attempt?: string;
  claimedAt?: number;
  sentAt?: number;
  providerMessageId?: string;
  failureReason?: string;
  stopReason?: string;
  rewardEvents?: Set<string>;
  reward?: number;
  windowEndsAt?: number;
  rewardShard?: string;
  rewardClosed?: boolean;
  closedAt?: number;
}

export interface DecisionMeta {
  request: NotificationRequest;
  input: DecideInput;
  holdout: boolean;
  decidedAt: number;
  /** attribution window, hours (config.reward.attributionWindowHours): the TTL counts from its end */
  attributionWindowHours: number;
}

/**
 * The item decide writes for a decision: `scheduled` and in the due index at the send instant, or
 * `deferred` (in the due index at `retryAt`) / `dropped` when no arm was allowed.
 * @example
 *   const item = decisionItem(decision, { request, input, holdout, decidedAt: now, attributionWindowHours: 72 });
 *   await doc.send(new PutCommand({ TableName, Item: item, ConditionExpression: 'attribute_not_exists(decisionId)' }));
 */
export function decisionItem(
  decision: SendDecision,
  meta: DecisionMeta,
  noArm?: { status: 'deferred' | 'dropped'; retryAt?: number },
): DecisionItem {
  const { request, input } = meta;
  const decisionId = decisionIdFor(request.id);
  const { st, hist } = encodeUserState(input.user);
  const notAfterMs = Date.parse(request.window.notAfter);
  const base: DecisionItem = {
    decisionId,
    requestId: request.id,
    userId: request.userId,
    campaignId: request.campaignId,
    kind: request.kind,
    status: 'scheduled',
    decidedAt: meta.decidedAt,
    policyName: decision.policy,
    policyVersion: decision.policyVersion,
    configVersion: decision.configVersion,
    holdout: meta.holdout,
    context: {
      window: { notBeforeMs: Date.parse(request.window.notBefore), notAfterMs },
      allowedChannels: [...request.allowedChannels],
      ...(request.ignoreQuietHours && { ignoreQuietHours: true }),
      ...(request.priority && { priority: request.priority }),
    },
    input: {
      st,
      hist,
      recentSends: Object.fromEntries(
        Object.entries(input.recentSends ?? {}).map(([c, at]) => [c, [...(at ?? [])]]),
      ) as RecentSends,
      reachable: [...(input.reachable ?? CHANNELS)],
    },
    expiresAt: Math.ceil(
      (Math.max(notAfterMs, meta.decidedAt) + meta.attributionWindowHours * 3_600_000) / 1000 +
        DECISION_RETENTION_DAYS * 86_400,
    ),
  };
  if (decision.kind === 'no_arm') {
    const status = noArm?.status ?? 'dropped';
    return {
      ...base,
      status,
      noArmReasons: { ...decision.reasons },
      ...(status === 'deferred' &&
        noArm?.retryAt !== undefined && {
          retryAt: noArm.retryAt,
          request: JSON.stringify(request),
          dueShard: dueShardFor(decisionId),
          dueAt: noArm.retryAt,
        }),
    };
  }
  return {
    ...base,
    channel: decision.channel,
    slotIndex: decision.slotIndex,
    armIndex: decision.armIndex,
    sendAt: decision.sendAtMs,
    timeZone: decision.timeZone,
    propensity: decision.propensity,
    explored: decision.explored,
    allowedArms: decision.allowedArms,
    features: encodeFeatureRow(decision.features),
    content: (request.content[decision.channel] ?? {}) as Record<string, unknown>,
    dueShard: dueShardFor(decisionId),
    dueAt: decision.sendAtMs,
  };
}

/**
 * The DecideInput a stored decision was made from (for replaying a policy on the log).
 * @example const input = decisionInput(item); candidate.decide([input], rng);
 */
export function decisionInput(
  item: Pick<DecisionItem, 'userId' | 'kind' | 'context' | 'input' | 'decidedAt'>,
): DecideInput {
  const user = decodeUserState({ userId: item.userId, st: item.input.st, hist: item.input.hist }, item.userId);
  return {
    user,
    nowMs: item.decidedAt,
    request: {
      kind: item.kind,
      allowedChannels: item.context.allowedChannels,
      window: item.context.window,
      ...(item.context.ignoreQuietHours && { ignoreQuietHours: true }),
    },
    recentSends: item.input.recentSends,
    reachable: item.input.reachable,
  };
}
