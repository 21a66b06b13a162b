/**
 * Reward models q(x, a) for the direct method and doubly robust estimators, fitted on the same
 * logs they are then used to evaluate, with K-fold cross-fitting: the prediction for row i comes
 * from a model fitted on the folds that do not contain row i. Without it, a flexible model
 * partly memorises each row's own reward, so r - q(x, a) shrinks towards 0 and DR quietly
 * collapses into DM (Chernozhukov et al. 2018, "Double/debiased machine learning").
 *
 * Two models, both working on any log:
 *   - `fitActionMeanRewardModel`: mean reward per (stratum, action), shrunk towards the
 *     stratum's mean with an empirical-Bayes strength (one-way random-effects ANOVA). Needs no
 *     features; a stratum is any discrete context (OBD's position, a send-time slot's weekday).
 *   - `fitRidgeRewardModel`: per-action linear model on given features, shrunk towards a pooled
 *     all-action fit (hierarchical ridge), so an action with few rows borrows from the rest.
 *
 * Both return predictions for every row and every action (n x actionCount, row-major), ready
 * for `LoggedFeedback.rewardModel`. Fold assignment is a seeded shuffle (balanced folds).
 */
import { Rng } from '#model/random.ts';
import { InvalidEvaluationOptionError, InvalidFeedbackError } from './errors.ts';

export interface RewardModelFit {
  /** q(x_i, a) for every row i and action a: `predictions[i * actionCount + a]` */
  readonly predictions: Float64Array;
  readonly rows: number;
  readonly actionCount: number;
  /** number of cross-fitting folds (1: fitted and predicted on all rows, no cross-fitting) */
  readonly folds: number;
  /** fold of each row */
  readonly foldOf: Uint8Array;
}

export interface ActionMeanModelInput {
  readonly actionCount: number;
  readonly action: ArrayLike<number>;
  readonly reward: ArrayLike<number>;
  /** discrete context per row (0-based); omit for one stratum */
  readonly stratum?: ArrayLike<number>;
}

export interface CrossFitOptions {
  /** folds for cross-fitting (default 5; 1 disables it, at the price of overfitting bias) */
  readonly folds?: number;
  /** seed of the fold assignment (default 0) */
  readonly seed?: number;
}

export interface ActionMeanModelOptions extends CrossFitOptions {
  /**
   * Pseudo-rows of the stratum mean added to every (stratum, action) cell. Default
   * 'empirical-bayes': within-cell variance / between-cell variance, estimated per fold by the
   * method of moments; Infinity (all cells at their stratum mean) when the cells do not differ
   * by more than their noise.
   */
  readonly priorStrength?: number | 'empirical-bayes';
}

export interface ActionMeanModelFit extends RewardModelFit {
  /** the shrinkage strength used in each fold (pseudo-rows) */
  readonly priorStrength: readonly number[];
}

/**
 * Cross-fitted per-(stratum, action) mean reward with empirical-Bayes shrinkage towards the
 * stratum mean: q(s, a) = (sum of rewards in the cell + k * stratum mean) / (rows in cell + k).
 * A cell with no training rows predicts its stratum mean; a stratum with none, the global mean.
 *
 * @example
 * const fit = fitActionMeanRewardModel({
 *   actionCount: 2,
 *   action: [0, 0, 1, 1, 0, 1],
 *   reward: [1, 1, 0, 0, 1, 0],
 * }, { folds: 2, priorStrength: 1 });
 * fit.predictions.length // 6 rows x 2 actions
 */
