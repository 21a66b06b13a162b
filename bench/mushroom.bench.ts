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
 * 11.3, 13.0%; 6 and 12 at priorPrecision 1: 12.9, 14.2%) did not help either, nor did scaling the posterior
 * draws' noise by c = 0.5, 0.7, 1.3, 1.6 (14.1, 12.7, 13.2, 16.6%, against 11.2% at c = 1), nor a fixed
 * noise instead of a learned one (learnNoise false, noiseScale 2, 3, 4, 8: 21.4, 16.6, 13.3, 18.2%). No exploration
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

const average = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean regret by source over the runs (see MushroomResult.regretSources). */
function meanSources(results: MushroomResult[]) {
  const half = (key: 'firstHalf' | 'secondHalf') => ({
    modelWrong: Number(average(results.map((r) => r.regretSources[key].modelWrong)).toFixed(2)),
    exploration: Number(average(results.map((r) => r.regretSources[key].exploration)).toFixed(2)),
  });
  return { firstHalf: half('firstHalf'), secondHalf: half('secondHalf') };
}

function summary(results: MushroomResult[], wallMs: number, config?: unknown) {
  const regrets = results.map((r) => r.regretPctOfUniform);
  const mean = average(regrets);
  const sd = Math.sqrt(regrets.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, regrets.length - 1));
  return {
    meanRegretPctOfUniform: Number(mean.toFixed(2)),
    standardError: Number((sd / Math.sqrt(regrets.length)).toFixed(2)),
    minRegretPct: Number(Math.min(...regrets).toFixed(2)),
    maxRegretPct: Number(Math.max(...regrets).toFixed(2)),
    perSeed: regrets.map((r) => Number(r.toFixed(2))),
    expectedRegretSourcesPct: meanSources(results),
    wallSeconds: Number((wallMs / 1000).toFixed(1)),
    ...(config ? { config } : {}),
  };
}

/** One run of a bandit config on one seed's draws. */
function playSeed(data: MushroomData, overrides: Record<string, unknown>, seed: number): MushroomResult {
  const bandit = createBandit(BanditConfigSchema.parse({ ...overrides, seed }), mushroomDimension(data));
  try {
    return playMushroom(bandit, data, drawMushroomRun(data, STEPS, seed), new Rng(seed).fork('policy'));
  } finally {
    bandit.dispose();
  }
}

function playConfig(data: MushroomData, overrides: Record<string, unknown>) {
  const started = performance.now();
  const results = SEEDS.map((seed) => playSeed(data, overrides, seed));
  return summary(results, performance.now() - started, overrides);
}

/** Seeds used by nothing else (tuning used 101-140): how single runs of 2,000 contexts spread. */
const SPREAD_SEEDS = Array.from({ length: 100 }, (_, i) => i + 201);

/**
 * The spread of single runs over 100 fresh seeds, for linear-ts and the LinFullPost replica: how often
 * one run lands at or under the reference's published single run (8.6%) and under the target (10%).
 */
function singleRunSpread(data: MushroomData) {
  const spread = (regrets: number[]) => {
    const sorted = [...regrets].sort((a, b) => a - b);
    const at = (q: number) => Number(sorted[Math.floor(q * (sorted.length - 1))].toFixed(2));
    return {
      mean: Number(average(regrets).toFixed(2)),
      p10: at(0.1),
      median: at(0.5),
      p90: at(0.9),
      shareAtMost8_6: regrets.filter((r) => r <= 8.6).length / regrets.length,
      shareAtMost10: regrets.filter((r) => r <= 10).length / regrets.length,
    };
  };
  const ours = SPREAD_SEEDS.map((seed) => playSeed(data, MUSHROOM_CONFIGS['linear-ts'], seed));
  const replica = SPREAD_SEEDS.map((seed) =>
    playLinFullPost(data, drawMushroomRun(data, STEPS, seed), new Rng(seed).fork('policy')),
  );
  return {
    seeds: '201-300',
    'linear-ts': { ...spread(ours.map((r) => r.regretPctOfUniform)), expectedRegretSourcesPct: meanSources(ours) },
    'LinFullPost replica': {
      ...spread(replica.map((r) => r.regretPctOfUniform)),
      expectedRegretSourcesPct: meanSources(replica),
    },
  };
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
    singleRunSpread: singleRunSpread(data),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2));
}
