/**
 * `sto evaluate`'s engine: replays a candidate policy (an analyst config's bandit, or a baseline policy)
 * over a decision log and estimates what it would have earned, with the estimators of model/ope.
 *
 * For every logged decision with a final reward, in decidedAt order:
 *   1. the DecideInput is rebuilt from the row (fromDecisionLogRow -> decisionInput);
 *   2. the candidate's full distribution over the logged decision's arms is computed on it
 *      (NotificationPolicy.armDistributions: the candidate config's guardrails mask arms, probability 0);
 *   3. its reward is rescored with the candidate config (weights on the logged event types, minus the
 *      channel's cost), so candidate, baseline and logging policy are judged by one yardstick.
 * IPS, SNIPS, DM and DR then come from evaluatePolicy, the verdict from compareToBaseline (against a
 * baseline config replayed the same way) or compareToLoggingPolicy (against the logged mean).
 *
 * The model behind a bandit target: a frozen state (--model, e.g. the head exported from the model table),
 * or, without one, a learner that starts from the config's prior and learns from the log as it goes: before
 * each block of `learnEvery` rows it learns every logged reward whose attribution window had closed by the
 * block's first decision, as production's learner and model refresh would have. The target at row t thus
 * depends only on rows decided before t (and on its own random draws), never on row t's action or reward,
 * which is what keeps IPS unbiased under adaptive targets (the importance weights form a martingale).
 *
 * Rows left out: no arm (deferred, dropped), still pending, not sent (stopped, failed), reward window still
 * open, and holdout rows (the holdout policy is deterministic: propensity 1 on one arm gives no support to
 * any other, so IPS could not see a candidate that differs). Each is counted in the output.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { decisionInput } from '#lambdas/shared/decision-item.ts';
import { type DecisionLogRow, fromDecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { type ArmLayout, armLayout, armOf, describeSlot } from '#model/arms.ts';
import { IncompatibleModelStateError } from '#model/errors.ts';
import { FEATURE_DIMENSION, FeatureBuilder } from '#model/features.ts';
import { allowedArms } from '#model/guardrails.ts';
import { fixedHourPolicy, heuristicPolicy, holdoutPolicy, randomPolicy } from '#model/heuristic.ts';
import {
  type BaselineComparison,
  compareToBaseline,
  compareToLoggingPolicy,
  evaluatePolicy,
  fitLinearRewardModel,
  type ImportanceWeightSummary,
  type IntervalEstimate,
  type LoggedFeedback,
  type OpeWarning,
} from '#model/ope/index.ts';
import {
  armDistributionsOf,
  type DecideInput,
  type LearnRow,
  type NotificationPolicy,
  SendTimePolicy,
  type SerializedPolicy,
} from '#model/policy.ts';
import { Rng } from '#model/random.ts';
import { computeReward } from '#model/reward.ts';
import { CliError } from '../errors.ts';

export const EVALUATION_FORMAT = 'sto-evaluate/1';

/** Policies a config can be replayed as: its bandit, or one of the baselines under its guardrails. */
export const REPLAY_POLICIES = ['bandit', 'heuristic', 'fixed-hour', 'random', 'holdout'] as const;
export type ReplayPolicyName = (typeof REPLAY_POLICIES)[number];

export interface ReplayTarget {
  config: AnalystConfig;
  /** where the config came from (shown in the output) */
  configFile?: string;
  /** default 'bandit' */
  policy?: ReplayPolicyName;
  /** a frozen bandit state; without it the bandit learns progressively from the log */
  model?: SerializedPolicy;
  modelFile?: string;
}

export interface OfflineEvaluationOptions {
  /** rows per block between the progressive learner's updates (default 100) */
  learnEvery?: number;
  /** seed of the targets' random draws (Thompson samples) and of the bootstrap (default 0) */
  seed?: number;
  resamples?: number;
  level?: number;
  /** minimum lift (reward units) the candidate must beat (default 0) */
  minimumLift?: number;
  /** shown in the output */
  logsFile?: string;
}

export type Estimates = {
  ips: IntervalEstimate;
  snips: IntervalEstimate;
  dm?: IntervalEstimate;
  dr?: IntervalEstimate;
};

export interface TargetReport {
  config?: string;
  configVersion: string;
  policy: ReplayPolicyName;
  algorithm?: string;
  model: string;
  /** rewards the progressive learner learned by the end of the log */
  learnedRows?: number;
  estimates: Estimates;
  weights: ImportanceWeightSummary;
  warnings: readonly OpeWarning[];
  /** evaluated rows where the target had no allowed arm under its config (it would not have sent: reward 0) */
  noArmRows: number;
}

