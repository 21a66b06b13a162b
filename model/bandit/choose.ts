/**
 * What every algorithm shares once it has scored a batch: input validation, tie handling, the
 * exploration-floor mixture and the draw. Each decision draws from
 *   p(a) = (1 - floor) * pi(a) + floor / allowedArms, for allowed a; 0 for masked a,
 * with pi the algorithm's distribution over the allowed arms, and logs exactly p(chosen arm).
 * The draw is two-stage (floor or policy first, then the arm within it), which has the same
 * distribution as drawing from p directly and needs no per-arm probability table: one uniform per
 * decision (two when a Thompson winner has identical twins), O(arms) work.
 */
import type { Rng } from '#model/random.ts';
import { InvalidBanditInputError, NoAllowedArmError } from './errors.ts';
import type { ArmBatch, BanditChoice } from './types.ts';

export interface CheckedBatch {
  size: number;
  arms: number;
  /** allowed arms per decision */
  allowedCount: Int32Array;
  /** whether any arm of the batch is masked (when none is, the mask needs no tensor op) */
  anyMasked: boolean;
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min;
}

/**
 * Checks an ArmBatch against the learner's dimension; throws InvalidBanditInputError or
 * NoAllowedArmError with the field or decision at fault. O(size * arms): features are not scanned
 * (see scoring: a non-finite score is reported where it is read).
 * @example const checked = checkBatch(batch, 32)
 */
export function checkBatch(batch: ArmBatch, dimension: number): CheckedBatch {
  if (!batch || typeof batch !== 'object') throw new InvalidBanditInputError('batch', 'is not an ArmBatch object');
  const { size, arms } = batch;
  if (!isCount(size, 0)) throw new InvalidBanditInputError('batch.size', `must be an integer >= 0, got ${size}`);
  if (!isCount(arms, 1)) throw new InvalidBanditInputError('batch.arms', `must be an integer >= 1, got ${arms}`);
  if (batch.dimension !== dimension) {
    throw new InvalidBanditInputError(
      'batch.dimension',
      `is ${batch.dimension}, the bandit was built for ${dimension}`,
      {
        expected: dimension,
        found: batch.dimension,
      },
    );
  }
  if (!(batch.features instanceof Float32Array)) {
    throw new InvalidBanditInputError('batch.features', 'must be a Float32Array');
  }
  if (batch.features.length !== size * arms * dimension) {
    throw new InvalidBanditInputError(
      'batch.features',
      `has length ${batch.features.length}, expected size * arms * dimension = ${size * arms * dimension}`,
    );
  }
  if (!(batch.allowed instanceof Uint8Array))
    throw new InvalidBanditInputError('batch.allowed', 'must be a Uint8Array');
  if (batch.allowed.length !== size * arms) {
    throw new InvalidBanditInputError(
      'batch.allowed',
      `has length ${batch.allowed.length}, expected size * arms = ${size * arms}`,
    );
  }
  const allowedCount = new Int32Array(size);
  const allowed = batch.allowed;
  let anyMasked = false;
  for (let i = 0; i < size; i++) {
    // branch-free: with arms masked at random, a branch per flag mispredicts often enough to cost 5x
    let m = 0;
    let bits = 0;
    const base = i * arms;
    for (let a = 0; a < arms; a++) {
      const v = allowed[base + a];
      m += v;
      bits |= v;
    }
    if (bits > 1) {
      const a = allowed.subarray(base, base + arms).findIndex((v) => v > 1);
      throw new InvalidBanditInputError(
        'batch.allowed',
        `must hold 0 or 1, got ${allowed[base + a]} at decision ${i}, arm ${a}`,
      );
    }
    if (m === 0) throw new NoAllowedArmError(i);
    if (m < arms) anyMasked = true;
    allowedCount[i] = m;
  }
  return { size, arms, allowedCount, anyMasked };
}

/**
 * Refuses a non-finite feature of an allowed arm, naming the decision and the arm. For learners whose
 * scores need not carry a NaN or Infinity through: NeuralLinear's fused ReLU layers turn NaN into 0 for
 * some layer sizes (the default [32, 16] among them), so its scores alone cannot tell. The linear
 * learners need no scan: their scores are linear in the features (argmaxOverArms reports those).
 * One pass over the allowed rows; a float64 sum of float32 values is finite exactly when they all are.
 * @example assertFiniteAllowedFeatures(batch, checkBatch(batch, d))
 */
