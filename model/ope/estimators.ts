/**
 * Off-policy evaluation: what would a target policy have earned on the traffic a logging
 * policy served? Four estimators over logged bandit feedback, each with a seeded percentile
 * bootstrap interval, plus the importance-weight diagnostics an analyst needs before trusting
 * any of them, and `compareToBaseline`, the one-line verdict on a candidate policy.
 *
 * With w = pi(a|x) / mu(a|x) (target over logging probability of the logged action), r the
 * reward and q(x, a) a reward model's prediction:
 *   IPS   = (1/n) sum w r                          unbiased under full support; high variance
 *   SNIPS = sum w r / sum w                        slightly biased, far steadier, scale-free in w
 *   DM    = (1/n) sum_x sum_a pi(a|x) q(x, a)      no weights at all; as biased as q is
 *   DR    = DM + (1/n) sum w (r - q(x, a))         unbiased if either w or q is right
 *
 * Intervals: nonparametric bootstrap over rows, percentile method. For DM and DR the reward
 * model's predictions are held fixed across resamples (it is not refitted per resample), so
 * their intervals leave out the reward model's own estimation noise; with a cross-fitted
 * model (see reward-model.ts) that noise is small next to the reward noise, but it is not zero.
 *
 * Pure: no I/O, no clock; the only randomness is the seeded bootstrap.
 */
import { percentileInterval, resampleClusterSums, resampleColumnSums, standardDeviation } from './bootstrap.ts';
import { IncomparablePoliciesError, InvalidEvaluationOptionError, InvalidFeedbackError } from './errors.ts';

export type EstimatorName = 'ips' | 'snips' | 'dm' | 'dr';

/** Every estimator this module computes, in report order. */
export const ESTIMATORS: readonly EstimatorName[] = Object.freeze(['ips', 'snips', 'dm', 'dr'] as EstimatorName[]);

/**
 * Logged bandit feedback for one target policy, column-major so 100k+ rows stay in typed arrays.
 * Row i: the logger took `action[i]` with probability `propensity[i]` and saw `reward[i]`.
 * Matrices are row-major n x actionCount (`m[i * actionCount + a]`).
 *
 * The target policy is given either fully (`targetProbs`, needed for DM, DR and the support
 * check) or only at the logged action (`targetLoggedProbs`, enough for IPS and SNIPS).
 */
export interface LoggedFeedback {
  readonly actionCount: number;
  readonly action: ArrayLike<number>;
  readonly reward: ArrayLike<number>;
  /** logging policy's probability of the logged action, in (0, 1] */
  readonly propensity: ArrayLike<number>;
  /** target policy's distribution over actions for each row's context (n x actionCount) */
  readonly targetProbs?: ArrayLike<number>;
  /** target policy's probability of the logged action only (n) */
  readonly targetLoggedProbs?: ArrayLike<number>;
  /** reward model predictions q(x_i, a) for every action (n x actionCount); enables DM and DR */
  readonly rewardModel?: ArrayLike<number>;
  /** logging policy's full distribution per row (n x actionCount); makes the support check exact */
  readonly loggingProbs?: ArrayLike<number>;
  /**
   * cluster of each row (an integer id, e.g. the user's index): the bootstrap then resamples clusters,
   * not rows, so rows that share a cluster (one user's decisions) are not taken for independent evidence
   */
  readonly cluster?: ArrayLike<number>;
}

/** One logged decision, for callers that hold rows rather than columns; see `feedbackFromRows`. */
export interface FeedbackRow {
  readonly action: number;
  readonly reward: number;
  readonly propensity: number;
  /** the target's distribution over all actions, or just its probability of the logged action */
  readonly targetProbs: ArrayLike<number> | number;
  readonly rewardModel?: ArrayLike<number>;
  readonly loggingProbs?: ArrayLike<number>;
}

export interface EvaluationOptions {
  /** bootstrap resamples (default 1000) */
  readonly resamples?: number;
  /** bootstrap seed (default 0); the same seed gives the same intervals */
  readonly seed?: number;
  /** interval coverage (default 0.95) */
  readonly level?: number;
  /** how far a distribution's sum may be from 1 (default 1e-6) */
  readonly probabilityTolerance?: number;
  /** warn about rows logged with a propensity below this (default 0.01) */
  readonly minPropensity?: number;
  /** warn when the effective sample size is below this share of the rows (default 0.01) */
  readonly minEssFraction?: number;
  /** warn when one row carries more than this share of the total importance weight (default 0.05) */
  readonly maxWeightShare?: number;
}

export interface IntervalEstimate {
  /** the estimator on all rows */
  readonly estimate: number;
  /** percentile bootstrap bounds */
  readonly low: number;
  readonly high: number;
  /** standard deviation of the bootstrap replicates */
  readonly standardError: number;
}

export interface ImportanceWeightSummary {
  /** (sum w)^2 / sum w^2: how many equally weighted rows the estimate is worth */
  readonly effectiveSampleSize: number;
  /** effectiveSampleSize / rows */
  readonly essFraction: number;
  readonly max: number;
  /** close to 1 when the target lives inside the logger's support (E[w] = 1 there) */
  readonly mean: number;
}

