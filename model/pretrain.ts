/**
 * Pretraining from event history: what a fresh deployment learns from the notifications its users received
 * before the bandit existed, so the bandit does not start cold while the holdout's heuristic already reads
 * every user's history.
 *
 * `pretrainRows` replays each user's events (the IngestEvent contract, as producers sent them to the events
 * queue) in occurredAt order through applyEvent, the same decay ingest applies, and at each
 * `notification_delivered` rebuilds the decision the send would have had:
 *
 * - state: the user's state as of that instant (every earlier event applied; see "Order" below);
 * - request: kind from `options.kind` (the contract's events carry none; default PRETRAIN_DEFAULT_KIND,
 *   whose kind group is 'other', so no kind x channel column is set), allowedChannels = [the channel],
 *   window = [sentAt, sentAt + reward.attributionWindowHours];
 * - nowMs = sentAt; recentSends = the user's earlier deliveries per channel (the fatigue features);
 * - features = DecisionPreparer.armRow(input, channel, sentAt): the one code path SendTimePolicy.armRow and
 *   decide use, the guardrails left out (the send happened; what it led to is worth learning either way).
 *
 * Reward: computeReward (model/reward.ts, the learner's own rule) over the types attributed to the
 * send. Which event types count: those with a non-zero weight in config.reward.weights (isRewardedType, as
 * production attribution). Attribution rule, per user:
 * 1. an event that carries a decisionId goes to the delivery with that decisionId, if the history has one;
 * 2. otherwise (legacy events have no decisionId) to the nearest preceding delivery, at or before the event,
 *    on the event's channel; `converted`, which has no channel, to the nearest preceding delivery on any;
 * 3. it counts if it happened no later than that delivery + attributionWindowHours (production's
 *    windowEndsAt); each type counts once per send (production keeps a set of types).
 * Limits of rule 2: an open of an earlier send that happens after a later send on the same channel goes to
 * the later one (two emails an hour apart: the first one's late open counts for the second); a conversion
 * goes to the last touch, whatever caused it; events whose send is missing from the history go to the
 * previous send on the channel if its window covers them. Rule 1 is exact; it needs decisionIds on the
 * delivery and on its outcomes.
 *
 * Left out: sends whose attribution window had not closed by the end of the history (`endMs`, default the
 * newest event's instant): their reward is not known yet, and learning it as 0 would bias the bandit
 * against recent sends. Events after an explicit `endMs` are ignored altogether.
 *
 * Order: within a user, events sort by occurredAt, then profile upserts, then deliveries, then everything
 * else, then by id: an engagement at the very instant of a delivery counts as after it (it may be its
 * outcome, and must not leak into the send's features). A repeated id (a producer's retry) counts once, as
 * in ingest. Rows come grouped by user (ids in natural order: user-2 before user-10), each user's sends in
 * time order; the same events in any input order give the same rows, bit for bit.
 *
 * Pure: no AWS, no clock. `pretrainPolicy` adds the TF.js learner (a fresh SendTimePolicy trained on the rows).
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { IngestEvent } from '#events/ingest-event.ts';
import { computeReward, isRewardedType } from '#model/reward.ts';
import { initTensorBackend } from './bandit/index.ts';
import type { FeaturePriors } from './features.ts';
import { type DecideInput, DecisionPreparer, type LearnRow, SendTimePolicy } from './policy.ts';
import { applyEvent, type DecayOptions, emptyUserState, type StateEvent } from './user-state.ts';

/**
 * The request kind of a rebuilt send when the caller does not know it: kind group 'other' (features.ts
 * kindGroup), so the send teaches the channel columns and none of the kind x channel ones.
 */
export const PRETRAIN_DEFAULT_KIND = 'unknown';

/** Rows learned per policy.learn call (the feature buffer of one call is rows x 52 floats). */
export const PRETRAIN_LEARN_CHUNK = 4096;

export type DeliveredEvent = Extract<IngestEvent, { type: 'notification_delivered' }>;

export interface PretrainOptions {
  /** population priors of the smoothed rates; production's decide uses none, so leave it out to match it */
  priors?: FeaturePriors;
  /** end of the history, epoch ms; default the newest event's occurredAt. Later events are ignored. */
  endMs?: number;
  /** the kind of each send: a constant or a function of its delivery event; default PRETRAIN_DEFAULT_KIND */
  kind?: string | ((delivery: DeliveredEvent) => string | undefined);
}

