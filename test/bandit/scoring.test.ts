/**
 * The JS side of scoring: the argmax over each decision's allowed arms (argmaxOverArms) must pick exactly
 * what tf.argMax over the arm axis picks once masked arms are -Infinity (first arm among exact ties), on
 * both backends (wasm reads the GEMM output in place, cpu through dataSync); a non-finite score of an
 * allowed arm is refused, one of a masked arm ignored.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BanditConfigSchema } from '#config/schema.ts';
import { createBandit, initTensorBackend } from '#model/bandit/index.ts';
import {
  argmaxOverArms,
  maskPenalty,
  sampledArgmax,
  sampledArgmaxGrouped,
  sampleMatrix,
} from '#model/bandit/scoring.ts';
import { Rng } from '#model/random.ts';
import { ALGORITHMS, configFor, randomBatch } from './fixtures.ts';

beforeAll(async () => {
  await initTensorBackend();
});

afterAll(async () => {
  await tf.setBackend('wasm');
});

/** tf.argMax over the arm axis of [size, arms, columns] scores plus the mask penalty: the reference. */
function tfWinners(scores: Float32Array, size: number, arms: number, columns: number, mask?: Float32Array) {
  return tf.tidy(() => {
    let S: tf.Tensor3D = tf.tensor3d(scores, [size, arms, columns]);
    if (mask) S = tf.add(S, tf.tensor3d(mask, [size, arms, 1]));
    return Array.from(tf.argMax(S, 1).dataSync());
  });
}

/** allowed flags with a third of the arms masked, arm `keep` of every decision allowed; some decisions keep only it. */
function randomAllowed(rng: Rng, size: number, arms: number): Uint8Array {
  const allowed = new Uint8Array(size * arms);
  for (let i = 0; i < size; i++) {
    const keep = rng.int(arms);
    const onlyOne = rng.next() < 0.25;
    for (let a = 0; a < arms; a++) allowed[i * arms + a] = a === keep || (!onlyOne && rng.next() > 0.33) ? 1 : 0;
  }
  return allowed;
}

/** Scores with many exact ties (small integers) or none (normals). */
function randomScores(rng: Rng, n: number, ties: boolean): Float32Array {
  return new Float32Array(n).map(() => (ties ? rng.int(3) - 1 : rng.normal()));
}

const COLUMNS = [1, 2, 7, 8, 9, 16, 17, 25];

describe('argmaxOverArms', () => {
  it('picks what tf.argMax over the arms picks after the mask penalty, ties to the first arm', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom(...COLUMNS),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (size, arms, columns, ties, masked, seed) => {
          const rng = new Rng(seed);
          const scores = randomScores(rng, size * arms * columns, ties);
          const mask = masked ? maskPenalty(randomAllowed(rng, size, arms)) : undefined;
          const out = new Int32Array(size * columns);
          argmaxOverArms(scores, size, arms, columns, mask, out, columns, 0);
          expect(Array.from(out)).toEqual(tfWinners(scores, size, arms, columns, mask));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes each decision at its stride and offset, leaving the other columns alone', () => {
    const rng = new Rng(4);
    const size = 3;
    const arms = 5;
    const scores = randomScores(rng, size * arms * 9, false);
    const out = new Int32Array(size * 11).fill(-7);
    argmaxOverArms(scores, size, arms, 9, undefined, out, 11, 2);
    const expected = tfWinners(scores, size, arms, 9);
    for (let i = 0; i < size; i++) {
      expect(Array.from(out.subarray(i * 11, i * 11 + 2))).toEqual([-7, -7]);
      expect(Array.from(out.subarray(i * 11 + 2, i * 11 + 11))).toEqual(expected.slice(i * 9, i * 9 + 9));
    }
  });

  it('marks a decision with a non-finite allowed score (-1 in its first column), and ignores masked arms', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const columns of [1, 9, 17]) {
        const rng = new Rng(9);
        const size = 3;
        const arms = 4;
        const scores = randomScores(rng, size * arms * columns, false);
        const allowed = new Uint8Array(size * arms).fill(1);
        allowed[1 * arms + 2] = 0;
        // decision 0: an allowed arm, decision 1: the masked arm, in the last column
        scores[(0 * arms + 3) * columns + columns - 1] = bad;
        scores[(1 * arms + 2) * columns + columns - 1] = bad;
        const mask = maskPenalty(allowed);
        const out = new Int32Array(size * columns);
        argmaxOverArms(scores, size, arms, columns, mask, out, columns, 0);
        expect(out[0]).toBe(-1);
        const clean = scores.slice();
        clean[(1 * arms + 2) * columns + columns - 1] = 0;
        const expected = tfWinners(clean, size, arms, columns, mask);
        expect(Array.from(out.subarray(columns))).toEqual(expected.slice(columns));
      }
    }
  });
});

describe('maskPenalty', () => {
  it('is 0 for allowed arms and -Infinity for anything else', () => {
    expect(Array.from(maskPenalty(Uint8Array.from([1, 0, 2, 1, 255])))).toEqual([
      0,
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      0,
      Number.NEGATIVE_INFINITY,
    ]);
  });
});