export type OpeWarning =
  | {
      readonly code: 'low-propensity';
      readonly message: string;
      readonly rows: number;
      readonly threshold: number;
      readonly minPropensity: number;
    }
  | {
      readonly code: 'low-effective-sample-size';
      readonly message: string;
      readonly effectiveSampleSize: number;
      readonly essFraction: number;
      readonly threshold: number;
    }
  | {
      readonly code: 'support-deficiency';
      readonly message: string;
      /** average target probability on actions the logger never takes */
      readonly targetMass: number;
      readonly check: SupportCheck;
      /** for the 'unlogged-actions' check: the actions never seen in the log */
      readonly actions?: readonly number[];
    }
  | {
      /** one row carries a large share of the total weight (reported when the ESS warning is not) */
      readonly code: 'dominant-weight';
      readonly message: string;
      readonly maxWeight: number;
      /** max weight / sum of weights */
      readonly share: number;
      readonly threshold: number;
    }
  | { readonly code: 'no-overlap'; readonly message: string };

/**
 * How support deficiency was checked: exactly, from the logger's full distribution per row,
 * or as a lower bound, from the actions that never appear in the log at all.
 */
export type SupportCheck = 'logging-probs' | 'unlogged-actions';

export interface PolicyEvaluation {
  readonly rows: number;
  readonly ips: IntervalEstimate;
  readonly snips: IntervalEstimate;
  /** present when the feedback has `targetProbs` and `rewardModel` */
  readonly dm?: IntervalEstimate;
  readonly dr?: IntervalEstimate;
  readonly weights: ImportanceWeightSummary;
  /** undefined when only `targetLoggedProbs` were given (nothing to check against) */
  readonly supportDeficit?: { readonly targetMass: number; readonly check: SupportCheck };
  readonly warnings: readonly OpeWarning[];
  readonly bootstrap: BootstrapSettings;
}

export interface BootstrapSettings {
  readonly method: 'percentile';
  readonly resamples: number;
  readonly seed: number;
  readonly level: number;
  /** the reward model's predictions were not refitted per resample (DM and DR) */
  readonly rewardModelFixed: true;
  /** present when the feedback gave clusters: the bootstrap resampled this many clusters, not rows */
  readonly clusters?: number;
}

export type Verdict = 'better' | 'not better' | 'inconclusive';

export interface ComparisonOptions extends EvaluationOptions {
  /** default: 'dr' when both sides have a reward model and full target probabilities, else 'snips' */
  readonly estimator?: EstimatorName;
  /** the lift (candidate minus baseline, in reward units) the candidate must beat (default 0) */
  readonly minimumLift?: number;
}

export interface BaselineComparison {
  readonly verdict: Verdict;
  readonly estimator: EstimatorName;
  readonly candidate: IntervalEstimate;
  readonly baseline: IntervalEstimate;
  /** candidate minus baseline, bootstrapped on the same resamples (paired) */
  readonly difference: IntervalEstimate;
  readonly minimumLift: number;
  readonly rows: number;
  readonly bootstrap: BootstrapSettings;
  readonly warnings: { readonly candidate: readonly OpeWarning[]; readonly baseline: readonly OpeWarning[] };
  /** the analyst's one line, e.g. "better: DR lift +0.00123 (95% interval +0.00010 to +0.00236) ..." */
  readonly summary: string;
}

const DEFAULTS = {
  resamples: 1000,
  seed: 0,
  level: 0.95,
  probabilityTolerance: 1e-6,
  minPropensity: 0.01,
  minEssFraction: 0.01,
  maxWeightShare: 0.05,
};

/**
 * Estimates a target policy's value from logged feedback with IPS, SNIPS and, when a reward
 * model and the target's full distribution are given, DM and DR; each with a percentile
 * bootstrap interval (reward model held fixed across resamples). Also reports the importance
 * weights' effective sample size and maximum, and warns about low propensities, a tiny
 * effective sample size and target mass outside the logger's support.
 *
 * @example
 * // uniform logger over 2 actions, target always plays action 1
 * const result = evaluatePolicy({
 *   actionCount: 2,
 *   action: [0, 1, 1, 0],
 *   reward: [0, 1, 0, 1],
 *   propensity: [0.5, 0.5, 0.5, 0.5],
 *   targetProbs: [0, 1, 0, 1, 0, 1, 0, 1],
 * }, { resamples: 200, seed: 1 });
 * result.ips.estimate   // (2 * 1 + 2 * 0) / 4 = 0.5
 * result.snips.estimate // 2 / 4 = 0.5
 */
