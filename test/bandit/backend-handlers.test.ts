import { expect, it } from 'vitest';
import { initTensorBackend } from '#model/bandit/index.ts';

it('leaves the host process error handlers as they were after loading the wasm backend', async () => {
  // Prepare
  const before = ['uncaughtException', 'unhandledRejection'].map((e) => process.listeners(e as 'uncaughtException'));
  // Act
  const backend = await initTensorBackend('wasm');
  // Assess: Emscripten's handlers would print the whole glue source with any uncaught host error
  expect(backend).toBe('wasm');
  const after = ['uncaughtException', 'unhandledRejection'].map((e) => process.listeners(e as 'uncaughtException'));
  expect(after).toEqual(before);
});
