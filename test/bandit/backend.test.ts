// Own test file (own process): it starts before any backend is initialised.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createBandit, initTensorBackend, TensorBackendError } from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { configFor, randomBatch } from './fixtures.ts';

describe('initTensorBackend', () => {
  it('is required before a bandit is created, with an error that says so', () => {
    expect(() => createBandit(configFor('linucb'), 4)).toThrow(TensorBackendError);
    expect(() => createBandit(configFor('linucb'), 4)).toThrow(/await initTensorBackend\(\)/);
  });

  it('prefers wasm, is idempotent, and can fall back to cpu', async () => {
    const first = initTensorBackend();
    expect(initTensorBackend()).toBe(first);
    expect(await first).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(await initTensorBackend('cpu')).toBe('cpu');
    const bandit = createBandit(configFor('linear-ts'), 6);
    const batch = randomBatch(new Rng(1), 5, 4, 6);
    const choices = bandit.decide(batch, new Rng(2));
    for (const [i, c] of choices.entries()) expect(batch.allowed[i * 4 + c.arm]).toBe(1);
    bandit.dispose();
    expect(await initTensorBackend('wasm')).toBe('wasm');
  });
});
