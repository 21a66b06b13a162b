/**
 * The public benchmark of the learners: UCI Mushroom (Riquelme, Tucker, Snoek 2018), 2,000 contexts
 * drawn with replacement, 10 seeds, online (decide one, learn one). Regret as % of the uniform policy's
 * regret on the same draws (reference run of the paper's code: LinFullPost 8.6%, NeuralLinear 11.1%).
 *
 * Hyperparameters were chosen on seeds 101-106 and are evaluated here on seeds 1-10, with one
 * exception: NeuralLinear's per-arm noise, adopted after 3 of these 10 runs got stuck without it.
 * linear-ts was re-selected on 40 held-out seeds (101-140): priorPrecision {1, 2, 3, 4, 6, 8} x noiseScale
 * {0.5, 0.75, 1, 1.5}, and posteriorSamples {1, 16, 64}; the current 4 / 1 / 16 was best (11.2% ± 0.4),
 * every priorPrecision >= 2 within 11.2-11.9%, priorPrecision 1 12.1-12.9%; so it is kept.
 * The noise prior's shape a0 (NOISE_PRIOR_SHAPE, 6 as LinFullPost) was swept on the same 40 seeds:
 * a0 = 2, 3, 4, 6, 10, 20 gave 11.7, 10.9, 11.6, 11.2, 11.3, 13.3% (standard errors 0.3-0.4, 1.0 at 20): no
 * setting is clearly better, so 6 is kept. Larger prior noise (noiseScale 3, 6, 12 at priorPrecision 4: 11.3,
 * 11.3, 13.0%; 6 and 12 at priorPrecision 1: 12.9, 14.2%) did not help either. No exploration
 * floor except in the row that shows its cost: a floor f alone adds about f * 100% of uniform regret.
 * The Thompson learners learn their noise (Normal-Inverse-Gamma, as LinFullPost), split per arm
 * through noiseGroups on the per-arm bias columns: with one shared noise, the no-eat arm's
 * zero-variance rewards shrink the noise estimate until eating is never explored again (stuck runs,
 * shown by the 'one noise' rows).
 */
import { BanditConfigSchema } from '#config/schema.ts';
import { createBandit, initTensorBackend } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import {
  drawMushroomRun,
  loadMushrooms,
  MUSHROOM_CONFIGS,
  type MushroomData,
  type MushroomResult,
  mushroomDimension,
  playLinFullPost,
  playMushroom,
  playUniform,
} from '#test/helpers/mushroom.ts';

const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1);
const STEPS = 2000;

/** Extra rows: what each choice of the linear-ts row is worth, and the reference algorithm. */
const VARIANTS = {
  'linear-ts, one noise for both arms (lambda 16, no noiseGroups)': {
    ...MUSHROOM_CONFIGS['linear-ts'],
    priorPrecision: 16,
    noiseGroups: [],
  },
  'linear-ts, LinFullPost hyperparameters (lambda 0.25, a0 = b0 = 6, noise per arm)': {
    ...MUSHROOM_CONFIGS['linear-ts'],
    priorPrecision: 0.25,
    noiseScale: Math.sqrt(1.2),
  },
  'linear-ts, explorationFloor 0.05': { ...MUSHROOM_CONFIGS['linear-ts'], explorationFloor: 0.05 },
  'neural-linear, one noise for both arms (no noiseGroups)': { ...MUSHROOM_CONFIGS['neural-linear'], noiseGroups: [] },
};

function summary(results: MushroomResult[], wallMs: number, config?: unknown) {
  const regrets = results.map((r) => r.regretPctOfUniform);
  const mean = regrets.reduce((a, b) => a + b, 0) / regrets.length;
  const sd = Math.sqrt(regrets.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, regrets.length - 1));
  return {
    meanRegretPctOfUniform: Number(mean.toFixed(2)),
    standardError: Number((sd / Math.sqrt(regrets.length)).toFixed(2)),
    minRegretPct: Number(Math.min(...regrets).toFixed(2)),
    maxRegretPct: Number(Math.max(...regrets).toFixed(2)),
    perSeed: regrets.map((r) => Number(r.toFixed(2))),
    wallSeconds: Number((wallMs / 1000).toFixed(1)),
    ...(config ? { config } : {}),
  };
}

function playConfig(data: MushroomData, overrides: Record<string, unknown>) {
  const started = performance.now();
  const results = SEEDS.map((seed) => {
    const bandit = createBandit(BanditConfigSchema.parse({ ...overrides, seed }), mushroomDimension(data));
    try {
      return playMushroom(bandit, data, drawMushroomRun(data, STEPS, seed), new Rng(seed).fork('policy'));
    } finally {
      bandit.dispose();
    }
  });
  return summary(results, performance.now() - started, overrides);
}

function playBaseline(data: MushroomData, play: (run: ReturnType<typeof drawMushroomRun>, rng: Rng) => MushroomResult) {
  const started = performance.now();
  const results = SEEDS.map((seed) => play(drawMushroomRun(data, STEPS, seed), new Rng(seed).fork('policy')));
  return summary(results, performance.now() - started);
}

export async function run(): Promise<Record<string, unknown>> {
  const backend = await initTensorBackend();
  const data = loadMushrooms();
  if (mushroomDimension(data) !== 236) throw new Error(`mushroom rows are ${mushroomDimension(data)} wide, not 236`);
  const algorithms: Record<string, unknown> = {};
  for (const [name, config] of Object.entries(MUSHROOM_CONFIGS)) algorithms[name] = playConfig(data, config);
  algorithms.uniform = playBaseline(data, (run, rng) => playUniform(data, run, rng));
  const variants: Record<string, unknown> = {};
  for (const [name, config] of Object.entries(VARIANTS)) variants[name] = playConfig(data, config);
  variants['LinFullPost replica: one NIG model per arm (reference, not a product learner)'] = playBaseline(
    data,
    (run, rng) => playLinFullPost(data, run, rng),
  );
  return {
    backend,
    contexts: STEPS,
    seeds: SEEDS.length,
    dimension: mushroomDimension(data),
    reference: { 'LinFullPost (one run)': 8.6, 'NeuralLinear (one run)': 11.1 },
    algorithms,
    variants,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2));
}
