/**
 * The decision log: one JSON line per decision item, what `sto export` writes and `sto evaluate` /
 * `sto report` read. A row holds everything off-policy evaluation needs (the chosen arm, its propensity,
 * the policy and config versions, the decision's whole input, the outcome and the reward) and nothing an
 * analyst must not see: never the notification's `content`, never the deferred `request` (which carries
 * the content), never an email address, phone number or push endpoint (the decision item holds none).
 * Rows are built field by field from an allow-list, so an attribute added to the item later stays out of
 * the log until someone adds it here on purpose.
 *
 * Format `decision-log/1`. Instants are ISO 8601 strings in UTC with milliseconds (exact for the epoch-ms
 * integers the item stores), except `input.recentSends`, which keeps the epoch ms the guardrails read.
 * Binary attributes are base64: `features` (the chosen arm's Float32 feature row) and `input.hist` (the
 * user's 168-hour engagement histogram, Float32).
 *
 * Export reads the table with a **Scan**: see exportDecisionLog for what that costs.
 */
import { type DynamoDBDocumentClient, type NativeAttributeValue, ScanCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { ChannelName } from '#config/schema.ts';
import { ARM_BLOCK_REASONS, type ArmBlockReason } from '#model/guardrails.ts';
import type { PolicyName } from '#model/policy.ts';
import type { RewardSettings } from '#model/reward.ts';
import { CHANNELS } from '#model/user-state.ts';
import { settledReward } from '../rewards/close.ts';
import {
  DECISION_STATUSES,
  type DecisionItem,
  type DecisionStatus,
  type StoredDecisionContext,
  type StoredDecisionInput,
} from './decision-item.ts';

export const DECISION_LOG_FORMAT = 'decision-log/1';

/** One line of the decision log (JSON). Optional fields are absent, never null. */
export interface DecisionLogRow {
  format: typeof DECISION_LOG_FORMAT;
  decisionId: string;
  requestId: string;
  userId: string;
  campaignId: string;
  kind: string;
  status: DecisionStatus;
  /** ISO instant the decision was made */
  decidedAt: string;
  policyName: PolicyName;
  policyVersion: string;
  configVersion: string;
  holdout: boolean;
  channel?: ChannelName;
  slotIndex?: number;
  armIndex?: number;
  /** ISO instant the send was scheduled for */
  sendAt?: string;
  timeZone?: string;
  /** probability the logging policy had of choosing this arm, in (0, 1] */
  propensity?: number;
  explored?: boolean;
  allowedArms?: number;
  /** base64 little-endian Float32 feature row of the chosen arm */
  features?: string;
  /** what the policy saw: the user's decayed state, histogram (base64 Float32), recent sends (epoch ms), reachable channels */
  input: {
    st: StoredDecisionInput['st'];
    hist: string;
    recentSends: Partial<Record<ChannelName, number[]>>;
    reachable: ChannelName[];
  };
  /** the request's side: window (ISO), allowed channels, quiet-hours exemption, priority */
  context: {
    window: { notBefore: string; notAfter: string };
    allowedChannels: ChannelName[];
    ignoreQuietHours?: boolean;
    priority?: 'normal' | 'high';
  };
  /** no arm was allowed: how many arms each guardrail masked */
  noArmReasons?: Partial<Record<ArmBlockReason, number>>;
  /** dispatch's re-check stopped the send (consent, cap, quiet hours, window) */
  stopReason?: string;
  /** the provider refused the send for good */
  failureReason?: string;
  /** ISO instant the provider accepted the send (or was last asked, for maybe_sent) */
  sentAt?: string;
  /** engagement reward by the config's weights in force at closing, before channel cost; final once rewardClosed */
  reward?: number;
  /** engagement event types counted on the decision within its attribution window, sorted */
  rewardEvents?: string[];
  /** the attribution window has closed: `reward` is final */
  rewardClosed?: boolean;
}

/**
 * What a log row gives back: the decision item's attributes minus the ones never exported, with
 * everything `decisionInput` (decision-item.ts) needs to rebuild the DecideInput the decision was made from.
 */
export type LoggedDecision = Pick<
  DecisionItem,
  | 'decisionId'
  | 'requestId'
  | 'userId'
  | 'campaignId'
  | 'kind'
  | 'status'
  | 'decidedAt'
  | 'policyName'
  | 'policyVersion'
  | 'configVersion'
  | 'holdout'
  | 'context'
  | 'input'
> &
  Partial<
    Pick<
      DecisionItem,
      | 'channel'
      | 'slotIndex'
      | 'armIndex'
      | 'sendAt'
      | 'timeZone'
      | 'propensity'
      | 'explored'
      | 'allowedArms'
      | 'features'
      | 'noArmReasons'
      | 'stopReason'
      | 'failureReason'
      | 'sentAt'
      | 'reward'
      | 'rewardEvents'
      | 'rewardClosed'
      | 'windowEndsAt'
    >
  >;

const iso = (ms: number) => new Date(ms).toISOString();

function base64(bytes: Uint8Array | undefined): string {
  if (!bytes) return '';
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Copies only the keys that are set: a row has no `undefined` and no `null` fields. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as T;
}

/** How a row's reward is settled from the counted events (the closer writes no reward on the item). */
export interface RewardSettlement {
  /** config.reward: weights and combine */
  reward: Pick<RewardSettings, 'weights' | 'combine'>;
  /** the export's instant, epoch ms: a window is final once its end plus the grace is before it */
  now: number;
  /** default DEFAULT_LATE_EVENT_GRACE_MS (attribution's) */
  lateEventGraceMs?: number;
}

/**
 * The log row of a decision item (as the DocumentClient returns it, or as decisionItem() builds it).
 * Content, the deferred request and every attribute not listed in DecisionLogRow are left out.
 * With `settlement`, `reward` and `rewardClosed` come from the counted events (settledReward, as the
 * closer computes them); without, from the item's own `reward` / `rewardClosed` if it has them.
 * @example const row = toDecisionLogRow(item, { reward: config.reward, now: Date.now() });
 */
export function toDecisionLogRow(item: LoggedDecision | DecisionItem, settlement?: RewardSettlement): DecisionLogRow {
  const settled = settlement
    ? settledReward(item, settlement.reward, settlement.now, settlement.lateEventGraceMs)
    : { closed: item.rewardClosed, reward: item.reward };
  const recentSends: Partial<Record<ChannelName, number[]>> = {};
  for (const c of CHANNELS) {
    const at = item.input.recentSends?.[c];
    if (at) recentSends[c] = [...at].map(Number);
  }
  return defined<DecisionLogRow>({
    format: DECISION_LOG_FORMAT,
    decisionId: item.decisionId,
    requestId: item.requestId,
    userId: item.userId,
    campaignId: item.campaignId,
    kind: item.kind,
    status: item.status,
    decidedAt: iso(Number(item.decidedAt)),
    policyName: item.policyName,
    policyVersion: item.policyVersion,
    configVersion: item.configVersion,
    holdout: item.holdout === true,
    channel: item.channel,
    slotIndex: item.slotIndex,
    armIndex: item.armIndex,
    sendAt: item.sendAt === undefined ? undefined : iso(Number(item.sendAt)),
    timeZone: item.timeZone,
    propensity: item.propensity,
    explored: item.explored,
    allowedArms: item.allowedArms,
    features: item.features,
    input: {
      st: item.input.st,
      hist: base64(item.input.hist),
      recentSends,
      reachable: [...item.input.reachable],
    },
    context: defined({
      window: {
        notBefore: iso(Number(item.context.window.notBeforeMs)),
        notAfter: iso(Number(item.context.window.notAfterMs)),
      },
      allowedChannels: [...item.context.allowedChannels],
      ignoreQuietHours: item.context.ignoreQuietHours || undefined,
      priority: item.context.priority,
    }),
    noArmReasons: item.noArmReasons ? { ...item.noArmReasons } : undefined,
    stopReason: item.stopReason,
    failureReason: item.failureReason,
    sentAt: item.sentAt === undefined ? undefined : iso(Number(item.sentAt)),
    reward: settled.reward,
    rewardEvents: item.rewardEvents ? [...item.rewardEvents].sort() : undefined,
    rewardClosed: settled.closed || undefined,
  });
}

const parseIso = (text: string) => Date.parse(text);

/**
 * A decision as decide stored it, back from its log row: `decisionInput(fromDecisionLogRow(row))` is the
 * DecideInput the decision was made from, so a policy can be replayed on it.
 * @example const input = decisionInput(fromDecisionLogRow(JSON.parse(line)));
 */
export function fromDecisionLogRow(row: DecisionLogRow): LoggedDecision {
  const hist = Buffer.from(row.input.hist, 'base64');
  const context: StoredDecisionContext = {
    window: { notBeforeMs: parseIso(row.context.window.notBefore), notAfterMs: parseIso(row.context.window.notAfter) },
    allowedChannels: [...row.context.allowedChannels],
    ...(row.context.ignoreQuietHours && { ignoreQuietHours: true }),
    ...(row.context.priority && { priority: row.context.priority }),
  };
  return defined<LoggedDecision>({
    decisionId: row.decisionId,
    requestId: row.requestId,
    userId: row.userId,
    campaignId: row.campaignId,
    kind: row.kind,
    status: row.status,
    decidedAt: parseIso(row.decidedAt),
    policyName: row.policyName,
    policyVersion: row.policyVersion,
    configVersion: row.configVersion,
    holdout: row.holdout,
    context,
    input: {
      st: row.input.st,
      hist: new Uint8Array(hist.buffer, hist.byteOffset, hist.byteLength),
      recentSends: Object.fromEntries(Object.entries(row.input.recentSends).map(([c, at]) => [c, [...(at ?? [])]])),
      reachable: [...row.input.reachable],
    },
    channel: row.channel,
    slotIndex: row.slotIndex,
    armIndex: row.armIndex,
    sendAt: row.sendAt === undefined ? undefined : parseIso(row.sendAt),
    timeZone: row.timeZone,
    propensity: row.propensity,
    explored: row.explored,
    allowedArms: row.allowedArms,
    features: row.features,
    noArmReasons: row.noArmReasons,
    stopReason: row.stopReason,
    failureReason: row.failureReason,
    sentAt: row.sentAt === undefined ? undefined : parseIso(row.sentAt),
    reward: row.reward,
    rewardEvents: row.rewardEvents ? new Set(row.rewardEvents) : undefined,
    rewardClosed: row.rewardClosed,
  });
}

// --- validation of rows read back from a file -------------------------------------------------------------

const channel = z.enum(CHANNELS as [ChannelName, ...ChannelName[]]);
const instant = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 instant, e.g. 2026-07-01T12:00:00.000Z' });
const base64Text = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'must be base64' });

