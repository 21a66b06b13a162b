/**
 * TensorFlow.js backend selection. wasm (XNNPACK, SIMD) is 5-50x faster than the pure-JS cpu backend
 * for the GEMMs of decide(); cpu is the fallback when the wasm binary cannot be loaded.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { TensorBackendError } from './errors.ts';

export type TensorBackendName = 'wasm' | 'cpu';

export interface TensorBackendOptions {
  /**
   * Directory holding tfjs-backend-wasm*.wasm (ending in '/'). Default: the directory of the running
   * module when the .wasm files are there (a bundled Lambda: cdk/bundling.ts copies them next to its
   * bundle), else the package's own dist folder, resolved from node_modules.
   */
  wasmDir?: string;
}

let pending: Promise<TensorBackendName> | undefined;
let pendingPreference: TensorBackendName | undefined;

/** tfjs-backend-wasm.wasm, -simd.wasm (what Node 22 loads), -threaded-simd.wasm */
const WASM_BINARY = /^tfjs-backend-wasm.*\.wasm$/;

function hasWasmBinaries(dir: string): boolean {
  try {
    return readdirSync(dir).some((entry) => WASM_BINARY.test(entry));
  } catch {
    return false;
  }
}

function defaultWasmDir(): string | undefined {
  // bundled, import.meta.url is the bundle's: the wasm files shipped with it match its bundled glue code, so
  // they win over a node_modules further up (whose tfjs version may differ)
  const beside = fileURLToPath(new URL('.', import.meta.url));
  if (hasWasmBinaries(beside)) return beside;
  try {
    const require = createRequire(import.meta.url);
    return `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`;
  } catch {
    return undefined;
  }
}

// typed as one event name: Node's overloads do not accept a union of them
const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as 'uncaughtException'[];

/**
 * The Emscripten glue of the wasm backend installs process-wide error handlers that print its whole
 * JavaScript source with any uncaught error of the host program; take back the ones it added.
 */
async function withoutEmscriptenProcessHandlers<T>(load: () => Promise<T>): Promise<T> {
  const before = PROCESS_EVENTS.map((event) => new Set(process.listeners(event)));
  try {
    return await load();
  } finally {
    PROCESS_EVENTS.forEach((event, i) => {
      for (const listener of process.listeners(event)) {
        if (!before[i].has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
      }
    });
  }
}

async function select(prefer: TensorBackendName, options: TensorBackendOptions): Promise<TensorBackendName> {
  if (prefer === 'wasm') {
    try {
      const dir = options.wasmDir ?? defaultWasmDir();
      if (dir) setWasmPaths(dir);
      const ready = await withoutEmscriptenProcessHandlers(async () => {
        if (!(await tf.setBackend('wasm'))) return false;
        await tf.ready();
        return true;
      });
      if (ready) return 'wasm';
    } catch {
      // fall through to cpu: a missing or unloadable wasm binary must not stop decisions
    }
  }
  try {
    if (await tf.setBackend('cpu')) {
      await tf.ready();
      return 'cpu';
    }
  } catch (cause) {
    throw new TensorBackendError('Neither the wasm nor the cpu TensorFlow.js backend could be initialised', { cause });
  }
  throw new TensorBackendError('Neither the wasm nor the cpu TensorFlow.js backend could be initialised');
}

/**
 * Initialises TensorFlow.js once per process: wasm first, cpu as the fallback. Idempotent: later calls
 * with the same preference return the same promise; a different preference switches the backend
 * (tensors made on the old backend should be disposed first).
 * @example
 *   const backend = await initTensorBackend(); // 'wasm' on Node 22 and Lambda, 'cpu' if wasm cannot load
 */
export function initTensorBackend(
  prefer: TensorBackendName = 'wasm',
  options: TensorBackendOptions = {},
): Promise<TensorBackendName> {
  if (pending && pendingPreference === prefer) return pending;
  pendingPreference = prefer;
  pending = select(prefer, options);
  pending.catch(() => {
    // let a later call retry instead of caching the failure forever
    pending = undefined;
    pendingPreference = undefined;
  });
  return pending;
}

/** The active backend's name, for benchmarks and logs. @example activeTensorBackend() // 'wasm' */
export function activeTensorBackend(): string {
  return tf.getBackend();
}

/**
 * Throws TensorBackendError unless a backend is ready (tfjs would otherwise fail at the first tensor
 * op with a message about tf.ready()). Initialises the cpu backend if that is the best registered one.
 * @example assertTensorBackendReady() // after await initTensorBackend()
 */
export function assertTensorBackendReady(): void {
  try {
    void tf.engine().backend;
  } catch (cause) {
    throw new TensorBackendError(
      'No TensorFlow.js backend is ready: await initTensorBackend() once before creating or loading a bandit',
      { cause },
    );
  }
}
