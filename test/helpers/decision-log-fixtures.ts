/**
 * Decision items as decide writes them (decisionItem() over real policy decisions), for the decision-log
 * export, `sto evaluate` and `sto report` tests: users with consents, a time zone and some engagement
 * history, requests with content (which must never reach a log), outcomes and closed rewards.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { NotificationRequest } from '#events/index.ts';
import { type DecisionItem, decisionItem } from '#lambdas/shared/decision-item.ts';
import { type DecisionLogRow, toDecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { randomPolicy } from '#model/heuristic.ts';
import type { DecideInput, NotificationPolicy } from '#model/policy.ts';
import { Rng } from '#model/random.ts';
import { emptyUserState, type UserState } from '#model/user-state.ts';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Wednesday 2026-07-01 12:00 UTC */
export const LOG_START = Date.parse('2026-07-01T12:00:00Z');
/** A string that must never appear in an exported log: it sits in every request's content. */
export const SECRET_CONTENT = 'SECRET-CONTENT-do-not-export';

const ZONES = ['America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'UTC'];
const CHANNELS: ChannelName[] = ['email', 'push', 'sms'];

/** A user with every channel consented and a little history, drawn from `rng`. */
export function fixtureUser(id: string, rng: Rng, nowMs: number): UserState {
  const user: UserState = {
    ...emptyUserState(id),
    timeZone: ZONES[rng.int(ZONES.length)],
    consent: { email: { optedIn: true }, push: { optedIn: true }, sms: { optedIn: true } },
    decayRefMs: nowMs - rng.int(5) * HOUR,
    firstSeenMs: nowMs - 30 * DAY,
  };
  for (let i = 0; i < 6; i++) user.engagementByHourOfWeek[rng.int(168)] += 0.5 + rng.next();
  for (const c of CHANNELS) {
    const sends = rng.int(6);
    user.channels[c] = { sends, opens: Math.min(sends, rng.int(3)), clicks: 0 };
  }
  return user;
}

/** A request with content for every channel (the secret marker in each). */
export function fixtureRequest(id: string, userId: string, nowMs: number, hours = 30): NotificationRequest {
  return {
    schemaVersion: 1,
    id,
    type: 'notification_requested',
    userId,
    occurredAt: new Date(nowMs).toISOString(),
    campaignId: 'campaign-weekly',
    kind: 'promotional',
    content: {
      email: { subject: 'Weekly picks', html: `<p>${SECRET_CONTENT}</p>`, text: SECRET_CONTENT },
      push: { title: 'Weekly picks', body: SECRET_CONTENT },
      sms: { text: SECRET_CONTENT },
    },
    allowedChannels: [...CHANNELS],
    window: {
      notBefore: new Date(nowMs).toISOString(),
      notAfter: new Date(nowMs + hours * HOUR).toISOString(),
    },
  } as NotificationRequest;
}

export interface FixtureLogOptions {
  config: AnalystConfig;
  /** decisions to make */
  count: number;
  /** instant of the first decision; the others follow every `spacingMs` */
  startMs?: number;
  spacingMs?: number;
  /** distinct users the decisions go to (round robin) */
  users?: number;
  seed?: number;
  /** the logging policy; default uniform random over the allowed arms */
  policy?: NotificationPolicy;
  /** whether decision i is in the holdout; default none */
  holdout?: (i: number) => boolean;
  /** the engagement reward of decision i once sent (default: a draw from {0, 0.3, 1}) */
  reward?: (i: number, item: DecisionItem, rng: Rng) => number;
}

export interface FixtureDecision {
  item: DecisionItem;
  input: DecideInput;
}

/**
 * Decision items from real decisions, sent and rewarded (status 'sent', rewardClosed) unless no arm was
 * allowed. Deterministic for a seed.
 * @example const log = fixtureDecisions({ config, count: 50 }); const rows = log.map((d) => toDecisionLogRow(d.item));
 */
export function fixtureDecisions(options: FixtureLogOptions): FixtureDecision[] {
  const { config, count } = options;
  const start = options.startMs ?? LOG_START;
  const spacing = options.spacingMs ?? HOUR;
  const rng = new Rng(options.seed ?? 1);
  const policy = options.policy ?? randomPolicy(config);
  const userCount = options.users ?? Math.max(1, Math.ceil(count / 3));
  const users = Array.from({ length: userCount }, (_, u) => fixtureUser(`user-${u}`, rng, start));
  const out: FixtureDecision[] = [];
  for (let i = 0; i < count; i++) {
    const nowMs = start + i * spacing;
    const user = users[i % userCount];
    const request = fixtureRequest(`req-${i}`, user.userId, nowMs);
    const input: DecideInput = {
      user,
      nowMs,
      request: {
        kind: request.kind,
        allowedChannels: request.allowedChannels,
        window: { notBeforeMs: Date.parse(request.window.notBefore), notAfterMs: Date.parse(request.window.notAfter) },
      },
      recentSends: {},
      reachable: [...CHANNELS],
    };
    const [decision] = policy.decide([input], rng);
    const holdout = options.holdout?.(i) ?? false;
    const item = decisionItem(decision, {
      request,
      input,
      holdout,
      decidedAt: nowMs,
      attributionWindowHours: config.reward.attributionWindowHours,
    });
    if (decision.kind === 'send') {
      const reward = options.reward?.(i, item, rng) ?? [0, 0, 0.3, 1][rng.int(4)];
      const events =
        reward >= 1 ? ['notification_clicked', 'notification_opened'] : reward > 0 ? ['notification_opened'] : [];
      Object.assign(item, {
        status: 'sent',
        sentAt: decision.sendAtMs,
        reward,
        rewardClosed: true,
        ...(events.length && { rewardEvents: new Set(events) }),
      });
      delete item.dueShard;
      delete item.dueAt;
    }
    out.push({ item, input });
  }
  return out;
}

/** The log rows of fixture decisions. */
export function fixtureRows(decisions: readonly FixtureDecision[]): DecisionLogRow[] {
  return decisions.map((d) => toDecisionLogRow(d.item));
}

/** JSONL text of rows. */
export function toJsonl(rows: readonly object[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}