/**
 * The zod schema of a row (strict: an unknown field is refused, so a misspelt one cannot be silently
 * ignored). `input.st` is checked for shape only where replay reads it.
 */
export const DecisionLogRowSchema = z.strictObject({
  format: z.literal(DECISION_LOG_FORMAT, { error: `must be '${DECISION_LOG_FORMAT}'` }),
  decisionId: z.string().min(1),
  requestId: z.string().min(1),
  userId: z.string().min(1),
  campaignId: z.string(),
  kind: z.string(),
  status: z.enum(DECISION_STATUSES),
  decidedAt: instant,
  policyName: z.enum(['bandit', 'heuristic', 'fixed-hour', 'random', 'oracle']),
  policyVersion: z.string(),
  configVersion: z.string(),
  holdout: z.boolean(),
  channel: channel.optional(),
  slotIndex: z.int().min(0).optional(),
  armIndex: z.int().min(0).optional(),
  sendAt: instant.optional(),
  timeZone: z.string().optional(),
  propensity: z.number().gt(0, { error: 'must be in (0, 1]' }).lte(1, { error: 'must be in (0, 1]' }).optional(),
  explored: z.boolean().optional(),
  allowedArms: z.int().min(0).optional(),
  features: base64Text.optional(),
  input: z.strictObject({
    st: z.looseObject({}).optional(),
    hist: base64Text,
    recentSends: z.partialRecord(channel, z.array(z.number())),
    reachable: z.array(channel),
  }),
  context: z.strictObject({
    window: z.strictObject({ notBefore: instant, notAfter: instant }),
    allowedChannels: z.array(channel),
    ignoreQuietHours: z.boolean().optional(),
    priority: z.enum(['normal', 'high']).optional(),
  }),
  noArmReasons: z.partialRecord(z.enum(ARM_BLOCK_REASONS), z.number()).optional(),
  stopReason: z.string().optional(),
  failureReason: z.string().optional(),
  sentAt: instant.optional(),
  reward: z.number().optional(),
  rewardEvents: z.array(z.string()).optional(),
  rewardClosed: z.boolean().optional(),
});