/** One rebuilt send: a LearnRow and where it came from. */
export interface PretrainRow extends LearnRow {
  features: Float32Array;
  userId: string;
  channel: ChannelName;
  sentAtMs: number;
  decisionId?: string;
  /** the event types counted on the send, in the order of config.reward.weights */
  rewardEvents: string[];
}

/** Deliveries not turned into rows, by reason. */
export interface PretrainSkipped {
  /** the attribution window had not closed by the end of the history */
  windowOpen: number;
  /** a second delivery event of a decisionId already delivered (a different event id): one decision, one row */
  repeatedDecision: number;
}

export interface PretrainEventStats {
  /** events read (duplicates and events after endMs included) */
  read: number;
  users: number;
  /** events whose id was already seen for the user (applied once) */
  duplicates: number;
  /** events after an explicit endMs (not applied) */
  afterEnd: number;
  deliveries: number;
  /** engagement events of a rewarded type counted on a send, by rule */
  attributed: { byDecisionId: number; byNearestDelivery: number };
  /** engagement events of a rewarded type counted on no send, by reason */
  unattributed: { noDelivery: number; outsideWindow: number };
}

export interface PretrainRowsResult {
  rows: PretrainRow[];
  skipped: PretrainSkipped;
  events: PretrainEventStats;
  /** the end of the history used (epoch ms; NaN when there were no events) */
  endMs: number;
}

interface Timed {
  event: IngestEvent;
  ms: number;
  rank: number;
}

interface Delivery {
  event: DeliveredEvent;
  ms: number;
  types: Set<string>;
  /** false for a repeated decisionId */
  first: boolean;
}

const naturalOrder = new Intl.Collator('en', { numeric: true });