describe.each(['wasm', 'cpu'])('sampled argmax on the %s backend', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });

  it('equals the tfjs reference (GEMM, mask add, argMax over arms), in both product orders', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(1, 3, 24),
        fc.constantFrom(1, 7, 16),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (size, arms, p, samples, ties, masked, seed) => {
          const rng = new Rng(seed);
          const columns = samples + 1;
          const rows = randomScores(rng, size * arms * p, ties);
          const G = randomScores(rng, p * (p + 1), ties);
          const B = sampleMatrix(p, new Float64Array(samples).fill(ties ? 1 : 0.5), () =>
            ties ? rng.int(3) - 1 : rng.normal(),
          );
          const mask = masked ? maskPenalty(randomAllowed(rng, size, arms)) : undefined;
          const X = tf.tensor2d(rows, [size * arms, p]);
          const Gt = tf.tensor2d(G, [p, p + 1]);
          try {
            const winners = sampledArgmax(X, size, arms, Gt, B, samples, mask);
            const n = size * arms;
            // the same product order as sampledArgmax, so that the scores agree to the bit
            const S = tf.tidy(() => {
              const Bt = tf.tensor2d(B, [p + 1, columns]);
              const rowsFirst = n * p * (p + 1) + n * (p + 1) * columns < p * (p + 1) * columns + n * p * columns;
              return (rowsFirst ? tf.matMul(tf.matMul(X, Gt), Bt) : tf.matMul(X, tf.matMul(Gt, Bt))).dataSync();
            }) as Float32Array;
            expect(Array.from(winners)).toEqual(tfWinners(S, size, arms, columns, mask));
          } finally {
            X.dispose();
            Gt.dispose();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('with noise groups: mean winners in column 0, sample winners after, as the tfjs reference', () => {
    const rng = new Rng(12);
    const [size, arms, p, samples, groups] = [4, 6, 5, 9, 3];
    const n = size * arms;
    const rows = randomScores(rng, n * p, false);
    const F = randomScores(rng, p * p, false);
    const mu = randomScores(rng, p, false);
    const Z = randomScores(rng, p * samples, false);
    const oneHot = new Float32Array(n * groups);
    for (let r = 0; r < n; r++) oneHot[r * groups + rng.int(groups)] = 1;
    const sigma = new Float32Array(groups * samples).map(() => 0.5 + rng.next());
    const mask = maskPenalty(randomAllowed(rng, size, arms));
    const X = tf.tensor2d(rows, [n, p]);
    const Ft = tf.tensor2d(F, [p, p]);
    const mut = tf.tensor2d(mu, [p, 1]);
    try {
      const winners = sampledArgmaxGrouped(X, size, arms, Ft, mut, Z, oneHot, sigma, samples, mask);
      const [mean, S] = tf.tidy(() => {
        const U = tf.matMul(X, tf.matMul(Ft, tf.tensor2d(Z, [p, samples])));
        const scale = tf.matMul(tf.tensor2d(oneHot, [n, groups]), tf.tensor2d(sigma, [groups, samples]));
        const m = tf.matMul(X, mut);
        return [m.dataSync(), tf.add(m, tf.mul(U, scale)).dataSync()] as Float32Array[];
      });
      const meanWinners = tfWinners(mean, size, arms, 1, mask);
      const sampleWinners = tfWinners(S, size, arms, samples, mask);
      const expected: number[] = [];
      for (let i = 0; i < size; i++) {
        expected.push(meanWinners[i], ...sampleWinners.slice(i * samples, (i + 1) * samples));
      }
      expect(Array.from(winners)).toEqual(expected);
    } finally {
      X.dispose();
      Ft.dispose();
      mut.dispose();
    }
  });
});

describe('decide with non-finite features', () => {
  it.each(ALGORITHMS)('%s refuses a NaN feature of an allowed arm, naming the decision', (algorithm) => {
    const bandit = createBandit(configFor(algorithm), 6);
    const batch = randomBatch(new Rng(3), 3, 4, 6);
    batch.allowed.fill(1);
    batch.features[(1 * 4 + 2) * 6] = Number.NaN;
    expect(() => bandit.decide(batch, new Rng(1))).toThrow(/non-finite score.*decision 1|decision 1.*non-finite/);
    bandit.dispose();
  });

  it.each([
    ['NaN', Number.NaN],
    ['+Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('neural-linear at its default network size refuses %s in any column of an allowed arm', (_, value) => {
    // the default [32, 16] layers' fused ReLU turns NaN into 0, so the scores alone do not show it
    const d = 32;
    const bandit = createBandit(BanditConfigSchema.parse({ algorithm: 'neural-linear' }), d);
    const rng = new Rng(4);
    for (const column of [0, 7, 31]) {
      const batch = randomBatch(rng, 3, 4, d);
      batch.allowed.fill(1);
      batch.features[(1 * 4 + 2) * d + column] = value;
      expect(() => bandit.decide(batch, new Rng(1))).toThrow('decision 1, arm 2: a non-finite value');
      expect(() => bandit.distribution?.(batch, new Rng(1))).toThrow('decision 1, arm 2: a non-finite value');
    }
    bandit.dispose();
  });

  it('linucb names the first allowed arm with a non-finite score', () => {
    const bandit = createBandit(configFor('linucb'), 6);
    const batch = randomBatch(new Rng(3), 3, 4, 6);
    batch.allowed.fill(1);
    batch.features[(1 * 4 + 3) * 6] = Number.POSITIVE_INFINITY;
    batch.features[(1 * 4 + 1) * 6] = Number.NaN;
    expect(() => bandit.decide(batch, new Rng(1))).toThrow(/to arm 1 of decision 1/);
    bandit.dispose();
  });

  it.each(ALGORITHMS)('%s ignores non-finite features of a masked arm', (algorithm) => {
    const bandit = createBandit(configFor(algorithm), 6);
    const batch = randomBatch(new Rng(3), 3, 4, 6);
    batch.allowed.fill(1);
    batch.allowed[1 * 4 + 2] = 0;
    const clean = bandit.decide(batch, new Rng(1));
    batch.features[(1 * 4 + 2) * 6] = Number.NaN;
    batch.features[(1 * 4 + 2) * 6 + 1] = Number.POSITIVE_INFINITY;
    expect(bandit.decide(batch, new Rng(1))).toEqual(clean);
    bandit.dispose();
  });
});
