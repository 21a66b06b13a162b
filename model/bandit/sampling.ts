/** Random draws the posteriors need beyond the normals of model/random.ts. */
import type { Rng } from '#model/random.ts';

/**
 * Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 by the boosting identity).
 * @example gammaDraw(rng, 6) // mean 6, variance 6
 */
export function gammaDraw(rng: Rng, shape: number): number {
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.next();
    return gammaDraw(rng, shape + 1) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x = 0;
    let v = 0;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * Inverse-Gamma(shape, scale) draw: scale / Gamma(shape, 1).
 * @example inverseGammaDraw(rng, 6, 5) // mean 5 / (6 - 1) = 1
 */
export function inverseGammaDraw(rng: Rng, shape: number, scale: number): number {
  return scale / gammaDraw(rng, shape);
}
