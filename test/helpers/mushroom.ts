/**
 * The UCI Mushroom contextual bandit (Riquelme, Tucker, Snoek 2018, "Deep Bayesian Bandits Showdown"):
 * context = one-hot of the 22 attributes (117 columns), arms 0 = no-eat (reward 0) and 1 = eat (+5 if
 * edible; if poisonous -35 or +5 with probability 1/2 each). The optimal policy eats exactly the
 * edible ones. Contexts are drawn with replacement and each draw's eat reward is fixed once, so every
 * policy of a run faces the same contexts and the same coin flips.
 *
 * Arm features for the shared-parameter learners: the context placed in the arm's own block plus a
 * per-arm bias, d = 2 * 117 + 2 = 236 (disjoint linear models expressed with shared parameters).
 *
 * Regret is reported as a percentage of the uniform policy's regret on the same draws, with the
 * uniform policy's expected reward (the mean of the two arms' rewards of each draw) as its value.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContextualBandit } from '#model/bandit/index.ts';
import { times } from '#model/bandit/linalg.ts';
import { LinearPosterior } from '#model/bandit/posterior.ts';
import { inverseGammaDraw } from '#model/bandit/sampling.ts';
import { Rng } from '#model/random.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The data set, read at run time from the shared folder beside the project (never copied into it). */
export const MUSHROOM_DATA_PATH = resolve(projectRoot, '../shared/data/uci/agaricus-lepiota.data');

/** Per-arm bias columns of the 236-wide mushroom rows: as noise groups they give each arm its own noise. */
export const ARM_BIAS_COLUMNS = [234, 235];

/**
 * The learner configurations of the mushroom benchmark and test, chosen on seeds 101-106 (the bench
 * and the test use seeds 1-10). No exploration floor, to compare with the paper's learners. 16
 * posterior samples, the default when they were chosen (it is 15 now, for scoring speed; mushroom
 * decides one context at a time, where that does not matter).
 */
export const MUSHROOM_CONFIGS = {
  'linear-ts': {
    algorithm: 'linear-ts',
    posteriorSamples: 16,
    explorationFloor: 0,
    priorPrecision: 4,
    learnNoise: true,
    noiseScale: 1,
    noiseGroups: ARM_BIAS_COLUMNS,
  },
  'neural-linear': {
    algorithm: 'neural-linear',
    posteriorSamples: 16,
    explorationFloor: 0,
    priorPrecision: 1,
    learnNoise: true,
    noiseScale: 1,
    noiseGroups: ARM_BIAS_COLUMNS,
    hiddenUnits: [50],
    trainEvery: 50,
    trainEpochs: 5,
    batchSize: 64,
    learningRate: 0.01,
  },
  linucb: { algorithm: 'linucb', explorationFloor: 0, priorPrecision: 1, alpha: 5 },
  'epsilon-greedy': { algorithm: 'epsilon-greedy', explorationFloor: 0, priorPrecision: 1, epsilon: 0.05 },
};

export const MUSHROOM_ARMS = 2;
export const NO_EAT = 0;
export const EAT = 1;

export interface MushroomData {
  /** [count * columns] one-hot contexts */
  contexts: Float32Array;
  /** 1 = edible */
  edible: Uint8Array;
  count: number;
  /** one-hot width: 117 for the UCI file */
  columns: number;
}

/**
 * Parses the UCI file: skips the header line the hosting copy added, one-hot encodes the values each
 * attribute actually takes (in order of first appearance), drops the class column.
 * @example const data = loadMushrooms(); data.columns // 117
 */
export function loadMushrooms(path = MUSHROOM_DATA_PATH): MushroomData {
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .slice(1)
    .filter((line) => line.trim().length > 0);
  const records = lines.map((line) => line.split(','));
  const attributes = records[0].length - 1;
  const values: Map<string, number>[] = Array.from({ length: attributes }, () => new Map());
  for (const r of records) {
    for (let a = 0; a < attributes; a++) {
      const map = values[a];
      if (!map.has(r[a + 1])) map.set(r[a + 1], map.size);
    }
  }
  const offsets: number[] = [];
  let columns = 0;
  for (const map of values) {
    offsets.push(columns);
    columns += map.size;
  }
  const contexts = new Float32Array(records.length * columns);
  const edible = new Uint8Array(records.length);
  records.forEach((r, i) => {
    if (r[0] !== 'e' && r[0] !== 'p') throw new Error(`mushroom line ${i + 2}: class ${r[0]} is neither e nor p`);
    edible[i] = r[0] === 'e' ? 1 : 0;
    for (let a = 0; a < attributes; a++) {
      contexts[i * columns + offsets[a] + (values[a].get(r[a + 1]) as number)] = 1;
    }
  });
  return { contexts, edible, count: records.length, columns };
}