export function evaluatePolicy(feedback: LoggedFeedback, options: EvaluationOptions = {}): PolicyEvaluation {
  const settings = resolveOptions(options);
  const prepared = prepareFeedback(feedback, settings);
  const columns = estimatorColumns(prepared);
  const sums = resampleSums(prepared, columns.list, settings);
  const replicate = (name: EstimatorName) => replicatesOf(name, prepared.n, sums, columns.list.length, columns.offset);
  const interval = (name: EstimatorName): IntervalEstimate =>
    intervalEstimate(pointEstimate(name, prepared), replicate(name), settings.level);
  return {
    rows: prepared.n,
    ips: interval('ips'),
    snips: interval('snips'),
    ...(prepared.dm && { dm: interval('dm'), dr: interval('dr') }),
    weights: prepared.weights,
    ...(prepared.supportDeficit && { supportDeficit: prepared.supportDeficit }),
    warnings: prepared.warnings,
    bootstrap: bootstrapSettings(settings, prepared),
  };
}

/**
 * The verdict on a candidate policy against a baseline, both evaluated on the same logged rows:
 * the candidate-minus-baseline difference is bootstrapped on shared resamples (a paired
 * bootstrap, so the noise both share cancels) and judged on its interval, the way Azure
 * Personalizer's auto-optimize only switched to new settings when they were confidently better:
 *   'better'        the interval's lower bound is above `minimumLift` (default 0)
 *   'not better'    the interval's upper bound is at or below `minimumLift`
 *   'inconclusive'  the interval straddles it: the log cannot tell yet
 * The baseline is often the logging policy itself (targetProbs = loggingProbs).
 *
 * @example
 * const log = { actionCount: 2, action: [0, 1, 1, 0], reward: [0, 1, 1, 0], propensity: [0.5, 0.5, 0.5, 0.5] };
 * const always1 = { ...log, targetLoggedProbs: [0, 1, 1, 0] };
 * const uniform = { ...log, targetLoggedProbs: [0.5, 0.5, 0.5, 0.5] };
 * compareToBaseline(always1, uniform, { resamples: 500 }).summary
 * // "inconclusive: SNIPS lift +0.5 (95% interval +0 to +0.75) over 4 rows; candidate 1, baseline 0.5"
 * // (four rows cannot rule out no lift; on thousands of such rows the verdict is 'better')
 */
export function compareToBaseline(
  candidate: LoggedFeedback,
  baseline: LoggedFeedback,
  options: ComparisonOptions = {},
): BaselineComparison {
  const settings = resolveOptions(options);
  const minimumLift = options.minimumLift ?? 0;
  if (!Number.isFinite(minimumLift)) {
    throw new InvalidEvaluationOptionError('minimumLift', `must be a finite number, got ${minimumLift}`);
  }
  assertSameLog(candidate, baseline);
  const left = prepareFeedback(candidate, settings);
  const right = prepareFeedback(baseline, settings);
  const estimator = options.estimator ?? (left.dm && right.dm ? 'dr' : 'snips');
  if (!ESTIMATORS.includes(estimator)) {
    throw new InvalidEvaluationOptionError('estimator', `must be one of ${ESTIMATORS.join(', ')}, got ${estimator}`);
  }
  if ((estimator === 'dm' || estimator === 'dr') && !(left.dm && right.dm)) {
    throw new IncomparablePoliciesError(
      `${estimator.toUpperCase()} needs targetProbs and a rewardModel on both candidate and baseline`,
    );
  }

  const leftColumns = estimatorColumns(left);
  const rightColumns = estimatorColumns(right);
  const width = leftColumns.list.length + rightColumns.list.length;
  // One set of resamples for both policies: that is what makes the difference paired.
  const sums = resampleSums(left, [...leftColumns.list, ...rightColumns.list], settings);
  const leftReplicates = replicatesOf(estimator, left.n, sums, width, leftColumns.offset);
  const rightReplicates = replicatesOf(
    estimator,
    right.n,
    sums,
    width,
    shiftOffsets(rightColumns.offset, leftColumns.list.length),
  );
  const differenceReplicates = new Float64Array(settings.resamples);
  for (let b = 0; b < settings.resamples; b++) differenceReplicates[b] = leftReplicates[b] - rightReplicates[b];

  return comparisonOf(
    estimator,
    intervalEstimate(pointEstimate(estimator, left), leftReplicates, settings.level),
    intervalEstimate(pointEstimate(estimator, right), rightReplicates, settings.level),
    differenceReplicates,
    { settings, prepared: left, minimumLift, warnings: { candidate: left.warnings, baseline: right.warnings } },
  );
}

/**
 * The verdict on a candidate policy against the policy that logged the rows, whose value is simply the mean
 * logged reward (on-policy, no weights, no reward model). The candidate's estimate and that mean are
 * bootstrapped on shared resamples, so the difference is paired exactly as in `compareToBaseline`; use this
 * when the logger's full distribution is unknown (only the propensity of the logged action is), which
 * rules out evaluating the logger as a target with DM or DR.
 *
 * @example
 * const log = { actionCount: 2, action: [0, 1, 1, 0], reward: [0, 1, 1, 0], propensity: [0.5, 0.5, 0.5, 0.5] };
 * compareToLoggingPolicy({ ...log, targetLoggedProbs: [0, 1, 1, 0] }, { resamples: 500 }).baseline.estimate // 0.5
 */