export function fitActionMeanRewardModel(
  input: ActionMeanModelInput,
  options: ActionMeanModelOptions = {},
): ActionMeanModelFit {
  const { n, k } = checkInput(input);
  const folds = checkFolds(options.folds ?? 5, n);
  const strength = options.priorStrength ?? 'empirical-bayes';
  if (strength !== 'empirical-bayes' && !(strength >= 0)) {
    throw new InvalidEvaluationOptionError('priorStrength', `must be >= 0 or 'empirical-bayes', got ${strength}`);
  }
  const { stratum, strata } = readStrata(input.stratum, n);
  const foldOf = assignFolds(n, folds, options.seed ?? 0);

  // Sufficient statistics per (fold, stratum, action) cell; training stats are total minus fold.
  const cells = strata * k;
  const count = new Float64Array((folds + 1) * cells);
  const total = new Float64Array((folds + 1) * cells);
  const squares = new Float64Array((folds + 1) * cells);
  const all = folds * cells;
  for (let i = 0; i < n; i++) {
    const c = stratum[i] * k + input.action[i];
    const r = input.reward[i];
    const inFold = foldOf[i] * cells + c;
    count[inFold]++;
    total[inFold] += r;
    squares[inFold] += r * r;
    count[all + c]++;
    total[all + c] += r;
    squares[all + c] += r * r;
  }

  const predictions = new Float64Array(n * k);
  const usedStrength: number[] = [];
  const trainCount = new Float64Array(cells);
  const trainTotal = new Float64Array(cells);
  const trainSquares = new Float64Array(cells);
  const prior = new Float64Array(strata);
  const cellPrediction = new Float64Array(folds * cells);
  for (let f = 0; f < folds; f++) {
    // With one fold there is nothing to hold out: train and predict on all rows.
    const held = folds === 1 ? 0 : 1;
    for (let c = 0; c < cells; c++) {
      trainCount[c] = count[all + c] - held * count[f * cells + c];
      trainTotal[c] = total[all + c] - held * total[f * cells + c];
      trainSquares[c] = squares[all + c] - held * squares[f * cells + c];
    }
    let globalCount = 0;
    let globalTotal = 0;
    for (let c = 0; c < cells; c++) {
      globalCount += trainCount[c];
      globalTotal += trainTotal[c];
    }
    const globalMean = globalCount > 0 ? globalTotal / globalCount : 0;
    for (let s = 0; s < strata; s++) {
      let sc = 0;
      let st = 0;
      for (let a = 0; a < k; a++) {
        sc += trainCount[s * k + a];
        st += trainTotal[s * k + a];
      }
      prior[s] = sc > 0 ? st / sc : globalMean;
    }
    const kStrength =
      strength === 'empirical-bayes'
        ? empiricalBayesStrength(trainCount, trainTotal, trainSquares, prior, k)
        : strength;
    usedStrength.push(kStrength);
    for (let c = 0; c < cells; c++) {
      const m = prior[Math.floor(c / k)];
      cellPrediction[f * cells + c] =
        kStrength === Number.POSITIVE_INFINITY || trainCount[c] + kStrength === 0
          ? m
          : (trainTotal[c] + kStrength * m) / (trainCount[c] + kStrength);
    }
  }
  for (let i = 0; i < n; i++) {
    const base = foldOf[i] * cells + stratum[i] * k;
    for (let a = 0; a < k; a++) predictions[i * k + a] = cellPrediction[base + a];
  }
  return { predictions, rows: n, actionCount: k, folds, foldOf, priorStrength: usedStrength };
}

/**
 * Method-of-moments (ANOVA) estimate of k = sigma^2 / tau^2 for cells nested in strata:
 * sigma^2 the pooled within-cell variance, tau^2 the variance of cell means around their
 * stratum mean beyond what sigma^2 / n_cell explains. Infinity when tau^2 <= 0.
 */
function empiricalBayesStrength(
  count: Float64Array,
  total: Float64Array,
  squares: Float64Array,
  prior: Float64Array,
  k: number,
): number {
  let within = 0;
  let rows = 0;
  let occupied = 0;
  let between = 0;
  let betweenDf = 0;
  let denominator = 0;
  for (let s = 0; s < prior.length; s++) {
    let stratumRows = 0;
    let stratumCells = 0;
    let sumSquaredCounts = 0;
    for (let a = 0; a < k; a++) {
      const c = s * k + a;
      const nc = count[c];
      if (nc === 0) continue;
      const mean = total[c] / nc;
      within += squares[c] - nc * mean * mean;
      between += nc * (mean - prior[s]) ** 2;
      stratumRows += nc;
      stratumCells++;
      sumSquaredCounts += nc * nc;
    }
    if (stratumCells === 0) continue;
    rows += stratumRows;
    occupied += stratumCells;
    betweenDf += stratumCells - 1;
    denominator += stratumRows - sumSquaredCounts / stratumRows;
  }
  // One row per cell leaves no within-cell degrees of freedom: fall back to one pseudo-row.
  if (rows - occupied <= 0 || denominator <= 0) return 1;
  const sigma2 = Math.max(within, 0) / (rows - occupied);
  const tau2 = (between - betweenDf * sigma2) / denominator;
  if (tau2 <= 0) return Number.POSITIVE_INFINITY;
  return sigma2 / tau2;
}

