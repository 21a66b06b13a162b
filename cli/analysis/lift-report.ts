/**
 * What `sto report` computes from a decision log: the bandit's reward against the holdout's, overall and
 * broken down by channel, by the user's local hour of the send and by day, each with a 95% interval; how
 * much the bandit explores and with which propensities; what the guardrails stopped and why decisions had
 * no arm; how many decisions are in each status.
 *
 * Reward: per sent notification (status sent or maybe_sent) whose attribution window has closed. By default
 * the logged `reward` (engagement by the config's weights in force when it closed, before channel cost);
 * with a config, rescored from the logged event types by its weights, minus its channel costs (the reward
 * the bandit optimises), so weeks logged under different weights are judged alike.
 *
 * Intervals: percentile bootstrap over **users** (a cluster bootstrap): users, not notifications, are what
 * the holdout randomises, and one user's notifications are correlated, so resampling notifications would
 * give intervals too narrow. Each replicate draws the bandit's users and the holdout's users with
 * replacement, each group on its own (they are disjoint), and takes each group's reward per notification.
 * Only the overall lift is a randomised comparison; a breakdown compares the notifications each policy
 * chose to send on that channel or at that hour, which is descriptive (the bandit sends SMS to the users it
 * expects to answer SMS; the holdout's SMS users are others).
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { DecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { ARM_BLOCK_REASONS } from '#model/guardrails.ts';
import { localTime } from '#model/local-time.ts';
import { percentileInterval } from '#model/ope/index.ts';
import { hashString, Rng } from '#model/random.ts';
import { computeReward } from '#model/reward.ts';

export const REPORT_FORMAT = 'sto-report/1';

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export interface GroupStats {
  /** rewarded notifications */
  sends: number;
  users: number;
  /** reward per notification, with its 95% interval over users */
  reward: Interval;
}

export interface GroupComparison {
  bandit: GroupStats | null;
  holdout: GroupStats | null;
  /** bandit minus holdout reward per notification; null when a side has no rewarded notification */
  difference: Interval | null;
  /** (bandit - holdout) / holdout; null when the holdout's reward is 0 or missing */
  relativeLift: Interval | null;
}

export interface LiftReport {
  format: typeof REPORT_FORMAT;
  source: { file?: string; rows: number; firstDecision?: string; lastDecision?: string };
  reward: {
    definition: string;
    /** config the rewards were rescored with, when one was given */
    rescoredWith?: string;
    interval: string;
    resamples: number;
    seed: number;
  };
  /** decisions by status, every row */
  statuses: Record<string, number>;
  /** rows whose reward counts, and those left out by why */
  rewarded: { rows: number; awaitingReward: number; notSent: number; noArm: number; pending: number };
  lift: {
    overall: GroupComparison;
    byChannel: Record<ChannelName, GroupComparison>;
    /** by the user's local hour of the send (0..23) */
    byLocalHour: (GroupComparison & { hour: number })[];
    /** by the UTC date of the decision */
    byDay: (GroupComparison & { day: string })[];
  };
  exploration: { banditSends: number; explored: number; share: number | null };
  propensity: {
    rows: number;
    min: number | null;
    max: number | null;
    quantiles: Record<'p01' | 'p05' | 'p25' | 'p50' | 'p75' | 'p95' | 'p99', number> | null;
    /** share of bandit sends logged with a propensity below 0.01 (their weights dominate IPS) */
    belowOnePercent: number | null;
    histogram: { low: number; high: number; label: string; count: number }[];
  };
  guardrails: {
    /** dispatch's re-check stopped the send: by stopReason */
    stopped: Record<string, number>;
    /** the provider refused: by failureReason */
    failed: Record<string, number>;
    noArm: {
      decisions: number;
      /** decisions by their main reason (a time reason when some channel was usable, else the one masking most arms) */
      byMainReason: Record<string, number>;
      /** arms masked, summed over the no-arm decisions, by reason */
      armsMasked: Record<string, number>;
    };
  };
}

export interface LiftReportOptions {
  /** rescore rewards with this config (weights, combine, channel cost) */
  config?: AnalystConfig;
  /** bootstrap resamples (default 1000) */
  resamples?: number;
  /** bootstrap seed (default 0) */
  seed?: number;
  /** shown in the report */
  file?: string;
}

const SENT = new Set(['sent', 'maybe_sent']);
const NO_ARM = new Set(['deferred', 'dropped', 'redeciding']);
const PENDING = new Set(['scheduled', 'enqueued', 'sending']);
const CHANNELS: ChannelName[] = ['email', 'push', 'sms'];
const PROPENSITY_BINS = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

/** One user's rewarded notifications in a cell. */
interface UserTotals {
  sum: number;
  count: number;
}

type Cell = { bandit: Map<string, UserTotals>; holdout: Map<string, UserTotals> };

function newCell(): Cell {
  return { bandit: new Map(), holdout: new Map() };
}