export function compareToLoggingPolicy(candidate: LoggedFeedback, options: ComparisonOptions = {}): BaselineComparison {
  const settings = resolveOptions(options);
  const minimumLift = options.minimumLift ?? 0;
  if (!Number.isFinite(minimumLift)) {
    throw new InvalidEvaluationOptionError('minimumLift', `must be a finite number, got ${minimumLift}`);
  }
  const prepared = prepareFeedback(candidate, settings);
  const estimator = options.estimator ?? (prepared.dm ? 'dr' : 'snips');
  if (!ESTIMATORS.includes(estimator)) {
    throw new InvalidEvaluationOptionError('estimator', `must be one of ${ESTIMATORS.join(', ')}, got ${estimator}`);
  }
  if ((estimator === 'dm' || estimator === 'dr') && !prepared.dm) {
    throw new IncomparablePoliciesError(`${estimator.toUpperCase()} needs targetProbs and a rewardModel`);
  }
  const n = prepared.n;
  const reward = Float64Array.from(candidate.reward);
  const columns = estimatorColumns(prepared);
  const width = columns.list.length + 1;
  const sums = resampleSums(prepared, [...columns.list, reward], settings);
  const candidateReplicates = replicatesOf(estimator, n, sums, width, columns.offset);
  const loggingReplicates = new Float64Array(settings.resamples);
  const differenceReplicates = new Float64Array(settings.resamples);
  for (let b = 0; b < settings.resamples; b++) {
    const rows = columns.offset.count >= 0 ? sums[b * width + columns.offset.count] : n;
    loggingReplicates[b] = sums[b * width + width - 1] / rows;
    differenceReplicates[b] = candidateReplicates[b] - loggingReplicates[b];
  }
  return comparisonOf(
    estimator,
    intervalEstimate(pointEstimate(estimator, prepared), candidateReplicates, settings.level),
    intervalEstimate(sum(reward) / n, loggingReplicates, settings.level),
    differenceReplicates,
    { settings, prepared, minimumLift, warnings: { candidate: prepared.warnings, baseline: [] } },
  );
}

/**
 * A comparison from the two estimates and the replicates of their paired difference: the difference's
 * interval and the verdict, judged on its bounds against `minimumLift`.
 */
function comparisonOf(
  estimator: EstimatorName,
  candidate: IntervalEstimate,
  baseline: IntervalEstimate,
  differenceReplicates: Float64Array,
  context: {
    settings: ResolvedOptions;
    prepared: PreparedFeedback;
    minimumLift: number;
    warnings: BaselineComparison['warnings'];
  },
): BaselineComparison {
  const { settings, prepared, minimumLift } = context;
  const difference = intervalEstimate(candidate.estimate - baseline.estimate, differenceReplicates, settings.level);
  const verdict: Verdict =
    difference.low > minimumLift ? 'better' : difference.high <= minimumLift ? 'not better' : 'inconclusive';
  return {
    verdict,
    estimator,
    candidate,
    baseline,
    difference,
    minimumLift,
    rows: prepared.n,
    bootstrap: bootstrapSettings(settings, prepared),
    warnings: context.warnings,
    summary: comparisonSummary(verdict, estimator, candidate, baseline, difference, {
      level: settings.level,
      rows: prepared.n,
      minimumLift,
    }),
  };
}

/**
 * Packs logged rows into the column form `evaluatePolicy` takes. All rows must give the target
 * the same way (all full distributions, or all a single probability) and all or none must carry
 * `rewardModel` / `loggingProbs`.
 *
 * @example
 * const feedback = feedbackFromRows([
 *   { action: 0, reward: 1, propensity: 0.5, targetProbs: [0.9, 0.1] },
 *   { action: 1, reward: 0, propensity: 0.5, targetProbs: [0.9, 0.1] },
 * ]);
 * feedback.actionCount // 2
 */
export function feedbackFromRows(rows: readonly FeedbackRow[], actionCount?: number): LoggedFeedback {
  const n = rows.length;
  if (n === 0) throw new InvalidFeedbackError('rows', 'must not be empty');
  const first = rows[0];
  const full = typeof first.targetProbs !== 'number';
  const k =
    actionCount ??
    (full
      ? (first.targetProbs as ArrayLike<number>).length
      : (first.rewardModel?.length ?? first.loggingProbs?.length ?? maxPlusOne(rows)));
  const action = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n);
  const target = new Float64Array(full ? n * k : n);
  const rewardModel = first.rewardModel ? new Float64Array(n * k) : undefined;
  const loggingProbs = first.loggingProbs ? new Float64Array(n * k) : undefined;
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    if (!Number.isInteger(row.action))
      throw new InvalidFeedbackError('action', `must be an integer, got ${row.action}`, i);
    action[i] = row.action;
    reward[i] = row.reward;
    propensity[i] = row.propensity;
    if (full) copyRow(target, i, k, row.targetProbs, 'targetProbs');
    else if (typeof row.targetProbs === 'number') target[i] = row.targetProbs;
    else throw new InvalidFeedbackError('targetProbs', 'must be given the same way (array or number) on every row', i);
    if (rewardModel) copyRow(rewardModel, i, k, row.rewardModel, 'rewardModel');
    else if (row.rewardModel) throw new InvalidFeedbackError('rewardModel', 'must be on every row or on none', i);
    if (loggingProbs) copyRow(loggingProbs, i, k, row.loggingProbs, 'loggingProbs');
    else if (row.loggingProbs) throw new InvalidFeedbackError('loggingProbs', 'must be on every row or on none', i);
  }
  return {
    actionCount: k,
    action,
    reward,
    propensity,
    ...(full ? { targetProbs: target } : { targetLoggedProbs: target }),
    ...(rewardModel && { rewardModel }),
    ...(loggingProbs && { loggingProbs }),
  };
}