export interface RidgeModelInput {
  readonly actionCount: number;
  readonly action: ArrayLike<number>;
  readonly reward: ArrayLike<number>;
  /** context features per row (n x featureCount, row-major); an intercept is added */
  readonly features: ArrayLike<number>;
  readonly featureCount: number;
}

export interface RidgeModelOptions extends CrossFitOptions {
  /** penalty of the pooled all-action fit, on everything but the intercept (default 1) */
  readonly pooledPenalty?: number;
  /** penalty pulling each action's coefficients towards the pooled fit, in pseudo-rows (default 100) */
  readonly actionPenalty?: number;
  /** clip predictions to the training rewards' range (default true: a CTR model never says -0.01) */
  readonly clip?: boolean;
}

/**
 * Cross-fitted hierarchical ridge regression: per fold, a pooled fit over all actions,
 *   beta_0 = argmin sum (r - x beta)^2 + pooledPenalty * |beta without intercept|^2,
 * then per action a,
 *   beta_a = argmin sum_{rows of a} (r - x beta)^2 + actionPenalty * |beta - beta_0|^2,
 * so actions with few rows stay close to the pooled model. Gram matrices are accumulated once
 * per (fold, action) and training sums are totals minus the held-out fold: O(n d^2 + folds K d^3)
 * time, O(folds K d^2) memory. Zero features are skipped, so one-hot inputs are cheap.
 *
 * @example
 * const fit = fitRidgeRewardModel({
 *   actionCount: 2, featureCount: 1,
 *   action: [0, 1, 0, 1, 0, 1],
 *   reward: [0, 1, 0, 2, 0, 3],
 *   features: [1, 1, 2, 2, 3, 3],
 * }, { folds: 2, actionPenalty: 0.01, pooledPenalty: 0.01, clip: false });
 * fit.predictions[1] // action 1 at x = 1: close to 1
 */
