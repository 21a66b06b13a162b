/**
 * The tensor side of decide(): whole-batch scoring as GEMM-shaped tfjs ops, synchronous inside tf.tidy.
 * Results leave a tidy through a closure variable, never as its return value: tf.tidy walks what it
 * returns element by element looking for tensors, which for a 72,000-element Float32Array cost more
 * than the whole GEMM.
 *
 * Measured on the wasm backend (72 arms, d = 32, 1,000 decisions, Xeon, one thread): one
 * [72000 x 32] x [32 x 32] matMul takes about 6 ms; elementwise passes about 0.7 ms each; a strided
 * tf.slice of the same matrix 4.7 ms and tf.gather 85 ms, so neither appears here. A batch of 10
 * decisions costs about 0.2 ms through tfjs against 1.4 ms in plain JS Float64, so every batch size
 * goes through tfjs (no JS fast path).
 */
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
 * p^2 K). Masked arms get -Infinity before the argmax.
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
  let out: Int32Array | undefined;
  tf.tidy(() => {
    const [n, p] = rows.shape;
    const columns = samples + 1;
    const Bt = tf.tensor2d(B, [p + 1, columns]);
    const rowsFirst = n * p * (p + 1) + n * (p + 1) * columns;
    const weightsFirst = p * (p + 1) * columns + n * p * columns;
    const S = rowsFirst < weightsFirst ? tf.matMul(tf.matMul(rows, G), Bt) : tf.matMul(rows, tf.matMul(G, Bt));
    let S3: tf.Tensor3D = tf.reshape(S, [size, arms, columns]);
    if (mask) S3 = tf.add(S3, tf.tensor3d(mask, [size, arms, 1]));
    out = tf.argMax(S3, 1).dataSync() as Int32Array;
  });
  return out as Int32Array;
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

/**
 * Mask tensor data: 0 for allowed arms, -Infinity for masked ones.
 * @example const mask = maskPenalty(batch.allowed)
 */
export function maskPenalty(allowed: Uint8Array): Float32Array {
  const out = new Float32Array(allowed.length);
  for (let i = 0; i < allowed.length; i++) if (allowed[i] !== 1) out[i] = Number.NEGATIVE_INFINITY;
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
  let meanWinners: Int32Array | undefined;
  let sampleWinners: Int32Array | undefined;
  tf.tidy(() => {
    const [n, p] = rows.shape;
    const groups = sigma.length / samples;
    const Zt = tf.tensor2d(Z, [p, samples]);
    const rowsFirst = n * p * p + n * p * samples;
    const weightsFirst = p * p * samples + n * p * samples;
    const U = rowsFirst < weightsFirst ? tf.matMul(tf.matMul(rows, F), Zt) : tf.matMul(rows, tf.matMul(F, Zt));
    const scale = tf.matMul(tf.tensor2d(groupOneHot, [n, groups]), tf.tensor2d(sigma, [groups, samples]));
    const mean = tf.matMul(rows, mu);
    let S3: tf.Tensor3D = tf.reshape(tf.add(mean, tf.mul(U, scale)), [size, arms, samples]);
    let M3: tf.Tensor3D = tf.reshape(mean, [size, arms, 1]);
    if (mask) {
      const penalty = tf.tensor3d(mask, [size, arms, 1]);
      S3 = tf.add(S3, penalty);
      M3 = tf.add(M3, penalty);
    }
    meanWinners = tf.argMax(M3, 1).dataSync() as Int32Array;
    sampleWinners = tf.argMax(S3, 1).dataSync() as Int32Array;
  });
  const columns = samples + 1;
  const out = new Int32Array(size * columns);
  for (let i = 0; i < size; i++) {
    out[i * columns] = (meanWinners as Int32Array)[i];
    out.set((sampleWinners as Int32Array).subarray(i * samples, (i + 1) * samples), i * columns + 1);
  }
  return out;
}