// ---------------------------------------------------------------------------------------------
// Preparation: validation and the per-row contributions every estimator is a sum of.

interface ResolvedOptions {
  resamples: number;
  seed: number;
  level: number;
  probabilityTolerance: number;
  minPropensity: number;
  minEssFraction: number;
  maxWeightShare: number;
}

interface PreparedFeedback {
  n: number;
  /** importance weight of the logged action */
  w: Float64Array;
  /** w * r */
  wr: Float64Array;
  /** sum_a pi(a|x) q(x, a) */
  dm?: Float64Array;
  /** dm + w (r - q(x, a_logged)) */
  dr?: Float64Array;
  weights: ImportanceWeightSummary;
  supportDeficit?: { targetMass: number; check: SupportCheck };
  warnings: OpeWarning[];
  /** clusters renumbered 0..clusters-1, when the feedback gave them */
  cluster?: { of: Int32Array; count: number };
}

function resolveOptions(options: EvaluationOptions): ResolvedOptions {
  const settings = { ...DEFAULTS, ...stripUndefined(options) };
  if (!Number.isInteger(settings.resamples) || settings.resamples < 2) {
    throw new InvalidEvaluationOptionError('resamples', `must be an integer >= 2, got ${settings.resamples}`);
  }
  if (!Number.isInteger(settings.seed)) {
    throw new InvalidEvaluationOptionError('seed', `must be an integer, got ${settings.seed}`);
  }
  if (!(settings.level > 0 && settings.level < 1)) {
    throw new InvalidEvaluationOptionError('level', `must be in (0, 1), got ${settings.level}`);
  }
  if (!(settings.probabilityTolerance >= 0 && settings.probabilityTolerance < 1)) {
    throw new InvalidEvaluationOptionError(
      'probabilityTolerance',
      `must be in [0, 1), got ${settings.probabilityTolerance}`,
    );
  }
  if (!(settings.minPropensity >= 0 && settings.minPropensity <= 1)) {
    throw new InvalidEvaluationOptionError('minPropensity', `must be in [0, 1], got ${settings.minPropensity}`);
  }
  if (!(settings.minEssFraction >= 0 && settings.minEssFraction <= 1)) {
    throw new InvalidEvaluationOptionError('minEssFraction', `must be in [0, 1], got ${settings.minEssFraction}`);
  }
  if (!(settings.maxWeightShare > 0 && settings.maxWeightShare <= 1)) {
    throw new InvalidEvaluationOptionError('maxWeightShare', `must be in (0, 1], got ${settings.maxWeightShare}`);
  }
  return settings;
}

function prepareFeedback(feedback: LoggedFeedback, settings: ResolvedOptions): PreparedFeedback {
  const { n, k } = validateShape(feedback);
  const tolerance = settings.probabilityTolerance;
  const { action, reward, propensity, targetProbs, targetLoggedProbs, rewardModel, loggingProbs } = feedback;

  const w = new Float64Array(n);
  const wr = new Float64Array(n);
  const dm = targetProbs && rewardModel ? new Float64Array(n) : undefined;
  const dr = dm ? new Float64Array(n) : undefined;
  let lowPropensityRows = 0;
  let minPropensity = Number.POSITIVE_INFINITY;
  const logged = new Uint8Array(k);

  for (let i = 0; i < n; i++) {
    const a = action[i];
    if (!Number.isInteger(a) || a < 0 || a >= k) {
      throw new InvalidFeedbackError('action', `must be an integer in [0, ${k}), got ${a}`, i);
    }
    const r = reward[i];
    if (!Number.isFinite(r)) throw new InvalidFeedbackError('reward', `must be a finite number, got ${r}`, i);
    const p = propensity[i];
    if (!(p > 0 && p <= 1)) throw new InvalidFeedbackError('propensity', `must be in (0, 1], got ${p}`, i);
    logged[a] = 1;
    if (p < settings.minPropensity) lowPropensityRows++;
    if (p < minPropensity) minPropensity = p;

    let pi: number;
    if (targetProbs) {
      checkDistribution(targetProbs, i, k, tolerance, 'targetProbs');
      pi = targetProbs[i * k + a];
    } else {
      pi = (targetLoggedProbs as ArrayLike<number>)[i];
      if (!(pi >= 0 && pi <= 1)) throw new InvalidFeedbackError('targetLoggedProbs', `must be in [0, 1], got ${pi}`, i);
    }
    if (loggingProbs) {
      checkDistribution(loggingProbs, i, k, tolerance, 'loggingProbs');
      const mu = loggingProbs[i * k + a];
      if (Math.abs(mu - p) > tolerance) {
        throw new InvalidFeedbackError(
          'loggingProbs',
          `give the logged action probability ${mu}, propensity says ${p}`,
          i,
        );
      }
    }
    const wi = pi / p;
    w[i] = wi;
    wr[i] = wi * r;

    if (dm && dr && targetProbs && rewardModel) {
      let value = 0;
      for (let j = 0; j < k; j++) {
        const q = rewardModel[i * k + j];
        if (!Number.isFinite(q)) {
          throw new InvalidFeedbackError('rewardModel', `must be finite, got ${q} for action ${j}`, i);
        }
        value += targetProbs[i * k + j] * q;
      }
      dm[i] = value;
      dr[i] = value + wi * (r - rewardModel[i * k + a]);
    }
  }

  const weights = summarizeWeights(w);
  const cluster = feedback.cluster ? renumberClusters(feedback.cluster) : undefined;
  const supportDeficit = targetProbs ? measureSupportDeficit(feedback, n, k, logged) : undefined;
  const warnings = collectWarnings(n, weights, supportDeficit, logged, settings, lowPropensityRows, minPropensity);
  return {
    n,
    w,
    wr,
    ...(dm && dr && { dm, dr }),
    weights,
    ...(supportDeficit && { supportDeficit }),
    warnings,
    ...(cluster && { cluster }),
  };
}

