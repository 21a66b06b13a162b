/**
 * decide() throughput and latency at the production shape (72 arms = 3 channels x 24 hourly slots,
 * 32 features), against a roofline: the rate one tf.matMul with the same multiply-adds as the
 * algorithm's scoring reaches on the same backend in the same run. Also the time to load a state.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defaultConfig } from '#config/load.ts';
import { type BanditConfig, BanditConfigSchema } from '#config/schema.ts';
import {
  type ArmBatch,
  activeTensorBackend,
  type ContextualBandit,
  createBandit,
  initTensorBackend,
  loadBandit,
} from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';

const ARMS = 72;
const D = 32;
const BIG = 1000;
const SMALL = 10;

function batchOf(rng: Rng, size: number): ArmBatch {
  const features = new Float32Array(size * ARMS * D);
  for (let i = 0; i < features.length; i++) features[i] = rng.normal();
  // about a third of the arms masked, as quiet hours and caps would
  const allowed = new Uint8Array(size * ARMS).map((_, i) => (i % ARMS === 0 || rng.next() > 0.33 ? 1 : 0));
  return { size, arms: ARMS, dimension: D, features, allowed };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

function timeMs(fn: () => void, repeats: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Multiply-adds of the scoring of n arm rows, and the column count of a [n, D] x [D, c] matMul with as many. */
function scoringMacs(config: BanditConfig, rows: number): number {
  switch (config.algorithm) {
    case 'linucb':
      return rows * D * (D + 1); // X F and X mu
    case 'epsilon-greedy':
      return rows * D; // X mu
    case 'linear-ts':
      return rows * D * (config.posteriorSamples + 1) + D * (D + 1) * (config.posteriorSamples + 1);
    case 'neural-linear': {
      let macs = 0;
      let fanIn = D;
      for (const units of config.hiddenUnits) {
        macs += rows * fanIn * units;
        fanIn = units;
      }
      const p = fanIn + 1;
      return macs + rows * p * (config.posteriorSamples + 1) + p * (p + 1) * (config.posteriorSamples + 1);
    }
  }
}

/**
 * The roofline's one tf.matMul, [rows, D] x [D, c] with c columns giving the algorithm's multiply-adds.
 * Timed interleaved with decide() (see measure): on this shared machine the speed of a core drifts
 * by up to 2x within a minute, and timing the two back to back made their ratio drift with it.
 */
function rooflineMatMul(config: BanditConfig, rows: number): { run: () => void; dispose: () => void } {
  const columns = Math.max(1, Math.round(scoringMacs(config, rows) / (rows * D)));
  const a = tf.randomNormal([rows, D]) as tf.Tensor2D;
  const b = tf.randomNormal([D, columns]) as tf.Tensor2D;
  return {
    run: () => tf.matMul(a, b).dispose(),
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

function warmedUp(config: BanditConfig): ContextualBandit {
  const bandit = createBandit(config, D);
  const rng = new Rng(1);
  // a realistic posterior: 5,000 rewards learned
  const n = 5000;
  bandit.update(
    new Float32Array(n * D).map(() => rng.normal()),
    new Float64Array(n).map(() => (rng.next() < 0.1 ? 1 : 0)),
  );
  return bandit;
}

function measure(name: string, overrides: Record<string, unknown>) {
  const config = BanditConfigSchema.parse(overrides);
  const bandit = warmedUp(config);
  const rng = new Rng(2);
  const big = batchOf(rng, BIG);
  const small = batchOf(rng, SMALL);
  const roof = rooflineMatMul(config, BIG * ARMS);
  for (let i = 0; i < 5; i++) {
    bandit.decide(big, rng);
    roof.run();
  }
  const bigTimes: number[] = [];
  const roofTimes: number[] = [];
  for (let i = 0; i < 30; i++) {
    bigTimes.push(...timeMs(() => bandit.decide(big, rng), 1));
    roofTimes.push(...timeMs(roof.run, 1));
  }
  roof.dispose();
  const bigMs = median(bigTimes);
  for (let i = 0; i < 50; i++) bandit.decide(small, rng);
  const smallMs = timeMs(() => bandit.decide(small, rng), 1000);
  const text = JSON.stringify(bandit.serialize());
  const loadMs = median(timeMs(() => loadBandit(JSON.parse(text)).dispose(), 50));
  bandit.dispose();
  const batchDecisionsPerSecond = BIG / (bigMs / 1000);
  const rooflineDecisionsPerSecond = BIG / (median(roofTimes) / 1000);
  // the ratio per interleaved pair, so a slow stretch of the machine slows both sides of it
  const ratios = bigTimes.map((t, i) => roofTimes[i] / t);
  return {
    name,
    algorithm: config.algorithm,
    ...(config.algorithm === 'linear-ts' || config.algorithm === 'neural-linear'
      ? { posteriorSamples: config.posteriorSamples }
      : {}),
    batchDecisionsPerSecond: Math.round(batchDecisionsPerSecond),
    batchOf1000MedianMs: Number(bigMs.toFixed(3)),
    batchOf10MedianMs: Number(median(smallMs).toFixed(3)),
    batchOf10P99Ms: Number(quantile(smallMs, 0.99).toFixed(3)),
    rooflineDecisionsPerSecond: Math.round(rooflineDecisionsPerSecond),
    ratioToRoofline: Number(median(ratios).toFixed(3)),
    stateBytes: text.length,
    loadStateMs: Number(loadMs.toFixed(3)),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const backend = await initTensorBackend();
  const rows = [
    measure('linucb', { algorithm: 'linucb' }),
    measure('linear-ts', { algorithm: 'linear-ts' }),
    // 16 samples: K + 1 = 17 columns take a third panel of the wasm GEMM (the default was 16 until that was measured)
    measure('linear-ts K=16', { algorithm: 'linear-ts', posteriorSamples: 16 }),
    measure('linear-ts K=64', { algorithm: 'linear-ts', posteriorSamples: 64 }),
    measure('epsilon-greedy', { algorithm: 'epsilon-greedy' }),
    measure('neural-linear', { algorithm: 'neural-linear', trainEvery: 100_000 }),
  ];
  // the headline figures are the default algorithm's (what a deployment runs unless its config says otherwise)
  const defaultAlgorithm = defaultConfig().bandit.algorithm;
  const headline = rows.find((r) => r.name === defaultAlgorithm);
  if (!headline) throw new Error(`no decide measurement for the default algorithm ${defaultAlgorithm}`);
  return {
    arms: ARMS,
    features: D,
    backend,
    tfBackend: activeTensorBackend(),
    batchSize: BIG,
    defaultAlgorithm,
    batchDecisionsPerSecond: headline.batchDecisionsPerSecond,
    batchOf10P99Ms: headline.batchOf10P99Ms,
    rooflineDecisionsPerSecond: headline.rooflineDecisionsPerSecond,
    ratioToRoofline: headline.ratioToRoofline,
    note: 'one process, one thread; batch of 1,000 decisions, about a third of arms masked; roofline = one tf.matMul with the scoring multiply-adds',
    algorithms: rows,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2));
}
