/**
 * The learner's memory of the rewards it applied, kept inside each model version, so a redelivered
 * reward (SQS at-least-once, or a closer that died between sending and closing) is skipped without
 * any write of its own. Same encoding as ingest's memory of event ids (lambdas/ingest/user-item.ts):
 * 12 bytes per decision id, a 64-bit hash plus the minute it was applied.
 *
 * How long ids must be remembered: a reward is redelivered after its queue's visibility timeout
 * (rewards: 365 s) or resent by the next sweep, so minutes. The memory keeps ids for `windowMs` and at
 * most `capacity` of them; with the defaults (1 h, 8192 ids = 96 KiB) that covers 365 s at up to ~22
 * rewards/s. Above that rate the oldest ids are evicted before their redelivery horizon; the learner
 * logs the horizon it kept (see `dedupHorizonMs`) so the shortfall is visible, and capacity can be raised
 * as long as the item stays under DynamoDB's 400 KB (`fitApplied` enforces that).
 */
import { decodeSeen, encodeSeen, fingerprint, type SeenEntry, seenKey } from '#lambdas/ingest/user-item.ts';

export type AppliedEntry = SeenEntry;

export const APPLIED_CAPACITY = 8192;
export const APPLIED_WINDOW_MS = 3_600_000;
export const APPLIED_ENTRY_BYTES = 12;
/** DynamoDB's item limit is 400 KB; keep a margin for attribute names and the other small attributes. */
export const MODEL_ITEM_BUDGET_BYTES = 390_000;

export { decodeSeen as decodeApplied, encodeSeen as encodeApplied, seenKey as appliedKey };

/**
 * The entry recording that `decisionId`'s reward was applied at `appliedAtMs`.
 * @example appliedEntry('dec_req-1', Date.now())
 */
export function appliedEntry(decisionId: string, appliedAtMs: number): AppliedEntry {
  return fingerprint(decisionId, appliedAtMs);
}

/**
 * Keeps the newest entries: none older than `windowMs` before `nowMs`, at most `capacity`. Pass them
 * newest first: entries of the same minute keep their order, so the first ones are the ones kept.
 * @example pruneApplied(entries, Date.now(), { capacity: 8192, windowMs: 3_600_000 })
 */
export function pruneApplied(
  entries: readonly AppliedEntry[],
  nowMs: number,
  options: { capacity: number; windowMs: number },
): AppliedEntry[] {
  const horizon = Math.floor((nowMs - options.windowMs) / 60_000);
  return entries
    .filter((e) => e.minute >= horizon)
    .sort((a, b) => b.minute - a.minute)
    .slice(0, Math.max(0, options.capacity));
}

/**
 * How many entries fit in a model item next to `otherBytes` of state, under the item budget.
 * @example fitApplied(20_000) // 30_833
 */
export function fitApplied(otherBytes: number, budgetBytes: number = MODEL_ITEM_BUDGET_BYTES): number {
  return Math.max(0, Math.floor((budgetBytes - otherBytes) / APPLIED_ENTRY_BYTES));
}

/**
 * How far back the kept entries reach (ms), i.e. the age of the oldest, or `windowMs` when nothing was
 * evicted for capacity (the memory then covers its whole window).
 * @example dedupHorizonMs(kept, evictedForCapacity, Date.now(), 3_600_000)
 */
export function dedupHorizonMs(
  kept: readonly AppliedEntry[],
  evictedForCapacity: boolean,
  nowMs: number,
  windowMs: number,
): number {
  if (!evictedForCapacity || kept.length === 0) return windowMs;
  const oldest = kept[kept.length - 1].minute * 60_000;
  return Math.max(0, nowMs - oldest);
}