export interface OfflineEvaluation {
  format: typeof EVALUATION_FORMAT;
  logs: {
    file?: string;
    rows: number;
    evaluated: number;
    excluded: Record<ExclusionReason, number>;
    firstDecision?: string;
    lastDecision?: string;
  };
  reward: string;
  rewardModel: string;
  candidate: TargetReport;
  baseline: TargetReport | { kind: 'logging-policy'; estimate: IntervalEstimate; policies: string[] };
  comparison: {
    estimator: string;
    verdict: BaselineComparison['verdict'];
    difference: IntervalEstimate;
    minimumLift: number;
    summary: string;
  };
  /** the one line: would the candidate beat the current policy? */
  answer: string;
  bootstrap: { resamples: number; seed: number; level: number; method: 'percentile'; unit: string };
  seconds: number;
}

export type ExclusionReason = 'holdout' | 'noArm' | 'pending' | 'notSent' | 'awaitingReward';

/** What each exclusion means, for the analyst. */
export const EXCLUSION_REASONS: Record<ExclusionReason, string> = {
  holdout: 'holdout decisions: logged by a deterministic policy, no support for any other arm',
  noArm: 'no arm was allowed (deferred, dropped): nothing was sent',
  pending: 'still scheduled, enqueued or sending: no outcome yet',
  notSent: 'stopped at dispatch or failed: no reward',
  awaitingReward: 'sent, but the attribution window has not closed: reward not final',
};

const SENT = new Set(['sent', 'maybe_sent']);
const NO_ARM = new Set(['deferred', 'dropped', 'redeciding']);
const PENDING = new Set(['scheduled', 'enqueued', 'sending']);

interface Row {
  log: DecisionLogRow;
  input: DecideInput;
  decidedAt: number;
}

interface EvaluatedRow extends Row {
  arm: number;
  channel: ChannelName;
  propensity: number;
  /** rescored with the candidate config */
  reward: number;
}

function exclusionOf(row: DecisionLogRow): ExclusionReason | undefined {
  if (NO_ARM.has(row.status) || (row.armIndex === undefined && row.noArmReasons)) return 'noArm';
  if (PENDING.has(row.status)) return 'pending';
  if (!SENT.has(row.status)) return 'notSent';
  if (row.rewardClosed !== true) return 'awaitingReward';
  if (row.armIndex === undefined || row.channel === undefined || row.propensity === undefined) return 'notSent';
  if (row.holdout) return 'holdout';
  return undefined;
}

/** The engagement reward by a config's weights, and the net reward (minus that config's channel cost). */
function rescore(row: DecisionLogRow, config: AnalystConfig): { engagement: number; net: number } {
  const engagement = computeReward(row.rewardEvents ?? [], config.reward);
  return { engagement, net: engagement - (row.channel ? config.channels[row.channel].cost : 0) };
}

/** A replay target's policy and how it learns. */
class ReplayedPolicy {
  readonly policy: NotificationPolicy;
  readonly learner?: SendTimePolicy;
  readonly rng: Rng;
  learned = 0;
  noArmRows = 0;

  constructor(
    readonly target: ReplayTarget,
    seed: number,
  ) {
    const { config } = target;
    const name = target.policy ?? 'bandit';
    this.rng = new Rng(seed);
    switch (name) {
      case 'bandit':
        try {
          this.learner = SendTimePolicy.create(config, target.model ? { state: target.model } : {});
        } catch (cause) {
          if (!(cause instanceof IncompatibleModelStateError)) throw cause;
          throw new CliError(
            `model ${target.modelFile ?? 'state'} cannot serve config ${config.version}: ${cause.message}` +
              ' (leave out --model to evaluate a learner that starts afresh)',
            undefined,
            { cause },
          );
        }
        this.policy = this.learner;
        break;
      case 'heuristic':
        this.policy = heuristicPolicy(config);
        break;
      case 'fixed-hour':
        this.policy = fixedHourPolicy(config, config.holdout.fixedLocalHour);
        break;
      case 'random':
        this.policy = randomPolicy(config);
        break;
      case 'holdout':
        this.policy = holdoutPolicy(config);
        break;
    }
  }

  get learns(): boolean {
    return this.learner !== undefined && this.target.model === undefined;
  }

  learn(rows: readonly Row[]): void {
    if (!this.learns || !this.learner || rows.length === 0) return;
    const learner = this.learner;
    const batch: LearnRow[] = rows.map(({ log, input }) => ({
      features: learner.armRow(input, log.channel as ChannelName, Date.parse(log.sendAt as string)),
      reward: rescore(log, this.target.config).engagement,
    }));
    learner.learn(batch);
    this.learned += batch.length;
  }

