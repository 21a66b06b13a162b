/**
 * Diagnostic 'oracle-mlp': the non-linear counterpart of 'oracle-linear' (linear-ceiling.ts). During the
 * first `fitDays` it acts as the oracle and records, for every allowed arm of every request, the feature
 * row and the arm's true expected reward, less the mean over the request's allowed arms (a uniform
 * reservoir sample of at most `maxRows` of them); then it fits a small MLP (model/bandit/mlp.ts, the
 * network NeuralLinear learns its representation with) to those by squared error, and from then on
 * picks the allowed arm with the highest prediction.
 *
 * No estimation noise, no exploration, true expected rewards as targets: its last-week share of the
 * oracle bounds what a learner using a network of this size over the policy's features could reach. If
 * it is not far above oracle-linear, the gap to the oracle is information the features do not carry.
 */

import type { AnalystConfig } from '#config/schema.ts';
import { RepresentationNetwork, type TrainingOptions } from '#model/bandit/mlp.ts';
import { FEATURE_DIMENSION } from '#model/features.ts';
import { DecisionPreparer } from '#model/policy.ts';
import { hashString, Rng } from '#model/random.ts';
import { solveRidge } from './linear-ceiling.ts';
import { certainSend, trueArmValues } from './oracle.ts';
import type { PolicyContext, SimDecision, SimPolicy } from './policy-api.ts';
import type { Population } from './population.ts';
import { channelPriors } from './priors.ts';
import { DAY_MS, simulationStartMs } from './truth.ts';

const D = FEATURE_DIMENSION;

export interface MlpCeilingOptions {
  fitDays: number;
  hidden: readonly number[];
  /** reservoir size: rows kept for training (a week of the default population holds about 204,000 arm rows) */
  maxRows: number;
  training: TrainingOptions;
  /**
   * Fit each arm's reward minus the mean over its request's allowed arms: only the ranking within a
   * request matters to the choice, and the network's capacity then goes to it rather than to the level.
   */
  centerPerRequest: boolean;
  /** called once after the fit, with how well it fits the kept rows */
  onFit?: (report: MlpFitReport) => void;
}

export interface MlpFitReport {
  rowsSeen: number;
  rowsKept: number;
  /** share of the variance of the true expected reward over the kept rows explained by the network */
  r2: number;
  /** the same for least squares over the same rows (what oracle-linear fits) */
  linearR2: number;
  seconds: number;
}

export const DEFAULT_MLP_CEILING: MlpCeilingOptions = {
  fitDays: 7,
  hidden: [64, 32],
  maxRows: 250_000,
  training: { epochs: 15, batchSize: 128, learningRate: 0.002 },
  centerPerRequest: true,
};

/**
 * Keeps a uniform sample of at most `capacity` (row, target) pairs from a stream (Vitter's algorithm R),
 * and standardises both for training.
 * @example const r = new Reservoir(2, 100, new Rng(1)); r.add([1, 0], 0.5); r.size // 1
 */
export class Reservoir {
  readonly features: Float32Array;
  readonly targets: Float64Array;
  seen = 0;

  constructor(
    readonly dimension: number,
    readonly capacity: number,
    private readonly rng: Rng,
  ) {
    this.features = new Float32Array(capacity * dimension);
    this.targets = new Float64Array(capacity);
  }

  get size(): number {
    return Math.min(this.seen, this.capacity);
  }

  add(x: ArrayLike<number>, y: number): void {
    const slot = this.seen < this.capacity ? this.seen : this.rng.int(this.seen + 1);
    this.seen++;
    if (slot >= this.capacity) return;
    for (let i = 0; i < this.dimension; i++) this.features[slot * this.dimension + i] = x[i];
    this.targets[slot] = y;
  }

  /** Per-column mean and standard deviation of the kept rows (sd 1 for a constant column). */
  columnScales(): { mean: Float64Array; sd: Float64Array } {
    const n = this.size;
    const d = this.dimension;
    const mean = new Float64Array(d);
    const sd = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) mean[i] += this.features[r * d + i];
    for (let i = 0; i < d; i++) mean[i] /= Math.max(1, n);
    for (let r = 0; r < n; r++)
      for (let i = 0; i < d; i++) {
        const e = this.features[r * d + i] - mean[i];
        sd[i] += e * e;
      }
    for (let i = 0; i < d; i++) {
      const s = Math.sqrt(sd[i] / Math.max(1, n));
      sd[i] = s > 1e-9 ? s : 1;
    }
    return { mean, sd };
  }
}

