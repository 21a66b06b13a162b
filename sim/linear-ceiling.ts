/**
 * Diagnostic 'oracle-linear': the best a learner linear in the policy's own features could do, with
 * no estimation noise and no exploration. During the first `fitDays` it acts as the oracle and records,
 * for every allowed arm of every request, the feature row and the arm's true expected reward; then it
 * fits those by least squares and from then on picks the allowed arm with the highest fitted value.
 *
 * Compare its last-week numbers with the oracle's: the gap is what no linear model over these features
 * can close (information the features do not carry), whatever the learner; the gap between it and the
 * bandit is what the learner leaves on the table (exploration, noise, slow start).
 */

import type { AnalystConfig } from '#config/schema.ts';
import { solveSpd } from '#model/bandit/linalg.ts';
import { FEATURE_DIMENSION } from '#model/features.ts';
import { DecisionPreparer } from '#model/policy.ts';
import { certainSend, trueArmValues } from './oracle.ts';
import type { PolicyContext, SimDecision, SimPolicy } from './policy-api.ts';
import type { Population } from './population.ts';
import { channelPriors } from './priors.ts';
import { DAY_MS, simulationStartMs } from './truth.ts';

const D = FEATURE_DIMENSION;

/**
 * Solves (A + ridge I) x = b for a symmetric positive semi-definite A by Cholesky decomposition.
 * @example solveRidge(new Float64Array([2, 0, 0, 2]), new Float64Array([2, 4]), 2, 0) // [1, 2]
 */
export function solveRidge(A: Float64Array, b: Float64Array, d: number, ridge: number): Float64Array {
  const regularised = Float64Array.from(A);
  for (let i = 0; i < d; i++) regularised[i * d + i] += ridge;
  // A Gram matrix of collinear features is only semi-definite: a vanishing extra ridge makes it solvable.
  for (let extra = 0, tries = 0; tries < 6; tries++, extra = extra ? extra * 100 : 1e-12) {
    if (extra) for (let i = 0; i < d; i++) regularised[i * d + i] += extra;
    const x = solveSpd(regularised, b, d);
    if (x) return x;
  }
  throw new RangeError('the least-squares system of the linear ceiling could not be solved');
}

/**
 * @example createLinearCeiling(population, config, ctx, 7)
 */
export function createLinearCeiling(
  population: Population,
  config: AnalystConfig,
  ctx: PolicyContext,
  fitDays = 7,
): SimPolicy {
  // The same population priors as the bandit's features (sim/bandit.ts).
  const prep = new DecisionPreparer(config, channelPriors(ctx.observedUsers()));
  const trueValue = trueArmValues(population, config, ctx.world);
  const fitUntil = simulationStartMs(population) + fitDays * DAY_MS;
  const A = new Float64Array(D * D);
  const b = new Float64Array(D);
  let weights: Float64Array | undefined;
  return {
    decide(inputs): SimDecision[] {
      const { decisions, batch } = prep.prepare(inputs);
      if (!weights && inputs.length && inputs[0].nowMs >= fitUntil) weights = solveRidge(A, b, D, 1e-6 * (1 + A[0]));
      return decisions.map((d): SimDecision => {
        if (d.row < 0) return { kind: 'no_arm', reasons: {} };
        let best = -1;
        let bestValue = Number.NEGATIVE_INFINITY;
        for (let arm = 0; arm < batch.arms; arm++) {
          if (d.mask.allowed[arm] !== 1) continue;
          const x = batch.features.subarray((d.row * batch.arms + arm) * D, (d.row * batch.arms + arm + 1) * D);
          let value: number;
          if (weights) {
            value = 0;
            for (let i = 0; i < D; i++) value += weights[i] * x[i];
          } else {
            value = trueValue(d.input, d.mask, arm);
            for (let i = 0; i < D; i++) {
              b[i] += x[i] * value;
              for (let j = 0; j < D; j++) A[i * D + j] += x[i] * x[j];
            }
          }
          if (value > bestValue) {
            bestValue = value;
            best = arm;
          }
        }
        return certainSend(d.mask, best);
      });
    },
  };
}