export function fitRidgeRewardModel(input: RidgeModelInput, options: RidgeModelOptions = {}): RewardModelFit {
  const { n, k } = checkInput(input);
  const d = input.featureCount;
  if (!Number.isInteger(d) || d < 0)
    throw new InvalidFeedbackError('featureCount', `must be an integer >= 0, got ${d}`);
  if (input.features.length !== n * d) {
    throw new InvalidFeedbackError(
      'features',
      `has ${input.features.length} entries, expected ${n * d} (rows x featureCount)`,
    );
  }
  const folds = checkFolds(options.folds ?? 5, n);
  const pooledPenalty = options.pooledPenalty ?? 1;
  const actionPenalty = options.actionPenalty ?? 100;
  for (const [name, value] of [
    ['pooledPenalty', pooledPenalty],
    ['actionPenalty', actionPenalty],
  ] as const) {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new InvalidEvaluationOptionError(name, `must be a finite number > 0, got ${value}`);
    }
  }
  const clip = options.clip ?? true;
  const foldOf = assignFolds(n, folds, options.seed ?? 0);
  const D = d + 1;
  const DD = D * D;

  // Gram (upper triangle) and X'r per (fold, action), from each row's nonzero features.
  const gram = new Float64Array(folds * k * DD);
  const moment = new Float64Array(folds * k * D);
  const rewardRange = new Float64Array(folds * 2).fill(Number.NaN);
  const nonzero = new Int32Array(D);
  const values = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    const r = input.reward[i];
    let m = 0;
    nonzero[m] = 0;
    values[m++] = 1;
    for (let j = 0; j < d; j++) {
      const v = input.features[i * d + j];
      if (!Number.isFinite(v))
        throw new InvalidFeedbackError('features', `must be finite, got ${v} at feature ${j}`, i);
      if (v !== 0) {
        nonzero[m] = j + 1;
        values[m++] = v;
      }
    }
    const cell = foldOf[i] * k + input.action[i];
    const g = cell * DD;
    const b = cell * D;
    for (let p = 0; p < m; p++) {
      const row = g + nonzero[p] * D;
      const vp = values[p];
      moment[b + nonzero[p]] += vp * r;
      for (let q = p; q < m; q++) gram[row + nonzero[q]] += vp * values[q];
    }
    const f = foldOf[i];
    if (!(rewardRange[2 * f] <= r)) rewardRange[2 * f] = r;
    if (!(rewardRange[2 * f + 1] >= r)) rewardRange[2 * f + 1] = r;
  }

  const predictions = new Float64Array(n * k);
  const coefficients = new Float64Array(folds * k * D);
  const pooledGram = new Float64Array(DD);
  const pooledMoment = new Float64Array(D);
  const actionGram = new Float64Array(DD);
  const actionMoment = new Float64Array(D);
  const clipRange = new Float64Array(folds * 2);
  for (let f = 0; f < folds; f++) {
    const trains = (g: number) => folds === 1 || g !== f;
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let g = 0; g < folds; g++) {
      if (!trains(g) || Number.isNaN(rewardRange[2 * g])) continue;
      low = Math.min(low, rewardRange[2 * g]);
      high = Math.max(high, rewardRange[2 * g + 1]);
    }
    clipRange[2 * f] = low;
    clipRange[2 * f + 1] = high;

    pooledGram.fill(0);
    pooledMoment.fill(0);
    for (let g = 0; g < folds; g++) {
      if (!trains(g)) continue;
      for (let a = 0; a < k; a++) {
        addInto(pooledGram, gram, (g * k + a) * DD, DD);
        addInto(pooledMoment, moment, (g * k + a) * D, D);
      }
    }
    // Intercept unpenalised (a tiny jitter keeps an all-empty fold solvable).
    pooledGram[0] += 1e-9;
    for (let j = 1; j < D; j++) pooledGram[j * D + j] += pooledPenalty;
    const pooled = solveSymmetricPositiveDefinite(pooledGram, pooledMoment, D);

    for (let a = 0; a < k; a++) {
      actionGram.fill(0);
      actionMoment.fill(0);
      for (let g = 0; g < folds; g++) {
        if (!trains(g)) continue;
        addInto(actionGram, gram, (g * k + a) * DD, DD);
        addInto(actionMoment, moment, (g * k + a) * D, D);
      }
      for (let j = 0; j < D; j++) {
        actionGram[j * D + j] += actionPenalty;
        actionMoment[j] += actionPenalty * pooled[j];
      }
      coefficients.set(solveSymmetricPositiveDefinite(actionGram, actionMoment, D), (f * k + a) * D);
    }
  }

  for (let i = 0; i < n; i++) {
    const f = foldOf[i];
    for (let a = 0; a < k; a++) {
      const beta = (f * k + a) * D;
      let q = coefficients[beta];
      for (let j = 0; j < d; j++) {
        const v = input.features[i * d + j];
        if (v !== 0) q += v * coefficients[beta + j + 1];
      }
      if (clip && Number.isFinite(clipRange[2 * f])) q = Math.min(Math.max(q, clipRange[2 * f]), clipRange[2 * f + 1]);
      predictions[i * k + a] = q;
    }
  }
  return { predictions, rows: n, actionCount: k, folds, foldOf };
}

export interface LinearRewardModelInput {
  readonly reward: ArrayLike<number>;
  /**
   * the feature row of each logged (context, action) pair: n x featureCount, row-major. With
   * action-dependent features (an arm's row says what distinguishes it), one shared linear model
   * predicts every action, including ones rarely or never logged.
   */
  readonly features: ArrayLike<number>;
  readonly featureCount: number;
}

export interface LinearRewardModelOptions extends CrossFitOptions {
  /** ridge penalty on everything but the intercept (default 1) */
  readonly penalty?: number;
  /** clip predictions to the training rewards' range (default true) */
  readonly clip?: boolean;
}

export interface LinearRewardModel {
  readonly rows: number;
  readonly featureCount: number;
  readonly folds: number;
  /** fold of each row: its predictions come from the model fitted without that fold */
  readonly foldOf: Uint8Array;
  /** per fold, intercept then one coefficient per feature: folds x (featureCount + 1) */
  readonly coefficients: Float64Array;
  /**
   * q(x_i, a) for row i and every arm whose feature rows are given (arms x featureCount, row-major),
   * from the fold model that never saw row i.
   */
  predict(row: number, armFeatures: ArrayLike<number>, arms: number, out?: Float64Array): Float64Array;
}

