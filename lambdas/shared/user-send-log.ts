/**
 * The users item's send log: every send scheduled or made for the user, `{decisionId, channel, at}`, the
 * frequency caps' memory (docs/serving-loop.md). Decide appends to it before it writes a decision, so two
 * decisions for one user, in two Lambdas at once, cannot both take the last unit of a cap: the write is
 * conditional on the log's own version `slv` (ingest writes other attributes of the item and never
 * touches these two). Dispatch removes the entry of a send that was stopped or failed.
 *
 * Entries are keyed by decision id, so writing the entry of a decision again (a redelivered request)
 * replaces it instead of counting the send twice.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { RecentSends } from '#model/guardrails.ts';
import { CHANNELS } from '#model/user-state.ts';
import type { StoredUserItem } from '../ingest/user-item.ts';

export interface SendLogEntry {
  decisionId: string;
  channel: ChannelName;
  /** send instant, epoch ms (scheduled or made) */
  at: number;
}

/** The users item as decide and dispatch read it: ingest's attributes plus the send log. */
export type UserItemWithSendLog = StoredUserItem & { sendLog?: SendLogEntry[]; slv?: number };

/**
 * The longest frequency-cap window of a config, ms: older entries can no longer block anything.
 * @example capHorizonMs(config) // 604_800_000 for a 7-day cap
 */
export function capHorizonMs(config: AnalystConfig): number {
  const caps = config.guardrails.frequencyCaps;
  const hours = [caps.global.perHours, ...Object.values(caps.perChannel).map((c) => c?.perHours ?? 0)];
  return Math.max(...hours) * 3_600_000;
}

/**
 * The sends that count against caps, per channel, leaving out one decision's own entry (a decision is
 * never capped by itself, e.g. when it is decided or re-checked again).
 * @example recentSendsFrom(item.sendLog, 'dec_req-1') // { push: [1762084800000] }
 */
export function recentSendsFrom(log: readonly SendLogEntry[] | undefined, exceptDecisionId?: string): RecentSends {
  const sends: Partial<Record<ChannelName, number[]>> = {};
  for (const entry of log ?? []) {
    if (entry.decisionId === exceptDecisionId) continue;
    const list = sends[entry.channel] ?? [];
    list.push(entry.at);
    sends[entry.channel] = list;
  }
  return sends;
}

/**
 * The user's contact endpoints per channel, from the users item.
 * @example contactEndpoints(item).email // the address, or undefined
 */
export function contactEndpoints(item: StoredUserItem | undefined): Partial<Record<ChannelName, string>> {
  const nonEmpty = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  return { email: nonEmpty(item?.email), sms: nonEmpty(item?.phone), push: nonEmpty(item?.pushEndpointArn) };
}

/** Channels the user has an endpoint for. */
export function reachableChannels(item: StoredUserItem | undefined): ChannelName[] {
  const endpoints = contactEndpoints(item);
  return CHANNELS.filter((c) => endpoints[c] !== undefined);
}

/**
 * The log with `entries` written in (replacing entries of the same decisions) and `remove` taken out,
 * without entries older than the cap horizon.
 */
export function nextSendLog(
  log: readonly SendLogEntry[] | undefined,
  change: { put?: readonly SendLogEntry[]; remove?: readonly string[] },
  nowMs: number,
  horizonMs: number,
): SendLogEntry[] {
  const replaced = new Set([...(change.put ?? []).map((e) => e.decisionId), ...(change.remove ?? [])]);
  const kept = (log ?? []).filter((e) => !replaced.has(e.decisionId) && e.at >= nowMs - horizonMs);
  return [...kept, ...(change.put ?? [])].sort((a, b) => a.at - b.at);
}

/**
 * Writes the send log if nobody else wrote it since `read` (its `slv`); false on a conflict, when the
 * caller reads again and decides again.
 * @example if (!(await writeSendLog(doc, table, userId, read, next))) retry();
 */
export async function writeSendLog(
  doc: DynamoDBDocumentClient,
  usersTable: string,
  userId: string,
  read: Pick<UserItemWithSendLog, 'slv'> | undefined,
  log: readonly SendLogEntry[],
): Promise<boolean> {
  const prev = read?.slv;
  try {
    await doc.send(
      new UpdateCommand({
        TableName: usersTable,
        Key: { userId },
        UpdateExpression: 'SET #log = :log, #slv = :next',
        ConditionExpression: prev === undefined ? 'attribute_not_exists(#slv)' : '#slv = :prev',
        ExpressionAttributeNames: { '#log': 'sendLog', '#slv': 'slv' },
        ExpressionAttributeValues: {
          ':log': log,
          ':next': (prev ?? 0) + 1,
          ...(prev !== undefined && { ':prev': prev }),
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Makes a decision's entry in the user's send log `entry`, or takes it out when `entry` is undefined
 * (a send stopped or failed no longer counts against caps; a redelivered request must leave the entry
 * of the decision that stands). Read-modify-write under `slv`, retried on conflict. Returns whether it
 * wrote anything.
 * @example await setSendLogEntry(doc, usersTable, 'u-1', 'dec_req-1', undefined, config, Date.now());
 */
export async function setSendLogEntry(
  doc: DynamoDBDocumentClient,
  usersTable: string,
  userId: string,
  decisionId: string,
  entry: SendLogEntry | undefined,
  config: AnalystConfig,
  nowMs: number,
  attempts = 5,
): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const { Item } = await doc.send(
      new GetCommand({
        TableName: usersTable,
        Key: { userId },
        ConsistentRead: true,
        ProjectionExpression: 'sendLog, slv',
      }),
    );
    const item = Item as UserItemWithSendLog | undefined;
    const current = item?.sendLog?.find((e) => e.decisionId === decisionId);
    if (!current && !entry) return false;
    if (current && entry && current.channel === entry.channel && current.at === entry.at) return false;
    const change = entry ? { put: [entry] } : { remove: [decisionId] };
    const next = nextSendLog(item?.sendLog, change, nowMs, capHorizonMs(config));
    if (await writeSendLog(doc, usersTable, userId, item, next)) return true;
  }
  throw new SendLogConflictError(userId, attempts);
}

/** The send log kept changing under us: the caller retries later (SQS redelivery). */
export class SendLogConflictError extends Error {
  constructor(
    readonly userId: string,
    readonly attempts: number,
  ) {
    super(`send log of user ${userId} changed under ${attempts} attempts in a row`);
    this.name = 'SendLogConflictError';
  }
}