export interface MushroomRun {
  /** dataset rows drawn with replacement */
  rows: Int32Array;
  /** [steps * 2]: reward of no-eat and of eat for each draw */
  rewards: Float64Array;
  steps: number;
}

/**
 * Draws `steps` contexts with replacement and fixes their rewards.
 * @example const run = drawMushroomRun(data, 2000, 1)
 */
export function drawMushroomRun(data: MushroomData, steps: number, seed: number): MushroomRun {
  const rng = new Rng(seed).fork('mushroom/contexts');
  const rows = new Int32Array(steps);
  const rewards = new Float64Array(steps * 2);
  for (let t = 0; t < steps; t++) {
    const row = rng.int(data.count);
    rows[t] = row;
    rewards[t * 2 + NO_EAT] = 0;
    rewards[t * 2 + EAT] = data.edible[row] === 1 ? 5 : rng.bernoulli(0.5) ? -35 : 5;
  }
  return { rows, rewards, steps };
}

/** Feature width of the arm rows: both blocks plus the two biases. */
export function mushroomDimension(data: MushroomData): number {
  return 2 * data.columns + 2;
}

/**
 * Writes the two arm rows of one context into `out` ([2 * dimension]).
 * @example writeArmFeatures(data, row, batch.features)
 */
export function writeArmFeatures(data: MushroomData, row: number, out: Float32Array): void {
  const c = data.columns;
  const d = mushroomDimension(data);
  out.fill(0);
  const context = data.contexts.subarray(row * c, row * c + c);
  for (let arm = 0; arm < 2; arm++) {
    out.set(context, arm * d + arm * c);
    out[arm * d + 2 * c + arm] = 1;
  }
}

export interface MushroomResult {
  /** realised total reward of the policy */
  reward: number;
  /** total of the optimal policy: 5 per edible draw */
  optimal: number;
  /** expected total of the uniform policy on the same draws */
  uniform: number;
  /** (optimal - reward) / (optimal - uniform) * 100 */
  regretPctOfUniform: number;
  /** decisions whose arm differed from the posterior-mean best */
  explored: number;
  /** smallest logged propensity */
  minPropensity: number;
  /**
   * Where the regret came from, in expected terms (an edible one left uneaten costs 5, a poisonous one
   * eaten 15 on average), as % of the uniform policy's regret: `modelWrong` when the posterior-mean
   * choice was the wrong arm too (the model believed it), `exploration` when only the draw was.
   * Split by half of the run. Zero for the baselines.
   */
  regretSources: RegretSources;
}

export interface RegretSources {
  firstHalf: { modelWrong: number; exploration: number };
  secondHalf: { modelWrong: number; exploration: number };
}

/** Tallies expected regret by source; see MushroomResult.regretSources. */
class RegretTally {
  private readonly costs = new Float64Array(4);

  constructor(private readonly steps: number) {}

  /** @example tally.add(t, edible, arm, explored) */
  add(t: number, edible: boolean, arm: number, explored: boolean): void {
    const cost = edible ? (arm === NO_EAT ? 5 : 0) : arm === EAT ? 15 : 0;
    this.costs[(t < this.steps / 2 ? 0 : 2) + (explored ? 1 : 0)] += cost;
  }

  /** @example tally.percentOf(optimal - uniform) */
  percentOf(uniformRegret: number): RegretSources {
    const pct = (i: number) => Number(((this.costs[i] / uniformRegret) * 100).toFixed(2));
    return {
      firstHalf: { modelWrong: pct(0), exploration: pct(1) },
      secondHalf: { modelWrong: pct(2), exploration: pct(3) },
    };
  }
}

function summarise(
  run: MushroomRun,
  data: MushroomData,
  reward: number,
  explored: number,
  minPropensity: number,
  tally = new RegretTally(run.steps),
) {
  let optimal = 0;
  let uniform = 0;
  for (let t = 0; t < run.steps; t++) {
    optimal += data.edible[run.rows[t]] === 1 ? 5 : 0;
    uniform += (run.rewards[t * 2] + run.rewards[t * 2 + 1]) / 2;
  }
  return {
    reward,
    optimal,
    uniform,
    regretPctOfUniform: ((optimal - reward) / (optimal - uniform)) * 100,
    explored,
    minPropensity,
    regretSources: tally.percentOf(optimal - uniform),
  } satisfies MushroomResult;
}