/**
 * Cross-fitted ridge regression of the reward on action-dependent features:
 *   beta_f = argmin sum over rows outside fold f of (r - [1, x] beta)^2 + penalty |beta without intercept|^2,
 * so q(x_i, a) = [1, x(i, a)] beta_{fold of i} for any arm a of row i's context. The model the contextual
 * bandit itself assumes; the reward model for DM and DR when arms are described by feature rows (a
 * send-time arm's row carries its channel, its slot's hour and the user's history there), where
 * `fitRidgeRewardModel`'s one model per action would spread few rows over many actions.
 * O(n d^2 + folds d^3) to fit; predictions are O(d) per arm.
 *
 * @example
 * const model = fitLinearRewardModel({ reward: [1, 0, 1, 0], features: [1, 0, 1, 0], featureCount: 1 }, { folds: 2 });
 * model.predict(0, [1, 0], 2) // q for two arms of row 0's context: about [1, 0]
 */
export function fitLinearRewardModel(
  input: LinearRewardModelInput,
  options: LinearRewardModelOptions = {},
): LinearRewardModel {
  const n = input.reward.length;
  if (n === 0) throw new InvalidFeedbackError('reward', 'must hold at least one row');
  const d = input.featureCount;
  if (!Number.isInteger(d) || d < 0)
    throw new InvalidFeedbackError('featureCount', `must be an integer >= 0, got ${d}`);
  if (input.features.length !== n * d) {
    throw new InvalidFeedbackError(
      'features',
      `has ${input.features.length} entries, expected ${n * d} (rows x featureCount)`,
    );
  }
  const penalty = options.penalty ?? 1;
  if (!(penalty > 0) || !Number.isFinite(penalty)) {
    throw new InvalidEvaluationOptionError('penalty', `must be a finite number > 0, got ${penalty}`);
  }
  const folds = checkFolds(options.folds ?? 5, n);
  const clip = options.clip ?? true;
  const foldOf = assignFolds(n, folds, options.seed ?? 0);
  const D = d + 1;
  const DD = D * D;
  const gram = new Float64Array(folds * DD);
  const moment = new Float64Array(folds * D);
  const range = new Float64Array(folds * 2).fill(Number.NaN);
  const x = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    const r = input.reward[i];
    if (!Number.isFinite(r)) throw new InvalidFeedbackError('reward', `must be a finite number, got ${r}`, i);
    x[0] = 1;
    for (let j = 0; j < d; j++) {
      const v = input.features[i * d + j];
      if (!Number.isFinite(v))
        throw new InvalidFeedbackError('features', `must be finite, got ${v} at feature ${j}`, i);
      x[j + 1] = v;
    }
    const f = foldOf[i];
    for (let p = 0; p < D; p++) {
      if (x[p] === 0) continue;
      moment[f * D + p] += x[p] * r;
      for (let q = p; q < D; q++) gram[f * DD + p * D + q] += x[p] * x[q];
    }
    if (!(range[2 * f] <= r)) range[2 * f] = r;
    if (!(range[2 * f + 1] >= r)) range[2 * f + 1] = r;
  }
  const coefficients = new Float64Array(folds * D);
  const clipRange = new Float64Array(folds * 2);
  const trainGram = new Float64Array(DD);
  const trainMoment = new Float64Array(D);
  for (let f = 0; f < folds; f++) {
    trainGram.fill(0);
    trainMoment.fill(0);
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let g = 0; g < folds; g++) {
      if (folds > 1 && g === f) continue;
      addInto(trainGram, gram, g * DD, DD);
      addInto(trainMoment, moment, g * D, D);
      if (!Number.isNaN(range[2 * g])) {
        low = Math.min(low, range[2 * g]);
        high = Math.max(high, range[2 * g + 1]);
      }
    }
    trainGram[0] += 1e-9;
    for (let j = 1; j < D; j++) trainGram[j * D + j] += penalty;
    coefficients.set(solveSymmetricPositiveDefinite(trainGram, trainMoment, D), f * D);
    clipRange[2 * f] = low;
    clipRange[2 * f + 1] = high;
  }
  return {
    rows: n,
    featureCount: d,
    folds,
    foldOf,
    coefficients,
    predict(row, armFeatures, arms, out = new Float64Array(arms)) {
      if (!(row >= 0 && row < n)) throw new InvalidFeedbackError('row', `must be in [0, ${n}), got ${row}`);
      if (armFeatures.length < arms * d) {
        throw new InvalidFeedbackError('armFeatures', `has ${armFeatures.length} entries, expected ${arms * d}`, row);
      }
      const f = foldOf[row];
      const beta = f * D;
      for (let a = 0; a < arms; a++) {
        let q = coefficients[beta];
        for (let j = 0; j < d; j++) q += armFeatures[a * d + j] * coefficients[beta + j + 1];
        if (clip && Number.isFinite(clipRange[2 * f]))
          q = Math.min(Math.max(q, clipRange[2 * f]), clipRange[2 * f + 1]);
        out[a] = q;
      }
      return out;
    },
  };
}