export type DecisionLogRowProblem = { path: string; reason: string };

/**
 * Validates one parsed line; returns the row or every problem with its field path.
 * @example const result = parseDecisionLogRow(JSON.parse(line)); if (!result.ok) report(result.problems);
 */
export function parseDecisionLogRow(
  value: unknown,
): { ok: true; row: DecisionLogRow } | { ok: false; problems: DecisionLogRowProblem[] } {
  const result = DecisionLogRowSchema.safeParse(value);
  if (result.success) return { ok: true, row: result.data as DecisionLogRow };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => ({
      path: issue.path.length ? issue.path.map(String).join('.') : '(row)',
      reason: issue.message,
    })),
  };
}

// --- export ----------------------------------------------------------------------------------------------

/** Attributes an export reads: the allow-list of DecisionLogRow, so content never leaves the table. */
const EXPORTED_ATTRIBUTES = [
  'decisionId',
  'requestId',
  'userId',
  'campaignId',
  'kind',
  'status',
  'decidedAt',
  'policyName',
  'policyVersion',
  'configVersion',
  'holdout',
  'channel',
  'slotIndex',
  'armIndex',
  'sendAt',
  'timeZone',
  'propensity',
  'explored',
  'allowedArms',
  'features',
  'input',
  'context',
  'noArmReasons',
  'stopReason',
  'failureReason',
  'sentAt',
  'reward',
  'rewardEvents',
  'rewardClosed',
  'windowEndsAt',
] as const;