function renumberClusters(cluster: ArrayLike<number>): { of: Int32Array; count: number } {
  const ids = new Map<number, number>();
  const of = new Int32Array(cluster.length);
  for (let i = 0; i < cluster.length; i++) {
    const id = cluster[i];
    if (!Number.isInteger(id)) throw new InvalidFeedbackError('cluster', `must be an integer id, got ${id}`, i);
    let k = ids.get(id);
    if (k === undefined) {
      k = ids.size;
      ids.set(id, k);
    }
    of[i] = k;
  }
  return { of, count: ids.size };
}

function validateShape(feedback: LoggedFeedback): { n: number; k: number } {
  const k = feedback.actionCount;
  if (!Number.isInteger(k) || k < 1) throw new InvalidFeedbackError('actionCount', `must be an integer >= 1, got ${k}`);
  const n = feedback.action?.length ?? 0;
  if (n === 0) throw new InvalidFeedbackError('action', 'must hold at least one row');
  for (const field of ['reward', 'propensity'] as const) {
    const length = feedback[field]?.length;
    if (length !== n)
      throw new InvalidFeedbackError(field, `has ${length ?? 'no'} entries, expected ${n} (one per row)`);
  }
  if (feedback.targetProbs && feedback.targetLoggedProbs) {
    throw new InvalidFeedbackError('targetProbs', 'and targetLoggedProbs are both given; give one');
  }
  if (!feedback.targetProbs && !feedback.targetLoggedProbs) {
    throw new InvalidFeedbackError('targetProbs', 'or targetLoggedProbs is required (the target policy)');
  }
  if (feedback.targetLoggedProbs && feedback.targetLoggedProbs.length !== n) {
    throw new InvalidFeedbackError(
      'targetLoggedProbs',
      `has ${feedback.targetLoggedProbs.length} entries, expected ${n} (one per row)`,
    );
  }
  if (feedback.cluster && feedback.cluster.length !== n) {
    throw new InvalidFeedbackError('cluster', `has ${feedback.cluster.length} entries, expected ${n} (one per row)`);
  }
  for (const field of ['targetProbs', 'rewardModel', 'loggingProbs'] as const) {
    const matrix = feedback[field];
    if (matrix && matrix.length !== n * k) {
      throw new InvalidFeedbackError(field, `has ${matrix.length} entries, expected ${n * k} (rows x actionCount)`);
    }
  }
  return { n, k };
}

function checkDistribution(probs: ArrayLike<number>, row: number, k: number, tolerance: number, field: string): void {
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const v = probs[row * k + j];
    if (!(v >= 0 && v <= 1)) throw new InvalidFeedbackError(field, `must be in [0, 1], got ${v} for action ${j}`, row);
    sum += v;
  }
  if (Math.abs(sum - 1) > tolerance) {
    throw new InvalidFeedbackError(field, `must sum to 1 (within ${tolerance}), sums to ${sum}`, row);
  }
}

function summarizeWeights(w: Float64Array): ImportanceWeightSummary {
  let sum = 0;
  let sumSquares = 0;
  let max = 0;
  for (let i = 0; i < w.length; i++) {
    sum += w[i];
    sumSquares += w[i] * w[i];
    if (w[i] > max) max = w[i];
  }
  const effectiveSampleSize = sumSquares > 0 ? (sum * sum) / sumSquares : 0;
  return { effectiveSampleSize, essFraction: effectiveSampleSize / w.length, max, mean: sum / w.length };
}

