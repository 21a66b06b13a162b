/**
 * The tensor side of decide(): whole-batch scoring as GEMM-shaped tfjs ops, synchronous inside tf.tidy.
 * Results leave a tidy through a closure variable, never as its return value: tf.tidy walks what it
 * returns element by element looking for tensors, which for a 72,000-element Float32Array cost more
 * than the whole GEMM.
 *
 * Measured on the wasm backend (72 arms, d = 32, 1,000 decisions, Xeon, one thread): one
 * [72000 x 32] x [32 x 32] matMul takes about 5.5 ms. XNNPACK computes output columns in panels of
 * eight, so [32 x 17] (Thompson's mean and 16 samples) costs 4.4 ms like [32 x 24] would, [32 x 16]
 * (the mean and 15 samples, the default since) 3.0 ms, and a GEMV as much as [32 x 8] (1.7 ms). Elementwise passes take about 0.7-0.9 ms each; a
 * strided tf.slice of the same matrix 4.7 ms (the wasm kernel first copies the whole input) and
 * tf.gather 85 ms, so neither appears here. Thompson's argmax over arms is JS (argmaxOverArms, 2.0 ms
 * on the [72000 x 17] scores, read in place on the wasm heap) rather than tf.add of the mask + tf.argMax
 * over axis 1 (1.4 + 3.1 ms, the latter with a transpose) + dataSync: linear-ts went from 12.4 to
 * about 9 ms per 1,000 decisions. A batch of 10 decisions costs about 0.2 ms through tfjs against
 * 1.4 ms in plain JS Float64, so every batch size goes through tfjs (no JS fast path).
 */
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/** Score matrices for LinUCB: posterior mean x.mu and squared width x^T A^-1 x = |F^T x|^2 per row. */
export interface MeanAndWidth {
  mean: Float32Array;
  squaredWidth: Float32Array;
}

/**
 * LinUCB scores for N = size * arms rows: mean = X mu, squaredWidth = rowsum((X F)^2). Two GEMMs and
 * two elementwise passes; N * d * (d + 1) multiply-adds.
 * @example const { mean, squaredWidth } = meanAndWidth(batch.features, N, d, F, mu)
 */
export function meanAndWidth(features: Float32Array, rows: number, d: number, F: tf.Tensor2D, mu: tf.Tensor2D) {
  let out: MeanAndWidth | undefined;
  tf.tidy(() => {
    const X = tf.tensor2d(features, [rows, d]);
    const squaredWidth = tf.sum(tf.square(tf.matMul(X, F)), 1).dataSync() as Float32Array;
    const mean = tf.matMul(X, mu).dataSync() as Float32Array;
    out = { mean, squaredWidth };
  });
  return out as MeanAndWidth;
}

/**
 * Posterior-mean scores X mu for N rows (epsilon-greedy): one GEMV.
 * @example const mean = meanScores(batch.features, N, d, mu)
 */
export function meanScores(features: Float32Array, rows: number, d: number, mu: tf.Tensor2D): Float32Array {
  let out: Float32Array | undefined;
  tf.tidy(() => {
    out = tf.matMul(tf.tensor2d(features, [rows, d]), mu).dataSync() as Float32Array;
  });
  return out as Float32Array;
}

/**
 * Argmax arm of every decision under the posterior mean (column 0) and under each of K posterior
 * samples (columns 1..K): returns [size * (K + 1)] arm indices.
 *
 * Scores are S = X [mu | mu + sigma_k F z_k] = X G B with G = [mu | F] ([p, p+1], cached by the caller)
 * and B = [[1 ... 1], [0, Z]] ([p+1, K+1], this batch's noise-scaled normals). The product is evaluated in the
 * cheaper order: (G B) first when the batch has many rows (the usual case: one [N, p] x [p, K+1] GEMM),
 * X G first when it has few (a single decision of a high-dimensional model, where G B would cost
 * p^2 K). The argmax over each decision's allowed arms is taken in JS on S as it lies in memory
 * (argmaxOverArms), not with tf.argMax: that reduces the innermost axis only, so over arms it would cost
 * a transpose of S, plus an elementwise pass to add the mask.
 * @example const winners = sampledArgmax(X, size, arms, G, B, samples, mask)
 */