  describeModel(learnEvery: number): string {
    const name = this.target.policy ?? 'bandit';
    if (name !== 'bandit') return `${name} baseline (no model: it reads the user's state in each input)`;
    if (this.target.model) {
      return `frozen state${this.target.modelFile ? ` from ${this.target.modelFile}` : ''} (${this.target.model.bandit.updates} rewards learned)`;
    }
    return (
      `learns progressively from the log, starting from the config's prior: before each block of ${learnEvery} ` +
      "rows it learns every reward whose attribution window had closed by the block's first decision, so the " +
      'target at row t depends only on rows decided before t and IPS stays unbiased'
    );
  }

  dispose(): void {
    this.learner?.dispose();
  }
}

/**
 * Replays `candidate` (and `baseline`, when given) over the log and estimates their value.
 * @throws CliError for a log with nothing to evaluate, or arms the candidate does not share with the log
 * @example const result = evaluateOnLog(rows, { config: candidateConfig }, undefined, { resamples: 1000 });
 */
export function evaluateOnLog(
  rows: readonly DecisionLogRow[],
  candidate: ReplayTarget,
  baseline: ReplayTarget | undefined,
  options: OfflineEvaluationOptions = {},
): OfflineEvaluation {
  const started = performance.now();
  const learnEvery = options.learnEvery ?? 100;
  if (!Number.isInteger(learnEvery) || learnEvery < 1) throw new CliError(`learnEvery must be a whole number >= 1`);
  const seed = options.seed ?? 0;
  const resamples = options.resamples ?? 1000;
  const level = options.level ?? 0.95;
  const scoring = candidate.config;

  // 1. every row in decidedAt order, the evaluated ones apart
  const ordered: Row[] = rows
    .map((log) => ({ log, decidedAt: Date.parse(log.decidedAt), input: undefined as unknown as DecideInput }))
    .sort((a, b) => a.decidedAt - b.decidedAt || a.log.decisionId.localeCompare(b.log.decisionId));
  const excluded: Record<ExclusionReason, number> = { holdout: 0, noArm: 0, pending: 0, notSent: 0, awaitingReward: 0 };
  const evaluated: EvaluatedRow[] = [];
  const rewarded: Row[] = [];
  for (const row of ordered) {
    const why = exclusionOf(row.log);
    const hasReward = SENT.has(row.log.status) && row.log.rewardClosed === true && row.log.channel && row.log.sendAt;
    if (hasReward || !why) row.input = decisionInput(fromDecisionLogRow(row.log));
    if (hasReward) rewarded.push(row);
    if (why) {
      excluded[why]++;
      continue;
    }
    evaluated.push({
      ...row,
      arm: row.log.armIndex as number,
      channel: row.log.channel as ChannelName,
      propensity: row.log.propensity as number,
      reward: rescore(row.log, scoring).net,
    });
  }
  if (evaluated.length === 0) {
    const why = Object.entries(excluded)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${n} ${EXCLUSION_REASONS[reason as ExclusionReason]}`)
      .join('; ');
    throw new CliError(
      `${options.logsFile ? `Decision log ${options.logsFile}` : 'The decision log'} has no decision to evaluate on ` +
        `(sent, reward final, not holdout): ${rows.length} rows${why ? `: ${why}` : ''}`,
    );
  }

  // 2. the candidate's arms must be the logged ones: same channel and send instant for the logged arm
  const layout = armLayout(scoring.slots.grid);
  const builder = new FeatureBuilder(scoring);
  const stride = layout.armCount * FEATURE_DIMENSION;
  const scratch = new Float32Array(stride);
  const loggedFeatures = new Float32Array(evaluated.length * FEATURE_DIMENSION);
  const armFeatures = (row: EvaluatedRow) => {
    const mask = allowedArms(row.input, scoring);
    builder.writeArms(scratch, 0, {
      user: row.input.user,
      nowMs: row.input.nowMs,
      kind: row.input.request.kind,
      schedule: mask.schedule,
      recentSends: row.input.recentSends,
    });
    return mask;
  };
  evaluated.forEach((row, i) => {
    const line = `row ${row.log.decisionId} (decided ${row.log.decidedAt})`;
    if (row.arm >= layout.armCount) {
      throw new CliError(
        `the candidate's slot grid (${scoring.slots.grid}, ${layout.armCount} arms) does not hold logged arm ${row.arm} of ${line}: ` +
          'a change of slot grid cannot be evaluated on this log',
      );
    }
    const mask = armFeatures(row);
    const { channel, slotIndex } = armOf(layout, row.arm);
    const sendAt = mask.schedule.sendAtMs[slotIndex];
    if (channel !== row.channel || (row.log.sendAt && sendAt !== Date.parse(row.log.sendAt))) {
      throw new CliError(
        `the candidate's arm ${row.arm} is ${channel} at ${new Date(sendAt).toISOString()} for ${line}, which logged ` +
          `${row.channel} at ${row.log.sendAt}: the candidate's slots (grid ${scoring.slots.grid}, default zone ` +
          `${scoring.guardrails.defaultTimeZone}) must be the log's to evaluate it on this log`,
      );
    }
    loggedFeatures.set(
      scratch.subarray(row.arm * FEATURE_DIMENSION, (row.arm + 1) * FEATURE_DIMENSION),
      i * FEATURE_DIMENSION,
    );
  });

  // 3. target distributions, block by block, the learners learning what had arrived
  const targets = [candidate, ...(baseline ? [baseline] : [])].map((t, k) => new ReplayedPolicy(t, seed + k));
  try {
    const K = layout.armCount + 1; // the last action: "not sent" (no arm allowed under the target's config)
    const probs = targets.map(() => new Float64Array(evaluated.length * K));
    const byArrival = rewarded
      .map((row) => ({
        row,
        at:
          Date.parse(row.log.sentAt ?? (row.log.sendAt as string)) + scoring.reward.attributionWindowHours * 3_600_000,
      }))
      .sort((a, b) => a.at - b.at);
    let arrived = 0;
    for (let start = 0; start < evaluated.length; start += learnEvery) {
      const block = evaluated.slice(start, start + learnEvery);
      const blockStart = block[0].decidedAt;
      const fresh: Row[] = [];
      while (arrived < byArrival.length && byArrival[arrived].at <= blockStart) fresh.push(byArrival[arrived++].row);
      targets.forEach((t, k) => {
        t.learn(fresh);
        const dists = armDistributionsOf(
          t.policy,
          block.map((r) => r.input),
          t.rng,
        );
        dists.forEach((dist, j) => {
          const offset = (start + j) * K;
          if (!dist) {
            probs[k][offset + K - 1] = 1;
            t.noArmRows++;
          } else probs[k].set(dist.probabilities, offset);
        });
      });
    }
    // the learners learn the rest too, so learnedRows says what they had seen by the end
    targets.forEach((t) => {
      t.learn(byArrival.slice(arrived).map((a) => a.row));
    });

    // 4. reward model: linear on the candidate config's arm features, cross-fitted; "not sent" earns 0
    const reward = Float64Array.from(evaluated, (r) => r.reward);
    const model = fitLinearRewardModel(
      { reward, features: loggedFeatures, featureCount: FEATURE_DIMENSION },
      { folds: Math.min(5, evaluated.length), seed },
    );
    const rewardModel = new Float64Array(evaluated.length * K);
    const q = new Float64Array(layout.armCount);
    evaluated.forEach((row, i) => {
      armFeatures(row);
      model.predict(i, scratch, layout.armCount, q);
      rewardModel.set(q, i * K);
    });

    // one user's decisions share that user's tastes: the bootstrap resamples users, not rows
    const users = new Map<string, number>();
    const cluster = Int32Array.from(evaluated, (r) => {
      let k = users.get(r.log.userId);
      if (k === undefined) {
        k = users.size;
        users.set(r.log.userId, k);
      }
      return k;
    });
    const logged = {
      actionCount: K,
      action: Int32Array.from(evaluated, (r) => r.arm),
      reward,
      propensity: Float64Array.from(evaluated, (r) => r.propensity),
      rewardModel,
      cluster,
    };
    const feedback: LoggedFeedback[] = probs.map((targetProbs) => ({ ...logged, targetProbs }));
    const ope = { resamples, seed, level };
    const reports = targets.map((t, k) => {
      const result = evaluatePolicy(feedback[k], ope);
      return targetReport(t, result, learnEvery, layout);
    });
    const comparison = baseline
      ? compareToBaseline(feedback[0], feedback[1], { ...ope, minimumLift: options.minimumLift })
      : compareToLoggingPolicy(feedback[0], { ...ope, minimumLift: options.minimumLift });
    const loggingPolicies = [...new Set(evaluated.map((r) => `${r.log.policyName} ${r.log.configVersion}`))];
    const result: OfflineEvaluation = {
      format: EVALUATION_FORMAT,
      logs: {
        ...(options.logsFile && { file: options.logsFile }),
        rows: rows.length,
        evaluated: evaluated.length,
        excluded,
        ...(ordered.length && {
          firstDecision: ordered[0].log.decidedAt,
          lastDecision: ordered[ordered.length - 1].log.decidedAt,
        }),
      },
      reward:
        `net reward per decision: engagement rescored from the logged event types with the candidate config ` +
        `${scoring.version}'s weights (combine: ${scoring.reward.combine}) minus its channel cost; a target with no ` +
        'allowed arm would not have sent and earns 0',
      rewardModel: `ridge regression on the candidate config's arm features, cross-fitted (${model.folds} folds), for DM and DR`,
      candidate: reports[0],
      baseline: baseline
        ? reports[1]
        : { kind: 'logging-policy', estimate: comparison.baseline, policies: loggingPolicies },
      comparison: {
        estimator: comparison.estimator,
        verdict: comparison.verdict,
        difference: comparison.difference,
        minimumLift: comparison.minimumLift,
        summary: comparison.summary,
      },
      answer: answerLine(comparison, baseline ? 'the baseline config' : 'the current (logging) policy', reports[0]),
      bootstrap: {
        resamples,
        seed,
        level,
        method: 'percentile',
        unit: `users (${users.size} clusters): one user's decisions are resampled together`,
      },
      seconds: 0,
    };
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    for (const t of targets) t.dispose();
  }
}

