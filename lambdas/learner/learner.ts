/**
 * The learner: applies a batch of rewards from the rewards queue to the model, each reward exactly once,
 * whatever SQS redelivers and however many learners run at once.
 *
 * Optimistic concurrency over immutable versions (infra/resources.ts, TABLES.model): read the head
 * version n (strongly consistent), skip the rewards whose decision ids the head remembers as applied,
 * apply the rest to the head's state, and write version n+1 with `attribute_not_exists`, the new state
 * and the remembered ids in one item. When another learner took n+1 first, read the new head and
 * apply the batch again on it: the ids it remembers now include whatever the winner applied from an
 * overlapping batch, so nothing is applied twice, and since the losing write left no trace, nothing is
 * lost. The policy learns from the head's state each attempt (learning is pure and in memory), so a
 * retry costs one read, the learning, and one write.
 *
 * A batch whose rewards are all known writes nothing. One model version per batch (up to 500 rewards):
 * the model write is amortised over the batch.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AnalystConfig } from '#config/schema.ts';
import { FEATURE_DIMENSION } from '#model/features.ts';
import { type LearnRow, PolicyLearner, type SerializedPolicy } from '#model/policy-learning.ts';
import { decodeFeatureRow, parseRewardMessage, type RewardMessage } from '../rewards/message.ts';
import { headOrFresh } from '../shared/model-store.ts';
import {
  APPLIED_CAPACITY,
  APPLIED_WINDOW_MS,
  type AppliedEntry,
  appliedEntry,
  appliedKey,
  decodeApplied,
  dedupHorizonMs,
  encodeApplied,
  fitApplied,
  MODEL_ITEM_BUDGET_BYTES,
  pruneApplied,
} from './applied-rewards.ts';
import { ModelItemTooLargeError, ModelVersionConflictError } from './errors.ts';

/** The part of the Powertools logger the learner uses. */
export type LearnerLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** One model version as the learner reads and writes it. */
export interface LearnerModelVersion {
  version: number;
  state: SerializedPolicy;
  /** encoded memory of applied decision ids (applied-rewards.ts) */
  appliedRewards?: Uint8Array;
}

/** What the learner needs of the model table. */
export interface LearnerModelStore {
  readonly modelId: string;
  /** the highest version, strongly consistent; undefined before the first */
  readHead(): Promise<LearnerModelVersion | undefined>;
  /** writes `next` only if its version does not exist yet; false when another writer has it */
  writeVersion(next: LearnerModelVersion & { policyVersion: string; createdAt: number }): Promise<boolean>;
}

export interface LearnerDeps {
  store: LearnerModelStore;
  config: AnalystConfig;
  /** injectable clock (ms since the epoch) */
  now: () => number;
  logger: LearnerLogger;
  /** read-apply-write attempts before the batch is handed back to SQS; default 8 */
  maxAttempts?: number;
  /** default APPLIED_CAPACITY */
  appliedCapacity?: number;
  /** default APPLIED_WINDOW_MS */
  appliedWindowMs?: number;
  /** warn when duplicates older than this could no longer be recognised; default 10 min */
  minDedupHorizonMs?: number;
  /** default MODEL_ITEM_BUDGET_BYTES */
  itemBudgetBytes?: number;
}

export interface RewardRecord {
  messageId: string;
  body: string;
}

export interface LearnFailure {
  messageId: string;
  reason: string;
  /** false for a message no redelivery can fix (it goes to the DLQ after maxReceiveCount) */
  retryable: boolean;
}

export interface LearnOutcome {
  failures: LearnFailure[];
  /** rewards applied to the model by this call */
  applied: number;
  /** valid rewards skipped because the model (or an earlier record of the batch) already had them */
  duplicates: number;
  /** the version this call wrote, if any */
  version?: number;
  /** writes lost to another learner and retried */
  conflicts: number;
}

interface ValidReward {
  messageId: string;
  message: RewardMessage;
  features: Float32Array;
}

/**
 * Applies a batch of reward messages to the model once each; returns the records that failed and why.
 * @example
 *   const outcome = await learnRewards(event.Records.map((r) => ({ messageId: r.messageId, body: r.body })), deps);
 *   return { batchItemFailures: outcome.failures.map((f) => ({ itemIdentifier: f.messageId })) };
 */
