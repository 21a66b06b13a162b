/**
 * The learner's work, as the learner Lambda does it (model/policy-learning.ts, plain JavaScript, no
 * TF.js): rewards applied per second for the linear learners at the production feature width, and one
 * NeuralLinear retraining at the default config (replay buffer 5,000 rows, 20 epochs, [32, 16] hidden
 * units). The retraining is measured against the same training on TF.js tensors in the same run (the
 * way it was trained before the learner dropped TF.js: tfjs ops per minibatch and tf.train.adam, wasm
 * backend), which is the baseline the JavaScript replaced.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defaultConfig, parseConfig } from '#config/load.ts';
import { type AnalystConfigInput, BanditConfigSchema } from '#config/schema.ts';
import { activeTensorBackend, initTensorBackend, type NeuralLinearConfig } from '#model/bandit/index.ts';
import { RepresentationNetwork } from '#model/bandit/mlp.ts';
import { FEATURE_DIMENSION, FEATURE_INDEX } from '#model/features.ts';
import { type LearnRow, PolicyLearner } from '#model/policy-learning.ts';
import { Rng } from '#model/random.ts';

const D = FEATURE_DIMENSION;

function rows(rng: Rng, n: number): LearnRow[] {
  return Array.from({ length: n }, () => {
    const features = Float32Array.from({ length: D }, () => (rng.next() < 0.5 ? 0 : rng.next()));
    features[FEATURE_INDEX.channel_cost] = 0.01;
    return { features, reward: rng.next() < 0.2 ? 1 : 0 };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The previous TF.js training: forward, hand-written backward and Adam on tensors; the last epoch's mean loss. */
function tensorTraining(
  shapes: number[][],
  initial: Float32Array[],
  X: Float32Array,
  y: Float64Array,
  n: number,
  options: { epochs: number; batchSize: number; learningRate: number },
  rng: Rng,
): number {
  const d = shapes[0][0];
  const variables = initial.map((w, i) => tf.variable(tf.tensor(w, shapes[i])));
  const L = shapes.length / 2 - 1;
  const optimizer = tf.train.adam(options.learningRate);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const xb = new Float32Array(options.batchSize * d);
  const yb = new Float32Array(options.batchSize);
  let loss = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    let epochLoss = 0;
    let batches = 0;
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < n; start += options.batchSize) {
      const m = Math.min(options.batchSize, n - start);
      for (let r = 0; r < m; r++) {
        xb.set(X.subarray(order[start + r] * d, order[start + r] * d + d), r * d);
        yb[r] = y[order[start + r]];
      }
      batches++;
      epochLoss += tf.tidy(() => {
        const acts: tf.Tensor2D[] = [tf.tensor2d(xb.subarray(0, m * d), [m, d])];
        for (let l = 0; l < L; l++) {
          acts.push(
            tf.relu(tf.add(tf.matMul(acts[l], variables[2 * l] as tf.Tensor2D), variables[2 * l + 1])) as tf.Tensor2D,
          );
        }
        const pred = tf.add(tf.matMul(acts[L], variables[2 * L] as tf.Tensor2D), variables[2 * L + 1]);
        const err = tf.sub(pred, tf.tensor2d(yb.subarray(0, m), [m, 1]));
        const grads: tf.Tensor[] = new Array(variables.length);
        let delta = tf.mul(err, tf.scalar(2 / m)) as tf.Tensor2D;
        grads[2 * L] = tf.matMul(acts[L], delta, true, false);
        grads[2 * L + 1] = tf.sum(delta, 0);
        let up = tf.matMul(delta, variables[2 * L] as tf.Tensor2D, false, true);
        for (let l = L - 1; l >= 0; l--) {
          delta = tf.mul(up, tf.step(acts[l + 1])) as tf.Tensor2D;
          grads[2 * l] = tf.matMul(acts[l], delta, true, false);
          grads[2 * l + 1] = tf.sum(delta, 0);
          if (l > 0) up = tf.matMul(delta, variables[2 * l] as tf.Tensor2D, false, true);
        }
        optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i] })));
        return tf.mean(tf.square(err)).dataSync()[0];
      });
    }
    loss = epochLoss / batches;
  }
  optimizer.dispose();
  for (const v of variables) v.dispose();
  return loss;
}

