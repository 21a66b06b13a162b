/**
 * The learners' full arm distributions (ContextualBandit.distribution): for the same random state they are
 * the distributions decide() draws from, so the entry at the chosen arm is the logged propensity, masked
 * arms get nothing, every row sums to 1, and many draws of one decision land on the arms in those shares.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ContextualBandit, createBandit, initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { CASES, configFor, LinearWorld, randomBatch, repeatedDecision } from './fixtures.ts';

const D = 6;
const ARMS = 5;

beforeAll(async () => {
  await initTensorBackend();
});

function trained(algorithm: (typeof CASES)[number]['algorithm'], overrides: Record<string, unknown>): ContextualBandit {
  const bandit = createBandit(configFor(algorithm, overrides), D);
  const world = new LinearWorld(D, 11);
  const rng = new Rng(3);
  for (let r = 0; r < 4; r++) {
    const batch = randomBatch(rng, 50, ARMS, D);
    const { rows, rewards } = world.play(
      batch,
      bandit.decide(batch, rng).map((c) => c.arm),
    );
    bandit.update(rows, rewards);
  }
  return bandit;
}

describe.each(CASES)('$name', ({ algorithm, overrides }) => {
  it('gives, for the same random state, the distribution decide draws from: the chosen arm carries the logged propensity', () => {
    const bandit = trained(algorithm, { ...overrides, explorationFloor: 0.05 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.boolean(),
        (size, arms, seed, twins) => {
          const batch = randomBatch(new Rng(seed), size, arms, D);
          // identical rows tie under every sample: arm 1 a copy of arm 0 in every decision
          if (twins && arms > 1) {
            for (let i = 0; i < size; i++) {
              const base = i * arms * D;
              batch.features.copyWithin(base + D, base, base + D);
            }
          }
          const probs = bandit.distribution?.(batch, new Rng(seed + 1)) as Float64Array;
          const choices = bandit.decide(batch, new Rng(seed + 1));
          expect(probs).toHaveLength(size * arms);
          choices.forEach((c, i) => {
            let sum = 0;
            for (let a = 0; a < arms; a++) {
              const p = probs[i * arms + a];
              if (batch.allowed[i * arms + a] === 0) expect(p).toBe(0);
              else expect(p).toBeGreaterThan(0);
              sum += p;
            }
            expect(sum).toBeCloseTo(1, 9);
            expect(probs[i * arms + c.arm]).toBeCloseTo(c.propensity, 12);
          });
        },
      ),
      { numRuns: 25 },
    );
    bandit.dispose();
  });

  it('matches the shares in which decide spreads many copies of one decision (the same shared samples)', () => {
    const bandit = trained(algorithm, { ...overrides, explorationFloor: 0.1 });
    const batch = repeatedDecision(new Rng(21), 4000, ARMS, D, [1, 1, 0, 1, 1]);
    const probs = bandit.distribution?.(batch, new Rng(5)) as Float64Array;
    const counts = new Float64Array(ARMS);
    for (const c of bandit.decide(batch, new Rng(5))) counts[c.arm]++;
    for (let a = 0; a < ARMS; a++) {
      const p = probs[a];
      // every copy has the same distribution; 4000 draws: within 4.5 standard errors
      expect(Math.abs(counts[a] / 4000 - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / 4000) + 1e-9);
    }
    bandit.dispose();
  });
});