function measureSupportDeficit(
  feedback: LoggedFeedback,
  n: number,
  k: number,
  logged: Uint8Array,
): { targetMass: number; check: SupportCheck } {
  const target = feedback.targetProbs as ArrayLike<number>;
  const logging = feedback.loggingProbs;
  let mass = 0;
  if (logging) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) if (logging[i * k + j] === 0) mass += target[i * k + j];
    }
    return { targetMass: mass / n, check: 'logging-probs' };
  }
  // Without the logger's distribution, the actions that never appear in the log are the only
  // ones known to be outside its support: a lower bound on the deficit.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) if (!logged[j]) mass += target[i * k + j];
  }
  return { targetMass: mass / n, check: 'unlogged-actions' };
}

function collectWarnings(
  n: number,
  weights: ImportanceWeightSummary,
  supportDeficit: { targetMass: number; check: SupportCheck } | undefined,
  logged: Uint8Array,
  settings: ResolvedOptions,
  lowPropensityRows: number,
  minPropensity: number,
): OpeWarning[] {
  const warnings: OpeWarning[] = [];
  if (lowPropensityRows > 0) {
    warnings.push({
      code: 'low-propensity',
      message:
        `${lowPropensityRows} of ${n} rows were logged with propensity below ${settings.minPropensity} ` +
        `(lowest ${minPropensity}); their importance weights can dominate IPS and DR`,
      rows: lowPropensityRows,
      threshold: settings.minPropensity,
      minPropensity,
    });
  }
  if (weights.effectiveSampleSize === 0) {
    warnings.push({
      code: 'no-overlap',
      message: 'the target gives probability 0 to every logged action: SNIPS is undefined and IPS says 0 by default',
    });
  } else if (weights.essFraction < settings.minEssFraction) {
    warnings.push({
      code: 'low-effective-sample-size',
      message:
        `effective sample size ${weights.effectiveSampleSize.toFixed(1)} is ${(weights.essFraction * 100).toFixed(2)}% ` +
        `of ${n} rows: a few rows decide the weighted estimates; trust intervals less than their width suggests`,
      effectiveSampleSize: weights.effectiveSampleSize,
      essFraction: weights.essFraction,
      threshold: settings.minEssFraction,
    });
  } else {
    // ESS <= 1 / share^2: with few rows a single row can carry much of the estimate before the ESS
    // fraction looks small, so say so on its own.
    const share = weights.max / (weights.mean * n);
    if (share > settings.maxWeightShare) {
      warnings.push({
        code: 'dominant-weight',
        message:
          `one row carries ${(share * 100).toFixed(1)}% of the total importance weight (max weight ` +
          `${weights.max.toPrecision(4)}): the logger rarely took actions the target favours; IPS and DR move with that row`,
        maxWeight: weights.max,
        share,
        threshold: settings.maxWeightShare,
      });
    }
  }
  if (supportDeficit && supportDeficit.targetMass > settings.probabilityTolerance) {
    const actions: number[] = [];
    for (let j = 0; j < logged.length; j++) if (!logged[j]) actions.push(j);
    const where =
      supportDeficit.check === 'logging-probs'
        ? 'actions the logging policy gives probability 0'
        : `actions never seen in the log (${actions.join(', ')})`;
    warnings.push({
      code: 'support-deficiency',
      message:
        `the target puts ${(supportDeficit.targetMass * 100).toFixed(2)}% of its mass on ${where}; ` +
        'IPS and SNIPS cannot see rewards there (biased) and DM/DR rely on the reward model alone for them',
      targetMass: supportDeficit.targetMass,
      check: supportDeficit.check,
      ...(supportDeficit.check === 'unlogged-actions' && { actions }),
    });
  }
  return warnings;
}

// ---------------------------------------------------------------------------------------------
// Estimators as functions of column sums: the same code serves the full sample and each resample.

interface ColumnOffsets {
  wr: number;
  w: number;
  dm: number;
  dr: number;
  /** a column of ones (rows per resample), present under a cluster bootstrap; -1 otherwise */
  count: number;
}

/** Columns to resample; dm and dr offsets are -1 when there is no reward model, count -1 without clusters. */
function estimatorColumns(prepared: PreparedFeedback): { list: Float64Array[]; offset: ColumnOffsets } {
  const list = [prepared.wr, prepared.w];
  const offset: ColumnOffsets = { wr: 0, w: 1, dm: -1, dr: -1, count: -1 };
  if (prepared.dm && prepared.dr) {
    offset.dm = list.push(prepared.dm) - 1;
    offset.dr = list.push(prepared.dr) - 1;
  }
  if (prepared.cluster) offset.count = list.push(new Float64Array(prepared.n).fill(1)) - 1;
  return { list, offset };
}

function shiftOffsets(offset: ColumnOffsets, by: number): ColumnOffsets {
  const shift = (o: number) => (o < 0 ? o : o + by);
  return {
    wr: shift(offset.wr),
    w: shift(offset.w),
    dm: shift(offset.dm),
    dr: shift(offset.dr),
    count: shift(offset.count),
  };
}

