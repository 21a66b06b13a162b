import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createBandit,
  createLearner,
  initTensorBackend,
  loadBandit,
  type NeuralLinearBandit,
  type NeuralLinearLearner,
} from '#model/bandit/index.ts';
import { RepresentationNetwork } from '#model/bandit/mlp.ts';
import { NetworkTensors } from '#model/bandit/neural-linear.ts';
import { Rng } from '#model/random.ts';
import { configFor } from './fixtures.ts';

beforeAll(async () => {
  await initTensorBackend();
});

describe('representation network', () => {
  it('backpropagates the gradient of the squared loss (checked against central differences)', () => {
    // Prepare: a small network and a batch; the arithmetic is Float64, so a small step is exact enough
    const net = new RepresentationNetwork(3, [4, 3], new Rng(4));
    const rng = new Rng(5);
    const X = new Float64Array(8 * 3).map(() => rng.normal());
    const y = new Float64Array(8).map(() => rng.normal());
    const lossAt = (weights: Float32Array[]) =>
      new RepresentationNetwork(3, [4, 3], weights).lossAndGradients(X, y, 8).loss;
    const weights = net.weights.map((w) => w.slice());
    // Act
    const { loss, gradients } = net.lossAndGradients(X, y, 8);
    // Assess: the loss is the mean squared error of predict, and every partial derivative matches
    const prediction = net.predict(X, 8);
    expect(loss).toBeCloseTo(prediction.reduce((s, p, i) => s + (p - y[i]) ** 2, 0) / 8, 10);
    const h = 1e-3;
    let checked = 0;
    for (let w = 0; w < weights.length; w++) {
      for (let i = 0; i < weights[w].length; i++) {
        const plus = weights.map((a) => a.slice());
        const minus = weights.map((a) => a.slice());
        plus[w][i] += h;
        minus[w][i] -= h;
        // the Float32 weights round the step: divide by the step they actually took
        const step = plus[w][i] - minus[w][i];
        const numeric = (lossAt(plus) - lossAt(minus)) / step;
        expect(Math.abs(numeric - gradients[w][i])).toBeLessThan(1e-4 + 1e-3 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBe(3 * 4 + 4 + 4 * 3 + 3 + 3 + 1);
  });

  it('training lowers the loss on a learnable target', () => {
    const net = new RepresentationNetwork(4, [16, 8], new Rng(1));
    const rng = new Rng(2);
    const n = 256;
    const X = new Float32Array(n * 4).map(() => rng.normal());
    const y = new Float64Array(n).map((_, i) => Math.abs(X[i * 4]) - X[i * 4 + 1] * X[i * 4 + 2]);
    const first = net.train(X, y, n, { epochs: 1, batchSize: 32, learningRate: 0.01 }, new Rng(3));
    const later = net.train(X, y, n, { epochs: 40, batchSize: 32, learningRate: 0.01 }, new Rng(4));
    expect(first.steps).toBe(8);
    expect(later.loss).toBeLessThan(0.5 * first.loss);
  });

  it('decide scores the representation the learner trains: the TF.js rows equal the JS ones', () => {
    // Prepare: a trained learner (so the weights are not the initial ones) and a batch of rows
    const config = configFor('neural-linear', { trainEvery: 50, trainEpochs: 3 });
    const learner = createLearner(config, 6) as NeuralLinearLearner;
    const rng = new Rng(11);
    learner.update(
      new Float32Array(60 * 6).map(() => rng.normal()),
      new Float64Array(60).map(() => rng.normal()),
    );
    expect(learner.trainings).toBe(1);
    const n = 40;
    const rows = new Float32Array(n * 6).map(() => rng.normal());
    const before = tf.memory().numTensors;
    const tensors = new NetworkTensors(learner);
    // Act
    const X = tf.tensor2d(rows, [n, 6]);
    const onDevice = tensors.headRows(X);
    const fromDevice = onDevice.dataSync();
    tf.dispose([X, onDevice]);
    const z = learner.network.representation(rows, n);
    // Assess: [z(x), 1] row by row, to Float32 precision; no tensor left behind once invalidated
    const h = learner.network.representationDimension;
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < h; j++) expect(fromDevice[r * (h + 1) + j]).toBeCloseTo(z[r * h + j], 4);
      expect(fromDevice[r * (h + 1) + h]).toBe(1);
    }
    tensors.invalidate();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('neural-linear bandit', () => {
  it('retrains every trainEvery rewards, whatever the batching of update() calls', () => {
    const config = configFor('neural-linear', { trainEvery: 40, trainEpochs: 2 });
    const rng = new Rng(8);
    const rows = new Float32Array(100 * 5).map(() => rng.normal());
    const rewards = new Float64Array(100).map(() => rng.normal());
    const oneCall = createBandit(config, 5) as NeuralLinearBandit;
    oneCall.update(rows, rewards);
    const manyCalls = createBandit(config, 5) as NeuralLinearBandit;
    for (const [from, to] of [
      [0, 7],
      [7, 39],
      [39, 41],
      [41, 100],
    ]) {
      manyCalls.update(rows.subarray(from * 5, to * 5), rewards.subarray(from, to));
    }
    expect(oneCall.trainings).toBe(2);
    expect(manyCalls.trainings).toBe(2);
    expect(manyCalls.version).toBe(oneCall.version);
    oneCall.dispose();
    manyCalls.dispose();
  });

  it('keeps only the last replaySize rewards, and a reloaded bandit trains exactly like the original', () => {
    const config = configFor('neural-linear', { trainEvery: 60, trainEpochs: 2, replaySize: 100 });
    const rng = new Rng(9);
    const bandit = createBandit(config, 4) as NeuralLinearBandit;
    const feed = (b: { update: (f: Float32Array, r: ArrayLike<number>) => void }, seed: number, n: number) => {
      const r = new Rng(seed);
      b.update(
        new Float32Array(n * 4).map(() => r.normal()),
        new Float64Array(n).map(() => r.normal()),
      );
    };
    feed(bandit, 1, 130);
    const state = bandit.serialize();
    expect(state.scalars.replayRows).toBe(100);
    const restored = loadBandit(JSON.parse(JSON.stringify(state))) as NeuralLinearBandit;
    expect(restored.version).toBe(bandit.version);
    feed(bandit, 2, 50);
    feed(restored, 2, 50);
    expect(restored.trainings).toBe(bandit.trainings);
    expect(restored.version).toBe(bandit.version);
    bandit.dispose();
    restored.dispose();
    expect(rng.next()).toBeGreaterThanOrEqual(0);
  });
});