export async function learnRewards(records: readonly RewardRecord[], deps: LearnerDeps): Promise<LearnOutcome> {
  const outcome: LearnOutcome = { failures: [], applied: 0, duplicates: 0, conflicts: 0 };
  const byDecision = new Map<string, ValidReward>();
  for (const record of records) {
    const reward = readReward(record, outcome, deps.logger);
    if (!reward) continue;
    if (byDecision.has(reward.message.decisionId)) outcome.duplicates++;
    else byDecision.set(reward.message.decisionId, reward);
  }
  const rewards = [...byDecision.values()];
  if (rewards.length === 0) return outcome;

  const maxAttempts = deps.maxAttempts ?? 8;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const head = await deps.store.readHead();
    const nowMs = deps.now();
    const applied = decodeApplied(head?.appliedRewards);
    const known = new Set(applied.map(appliedKey));
    const fresh = rewards.filter((r) => !known.has(appliedKey(appliedEntry(r.message.decisionId, nowMs))));
    if (fresh.length === 0) {
      outcome.duplicates += rewards.length;
      return outcome;
    }
    const next = learnOnHead(head, fresh, applied, nowMs, deps);
    if (await deps.store.writeVersion(next)) {
      outcome.applied = fresh.length;
      outcome.duplicates += rewards.length - fresh.length;
      outcome.version = next.version;
      deps.logger.info('model version written', {
        modelId: deps.store.modelId,
        version: next.version,
        applied: fresh.length,
        duplicates: outcome.duplicates,
        conflicts: outcome.conflicts,
      });
      return outcome;
    }
    outcome.conflicts++;
  }
  const error = new ModelVersionConflictError(deps.store.modelId, maxAttempts);
  deps.logger.warn('model update abandoned; rewards handed back for redelivery', {
    modelId: deps.store.modelId,
    detail: error.message,
  });
  for (const r of rewards) outcome.failures.push({ messageId: r.messageId, reason: 'model_conflict', retryable: true });
  return outcome;
}

function readReward(record: RewardRecord, outcome: LearnOutcome, logger: LearnerLogger): ValidReward | undefined {
  const refuse = (reason: string) => {
    logger.warn('invalid reward record', { messageId: record.messageId, reason });
    outcome.failures.push({ messageId: record.messageId, reason, retryable: false });
    return undefined;
  };
  const parsed = parseRewardMessage(record.body);
  if (!parsed.ok) return refuse(parsed.reason);
  let features: Float32Array;
  try {
    features = decodeFeatureRow(parsed.value.features);
  } catch {
    return refuse('features is not a Float32 row');
  }
  // a row of another feature layout would teach the model the wrong weights
  if (features.length !== FEATURE_DIMENSION) {
    return refuse(`features has ${features.length} values, the model expects ${FEATURE_DIMENSION}`);
  }
  if (!features.every(Number.isFinite)) return refuse('features holds a non-finite value');
  return { messageId: record.messageId, message: parsed.value, features };
}

/** The policy of the head (or a fresh one), with the fresh rewards learned: the next version to write. */
function learnOnHead(
  head: LearnerModelVersion | undefined,
  fresh: readonly ValidReward[],
  applied: readonly AppliedEntry[],
  nowMs: number,
  deps: LearnerDeps,
): LearnerModelVersion & { policyVersion: string; createdAt: number } {
  const policy = loadPolicy(head, deps);
  const rows: LearnRow[] = fresh.map((r) => ({ features: r.features, reward: r.message.reward }));
  policy.learn(rows);
  const state = policy.serialize();
  const version = (head?.version ?? 0) + 1;
  const stateBytes = Buffer.byteLength(JSON.stringify(state));
  const budget = deps.itemBudgetBytes ?? MODEL_ITEM_BUDGET_BYTES;
  const room = fitApplied(stateBytes, budget);
  if (room < fresh.length) throw new ModelItemTooLargeError(deps.store.modelId, stateBytes, budget);
  const windowMs = deps.appliedWindowMs ?? APPLIED_WINDOW_MS;
  const capacity = Math.min(deps.appliedCapacity ?? APPLIED_CAPACITY, room);
  // newest first: within a minute, the entries kept are this batch's
  const all = [...fresh.map((r) => appliedEntry(r.message.decisionId, nowMs)), ...applied];
  const inWindow = pruneApplied(all, nowMs, { capacity: Number.POSITIVE_INFINITY, windowMs });
  const kept = inWindow.slice(0, capacity);
  const horizon = dedupHorizonMs(kept, inWindow.length > kept.length, nowMs, windowMs);
  const minHorizon = deps.minDedupHorizonMs ?? 600_000;
  if (horizon < minHorizon) {
    deps.logger.warn('applied-reward memory reaches back less than the redelivery horizon', {
      modelId: deps.store.modelId,
      horizonMs: horizon,
      wantedMs: minHorizon,
      capacity,
    });
  }
  return {
    version,
    state,
    appliedRewards: encodeApplied(kept),
    policyVersion: policy.version,
    createdAt: nowMs,
  };
}

function loadPolicy(head: LearnerModelVersion | undefined, deps: LearnerDeps): PolicyLearner {
  return headOrFresh(
    head,
    (state) => PolicyLearner.load(deps.config, state),
    () => PolicyLearner.create(deps.config),
    (error, incompatible) =>
      deps.logger.warn('model state incompatible with the config; the next version starts a new learner', {
        modelId: deps.store.modelId,
        version: incompatible.version,
        detail: error.message,
      }),
  );
}