export function assertFiniteAllowedFeatures(batch: ArmBatch, checked: CheckedBatch): void {
  const { size, arms } = checked;
  const { features, allowed, dimension: d } = batch;
  for (let r = 0; r < size * arms; r++) {
    if (allowed[r] !== 1) continue;
    let sum = 0;
    for (let j = r * d, end = j + d; j < end; j++) sum += features[j];
    if (!Number.isFinite(sum)) {
      throw new InvalidBanditInputError(
        'batch.features',
        `decision ${Math.floor(r / arms)}, arm ${r % arms}: a non-finite value in an allowed arm's features`,
      );
    }
  }
}

/**
 * Refuses a feature dimension that is not a whole number >= 1.
 * @example checkDimension(32)
 */
export function checkDimension(dimension: number): void {
  if (!Number.isInteger(dimension) || dimension < 1) {
    throw new InvalidBanditInputError('dimension', `must be an integer >= 1, got ${dimension}`);
  }
}

/**
 * Checks update() input; returns the number of rows.
 * @example const n = checkUpdate(features, rewards, 32)
 */
export function checkUpdate(features: Float32Array, rewards: ArrayLike<number>, dimension: number): number {
  if (!(features instanceof Float32Array)) throw new InvalidBanditInputError('features', 'must be a Float32Array');
  if (!rewards || typeof rewards.length !== 'number') {
    throw new InvalidBanditInputError('rewards', 'must be an array of numbers');
  }
  const n = rewards.length;
  if (features.length !== n * dimension) {
    throw new InvalidBanditInputError(
      'features',
      `has length ${features.length}, expected rewards.length * dimension = ${n} * ${dimension}`,
      { expected: n * dimension, found: features.length },
    );
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(rewards[i]))
      throw new InvalidBanditInputError(`rewards[${i}]`, `is ${rewards[i]}, not finite`);
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) {
      throw new InvalidBanditInputError(
        'features',
        `row ${Math.floor(i / dimension)} has ${features[i]} at column ${i % dimension}`,
      );
    }
  }
  return n;
}

/** The index-th allowed arm of decision i (index in 0..allowedCount-1). */
function nthAllowed(allowed: Uint8Array, base: number, arms: number, index: number): number {
  let seen = 0;
  for (let a = 0; a < arms; a++) {
    if (allowed[base + a] !== 1) continue;
    if (seen === index) return a;
    seen++;
  }
  throw new Error(`unreachable: fewer than ${index + 1} allowed arms`);
}

/**
 * Choices for the argmax policies. pi(a) = epsilon / m + (1 - epsilon) [a in T] / |T|, with T the
 * allowed arms of best `scores` (exact ties share the argmax) and m the allowed arms; LinUCB passes
 * epsilon 0 and its upper confidence bounds, epsilon-greedy its means. An arm is explored when its
 * `mean` is below the best allowed mean.
 * @example const choices = drawArgmaxChoices(batch, checked, ucb, mean, 0, 0.05, rng)
 */
export function drawArgmaxChoices(
  batch: ArmBatch,
  checked: CheckedBatch,
  scores: ArrayLike<number>,
  mean: ArrayLike<number>,
  epsilon: number,
  floor: number,
  rng: Rng,
): BanditChoice[] {
  const { size, arms } = checked;
  const allowed = batch.allowed;
  // the uniform share of the mixture: the floor plus epsilon of the rest
  const spread = floor + (1 - floor) * epsilon;
  const choices: BanditChoice[] = new Array(size);
  const allowedArms = new Int32Array(arms);
  for (let i = 0; i < size; i++) {
    const base = i * arms;
    const m = listAllowed(allowed, base, arms, allowedArms);
    let best = Number.NEGATIVE_INFINITY;
    let bestMean = Number.NEGATIVE_INFINITY;
    // x - x is 0 for a finite x and NaN otherwise: one test per decision instead of four per arm
    let nonFinite = 0;
    for (let j = 0; j < m; j++) {
      const r = base + allowedArms[j];
      const s = scores[r];
      const mu = mean[r];
      nonFinite += s - s + (mu - mu);
      if (s > best) best = s;
      if (mu > bestMean) bestMean = mu;
    }
    if (nonFinite !== 0) throw nonFiniteScore(scores, mean, base, allowedArms, m, i);
    let ties = 0;
    for (let j = 0; j < m; j++) ties += +(scores[base + allowedArms[j]] === best);
    const u = rng.next();
    let arm: number;
    if (u < spread) {
      arm = allowedArms[Math.min(m - 1, Math.floor((u / spread) * m))];
    } else {
      const pick = Math.min(ties - 1, Math.floor(((u - spread) / (1 - spread)) * ties));
      let seen = 0;
      arm = -1;
      for (let j = 0; j < m && arm < 0; j++) {
        if (scores[base + allowedArms[j]] === best && seen++ === pick) arm = allowedArms[j];
      }
    }
    const top = scores[base + arm] === best;
    choices[i] = {
      arm,
      propensity: Math.min(1, spread / m + (top ? (1 - spread) / ties : 0)),
      explored: mean[base + arm] !== bestMean,
    };
  }
  return choices;
}