function targetReport(
  t: ReplayedPolicy,
  result: ReturnType<typeof evaluatePolicy>,
  learnEvery: number,
  layout: ArmLayout,
): TargetReport {
  const K = layout.armCount + 1;
  const describe = (arm: number) => {
    const { channel, slotIndex } = armOf(layout, arm);
    return `${channel} ${describeSlot(layout, slotIndex).label}`;
  };
  // "not sent" is never logged, so the support check counts its mass; but its reward (0) is known, not
  // estimated: take it out of the deficiency
  const noArmMass = t.noArmRows / result.rows;
  const warnings = result.warnings.flatMap((w): OpeWarning[] => {
    if (w.code !== 'support-deficiency') return [w];
    const targetMass = w.targetMass - noArmMass;
    if (targetMass <= 1e-6) return [];
    const actions = w.actions?.filter((a) => a !== K - 1);
    return [
      {
        ...w,
        targetMass,
        ...(actions && { actions }),
        message:
          `the target puts ${(targetMass * 100).toFixed(2)}% of its mass on arms never seen in the log` +
          `${actions?.length ? ` (${actions.map(describe).join(', ')})` : ''}; IPS and SNIPS cannot see rewards there ` +
          '(biased) and DM/DR rely on the reward model alone for them',
      },
    ];
  });
  return {
    ...(t.target.configFile && { config: t.target.configFile }),
    configVersion: t.target.config.version,
    policy: t.target.policy ?? 'bandit',
    ...((t.target.policy ?? 'bandit') === 'bandit' && { algorithm: t.target.config.bandit.algorithm }),
    model: t.describeModel(learnEvery),
    ...(t.learns && { learnedRows: t.learned }),
    estimates: {
      ips: result.ips,
      snips: result.snips,
      ...(result.dm && { dm: result.dm }),
      ...(result.dr && { dr: result.dr }),
    },
    weights: result.weights,
    warnings,
    noArmRows: t.noArmRows,
  };
}

function signed(v: number): string {
  return `${v >= 0 ? '+' : ''}${Number(v.toPrecision(4))}`;
}

/** The analyst's one line, judged on the lower bound of the difference's interval. */
function answerLine(comparison: BaselineComparison, against: string, candidate: TargetReport): string {
  const { difference, estimator, verdict, minimumLift } = comparison;
  const level = Math.round(comparison.bootstrap.level * 100);
  const ci = `${estimator.toUpperCase()} difference ${signed(difference.estimate)}, ${level}% interval ${signed(difference.low)} to ${signed(difference.high)}`;
  const caution = candidate.warnings.some((w) => w.code !== 'support-deficiency')
    ? ' (read the warnings: a few rows carry much of the weight)'
    : '';
  const bar = minimumLift === 0 ? '0' : signed(minimumLift);
  if (verdict === 'better') {
    return `Would the candidate beat ${against}? Yes: the lower bound of the ${ci} is above ${bar}.${caution}`;
  }
  if (verdict === 'not better') {
    return `Would the candidate beat ${against}? No: the ${ci} lies at or below ${bar}.${caution}`;
  }
  return `Would the candidate beat ${against}? Not shown: the ${ci} includes ${bar}; the log cannot tell yet.${caution}`;
}