/**
 * Plays the run online, one decision at a time: decide, observe the reward, update.
 * @example const result = playMushroom(bandit, data, run, new Rng(1))
 */
export function playMushroom(bandit: ContextualBandit, data: MushroomData, run: MushroomRun, rng: Rng) {
  const d = mushroomDimension(data);
  const features = new Float32Array(2 * d);
  const allowed = new Uint8Array([1, 1]);
  let reward = 0;
  let explored = 0;
  let minPropensity = 1;
  const tally = new RegretTally(run.steps);
  for (let t = 0; t < run.steps; t++) {
    writeArmFeatures(data, run.rows[t], features);
    const [choice] = bandit.decide({ size: 1, arms: 2, dimension: d, features, allowed }, rng);
    const r = run.rewards[t * 2 + choice.arm];
    reward += r;
    if (choice.explored) explored++;
    tally.add(t, data.edible[run.rows[t]] === 1, choice.arm, choice.explored);
    minPropensity = Math.min(minPropensity, choice.propensity);
    bandit.update(features.slice(choice.arm * d, choice.arm * d + d), [r]);
  }
  return summarise(run, data, reward, explored, minPropensity, tally);
}

/**
 * The uniform random policy on the same run (realised, not expected).
 * @example playUniform(data, run, new Rng(1)).regretPctOfUniform // about 100
 */
export function playUniform(data: MushroomData, run: MushroomRun, rng: Rng): MushroomResult {
  let reward = 0;
  for (let t = 0; t < run.steps; t++) reward += run.rewards[t * 2 + rng.int(2)];
  return summarise(run, data, reward, 0, 0.5);
}

/**
 * A replica of Riquelme et al.'s LinFullPost for reference: one Normal-Inverse-Gamma linear model per
 * arm on [context, 1] (so each arm learns its own noise variance), prior lambda = 0.25, a0 = b0 = 6,
 * one genuine Thompson draw per decision, no exploration floor. Not a product algorithm: the shared-
 * parameter learners cannot have per-arm noise, since update() does not know which arm a row was.
 * @example playLinFullPost(data, run, new Rng(1)).regretPctOfUniform
 */
export function playLinFullPost(data: MushroomData, run: MushroomRun, rng: Rng, lambda = 0.25): MushroomResult {
  const c = data.columns;
  const p = c + 1;
  const arms = [new LinearPosterior(p, lambda), new LinearPosterior(p, lambda)];
  const x = new Float64Array(p);
  const z = new Float64Array(p);
  // a0 = b0 = 6 is a prior noise variance mean of b0 / (a0 - 1) = 1.2
  const noise = { scale: Math.sqrt(6 / 5), learned: true, groupFeatures: [] };
  let reward = 0;
  let explored = 0;
  const tally = new RegretTally(run.steps);
  for (let t = 0; t < run.steps; t++) {
    const row = run.rows[t];
    x.set(data.contexts.subarray(row * c, row * c + c));
    x[c] = 1;
    let best = Number.NEGATIVE_INFINITY;
    let bestMean = Number.NEGATIVE_INFINITY;
    let chosen = 0;
    let greedy = 0;
    for (let a = 0; a < 2; a++) {
      const post = arms[a];
      const { shape, scale } = post.noisePosterior(noise);
      const sigma = Math.sqrt(inverseGammaDraw(rng, shape, scale));
      for (let j = 0; j < p; j++) z[j] = rng.normal();
      const w = times(post.sqrtCovariance, z, p);
      const mu = post.mean();
      let sample = 0;
      let mean = 0;
      for (let j = 0; j < p; j++) {
        sample += x[j] * (mu[j] + sigma * w[j]);
        mean += x[j] * mu[j];
      }
      if (sample > best) {
        best = sample;
        chosen = a;
      }
      if (mean > bestMean) {
        bestMean = mean;
        greedy = a;
      }
    }
    const r = run.rewards[t * 2 + chosen];
    reward += r;
    if (chosen !== greedy) explored++;
    tally.add(t, data.edible[row] === 1, chosen, chosen !== greedy);
    arms[chosen].observe(x, 0, r);
  }
  return summarise(run, data, reward, explored, 0, tally);
}
