import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBandit, initTensorBackend, loadBandit, type NeuralLinearBandit } from '#model/bandit/index.ts';
import { RepresentationNetwork } from '#model/bandit/mlp.ts';
import { Rng } from '#model/random.ts';
import { configFor } from './fixtures.ts';

beforeAll(async () => {
  await initTensorBackend();
});

describe('representation network', () => {
  it('backpropagates the gradient of the squared loss (checked against central differences)', () => {
    // Prepare: a small network, float32 on the device, so differences use a generous step
    const net = new RepresentationNetwork(3, [4, 3], new Rng(4));
    const rng = new Rng(5);
    const X = new Float32Array(8 * 3).map(() => rng.normal());
    const y = new Float32Array(8).map(() => rng.normal());
    const lossAt = (weights: Float32Array[]) => {
      const probe = new RepresentationNetwork(3, [4, 3], weights);
      const value = tf.tidy(() => {
        const err = tf.sub(probe.predict(tf.tensor2d(X, [8, 3])), tf.tensor2d(y, [8, 1]));
        return tf.mean(tf.square(err)).dataSync()[0];
      });
      probe.dispose();
      return value;
    };
    const weights = net.weights();
    // Act
    const analytic = tf.tidy(() =>
      net.lossAndGradients(tf.tensor2d(X, [8, 3]), tf.tensor2d(y, [8, 1])).gradients.map((g) => g.dataSync()),
    );
    // Assess
    const h = 1e-2;
    for (let w = 0; w < weights.length; w++) {
      for (let i = 0; i < weights[w].length; i++) {
        const plus = weights.map((a) => a.slice());
        const minus = weights.map((a) => a.slice());
        plus[w][i] += h;
        minus[w][i] -= h;
        const numeric = (lossAt(plus) - lossAt(minus)) / (2 * h);
        expect(Math.abs(numeric - analytic[w][i])).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
      }
    }
    net.dispose();
  });

  it('training lowers the loss on a learnable target', () => {
    const net = new RepresentationNetwork(4, [16, 8], new Rng(1));
    const rng = new Rng(2);
    const n = 256;
    const X = new Float32Array(n * 4).map(() => rng.normal());
    const y = new Float64Array(n).map((_, i) => Math.abs(X[i * 4]) - X[i * 4 + 1] * X[i * 4 + 2]);
    const first = net.train(X, y, n, { epochs: 1, batchSize: 32, learningRate: 0.01 }, new Rng(3));
    const later = net.train(X, y, n, { epochs: 40, batchSize: 32, learningRate: 0.01 }, new Rng(4));
    expect(later.loss).toBeLessThan(0.5 * first.loss);
    net.dispose();
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