/**
 * Writes the allowed arms of the decision at `base` to `out`, in order; returns how many. Branch-free:
 * masks are random enough that a branch per arm mispredicts often.
 */
function listAllowed(allowed: Uint8Array, base: number, arms: number, out: Int32Array): number {
  let m = 0;
  for (let a = 0; a < arms; a++) {
    out[m] = a;
    m += +(allowed[base + a] === 1);
  }
  return m;
}

/** The error for the first allowed arm (in arm order) of decision i with a non-finite score or mean. */
function nonFiniteScore(
  scores: ArrayLike<number>,
  mean: ArrayLike<number>,
  base: number,
  allowedArms: Int32Array,
  m: number,
  i: number,
): InvalidBanditInputError {
  let j = 0;
  while (j < m - 1 && Number.isFinite(scores[base + allowedArms[j]]) && Number.isFinite(mean[base + allowedArms[j]]))
    j++;
  const a = allowedArms[j];
  return new InvalidBanditInputError(
    'batch.features',
    `give a non-finite score (${scores[base + a]}, mean ${mean[base + a]}) to arm ${a} of decision ${i}`,
  );
}

/**
 * Allowed arms of decision i whose feature row is identical to `arm`'s (itself included), written to
 * `out`; returns how many. The model cannot tell such arms apart, so they tie under every posterior
 * sample. Most rows differ within the first few features, so this costs a few comparisons per arm.
 */
function identicalRows(batch: ArmBatch, base: number, arm: number, out: Int32Array): number {
  const { arms, dimension, features, allowed } = batch;
  const w = (base + arm) * dimension;
  const lead = features[w];
  let n = 0;
  for (let b = 0, o = base * dimension; b < arms; b++, o += dimension) {
    if (b !== arm) {
      // the first feature almost always differs: one load and one well-predicted branch per arm, and
      // the mask (random enough to mispredict) is read only for rows that match
      if (features[o] !== lead) continue;
      let j = 1;
      while (j < dimension && features[o + j] === features[w + j]) j++;
      if (j < dimension) continue;
    }
    if (allowed[base + b] !== 1) continue;
    out[n++] = b;
  }
  return n;
}

/**
 * Choices for Thompson sampling from per-sample argmax arms (winners: [size * (K + 1)], column 0 the
 * posterior mean's argmax). pi(a) = share of the K samples won by a's group of identical rows, split
 * equally within the group (as uniform random tie-breaking would). The policy stage picks one of the
 * K samples uniformly and then an arm of its winner's group, which is a draw from pi without building it.
 * @example const choices = drawThompsonChoices(batch, checked, winners, 16, 0.05, rng)
 */
export function drawThompsonChoices(
  batch: ArmBatch,
  checked: CheckedBatch,
  winners: Int32Array,
  samples: number,
  floor: number,
  rng: Rng,
): BanditChoice[] {
  const { size, arms, allowedCount } = checked;
  const allowed = batch.allowed;
  const columns = samples + 1;
  const group = new Int32Array(arms);
  const inGroup = new Uint8Array(arms);
  const choices: BanditChoice[] = new Array(size);
  for (let i = 0; i < size; i++) {
    const base = i * arms;
    const row = i * columns;
    checkWinners(winners, row, columns, allowed, base, arms, i);
    const m = allowedCount[i];
    const u = rng.next();
    let arm: number;
    let g: number;
    if (u < floor) {
      arm = nthAllowed(allowed, base, arms, Math.min(m - 1, Math.floor((u / floor) * m)));
      g = identicalRows(batch, base, arm, group);
    } else {
      const sample = 1 + Math.min(samples - 1, Math.floor(((u - floor) / (1 - floor)) * samples));
      g = identicalRows(batch, base, winners[row + sample], group);
      arm = g === 1 ? group[0] : group[Math.min(g - 1, Math.floor(rng.next() * g))];
    }
    for (let t = 0; t < g; t++) inGroup[group[t]] = 1;
    let won = 0;
    for (let c = 1; c < columns; c++) won += inGroup[winners[row + c]];
    const explored = inGroup[winners[row]] !== 1;
    for (let t = 0; t < g; t++) inGroup[group[t]] = 0;
    choices[i] = {
      arm,
      propensity: Math.min(1, floor / m + ((1 - floor) * won) / (samples * g)),
      explored,
    };
  }
  return choices;
}