function addTo(cell: Cell, holdout: boolean, userId: string, reward: number): void {
  const side = holdout ? cell.holdout : cell.bandit;
  const totals = side.get(userId);
  if (totals) {
    totals.sum += reward;
    totals.count++;
  } else side.set(userId, { sum: reward, count: 1 });
}

/**
 * The reward a row counts with: the logged one, or rescored from its event types with `config`.
 * @example rowReward(row) // row.reward
 */
export function rowReward(row: DecisionLogRow, config?: AnalystConfig): number {
  if (!config) return row.reward ?? 0;
  const cost = row.channel ? config.channels[row.channel].cost : 0;
  return computeReward(row.rewardEvents ?? [], config.reward) - cost;
}

/** Whether a row's reward is known and final: sent (or maybe sent) and its attribution window closed. */
export function isRewarded(row: DecisionLogRow): boolean {
  return SENT.has(row.status) && row.rewardClosed === true && row.armIndex !== undefined;
}

/**
 * The report's numbers from decision log rows.
 * @example const report = buildLiftReport(await readDecisionLogFile('log.jsonl'), { resamples: 1000 });
 */
export function buildLiftReport(rows: readonly DecisionLogRow[], options: LiftReportOptions = {}): LiftReport {
  const resamples = options.resamples ?? 1000;
  const seed = options.seed ?? 0;
  const statuses: Record<string, number> = {};
  const rewarded = { rows: 0, awaitingReward: 0, notSent: 0, noArm: 0, pending: 0 };
  const overall = newCell();
  const byChannel = new Map<ChannelName, Cell>(CHANNELS.map((c) => [c, newCell()]));
  const byHour = Array.from({ length: 24 }, newCell);
  const byDay = new Map<string, Cell>();
  const stopped: Record<string, number> = {};
  const failed: Record<string, number> = {};
  const noArm = { decisions: 0, byMainReason: {} as Record<string, number>, armsMasked: {} as Record<string, number> };
  const propensities: number[] = [];
  let banditSends = 0;
  let explored = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;

  for (const row of rows) {
    statuses[row.status] = (statuses[row.status] ?? 0) + 1;
    const decidedAt = Date.parse(row.decidedAt);
    first = Math.min(first, decidedAt);
    last = Math.max(last, decidedAt);
    if (row.status === 'stopped') increment(stopped, row.stopReason ?? 'unknown');
    if (row.status === 'failed') increment(failed, row.failureReason ?? 'unknown');
    if (NO_ARM.has(row.status) || (row.armIndex === undefined && row.noArmReasons)) {
      noArm.decisions++;
      increment(noArm.byMainReason, mainReason(row.noArmReasons ?? {}));
      for (const [reason, n] of Object.entries(row.noArmReasons ?? {})) increment(noArm.armsMasked, reason, n ?? 0);
    }
    if (!row.holdout && row.armIndex !== undefined) {
      banditSends++;
      if (row.explored) explored++;
      if (row.propensity !== undefined) propensities.push(row.propensity);
    }
    if (!isRewarded(row)) {
      if (SENT.has(row.status)) rewarded.awaitingReward++;
      else if (NO_ARM.has(row.status)) rewarded.noArm++;
      else if (PENDING.has(row.status)) rewarded.pending++;
      else rewarded.notSent++;
      continue;
    }
    rewarded.rows++;
    const reward = rowReward(row, options.config);
    addTo(overall, row.holdout, row.userId, reward);
    if (row.channel) addTo(byChannel.get(row.channel) as Cell, row.holdout, row.userId, reward);
    if (row.sendAt && row.timeZone) {
      addTo(byHour[localTime(Date.parse(row.sendAt), row.timeZone).hour], row.holdout, row.userId, reward);
    }
    const day = row.decidedAt.slice(0, 10);
    let dayCell = byDay.get(day);
    if (!dayCell) {
      dayCell = newCell();
      byDay.set(day, dayCell);
    }
    addTo(dayCell, row.holdout, row.userId, reward);
  }

  const compare = (cell: Cell, key: string) => compareCell(cell, resamples, hashString(`${seed}/${key}`));
  return {
    format: REPORT_FORMAT,
    source: {
      ...(options.file && { file: options.file }),
      rows: rows.length,
      ...(rows.length && { firstDecision: new Date(first).toISOString(), lastDecision: new Date(last).toISOString() }),
    },
    reward: {
      definition: options.config
        ? `reward per sent notification, rescored from the logged event types with config ${options.config.version}'s weights (combine: ${options.config.reward.combine}) minus its channel cost`
        : 'reward per sent notification as logged: engagement by the weights in force when its window closed, before channel cost',
      ...(options.config && { rescoredWith: options.config.version }),
      interval: `95% percentile bootstrap over users (${resamples} resamples), bandit and holdout users drawn separately`,
      resamples,
      seed,
    },
    statuses,
    rewarded,
    lift: {
      overall: compare(overall, 'overall'),
      byChannel: Object.fromEntries(
        CHANNELS.map((c) => [c, compare(byChannel.get(c) as Cell, `channel/${c}`)]),
      ) as Record<ChannelName, GroupComparison>,
      byLocalHour: byHour.map((cell, hour) => ({ hour, ...compare(cell, `hour/${hour}`) })),
      byDay: [...byDay.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([day, cell]) => ({ day, ...compare(cell, `day/${day}`) })),
    },
    exploration: { banditSends, explored, share: banditSends ? explored / banditSends : null },
    propensity: propensitySummary(propensities),
    guardrails: { stopped, failed, noArm },
  };
}

