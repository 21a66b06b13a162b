/**
 * `npm run bench ope`: off-policy evaluation throughput and its check against reality.
 *   - rowsPerSecond: rows of logged feedback per second through `evaluatePolicy` with all four
 *     estimators and their bootstrap intervals (100k simulated rows, 72 arms as the hourly grid
 *     has, 1000 resamples). Reward-model fitting is timed separately.
 *   - obd: the Open Bandit Dataset check (Bernoulli TS's CTR estimated from the uniform-random
 *     log, next to the CTR it measured on its own traffic), read from ../shared/data/obd.
 */
import { fileURLToPath } from 'node:url';
import { ESTIMATORS, evaluatePolicy, type IntervalEstimate } from '#model/ope/estimators.ts';
import { evaluateOpenBanditPolicy, loadOpenBanditLog } from '#model/ope/obd.ts';
import { fitActionMeanRewardModel } from '#model/ope/reward-model.ts';
import { Rng } from '#model/random.ts';

const ROWS = 100_000;
const ACTIONS = 72;
const SEGMENTS = 10;
const RESAMPLES = 1000;

function softmax(scores: Float64Array, temperature: number): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const s of scores) max = Math.max(max, s);
  const out = Float64Array.from(scores, (s) => Math.exp((s - max) / temperature));
  const total = out.reduce((a, b) => a + b, 0);
  return out.map((v) => v / total);
}

/** A logged week of a softmax logger over 72 arms in 10 user segments, and a sharper target. */
function simulatedFeedback() {
  const rng = new Rng(72);
  const ctr = Float64Array.from({ length: SEGMENTS * ACTIONS }, () => 0.01 + 0.05 * rng.next() ** 3);
  const logging: Float64Array[] = [];
  const target: Float64Array[] = [];
  for (let s = 0; s < SEGMENTS; s++) {
    const noisy = Float64Array.from(ctr.subarray(s * ACTIONS, (s + 1) * ACTIONS), (c) => c + 0.01 * rng.normal());
    logging.push(softmax(noisy, 0.05));
    target.push(softmax(noisy, 0.01));
  }
  const action = new Int32Array(ROWS);
  const segment = new Int32Array(ROWS);
  const reward = new Float64Array(ROWS);
  const propensity = new Float64Array(ROWS);
  const targetProbs = new Float64Array(ROWS * ACTIONS);
  for (let i = 0; i < ROWS; i++) {
    const s = rng.int(SEGMENTS);
    const a = rng.categorical(logging[s]);
    segment[i] = s;
    action[i] = a;
    propensity[i] = logging[s][a];
    reward[i] = rng.bernoulli(ctr[s * ACTIONS + a]) ? 1 : 0;
    targetProbs.set(target[s], i * ACTIONS);
  }
  return { actionCount: ACTIONS, action, segment, reward, propensity, targetProbs };
}

const interval = ({ estimate, low, high }: IntervalEstimate) => ({ estimate, low, high });

export async function run(): Promise<Record<string, unknown>> {
  const log = simulatedFeedback();

  let started = performance.now();
  const model = fitActionMeanRewardModel({ ...log, stratum: log.segment });
  const rewardModelFitSeconds = (performance.now() - started) / 1000;
  const feedback = { ...log, rewardModel: model.predictions };

  evaluatePolicy(feedback, { resamples: 20 }); // warm-up: let the JIT see the hot loops first
  started = performance.now();
  const evaluation = evaluatePolicy(feedback, { resamples: RESAMPLES, seed: 1 });
  const seconds = (performance.now() - started) / 1000;

  const obdDir = fileURLToPath(new URL('../../shared/data/obd/', import.meta.url));
  const obd = evaluateOpenBanditPolicy(
    loadOpenBanditLog(`${obdDir}random/men/men.csv`),
    loadOpenBanditLog(`${obdDir}bts/men/men.csv`),
    { resamples: 2000, seed: 2019 },
  );

  return {
    rows: ROWS,
    actions: ACTIONS,
    estimators: [...ESTIMATORS],
    bootstrapResamples: RESAMPLES,
    seconds: Number(seconds.toFixed(3)),
    rowsPerSecond: Math.round(ROWS / seconds),
    rewardModelFitSeconds: Number(rewardModelFitSeconds.toFixed(3)),
    simulatedEss: Math.round(evaluation.weights.effectiveSampleSize),
    obd: {
      truth: obd.truth.ctr,
      snips: interval(obd.evaluation.snips),
      dr: obd.evaluation.dr && interval(obd.evaluation.dr),
      ips: interval(obd.evaluation.ips),
      dm: obd.evaluation.dm && interval(obd.evaluation.dm),
      ess: obd.evaluation.weights.effectiveSampleSize,
      rows: obd.evaluation.rows,
      bootstrapResamples: obd.evaluation.bootstrap.resamples,
      rewardModel: 'per (position, item) mean, empirical-Bayes shrinkage, 5-fold cross-fitted',
    },
  };
}