function compareIds(a: string, b: string): number {
  return naturalOrder.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

function rankOf(type: IngestEvent['type']): number {
  return type === 'profile_upserted' ? 0 : type === 'notification_delivered' ? 1 : 2;
}

function eventChannel(event: IngestEvent): ChannelName | undefined {
  return 'channel' in event ? event.channel : undefined;
}

function eventDecisionId(event: IngestEvent): string | undefined {
  return 'decisionId' in event ? event.decisionId : undefined;
}

function parseTime(event: IngestEvent): number {
  const ms = Date.parse(event.occurredAt);
  if (Number.isNaN(ms)) {
    throw new RangeError(`event ${event.id} of user ${event.userId}: occurredAt is not an ISO 8601 instant`);
  }
  return ms;
}

/**
 * The decay ingest applies (lambdas/ingest/handler.ts featureDecay).
 * @example decayOptions(config) // { halfLifeDays: 14, defaultTimeZone: 'UTC' }
 */
export function decayOptions(config: AnalystConfig): DecayOptions {
  return { halfLifeDays: config.features.halfLifeDays, defaultTimeZone: config.guardrails.defaultTimeZone };
}

/**
 * Learn rows from an event history: one per delivered notification whose attribution window closed, with the
 * feature row the send had and its attributed engagement reward (see the file's comment for every rule).
 * @example
 *   const { rows, skipped } = pretrainRows(events, config);
 *   policy.learn(rows); // skipped.windowOpen sends were too recent to score
 */
export function pretrainRows(
  events: Iterable<IngestEvent>,
  config: AnalystConfig,
  options: PretrainOptions = {},
): PretrainRowsResult {
  const stats: PretrainEventStats = {
    read: 0,
    users: 0,
    duplicates: 0,
    afterEnd: 0,
    deliveries: 0,
    attributed: { byDecisionId: 0, byNearestDelivery: 0 },
    unattributed: { noDelivery: 0, outsideWindow: 0 },
  };
  const skipped: PretrainSkipped = { windowOpen: 0, repeatedDecision: 0 };
  const byUser = new Map<string, { ids: Set<string>; events: Timed[] }>();
  let newest = Number.NEGATIVE_INFINITY;
  for (const event of events) {
    stats.read++;
    const ms = parseTime(event);
    if (options.endMs !== undefined && ms > options.endMs) {
      stats.afterEnd++;
      continue;
    }
    let user = byUser.get(event.userId);
    if (!user) {
      user = { ids: new Set(), events: [] };
      byUser.set(event.userId, user);
    }
    if (user.ids.has(event.id)) {
      stats.duplicates++;
      continue;
    }
    user.ids.add(event.id);
    user.events.push({ event, ms, rank: rankOf(event.type) });
    if (ms > newest) newest = ms;
  }
  stats.users = byUser.size;
  const endMs = options.endMs ?? (byUser.size > 0 ? newest : Number.NaN);

  const replay = new UserReplay(config, options);
  const rows: PretrainRow[] = [];
  for (const userId of [...byUser.keys()].sort(compareIds)) {
    const list = (byUser.get(userId) as { events: Timed[] }).events;
    list.sort((a, b) => a.ms - b.ms || a.rank - b.rank || compareIds(a.event.id, b.event.id));
    const deliveries = attribute(list, config, stats);
    replay.run(userId, list, deliveries, endMs, rows, skipped);
  }
  return { rows, skipped, events: stats, endMs };
}

/** Counts each rewarded engagement event on a delivery (rules 1-3); returns the deliveries by event. */
function attribute(
  list: readonly Timed[],
  config: AnalystConfig,
  stats: PretrainEventStats,
): Map<IngestEvent, Delivery> {
  const windowMs = config.reward.attributionWindowHours * 3_600_000;
  const deliveries = new Map<IngestEvent, Delivery>();
  const byDecision = new Map<string, Delivery>();
  for (const t of list) {
    if (t.event.type !== 'notification_delivered') continue;
    const decisionId = t.event.decisionId;
    const first = decisionId === undefined || !byDecision.has(decisionId);
    const d: Delivery = { event: t.event, ms: t.ms, types: new Set(), first };
    deliveries.set(t.event, d);
    if (decisionId !== undefined && first) byDecision.set(decisionId, d);
  }
  stats.deliveries += deliveries.size;
  const lastOn: Partial<Record<ChannelName, Delivery>> = {};
  let lastAny: Delivery | undefined;
  for (const t of list) {
    const event = t.event;
    if (event.type === 'notification_delivered') {
      const d = deliveries.get(event) as Delivery;
      lastOn[event.channel] = d;
      lastAny = d;
      continue;
    }
    if (!isRewardedType(event.type, config.reward)) continue;
    const decisionId = eventDecisionId(event);
    const matched = decisionId !== undefined ? byDecision.get(decisionId) : undefined;
    const channel = eventChannel(event);
    const target = matched ?? (channel ? lastOn[channel] : lastAny);
    if (!target) stats.unattributed.noDelivery++;
    else if (t.ms > target.ms + windowMs) stats.unattributed.outsideWindow++;
    else {
      target.types.add(event.type);
      if (matched) stats.attributed.byDecisionId++;
      else stats.attributed.byNearestDelivery++;
    }
  }
  return deliveries;
}

/** Replays one user's sorted events through applyEvent, writing a row at each scoreable delivery. */
class UserReplay {
  private readonly prep: DecisionPreparer;
  private readonly decay: DecayOptions;
  private readonly windowMs: number;
  private readonly rewardOrder: string[];

  constructor(
    private readonly config: AnalystConfig,
    private readonly options: PretrainOptions,
  ) {
    this.prep = new DecisionPreparer(config, options.priors);
    this.decay = decayOptions(config);
    this.windowMs = config.reward.attributionWindowHours * 3_600_000;
    this.rewardOrder = Object.keys(config.reward.weights);
  }

  private kindOf(delivery: DeliveredEvent): string {
    const kind = this.options.kind;
    const named = typeof kind === 'function' ? kind(delivery) : kind;
    return named ?? PRETRAIN_DEFAULT_KIND;
  }

  run(
    userId: string,
    list: readonly Timed[],
    deliveries: ReadonlyMap<IngestEvent, Delivery>,
    endMs: number,
    rows: PretrainRow[],
    skipped: PretrainSkipped,
  ): void {
    const state = emptyUserState(userId);
    const recentSends: Record<ChannelName, number[]> = { email: [], push: [], sms: [] };
    for (const { event, ms } of list) {
      const d = event.type === 'notification_delivered' ? deliveries.get(event) : undefined;
      if (d) {
        const windowEnd = ms + this.windowMs;
        if (!d.first) skipped.repeatedDecision++;
        else if (!(windowEnd <= endMs)) skipped.windowOpen++;
        else {
          const input: DecideInput = {
            user: state,
            nowMs: ms,
            request: {
              kind: this.kindOf(d.event),
              allowedChannels: [d.event.channel],
              window: { notBeforeMs: ms, notAfterMs: windowEnd },
            },
            recentSends,
          };
          const rewardEvents = this.rewardOrder.filter((type) => d.types.has(type));
          rows.push({
            features: this.prep.armRow(input, d.event.channel, ms),
            reward: computeReward(rewardEvents, this.config.reward),
            userId,
            channel: d.event.channel,
            sentAtMs: ms,
            ...(d.event.decisionId !== undefined && { decisionId: d.event.decisionId }),
            rewardEvents,
          });
        }
        recentSends[d.event.channel].push(ms);
      }
      applyEvent(state, event as StateEvent, this.decay);
    }
  }
}

/** Called after each chunk learned: rows learned so far, of `total`. */
export type LearnProgress = (learned: number, total: number) => void;

/**
 * Learns rows in chunks of PRETRAIN_LEARN_CHUNK (same result as one call; bounded memory).
 * @example learnInChunks(policy, rows, (done, total) => bar.update(done)) // rows.length
 */
export function learnInChunks(policy: SendTimePolicy, rows: readonly LearnRow[], onProgress?: LearnProgress): number {
  for (let i = 0; i < rows.length; i += PRETRAIN_LEARN_CHUNK) {
    policy.learn(rows.slice(i, i + PRETRAIN_LEARN_CHUNK));
    onProgress?.(Math.min(rows.length, i + PRETRAIN_LEARN_CHUNK), rows.length);
  }
  return rows.length;
}

export interface PretrainedPolicy {
  /** a fresh SendTimePolicy under the config (config.bandit), trained on the rows; dispose() it when done */
  policy: SendTimePolicy;
  /** rows learned */
  rows: number;
  /** the learned rows' engagement rewards: their mean (NaN for none), and how many were above / below 0 */
  reward: { mean: number; positive: number; negative: number };
  skipped: PretrainSkipped;
  events: PretrainEventStats;
  endMs: number;
  /** wall-clock time of building the rows and of learning them, ms */
  timings: { rowsMs: number; learnMs: number };
}

/**
 * A fresh SendTimePolicy trained on an event history (pretrainRows, then learn): the model a deployment, or the
 * demo, starts with instead of a cold one. Initialises TF.js (initTensorBackend) if no one has.
 * @example
 *   const { policy, rows } = await pretrainPolicy(historyEvents, config, { endMs: dayZeroMs });
 *   await store.writeVersion({ version: 1, state: policy.serialize(), policyVersion: policy.version, createdAt: Date.now() });
 */
export async function pretrainPolicy(
  events: Iterable<IngestEvent>,
  config: AnalystConfig,
  options: PretrainOptions & { onProgress?: LearnProgress } = {},
): Promise<PretrainedPolicy> {
  await initTensorBackend();
  const t0 = performance.now();
  const built = pretrainRows(events, config, options);
  const t1 = performance.now();
  const policy = SendTimePolicy.create(config, { priors: options.priors });
  try {
    learnInChunks(policy, built.rows, options.onProgress);
  } catch (error) {
    policy.dispose();
    throw error;
  }
  const t2 = performance.now();
  const reward = { mean: Number.NaN, positive: 0, negative: 0 };
  let sum = 0;
  for (const row of built.rows) {
    sum += row.reward;
    if (row.reward > 0) reward.positive++;
    else if (row.reward < 0) reward.negative++;
  }
  if (built.rows.length > 0) reward.mean = sum / built.rows.length;
  return {
    policy,
    rows: built.rows.length,
    reward,
    skipped: built.skipped,
    events: built.events,
    endMs: built.endMs,
    timings: { rowsMs: t1 - t0, learnMs: t2 - t1 },
  };
}