/** Row bootstrap, or cluster bootstrap when the feedback gave clusters. */
function resampleSums(prepared: PreparedFeedback, columns: Float64Array[], settings: ResolvedOptions): Float64Array {
  return prepared.cluster
    ? resampleClusterSums(columns, prepared.cluster.of, prepared.cluster.count, settings.resamples, settings.seed)
    : resampleColumnSums(columns, settings.resamples, settings.seed);
}

function fromSums(name: EstimatorName, n: number, sumWr: number, sumW: number, sumDm: number, sumDr: number): number {
  switch (name) {
    case 'ips':
      return sumWr / n;
    case 'snips':
      return sumW > 0 ? sumWr / sumW : Number.NaN;
    case 'dm':
      return sumDm / n;
    case 'dr':
      return sumDr / n;
  }
}

function pointEstimate(name: EstimatorName, prepared: PreparedFeedback): number {
  return fromSums(
    name,
    prepared.n,
    sum(prepared.wr),
    sum(prepared.w),
    prepared.dm ? sum(prepared.dm) : Number.NaN,
    prepared.dr ? sum(prepared.dr) : Number.NaN,
  );
}

function replicatesOf(
  name: EstimatorName,
  n: number,
  sums: Float64Array,
  width: number,
  offset: ColumnOffsets,
): Float64Array {
  const resamples = sums.length / width;
  const out = new Float64Array(resamples);
  const hasModel = offset.dr >= 0;
  for (let b = 0; b < resamples; b++) {
    const base = b * width;
    out[b] = fromSums(
      name,
      offset.count >= 0 ? sums[base + offset.count] : n,
      sums[base + offset.wr],
      sums[base + offset.w],
      hasModel ? sums[base + offset.dm] : Number.NaN,
      hasModel ? sums[base + offset.dr] : Number.NaN,
    );
  }
  return out;
}

function intervalEstimate(estimate: number, replicates: Float64Array, level: number): IntervalEstimate {
  const { low, high } = percentileInterval(replicates, level);
  return { estimate, low, high, standardError: standardDeviation(replicates) };
}

function bootstrapSettings(settings: ResolvedOptions, prepared: PreparedFeedback): BootstrapSettings {
  return {
    method: 'percentile',
    resamples: settings.resamples,
    seed: settings.seed,
    level: settings.level,
    rewardModelFixed: true,
    ...(prepared.cluster && { clusters: prepared.cluster.count }),
  };
}

function assertSameLog(candidate: LoggedFeedback, baseline: LoggedFeedback): void {
  if (candidate.actionCount !== baseline.actionCount) {
    throw new IncomparablePoliciesError(
      `actionCount differs (${candidate.actionCount} vs ${baseline.actionCount}); evaluate both on the same log`,
    );
  }
  if (!candidate.cluster !== !baseline.cluster) {
    throw new IncomparablePoliciesError('one side gives clusters and the other does not; give the same on both');
  }
  for (const field of ['action', 'reward', 'propensity', 'cluster'] as const) {
    const a = candidate[field];
    const b = baseline[field];
    if (a === b) continue;
    if (!a || !b || a.length !== b.length) {
      throw new IncomparablePoliciesError(
        `${field} has ${a?.length} rows vs ${b?.length}; evaluate both on the same log`,
      );
    }
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        throw new IncomparablePoliciesError(`${field} differs (${a[i]} vs ${b[i]}); evaluate both on the same log`, i);
      }
    }
  }
}

function comparisonSummary(
  verdict: Verdict,
  estimator: EstimatorName,
  candidate: IntervalEstimate,
  baseline: IntervalEstimate,
  difference: IntervalEstimate,
  context: { level: number; rows: number; minimumLift: number },
): string {
  const signed = (v: number) => `${v >= 0 ? '+' : ''}${formatNumber(v)}`;
  const margin = context.minimumLift === 0 ? '' : ` against a required lift of ${signed(context.minimumLift)}`;
  return (
    `${verdict}: ${estimator.toUpperCase()} lift ${signed(difference.estimate)} ` +
    `(${Math.round(context.level * 100)}% interval ${signed(difference.low)} to ${signed(difference.high)})${margin} ` +
    `over ${context.rows} rows; candidate ${formatNumber(candidate.estimate)}, baseline ${formatNumber(baseline.estimate)}`
  );
}

function formatNumber(v: number): string {
  // Rewards are often CTRs around 0.005: four significant digits say what matters.
  return Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
}

function sum(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

function copyRow(
  out: Float64Array,
  row: number,
  k: number,
  values: ArrayLike<number> | number | undefined,
  field: string,
): void {
  if (typeof values !== 'object' || values.length !== k) {
    throw new InvalidFeedbackError(field, `must list ${k} values (one per action) on every row`, row);
  }
  for (let j = 0; j < k; j++) out[row * k + j] = values[j];
}

function maxPlusOne(rows: readonly FeedbackRow[]): number {
  let max = -1;
  for (const row of rows) if (row.action > max) max = row.action;
  return max + 1;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