export async function run(): Promise<Record<string, unknown>> {
  await initTensorBackend();
  const rng = new Rng(20261123);

  // linear learners: a learner-Lambda batch (100 rewards) at a time, on a state that already has 1,000
  const linear: Record<string, unknown>[] = [];
  for (const algorithm of ['linear-ts', 'linucb'] as const) {
    const input = structuredClone(defaultConfig()) as AnalystConfigInput;
    input.bandit = { algorithm } as AnalystConfigInput['bandit'];
    const config = parseConfig(input);
    const learner = PolicyLearner.create(config);
    learner.learn(rows(rng, 1000));
    const batches = Array.from({ length: 50 }, () => rows(rng, 100));
    const started = performance.now();
    for (const batch of batches) learner.learn(batch);
    const ms = performance.now() - started;
    const t = performance.now();
    const state = JSON.stringify(learner.serialize());
    const serializeMs = performance.now() - t;
    linear.push({
      algorithm,
      features: D,
      rewardsPerSecond: Math.round((5000 / ms) * 1000),
      serializeMs: Number(serializeMs.toFixed(2)),
      stateBytes: state.length,
    });
  }

  // NeuralLinear's retraining at the default config, JS against the previous TF.js training
  const { hiddenUnits, replaySize, trainEpochs, batchSize, learningRate } = BanditConfigSchema.parse({
    algorithm: 'neural-linear',
  }) as NeuralLinearConfig;
  const neural = { hiddenUnits, replaySize, trainEpochs, batchSize, learningRate };
  const n = neural.replaySize;
  const X = new Float32Array(n * D).map(() => (rng.next() < 0.5 ? 0 : rng.next()));
  const y = new Float64Array(n).map((_, i) => X[i * D] - 0.5 * X[i * D + 3] + 0.1 * rng.normal());
  const options = { epochs: neural.trainEpochs, batchSize: neural.batchSize, learningRate: neural.learningRate };
  const shapes = RepresentationNetwork.shapes(D, neural.hiddenUnits);
  const jsMs: number[] = [];
  const tensorMs: number[] = [];
  let jsLoss = 0;
  let tensorLoss = 0;
  for (let rep = 0; rep < 3; rep++) {
    const net = new RepresentationNetwork(D, neural.hiddenUnits, new Rng(rep));
    const initial = net.weights.map((w) => w.slice());
    let t = performance.now();
    jsLoss = net.train(X, y, n, options, new Rng(100 + rep)).loss;
    jsMs.push(performance.now() - t);
    t = performance.now();
    tensorLoss = tensorTraining(shapes, initial, X, y, n, options, new Rng(100 + rep));
    tensorMs.push(performance.now() - t);
  }
  const macsPerRow = shapes.filter((s) => s.length === 2).reduce((a, s) => a + s[0] * s[1], 0);
  return {
    note:
      'one thread of a shared 2-core machine; linear: 50 batches of 100 rewards on a state with 1,000; ' +
      'NeuralLinear: one retraining (forward + backward + Adam over the replay buffer), median of 3, against the ' +
      'same training on TF.js tensors in the same run',
    linear,
    neuralLinearRetrain: {
      features: D,
      ...neural,
      jsMsMedian: Math.round(median(jsMs)),
      tensorflowMsMedian: Math.round(median(tensorMs)),
      tensorflowBackend: activeTensorBackend(),
      speedupOverTensorflow: Number((median(tensorMs) / median(jsMs)).toFixed(2)),
      // forward 1x + backward 2x the weight multiply-adds per row, per epoch
      jsMultiplyAddsPerSecond: Math.round((3 * macsPerRow * n * neural.trainEpochs) / (median(jsMs) / 1000)),
      lastEpochLoss: { js: Number(jsLoss.toFixed(5)), tensorflow: Number(tensorLoss.toFixed(5)) },
    },
  };
}
