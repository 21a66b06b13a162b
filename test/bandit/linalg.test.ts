import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cholesky, identity, potterUpdate, solveSpd } from '#model/bandit/linalg.ts';
import { LinearPosterior, noiseGroupsOf } from '#model/bandit/posterior.ts';
import { Rng } from '#model/random.ts';

function precisionOf(rows: number[][], d: number, lambda: number): Float64Array {
  const A = identity(d, lambda);
  for (const x of rows) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) A[i * d + j] += x[i] * x[j];
  return A;
}

function inverse(A: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    const e = new Float64Array(d);
    e[c] = 1;
    const col = solveSpd(A, e, d) as Float64Array;
    for (let r = 0; r < d; r++) inv[r * d + c] = col[r];
  }
  return inv;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('square-root Sherman–Morrison (Potter) update', () => {
  it('keeps F F^T equal to the directly inverted precision, for any rows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 8, maxLength: 8 }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.double({ min: 0.05, max: 20, noNaN: true }),
        (d, rawRows, lambda) => {
          const rows = rawRows.map((r) => r.slice(0, d));
          const post = new LinearPosterior(d, lambda);
          for (const x of rows) post.observe(x, 0, 1);
          const direct = inverse(precisionOf(rows, d, lambda), d);
          const scale = Math.max(...Array.from(direct, Math.abs));
          expect(maxAbsDiff(post.covariance(), direct)).toBeLessThan(1e-9 * Math.max(1, scale));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives the ridge solution (lambda I + X^T X)^-1 X^T y as the posterior mean', () => {
    // Prepare
    const d = 12;
    const rng = new Rng(5);
    const post = new LinearPosterior(d, 0.5);
    const rows: number[][] = [];
    const b = new Float64Array(d);
    // Act
    for (let n = 0; n < 300; n++) {
      const x = Array.from({ length: d }, () => rng.normal());
      const y = x.reduce((s, v, i) => s + v * (i - 6), 0) + rng.normal();
      rows.push(x);
      for (let i = 0; i < d; i++) b[i] += y * x[i];
      post.observe(x, 0, y);
    }
    // Assess
    const direct = solveSpd(precisionOf(rows, d, 0.5), b, d) as Float64Array;
    expect(maxAbsDiff(post.mean(), direct)).toBeLessThan(1e-10);
  });

  it('ignores an all-zero row in the covariance but still counts it', () => {
    const F = identity(3);
    potterUpdate(F, 3, [0, 0, 0], 0, new Float64Array(3), new Float64Array(3));
    expect(Array.from(F)).toEqual(Array.from(identity(3)));
  });

  it('rebuild() from rows equals the incremental statistics', () => {
    const d = 6;
    const rng = new Rng(2);
    const n = 50;
    const rows = new Float64Array(n * d).map(() => rng.normal());
    const rewards = new Float64Array(n).map(() => rng.normal());
    const groups = new Int32Array(n).map((_, i) => i % 2);
    const incremental = new LinearPosterior(d, 2, 2);
    for (let r = 0; r < n; r++) incremental.observe(rows, r * d, rewards[r], groups[r]);
    const rebuilt = new LinearPosterior(d, 2, 2);
    rebuilt.observe(rows, 0, 100, 1); // stale statistics that rebuild must forget
    rebuilt.rebuild(rows, rewards, groups, n);
    expect(Array.from(rebuilt.covariance())).toEqual(Array.from(incremental.covariance()));
    expect(Array.from(rebuilt.mean())).toEqual(Array.from(incremental.mean()));
    expect(Array.from(rebuilt.noiseSums)).toEqual(Array.from(incremental.noiseSums));
    expect(rebuilt.count).toBe(n);
  });

  it('keeps the incrementally updated mean equal to F F^T b', () => {
    const d = 7;
    const rng = new Rng(12);
    const post = new LinearPosterior(d, 1);
    for (let r = 0; r < 500; r++) {
      const x = Array.from({ length: d }, () => rng.normal());
      post.observe(x, 0, 3 * x[0] - x[1] + rng.normal());
    }
    const C = post.covariance();
    const direct = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) direct[i] += C[i * d + j] * post.rewardSum[j];
    expect(maxAbsDiff(post.mean(), direct)).toBeLessThan(1e-10);
  });
});

describe('noise posterior', () => {
  it('sums one-step-ahead errors to the closed form (sum r^2 - b.mu) / 2', () => {
    const d = 5;
    const rng = new Rng(4);
    const post = new LinearPosterior(d, 0.5);
    let yy = 0;
    for (let r = 0; r < 200; r++) {
      const x = Array.from({ length: d }, () => rng.normal());
      const y = x[2] + 2 * rng.normal();
      yy += y * y;
      post.observe(x, 0, y);
    }
    let bmu = 0;
    for (let j = 0; j < d; j++) bmu += post.rewardSum[j] * post.mean()[j];
    expect(post.noiseSums[0]).toBeCloseTo((yy - bmu) / 2, 8);
    expect(post.noisePosterior({ scale: 1, learned: true, groupFeatures: [] })).toEqual({
      shape: 6 + 100,
      scale: 5 + post.noiseSums[0],
    });
  });

  it('with one group per disjoint block, learns each block the noise of its own model (LinFullPost)', () => {
    // Prepare: two arms as disjoint blocks [context | 0 | 1 0] and [0 | context | 0 1], noise 0.1 vs 3
    const c = 3;
    const d = 2 * c + 2;
    const rng = new Rng(6);
    const shared = new LinearPosterior(d, 1, 2);
    const perArm = [new LinearPosterior(c + 1, 1), new LinearPosterior(c + 1, 1)];
    // Act
    for (let r = 0; r < 400; r++) {
      const arm = r % 2;
      const context = Array.from({ length: c }, () => rng.normal());
      const y = context[0] * (arm ? -1 : 1) + (arm ? 3 : 0.1) * rng.normal();
      const row = new Float64Array(d);
      row.set(context, arm * c);
      row[2 * c + arm] = 1;
      shared.observe(row, 0, y, noiseGroupsOf(row, d, 1, [2 * c, 2 * c + 1])[0]);
      perArm[arm].observe([...context, 1], 0, y);
    }
    // Assess
    for (const arm of [0, 1]) {
      expect(shared.noiseCounts[arm]).toBe(200);
      expect(shared.noiseSums[arm]).toBeCloseTo(perArm[arm].noiseSums[0], 8);
    }
    const sigma2 = (arm: number) => shared.noiseSums[arm] / (shared.noiseCounts[arm] / 2);
    expect(Math.sqrt(sigma2(0))).toBeCloseTo(0.1, 1);
    expect(Math.sqrt(sigma2(1))).toBeGreaterThan(2.5);
  });

  it('puts rows with none of the group features in the last group', () => {
    const rows = new Float32Array([0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect(Array.from(noiseGroupsOf(rows, 3, 3, [1, 2]))).toEqual([0, 1, 2]);
    expect(Array.from(noiseGroupsOf(rows, 3, 3, []))).toEqual([0, 0, 0]);
  });
});

describe('Cholesky helpers', () => {
  it('factor a known matrix and refuse an indefinite one', () => {
    expect(Array.from(cholesky(new Float64Array([4, 2, 2, 3]), 2) as Float64Array)).toEqual([2, 0, 1, Math.SQRT2]);
    expect(cholesky(new Float64Array([1, 2, 2, 1]), 2)).toBeUndefined();
  });
});