export interface ExportDecisionLogOptions {
  doc: DynamoDBDocumentClient;
  decisionsTable: string;
  /** first decision instant included (epoch ms or Date) */
  from: number | Date;
  /** first decision instant excluded: the range is [from, to) */
  to: number | Date;
  /** items DynamoDB evaluates per Scan page (Limit); default: as many as fit in 1 MB */
  pageSize?: number;
  /** called after every page with what it cost (progress, cost accounting) */
  onPage?: (page: { scanned: number; returned: number; consumedCapacity?: number }) => void;
  /** rewards from the counted events by these weights (toDecisionLogRow); without, only stored rewards */
  settlement?: RewardSettlement;
}

/**
 * Every decision made in [from, to), as log rows, page by page (an async iterable: memory stays at one
 * page whatever the table size; rows come in table order, not time order).
 *
 * Cost: this is a **Scan with a FilterExpression on decidedAt**. DynamoDB reads every item of the table and
 * drops the ones outside the range after reading them, so an export costs the whole table's size in read
 * capacity whatever the range: eventually consistent, half a read request unit per 4 KB read, i.e. about
 * 131,000 RRU per GB of table (an item here is about 2 KB: roughly 250 RRU per 1,000 decisions stored).
 * The projection keeps content out of the response but does not lower the read cost. Run it off-peak on a
 * provisioned table, or, for tables of many GB, use DynamoDB's export to S3 (from point-in-time recovery,
 * which consumes no read capacity) and convert those items with toDecisionLogRow.
 * @example
 *   for await (const row of exportDecisionLog({ doc, decisionsTable, from: Date.parse('2026-07-01'), to: Date.now() })) {
 *     out.write(`${JSON.stringify(row)}\n`);
 *   }
 */
export async function* exportDecisionLog(options: ExportDecisionLogOptions): AsyncGenerator<DecisionLogRow> {
  const from = Number(options.from instanceof Date ? options.from.getTime() : options.from);
  const to = Number(options.to instanceof Date ? options.to.getTime() : options.to);
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new RangeError('from and to must be instants');
  if (!(from < to)) throw new RangeError(`the range [${iso(from)}, ${iso(to)}) is empty: from must be before to`);
  const names = Object.fromEntries(EXPORTED_ATTRIBUTES.map((a, i) => [`#a${i}`, a]));
  const decidedAt = `#a${EXPORTED_ATTRIBUTES.indexOf('decidedAt')}`;
  let startKey: Record<string, NativeAttributeValue> | undefined;
  do {
    const page = await options.doc.send(
      new ScanCommand({
        TableName: options.decisionsTable,
        ProjectionExpression: Object.keys(names).join(', '),
        FilterExpression: `${decidedAt} >= :from AND ${decidedAt} < :to`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':from': from, ':to': to },
        ExclusiveStartKey: startKey,
        ReturnConsumedCapacity: 'TOTAL',
        ...(options.pageSize && { Limit: options.pageSize }),
      }),
    );
    const items = (page.Items ?? []) as LoggedDecision[];
    options.onPage?.({
      scanned: page.ScannedCount ?? 0,
      returned: items.length,
      consumedCapacity: page.ConsumedCapacity?.CapacityUnits,
    });
    for (const item of items) yield toDecisionLogRow(item, options.settlement);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
