/**
 * Dense Float64 linear algebra for the d x d bookkeeping of the linear posteriors (row-major matrices).
 * tfjs has no Cholesky or inverse, and these are O(d^2) per reward, so plain JS is the right place.
 */

/**
 * Rank-1 update of a square-root covariance, the square-root form of Sherman–Morrison (Potter 1963):
 * given F with F F^T = A^-1, overwrites F so that F F^T = (A + x x^T)^-1, in O(d^2).
 * Uses F' = F (I - beta g g^T) with g = F^T x, s = g.g, beta = 1 / (r (r + 1)), r = sqrt(1 + s): no
 * subtraction of nearly equal numbers, and F F^T stays positive definite by construction (the plain
 * Sherman–Morrison update of A^-1 can drift out of positive definiteness in floating point).
 * `x` is read from `source` starting at `offset`. Returns s = x^T A^-1 x (before the update) and leaves
 * fg = A^-1 x (before the update) in `fg`; `g` is scratch. Both arrays have length d.
 * @example
 *   const F = identity(2); potterUpdate(F, 2, [1, 0], 0, new Float64Array(2), new Float64Array(2));
 *   // F F^T = diag(1/2, 1) = (I + e1 e1^T)^-1
 */
export function potterUpdate(
  F: Float64Array,
  d: number,
  source: ArrayLike<number>,
  offset: number,
  g: Float64Array,
  fg: Float64Array,
): number {
  g.fill(0);
  for (let i = 0; i < d; i++) {
    const xi = source[offset + i];
    if (xi === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) g[j] += F[row + j] * xi;
  }
  let s = 0;
  for (let j = 0; j < d; j++) s += g[j] * g[j];
  if (s === 0) {
    fg.fill(0);
    return 0;
  }
  for (let i = 0; i < d; i++) {
    const row = i * d;
    let acc = 0;
    for (let j = 0; j < d; j++) acc += F[row + j] * g[j];
    fg[i] = acc;
  }
  const r = Math.sqrt(1 + s);
  const beta = 1 / (r * (r + 1));
  for (let i = 0; i < d; i++) {
    const c = beta * fg[i];
    if (c === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) F[row + j] -= c * g[j];
  }
  return s;
}

/** @example identity(2) // Float64Array [1, 0, 0, 1] */
export function identity(d: number, scale = 1): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = scale;
  return m;
}

/**
 * y = M^T v for a d x d row-major M.
 * @example transposeTimes(identity(2), [3, 4], 2) // [3, 4]
 */
export function transposeTimes(M: Float64Array, v: ArrayLike<number>, d: number, out = new Float64Array(d)) {
  out.fill(0);
  for (let i = 0; i < d; i++) {
    const vi = v[i];
    if (vi === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) out[j] += M[row + j] * vi;
  }
  return out;
}

/**
 * y = M v for a d x d row-major M.
 * @example times(identity(2, 2), [3, 4], 2) // [6, 8]
 */
export function times(M: Float64Array, v: ArrayLike<number>, d: number, out = new Float64Array(d)) {
  for (let i = 0; i < d; i++) {
    const row = i * d;
    let acc = 0;
    for (let j = 0; j < d; j++) acc += M[row + j] * v[j];
    out[i] = acc;
  }
  return out;
}

/**
 * Lower Cholesky factor L of a symmetric positive definite A (A = L L^T), or undefined if A is not
 * numerically positive definite.
 * @example cholesky(new Float64Array([4, 2, 2, 3]), 2) // [2, 0, 1, 1.414...]
 */
export function cholesky(A: Float64Array, d: number): Float64Array | undefined {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * d + j];
      for (let k = 0; k < j; k++) sum -= L[i * d + k] * L[j * d + k];
      if (i === j) {
        if (!(sum > 0)) return undefined;
        L[i * d + i] = Math.sqrt(sum);
      } else {
        L[i * d + j] = sum / L[j * d + j];
      }
    }
  }
  return L;
}

/**
 * Solves A x = b for a symmetric positive definite A by Cholesky (a reference for tests; O(d^3)).
 * @example solveSpd(identity(2, 2), [2, 4], 2) // [1, 2]
 */
export function solveSpd(A: Float64Array, b: ArrayLike<number>, d: number): Float64Array | undefined {
  const L = cholesky(A, d);
  if (!L) return undefined;
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= L[i * d + k] * y[k];
    y[i] = sum / L[i * d + i];
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < d; k++) sum -= L[k * d + i] * x[k];
    x[i] = sum / L[i * d + i];
  }
  return x;
}