export function sampledArgmax(
  rows: tf.Tensor2D,
  size: number,
  arms: number,
  G: tf.Tensor2D,
  B: Float32Array,
  samples: number,
  mask: Float32Array | undefined,
): Int32Array {
  const columns = samples + 1;
  const out = new Int32Array(size * columns);
  tf.tidy(() => {
    const [n, p] = rows.shape;
    const Bt = tf.tensor2d(B, [p + 1, columns]);
    const rowsFirst = n * p * (p + 1) + n * (p + 1) * columns;
    const weightsFirst = p * (p + 1) * columns + n * p * columns;
    const S = rowsFirst < weightsFirst ? tf.matMul(tf.matMul(rows, G), Bt) : tf.matMul(rows, tf.matMul(G, Bt));
    argmaxOverArms(scoresOf(S), size, arms, columns, mask, out, columns, 0);
  });
  return out;
}

/**
 * The float32 contents of a tensor, to be read before the next tfjs call: on the wasm backend a view
 * of its heap (no copy; a later op may grow the heap and detach it), elsewhere dataSync().
 */
function scoresOf(t: tf.Tensor): Float32Array {
  const backend = tf.backend();
  if (backend instanceof BackendWasm) return backend.typedArrayFromHeap(t) as Float32Array;
  return t.dataSync() as Float32Array;
}

/**
 * For every decision i and column c of `scores` ([size * arms, columns] row-major: row i * arms + a is
 * arm a of decision i), the first allowed arm with the greatest score, written to
 * out[i * stride + offset + c]: what tf.argMax over the arms axis returns once masked arms (mask
 * non-zero) are -Infinity. A decision in which an allowed arm scores NaN or +-Infinity gets -1 at
 * out[i * stride + offset] instead (checkWinners reports it).
 *
 * Columns go eight at a time with the running maxima in locals (registers), not in an array: 2.0 ms
 * instead of 2.6 ms on [72000 x 17] scores with a Float64Array of maxima. The sum of the allowed
 * scores, in float64, is finite exactly when they all are (float32 values cannot overflow it).
 * @example argmaxOverArms(S, size, arms, K + 1, mask, winners, K + 1, 0)
 */
export function argmaxOverArms(
  scores: Float32Array,
  size: number,
  arms: number,
  columns: number,
  mask: Float32Array | undefined,
  out: Int32Array,
  stride: number,
  offset: number,
): void {
  const NEG = Number.NEGATIVE_INFINITY;
  const allowedArms = new Int32Array(arms);
  for (let i = 0; i < size; i++) {
    const base = i * arms;
    // the allowed arms, listed without a branch per arm (masks are random enough to mispredict)
    let m = 0;
    for (let a = 0; a < arms; a++) {
      allowedArms[m] = a;
      m += mask === undefined ? 1 : +(mask[base + a] === 0);
    }
    const o = i * stride + offset;
    let sum = 0;
    let c = 0;
    // biome-ignore format: the eight columns read best side by side
    for (; c + 8 <= columns; c += 8) {
      let b0 = NEG, b1 = NEG, b2 = NEG, b3 = NEG, b4 = NEG, b5 = NEG, b6 = NEG, b7 = NEG;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      for (let j = 0; j < m; j++) {
        const a = allowedArms[j];
        const r = (base + a) * columns + c;
        const v0 = scores[r], v1 = scores[r + 1], v2 = scores[r + 2], v3 = scores[r + 3];
        const v4 = scores[r + 4], v5 = scores[r + 5], v6 = scores[r + 6], v7 = scores[r + 7];
        sum += (v0 + v1) + (v2 + v3) + ((v4 + v5) + (v6 + v7));
        if (v0 > b0) { b0 = v0; a0 = a; }
        if (v1 > b1) { b1 = v1; a1 = a; }
        if (v2 > b2) { b2 = v2; a2 = a; }
        if (v3 > b3) { b3 = v3; a3 = a; }
        if (v4 > b4) { b4 = v4; a4 = a; }
        if (v5 > b5) { b5 = v5; a5 = a; }
        if (v6 > b6) { b6 = v6; a6 = a; }
        if (v7 > b7) { b7 = v7; a7 = a; }
      }
      out[o + c] = a0; out[o + c + 1] = a1; out[o + c + 2] = a2; out[o + c + 3] = a3;
      out[o + c + 4] = a4; out[o + c + 5] = a5; out[o + c + 6] = a6; out[o + c + 7] = a7;
    }
    for (; c < columns; c++) {
      let best = NEG;
      let arm = 0;
      for (let j = 0; j < m; j++) {
        const a = allowedArms[j];
        const v = scores[(base + a) * columns + c];
        sum += v;
        if (v > best) {
          best = v;
          arm = a;
        }
      }
      out[o + c] = arm;
    }
    if (!Number.isFinite(sum)) out[o] = -1;
  }
}