function addInto(target: Float64Array, source: Float64Array, offset: number, length: number): void {
  for (let j = 0; j < length; j++) target[j] += source[offset + j];
}

/**
 * Solves A x = b for symmetric positive definite A given by its upper triangle (row-major
 * D x D), by Cholesky factorisation. Inputs are not modified.
 */
function solveSymmetricPositiveDefinite(upper: Float64Array, b: Float64Array, D: number): Float64Array {
  const L = new Float64Array(D * D);
  for (let j = 0; j < D; j++) {
    let diagonal = upper[j * D + j];
    for (let p = 0; p < j; p++) diagonal -= L[j * D + p] * L[j * D + p];
    if (!(diagonal > 0)) throw new InvalidEvaluationOptionError('pooledPenalty', 'left the ridge system singular');
    const ljj = Math.sqrt(diagonal);
    L[j * D + j] = ljj;
    for (let i = j + 1; i < D; i++) {
      let s = upper[j * D + i];
      for (let p = 0; p < j; p++) s -= L[i * D + p] * L[j * D + p];
      L[i * D + j] = s / ljj;
    }
  }
  const x = new Float64Array(D);
  for (let i = 0; i < D; i++) {
    let s = b[i];
    for (let p = 0; p < i; p++) s -= L[i * D + p] * x[p];
    x[i] = s / L[i * D + i];
  }
  for (let i = D - 1; i >= 0; i--) {
    let s = x[i];
    for (let p = i + 1; p < D; p++) s -= L[p * D + i] * x[p];
    x[i] = s / L[i * D + i];
  }
  return x;
}

function checkInput(input: { actionCount: number; action: ArrayLike<number>; reward: ArrayLike<number> }): {
  n: number;
  k: number;
} {
  const k = input.actionCount;
  if (!Number.isInteger(k) || k < 1) throw new InvalidFeedbackError('actionCount', `must be an integer >= 1, got ${k}`);
  const n = input.action.length;
  if (n === 0) throw new InvalidFeedbackError('action', 'must hold at least one row');
  if (input.reward.length !== n) {
    throw new InvalidFeedbackError('reward', `has ${input.reward.length} entries, expected ${n} (one per row)`);
  }
  for (let i = 0; i < n; i++) {
    const a = input.action[i];
    if (!Number.isInteger(a) || a < 0 || a >= k) {
      throw new InvalidFeedbackError('action', `must be an integer in [0, ${k}), got ${a}`, i);
    }
    if (!Number.isFinite(input.reward[i])) {
      throw new InvalidFeedbackError('reward', `must be a finite number, got ${input.reward[i]}`, i);
    }
  }
  return { n, k };
}

function checkFolds(folds: number, n: number): number {
  if (!Number.isInteger(folds) || folds < 1 || folds > 255 || folds > n) {
    throw new InvalidEvaluationOptionError('folds', `must be an integer in [1, min(255, rows = ${n})], got ${folds}`);
  }
  return folds;
}

function readStrata(stratum: ArrayLike<number> | undefined, n: number): { stratum: ArrayLike<number>; strata: number } {
  if (!stratum) return { stratum: new Int32Array(n), strata: 1 };
  if (stratum.length !== n) {
    throw new InvalidFeedbackError('stratum', `has ${stratum.length} entries, expected ${n} (one per row)`);
  }
  let max = 0;
  for (let i = 0; i < n; i++) {
    const s = stratum[i];
    if (!Number.isInteger(s) || s < 0)
      throw new InvalidFeedbackError('stratum', `must be an integer >= 0, got ${s}`, i);
    if (s > max) max = s;
  }
  return { stratum, strata: max + 1 };
}

/** Balanced folds in a seeded random order: row i gets fold (position of i in a shuffle) mod folds. */
function assignFolds(n: number, folds: number, seed: number): Uint8Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const foldOf = new Uint8Array(n);
  for (let p = 0; p < n; p++) foldOf[order[p]] = p % folds;
  return foldOf;
}