function increment(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

const TIME_REASONS = [
  'frequency_cap_global',
  'frequency_cap_channel',
  'quiet_hours',
  'beyond_horizon',
  'outside_window',
];

/** A time reason when one masked any arm (some channel was usable), else the reason that masked most arms. */
function mainReason(reasons: Partial<Record<string, number>>): string {
  for (const reason of TIME_REASONS) if ((reasons[reason] ?? 0) > 0) return reason;
  let best = 'unknown';
  let most = 0;
  for (const reason of ARM_BLOCK_REASONS) {
    const n = reasons[reason] ?? 0;
    if (n > most) {
      best = reason;
      most = n;
    }
  }
  return best;
}

function compareCell(cell: Cell, resamples: number, seed: number): GroupComparison {
  const bandit = [...cell.bandit.values()];
  const holdout = [...cell.holdout.values()];
  if (!bandit.length && !holdout.length) return { bandit: null, holdout: null, difference: null, relativeLift: null };
  const rng = new Rng(seed);
  const banditReplicates = bandit.length ? resampleMeans(bandit, resamples, rng) : undefined;
  const holdoutReplicates = holdout.length ? resampleMeans(holdout, resamples, rng) : undefined;
  const stats = (users: UserTotals[], replicates: Float64Array | undefined): GroupStats | null => {
    if (!users.length || !replicates) return null;
    const sends = users.reduce((a, u) => a + u.count, 0);
    const estimate = users.reduce((a, u) => a + u.sum, 0) / sends;
    return { sends, users: users.length, reward: interval(estimate, replicates) };
  };
  const b = stats(bandit, banditReplicates);
  const h = stats(holdout, holdoutReplicates);
  if (!b || !h || !banditReplicates || !holdoutReplicates) {
    return { bandit: b, holdout: h, difference: null, relativeLift: null };
  }
  const difference = new Float64Array(resamples);
  const relative = new Float64Array(resamples);
  for (let i = 0; i < resamples; i++) {
    difference[i] = banditReplicates[i] - holdoutReplicates[i];
    relative[i] = holdoutReplicates[i] !== 0 ? difference[i] / Math.abs(holdoutReplicates[i]) : Number.NaN;
  }
  const d = b.reward.estimate - h.reward.estimate;
  return {
    bandit: b,
    holdout: h,
    difference: interval(d, difference),
    relativeLift: h.reward.estimate !== 0 ? interval(d / Math.abs(h.reward.estimate), relative) : null,
  };
}

/** Reward per notification in each replicate: users drawn with replacement, sums over counts. */
function resampleMeans(users: UserTotals[], resamples: number, rng: Rng): Float64Array {
  const n = users.length;
  const out = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    let count = 0;
    for (let j = 0; j < n; j++) {
      const u = users[rng.int(n)];
      sum += u.sum;
      count += u.count;
    }
    out[b] = sum / count;
  }
  return out;
}

function interval(estimate: number, replicates: Float64Array): Interval {
  const { low, high } = percentileInterval(replicates, 0.95);
  return { estimate, low, high };
}

function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

function propensitySummary(values: number[]): LiftReport['propensity'] {
  const sorted = [...values].sort((a, b) => a - b);
  const histogram = PROPENSITY_BINS.slice(0, -1).map((low, i) => {
    const high = PROPENSITY_BINS[i + 1];
    const last = i === PROPENSITY_BINS.length - 2;
    return {
      low,
      high,
      label: `[${low}, ${high}${last ? ']' : ')'}`,
      count: sorted.filter((p) => p >= low && (last ? p <= high : p < high)).length,
    };
  });
  if (!sorted.length) {
    return { rows: 0, min: null, max: null, quantiles: null, belowOnePercent: null, histogram };
  }
  return {
    rows: sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    quantiles: {
      p01: quantile(sorted, 0.01),
      p05: quantile(sorted, 0.05),
      p25: quantile(sorted, 0.25),
      p50: quantile(sorted, 0.5),
      p75: quantile(sorted, 0.75),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99),
    },
    belowOnePercent: sorted.filter((p) => p < 0.01).length / sorted.length,
    histogram,
  };
}
