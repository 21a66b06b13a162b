/**
 * The rewards queue contract: one message per closed decision, from window closing to the learner.
 *
 * `features` is the decision's logged feature row exactly as the decision item stores it (base64 of
 * little-endian Float32), so the learner updates with the very row the policy scored. `decisionId` is the
 * learner's deduplication key: a message sent twice (SQS redelivery, or a closer that died between
 * sending and closing) is applied once.
 */
import * as z from 'zod';

export const REWARD_MESSAGE_FORMAT = 'reward/1';

export const RewardMessageSchema = z.object({
  format: z.literal(REWARD_MESSAGE_FORMAT),
  decisionId: z.string().min(1).max(512),
  /** base64 of little-endian Float32: the chosen arm's feature row */
  features: z.base64().min(4),
  /** engagement reward by the config's weights and combine (the learner subtracts the channel cost) */
  reward: z.number().finite(),
  /** the event types the reward was computed from (for logs and audits) */
  events: z.array(z.string().max(64)).max(32),
  /** the policy version that made the decision (off-policy bookkeeping) */
  policyVersion: z.string().max(256),
  /** config version whose weights computed the reward */
  rewardConfigVersion: z.string().max(64),
  /** when the window was closed, epoch ms */
  closedAt: z.number().int().nonnegative(),
});
export type RewardMessage = z.infer<typeof RewardMessageSchema>;

export type ParsedRewardMessage = { ok: true; value: RewardMessage } | { ok: false; reason: string };

/**
 * Reads one rewards-queue body; the reason names the failing field, never a value.
 * @example const parsed = parseRewardMessage(record.body); if (parsed.ok) learnFrom(parsed.value);
 */
export function parseRewardMessage(body: string): ParsedRewardMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const parsed = RewardMessageSchema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `${issue.path.map(String).join('.') || '(root)'} ${issue.message}` };
}

/**
 * The feature row of a message as Float32Array (copied: the base64 buffer may be unaligned).
 * @example decodeFeatureRow(message.features).length // FEATURE_DIMENSION
 */
export function decodeFeatureRow(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % 4 !== 0) throw new RangeError(`feature row of ${bytes.byteLength} bytes is not Float32`);
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

/**
 * base64 of a feature row as little-endian Float32 (the decision item's encoding).
 * @example encodeFeatureRow(decision.features)
 */
export function encodeFeatureRow(row: ArrayLike<number>): string {
  const f = Float32Array.from(row);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}