/**
 * The full distribution drawArgmaxChoices draws from, for every arm of every decision ([size * arms],
 * row-major; 0 on masked arms): p(a) = spread / m + (1 - spread) [a in T] / |T|, spread = floor + (1 -
 * floor) epsilon. Each decision's entry at the arm drawArgmaxChoices would choose equals the propensity it
 * logs. Same validation as the draw (a non-finite score of an allowed arm is an error).
 * @example const probs = argmaxDistributions(batch, checked, ucb, 0, 0.02) // probs[i * arms + a]
 */
export function argmaxDistributions(
  batch: ArmBatch,
  checked: CheckedBatch,
  scores: ArrayLike<number>,
  epsilon: number,
  floor: number,
): Float64Array {
  const { size, arms, allowedCount } = checked;
  const allowed = batch.allowed;
  const spread = floor + (1 - floor) * epsilon;
  const out = new Float64Array(size * arms);
  for (let i = 0; i < size; i++) {
    const base = i * arms;
    let best = Number.NEGATIVE_INFINITY;
    for (let a = 0; a < arms; a++) {
      if (allowed[base + a] !== 1) continue;
      const s = scores[base + a];
      if (!Number.isFinite(s)) {
        throw new InvalidBanditInputError(
          'batch.features',
          `give a non-finite score (${s}) to arm ${a} of decision ${i}`,
        );
      }
      if (s > best) best = s;
    }
    let ties = 0;
    for (let a = 0; a < arms; a++) if (allowed[base + a] === 1 && scores[base + a] === best) ties++;
    const m = allowedCount[i];
    for (let a = 0; a < arms; a++) {
      if (allowed[base + a] !== 1) continue;
      out[base + a] = Math.min(1, spread / m + (scores[base + a] === best ? (1 - spread) / ties : 0));
    }
  }
  return out;
}

/**
 * The full distribution drawThompsonChoices draws from, given the same per-sample winners ([size * arms],
 * row-major; 0 on masked arms): p(a) = floor / m + (1 - floor) * (share of the K samples won by a's group of
 * identical rows) / (size of the group). With the winners of the same K shared posterior samples, each
 * decision's entry at the arm drawThompsonChoices chooses equals the propensity it logs.
 * @example const probs = thompsonDistributions(batch, checked, winners, 16, 0.02)
 */
export function thompsonDistributions(
  batch: ArmBatch,
  checked: CheckedBatch,
  winners: Int32Array,
  samples: number,
  floor: number,
): Float64Array {
  const { size, arms, allowedCount } = checked;
  const allowed = batch.allowed;
  const columns = samples + 1;
  const group = new Int32Array(arms);
  const out = new Float64Array(size * arms);
  for (let i = 0; i < size; i++) {
    const base = i * arms;
    const row = i * columns;
    checkWinners(winners, row, columns, allowed, base, arms, i);
    const m = allowedCount[i];
    for (let a = 0; a < arms; a++) if (allowed[base + a] === 1) out[base + a] = floor / m;
    for (let c = 1; c < columns; c++) {
      const g = identicalRows(batch, base, winners[row + c], group);
      const share = (1 - floor) / (samples * g);
      for (let t = 0; t < g; t++) out[base + group[t]] += share;
    }
    for (let a = 0; a < arms; a++) if (out[base + a] > 1) out[base + a] = 1;
  }
  return out;
}

/** Every winner of decision `i` is an allowed arm: scoring marks a decision with a non-finite allowed score with -1 (argmaxOverArms). */
function checkWinners(
  winners: Int32Array,
  row: number,
  columns: number,
  allowed: ArrayLike<number>,
  base: number,
  arms: number,
  i: number,
): void {
  for (let c = 0; c < columns; c++) {
    const a = winners[row + c];
    if (!(a >= 0 && a < arms) || allowed[base + a] !== 1) {
      throw new InvalidBanditInputError('batch.features', `give non-finite scores in decision ${i}`);
    }
  }
}