/**
 * Builds B = [[1, 1 ... 1], [0, Z]] for sampledArgmax, Z[j, k] = scale_k * normal: [p+1, K+1] row-major,
 * so that G B = [mu | mu + scale_k F z_k].
 * @example const B = sampleMatrix(p, scales, () => rng.normal())
 */
export function sampleMatrix(p: number, scales: Float64Array, normal: () => number): Float32Array {
  const K = scales.length;
  const columns = K + 1;
  const B = new Float32Array((p + 1) * columns);
  // row 0 multiplies mu: every column, the mean's and each sample's, is mu + ...
  B.fill(1, 0, columns);
  for (let j = 0; j < p; j++) {
    const row = (j + 1) * columns;
    for (let k = 0; k < K; k++) B[row + 1 + k] = scales[k] * normal();
  }
  return B;
}

/** maskPenalty's value for allowed[i] === 1 (index 1) and for anything else (index 0). */
const PENALTY = new Float32Array([Number.NEGATIVE_INFINITY, 0]);

/**
 * Mask penalties: 0 for allowed arms, -Infinity for masked ones. A table lookup rather than a branch:
 * with a third of the arms masked at random, the branch mispredicts often enough to triple the cost.
 * @example const mask = maskPenalty(batch.allowed)
 */
export function maskPenalty(allowed: Uint8Array): Float32Array {
  const out = new Float32Array(allowed.length);
  const n = allowed.length;
  for (let i = 0; i < n; i++) out[i] = PENALTY[+(allowed[i] === 1)];
  return out;
}

/**
 * sampledArgmax when rows of different noise groups have their own noise scale per sample: scores
 * are mu.x + sigma[g(row), k] (F z_k).x, so the scale cannot be folded into the weights. Costs one
 * more GEMV (the mean), a [N, G] x [G, K] product for the per-row scales and two elementwise passes.
 * groupOneHot: [N * G]; sigma: [G * K]; Z: [p * K] unit normals. Returns [size * (K + 1)] like
 * sampledArgmax (column 0 the mean's argmax).
 * @example const winners = sampledArgmaxGrouped(X, size, arms, F, mu, Z, oneHot, sigma, 16, mask)
 */
export function sampledArgmaxGrouped(
  rows: tf.Tensor2D,
  size: number,
  arms: number,
  F: tf.Tensor2D,
  mu: tf.Tensor2D,
  Z: Float32Array,
  groupOneHot: Float32Array,
  sigma: Float32Array,
  samples: number,
  mask: Float32Array | undefined,
): Int32Array {
  const columns = samples + 1;
  const out = new Int32Array(size * columns);
  tf.tidy(() => {
    const [n, p] = rows.shape;
    const groups = sigma.length / samples;
    const Zt = tf.tensor2d(Z, [p, samples]);
    const rowsFirst = n * p * p + n * p * samples;
    const weightsFirst = p * p * samples + n * p * samples;
    const U = rowsFirst < weightsFirst ? tf.matMul(tf.matMul(rows, F), Zt) : tf.matMul(rows, tf.matMul(F, Zt));
    const scale = tf.matMul(tf.tensor2d(groupOneHot, [n, groups]), tf.tensor2d(sigma, [groups, samples]));
    const mean = tf.matMul(rows, mu);
    const S = tf.add(mean, tf.mul(U, scale));
    argmaxOverArms(scoresOf(mean), size, arms, 1, mask, out, columns, 0);
    argmaxOverArms(scoresOf(S), size, arms, samples, mask, out, columns, 1);
  });
  return out;
}