/** In-sample R^2 of least squares (with intercept) of standardised targets y on standardised rows x. */
function linearR2(x: Float32Array, y: Float64Array, n: number): number {
  const d = D + 1;
  const A = new Float64Array(d * d);
  const b = new Float64Array(d);
  const row = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    row[0] = 1;
    for (let i = 0; i < D; i++) row[i + 1] = x[r * D + i];
    for (let i = 0; i < d; i++) {
      b[i] += row[i] * y[r];
      for (let j = 0; j < d; j++) A[i * d + j] += row[i] * row[j];
    }
  }
  const w = solveRidge(A, b, d, 1e-6 * n);
  let sse = 0;
  for (let r = 0; r < n; r++) {
    let yhat = w[0];
    for (let i = 0; i < D; i++) yhat += w[i + 1] * x[r * D + i];
    sse += (yhat - y[r]) ** 2;
  }
  return 1 - sse / n;
}

/**
 * @example createMlpCeiling(population, config, ctx)
 */
export function createMlpCeiling(
  population: Population,
  config: AnalystConfig,
  ctx: PolicyContext,
  options: MlpCeilingOptions = DEFAULT_MLP_CEILING,
): SimPolicy {
  // The same population priors as the bandit's features (sim/bandit.ts).
  const prep = new DecisionPreparer(config, channelPriors(ctx.observedUsers()));
  const trueValue = trueArmValues(population, config, ctx.world);
  const fitUntil = simulationStartMs(population) + options.fitDays * DAY_MS;
  const rng = new Rng(hashString(`oracle-mlp/${ctx.seed}`));
  const reservoir = new Reservoir(D, options.maxRows, rng);
  let fitted: { net: RepresentationNetwork; mean: Float64Array; sd: Float64Array } | undefined;

  function train() {
    const started = performance.now();
    const n = reservoir.size;
    const { mean, sd } = reservoir.columnScales();
    const x = new Float32Array(n * D);
    for (let r = 0; r < n; r++)
      for (let i = 0; i < D; i++) x[r * D + i] = (reservoir.features[r * D + i] - mean[i]) / sd[i];
    // Targets standardised too; the argmax of a prediction does not depend on their scale.
    let yMean = 0;
    for (let r = 0; r < n; r++) yMean += reservoir.targets[r];
    yMean /= Math.max(1, n);
    let yVar = 0;
    for (let r = 0; r < n; r++) yVar += (reservoir.targets[r] - yMean) ** 2;
    const ySd = Math.sqrt(yVar / Math.max(1, n)) || 1;
    const y = new Float64Array(n);
    for (let r = 0; r < n; r++) y[r] = (reservoir.targets[r] - yMean) / ySd;
    const net = new RepresentationNetwork(D, options.hidden, rng);
    net.train(x, y, n, options.training, rng);
    if (options.onFit) {
      const yhat = net.predict(x, n);
      let sse = 0;
      for (let r = 0; r < n; r++) sse += (yhat[r] - y[r]) ** 2;
      options.onFit({
        rowsSeen: reservoir.seen,
        rowsKept: n,
        r2: 1 - sse / n,
        linearR2: linearR2(x, y, n),
        seconds: (performance.now() - started) / 1000,
      });
    }
    return { net, mean, sd };
  }

  return {
    decide(inputs): SimDecision[] {
      const { decisions, batch } = prep.prepare(inputs);
      if (!fitted && inputs.length && inputs[0].nowMs >= fitUntil) fitted = train();
      return decisions.map((d): SimDecision => {
        if (d.row < 0) return { kind: 'no_arm', reasons: {} };
        let best = -1;
        let bestValue = Number.NEGATIVE_INFINITY;
        if (fitted) {
          const { net, mean, sd } = fitted;
          const allowed: number[] = [];
          for (let arm = 0; arm < batch.arms; arm++) if (d.mask.allowed[arm] === 1) allowed.push(arm);
          const x = new Float64Array(allowed.length * D);
          allowed.forEach((arm, k) => {
            const o = (d.row * batch.arms + arm) * D;
            for (let i = 0; i < D; i++) x[k * D + i] = (batch.features[o + i] - mean[i]) / sd[i];
          });
          const yhat = net.predict(x, allowed.length);
          allowed.forEach((arm, k) => {
            if (yhat[k] > bestValue) {
              bestValue = yhat[k];
              best = arm;
            }
          });
        } else {
          const arms: number[] = [];
          const values: number[] = [];
          for (let arm = 0; arm < batch.arms; arm++) {
            if (d.mask.allowed[arm] !== 1) continue;
            const value = trueValue(d.input, d.mask, arm);
            arms.push(arm);
            values.push(value);
            if (value > bestValue) {
              bestValue = value;
              best = arm;
            }
          }
          const level = options.centerPerRequest ? values.reduce((a, v) => a + v, 0) / values.length : 0;
          arms.forEach((arm, k) => {
            const o = (d.row * batch.arms + arm) * D;
            reservoir.add(batch.features.subarray(o, o + D), values[k] - level);
          });
        }
        return certainSend(d.mask, best);
      });
    },
  };
}
