import { beforeAll, describe, expect, it } from 'vitest';
import {
  createBandit,
  InvalidBanditStateError,
  initTensorBackend,
  loadBandit,
  type SerializedBandit,
} from '#model/bandit/index.ts';
import { Rng } from '#model/random.ts';
import { configFor } from './fixtures.ts';

const D = 4;

beforeAll(async () => {
  await initTensorBackend();
});

function savedLinear(): SerializedBandit {
  const bandit = createBandit(configFor('linear-ts'), D);
  const rng = new Rng(1);
  bandit.update(
    new Float32Array(3 * D).map(() => rng.normal()),
    [1, 0, 2],
  );
  const state = JSON.parse(JSON.stringify(bandit.serialize())) as SerializedBandit;
  bandit.dispose();
  return state;
}

function refusal(mutate: (s: Record<string, unknown> & SerializedBandit) => void): string {
  const state = savedLinear() as Record<string, unknown> & SerializedBandit;
  mutate(state);
  try {
    loadBandit(state).dispose();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidBanditStateError);
    return (error as Error).message;
  }
  throw new Error('expected the state to be refused');
}

describe('serialized state', () => {
  it('is JSON with the versioned envelope and base64 arrays', () => {
    const state = savedLinear();
    expect(state).toMatchObject({
      format: 'sto-bandit',
      formatVersion: 1,
      algorithm: 'linear-ts',
      dimension: D,
      updates: 3,
    });
    expect(state.arrays.sqrtCovariance).toMatchObject({ dtype: 'float64', shape: [D, D] });
    expect(typeof state.arrays.sqrtCovariance.base64).toBe('string');
  });

  it('refuses what is not a bandit state, saying where and why', () => {
    expect(() => loadBandit(null as never)).toThrow(/\(root\): is not an object/);
    expect(refusal((s) => Object.assign(s, { format: 'other' }))).toMatch(/format: is "other", expected "sto-bandit"/);
    expect(refusal((s) => Object.assign(s, { formatVersion: 2 }))).toMatch(
      /formatVersion: is 2; this code reads version 1/,
    );
    expect(refusal((s) => Object.assign(s, { algorithm: 'linucb' }))).toMatch(
      /algorithm: is linucb but config.algorithm is linear-ts/,
    );
    expect(refusal((s) => Object.assign(s, { updates: -1 }))).toMatch(/at updates/);
    expect(refusal((s) => Object.assign(s.config, { noiseScale: -1 }))).toMatch(/config.noiseScale/);
  });

  it('refuses missing, misshapen, truncated and non-finite arrays', () => {
    expect(refusal((s) => delete (s.arrays as Record<string, unknown>).rewardSum)).toMatch(
      /arrays.rewardSum: is missing/,
    );
    expect(refusal((s) => Object.assign(s.arrays.rewardSum, { shape: [D + 1] }))).toMatch(
      /has shape \[5\], expected \[4\]/,
    );
    expect(refusal((s) => Object.assign(s.arrays.rewardSum, { dtype: 'float32' }))).toMatch(/has dtype float32/);
    expect(
      refusal((s) => Object.assign(s.arrays.rewardSum, { base64: s.arrays.rewardSum.base64.slice(0, 8) })),
    ).toMatch(/holds 6 bytes, expected 32/);
    const nan = Buffer.from(new Float64Array([1, Number.NaN, 0, 0]).buffer).toString('base64');
    expect(refusal((s) => Object.assign(s.arrays.rewardSum, { base64: nan }))).toMatch(/has NaN at index 1/);
    const negative = Buffer.from(new Float64Array([-1]).buffer).toString('base64');
    expect(refusal((s) => Object.assign(s.arrays.noiseSums, { base64: negative }))).toMatch(
      /noiseSums: \[0\] = -1 is negative/,
    );
    expect(refusal((s) => Object.assign(s, { scalars: 'x' }))).toMatch(/at scalars/);
  });

  it('keeps a d = 32 linear state compact: under 13 kB of JSON', () => {
    // load time is measured in bench/decide.bench.ts (loadStateMs), not asserted here
    const bandit = createBandit(configFor('linucb'), 32);
    const text = JSON.stringify(bandit.serialize());
    bandit.dispose();
    expect(text.length).toBeLessThan(13_000);
    loadBandit(JSON.parse(text)).dispose();
  });
});
