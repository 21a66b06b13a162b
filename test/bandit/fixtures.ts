/** Batches, configs and a synthetic linear world for the bandit tests. */
import { type BanditConfig, BanditConfigSchema } from '#config/schema.ts';
import type { ArmBatch, BanditAlgorithm } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';

export const ALGORITHMS: readonly BanditAlgorithm[] = ['linear-ts', 'linucb', 'epsilon-greedy', 'neural-linear'];

/** Columns of the test features that hold a one-hot group (at most one of them is 1), for noise groups. */
export const GROUP_COLUMNS = [4, 5];

/** Every algorithm, plus the Thompson learners with learned noise split into groups. */
export const CASES: readonly { name: string; algorithm: BanditAlgorithm; overrides: Record<string, unknown> }[] = [
  ...ALGORITHMS.map((algorithm) => ({ name: algorithm, algorithm, overrides: {} })),
  ...(['linear-ts', 'neural-linear'] as const).map((algorithm) => ({
    name: `${algorithm} with noise groups`,
    algorithm,
    overrides: { learnNoise: true, noiseGroups: GROUP_COLUMNS },
  })),
];

/** Gaussian features, except GROUP_COLUMNS: a random one of them is 1 (or none), when the row is wide enough. */
function fillRow(rng: Rng, row: Float32Array): void {
  for (let j = 0; j < row.length; j++) row[j] = rng.normal();
  if (row.length > Math.max(...GROUP_COLUMNS)) {
    const hot = rng.int(GROUP_COLUMNS.length + 1);
    GROUP_COLUMNS.forEach((c, g) => {
      row[c] = g === hot ? 1 : 0;
    });
  }
}

/** A validated config with small, fast NeuralLinear settings unless overridden. */
export function configFor(algorithm: BanditAlgorithm, overrides: Record<string, unknown> = {}): BanditConfig {
  const neural = algorithm === 'neural-linear' ? { hiddenUnits: [12, 6], trainEvery: 150, trainEpochs: 3 } : {};
  return BanditConfigSchema.parse({ algorithm, ...neural, ...overrides });
}

/** Features as fillRow; each arm masked with probability maskShare, arm 0 always allowed. */
export function randomBatch(rng: Rng, size: number, arms: number, dimension: number, maskShare = 0.3): ArmBatch {
  const features = new Float32Array(size * arms * dimension);
  for (let r = 0; r < size * arms; r++) fillRow(rng, features.subarray(r * dimension, (r + 1) * dimension));
  const allowed = new Uint8Array(size * arms);
  for (let i = 0; i < size; i++) {
    for (let a = 0; a < arms; a++) allowed[i * arms + a] = a === 0 || rng.next() >= maskShare ? 1 : 0;
  }
  return { size, arms, dimension, features, allowed };
}

/** One decision repeated `size` times: every decision of the batch has the same distribution. */
export function repeatedDecision(rng: Rng, size: number, arms: number, dimension: number, allowed: number[]): ArmBatch {
  const one = new Float32Array(arms * dimension);
  for (let a = 0; a < arms; a++) fillRow(rng, one.subarray(a * dimension, (a + 1) * dimension));
  const features = new Float32Array(size * arms * dimension);
  const mask = new Uint8Array(size * arms);
  for (let i = 0; i < size; i++) {
    features.set(one, i * arms * dimension);
    mask.set(allowed, i * arms);
  }
  return { size, arms, dimension, features, allowed: mask };
}

/** A linear reward world r = x.w + noise, and the regret of choices in it. */
export class LinearWorld {
  readonly weights: Float64Array;
  private readonly rng: Rng;

  constructor(
    readonly dimension: number,
    seed: number,
    readonly noise = 0.1,
  ) {
    this.rng = new Rng(seed).fork('world');
    this.weights = new Float64Array(dimension).map(() => this.rng.normal());
  }

  value(batch: ArmBatch, decision: number, arm: number): number {
    const d = this.dimension;
    const o = (decision * batch.arms + arm) * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += this.weights[j] * batch.features[o + j];
    return s;
  }

  /** Rows of the chosen arms and their noisy rewards, plus the summed regret against the best allowed arm. */
  play(batch: ArmBatch, arms: readonly number[]): { rows: Float32Array; rewards: Float64Array; regret: number } {
    const d = this.dimension;
    const rows = new Float32Array(batch.size * d);
    const rewards = new Float64Array(batch.size);
    let regret = 0;
    arms.forEach((arm, i) => {
      const o = (i * batch.arms + arm) * d;
      rows.set(batch.features.subarray(o, o + d), i * d);
      const v = this.value(batch, i, arm);
      rewards[i] = v + this.noise * this.rng.normal();
      let best = Number.NEGATIVE_INFINITY;
      for (let a = 0; a < batch.arms; a++) {
        if (batch.allowed[i * batch.arms + a] === 1) best = Math.max(best, this.value(batch, i, a));
      }
      regret += best - v;
    });
    return { rows, rewards, regret };
  }
}
