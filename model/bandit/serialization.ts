/**
 * The learner state format: JSON with typed arrays as little-endian base64 ('sto-bandit', version 1).
 * Sufficient statistics are Float64 so a loaded bandit decides exactly as the saved one did; network
 * weights and replayed inputs are Float32, the precision they live in anyway.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { type BanditConfig, BanditConfigSchema } from '#config/schema.ts';
import { InvalidBanditStateError } from './errors.ts';
import type { BanditAlgorithm, EncodedArray, SerializedBandit } from './types.ts';

export const STATE_FORMAT = 'sto-bandit';
export const STATE_FORMAT_VERSION = 1;

type Typed = Float32Array | Float64Array;

/**
 * @example encodeArray(new Float64Array([1, 2]), [2]) // { dtype: 'float64', shape: [2], base64: '...' }
 */
export function encodeArray(values: Typed, shape: number[]): EncodedArray {
  return {
    dtype: values instanceof Float64Array ? 'float64' : 'float32',
    shape,
    base64: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64'),
  };
}

const ALGORITHMS = ['linear-ts', 'linucb', 'epsilon-greedy', 'neural-linear'] as const;

const EncodedArraySchema = z.strictObject({
  dtype: z.enum(['float32', 'float64']),
  shape: z.array(z.number().int().min(0)).max(4),
  base64: z.string(),
});

const EnvelopeSchema = z.object({
  format: z.literal(STATE_FORMAT),
  formatVersion: z.literal(STATE_FORMAT_VERSION),
  algorithm: z.enum(ALGORITHMS),
  dimension: z.number().int().min(1).max(100_000),
  config: z.unknown(),
  updates: z.number().int().min(0),
  scalars: z.record(z.string(), z.number()),
  arrays: z.record(z.string(), EncodedArraySchema),
});

function issuePath(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(root)';
}

/** A validated state, with typed accessors that check names, shapes and values. */
export class StateReader {
  constructor(
    readonly state: SerializedBandit,
    readonly config: BanditConfig,
  ) {}

  get algorithm(): BanditAlgorithm {
    return this.state.algorithm;
  }

  get dimension(): number {
    return this.state.dimension;
  }

  get updates(): number {
    return this.state.updates;
  }

  /** @example reader.scalar('sumSquaredRewards', { min: 0 }) */
  scalar(name: string, bounds: { min?: number; integer?: boolean } = {}): number {
    const value = this.state.scalars[name];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InvalidBanditStateError(`scalars.${name}`, 'is missing or not a finite number');
    }
    if (bounds.min !== undefined && value < bounds.min) {
      throw new InvalidBanditStateError(`scalars.${name}`, `is ${value}, below ${bounds.min}`);
    }
    if (bounds.integer && !Number.isInteger(value)) {
      throw new InvalidBanditStateError(`scalars.${name}`, `is ${value}, not an integer`);
    }
    return value;
  }

  /** @example reader.array('sqrtCovariance', 'float64', [32, 32]) */
  array(name: string, dtype: 'float64', shape: number[]): Float64Array;
  array(name: string, dtype: 'float32', shape: number[]): Float32Array;
  array(name: string, dtype: 'float32' | 'float64', shape: number[]): Typed {
    const encoded = this.state.arrays[name];
    const path = `arrays.${name}`;
    if (!encoded) throw new InvalidBanditStateError(path, 'is missing');
    if (encoded.dtype !== dtype)
      throw new InvalidBanditStateError(path, `has dtype ${encoded.dtype}, expected ${dtype}`);
    if (encoded.shape.length !== shape.length || encoded.shape.some((s, i) => s !== shape[i])) {
      throw new InvalidBanditStateError(path, `has shape [${encoded.shape}], expected [${shape}]`);
    }
    const bytes = Buffer.from(encoded.base64, 'base64');
    const width = dtype === 'float64' ? 8 : 4;
    const length = shape.reduce((a, b) => a * b, 1);
    if (bytes.byteLength !== length * width) {
      throw new InvalidBanditStateError(path, `holds ${bytes.byteLength} bytes, expected ${length * width}`);
    }
    // copy into a fresh, aligned buffer (Buffer may be a view into a shared pool at any offset)
    const aligned = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(aligned).set(bytes);
    const values = dtype === 'float64' ? new Float64Array(aligned) : new Float32Array(aligned);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new InvalidBanditStateError(path, `has ${values[i]} at index ${i}`);
    }
    return values;
  }
}

/**
 * Validates the envelope of a serialized state (format, version, algorithm, config) with clear errors.
 * @example const reader = readState(JSON.parse(text))
 */
export function readState(serialized: unknown): StateReader {
  if (!serialized || typeof serialized !== 'object') {
    throw new InvalidBanditStateError('(root)', 'is not an object');
  }
  const raw = serialized as Record<string, unknown>;
  if (raw.format !== STATE_FORMAT) {
    throw new InvalidBanditStateError('format', `is ${JSON.stringify(raw.format)}, expected "${STATE_FORMAT}"`);
  }
  if (raw.formatVersion !== STATE_FORMAT_VERSION) {
    throw new InvalidBanditStateError(
      'formatVersion',
      `is ${JSON.stringify(raw.formatVersion)}; this code reads version ${STATE_FORMAT_VERSION}`,
    );
  }
  const envelope = EnvelopeSchema.safeParse(serialized);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    throw new InvalidBanditStateError(issuePath(issue.path), issue.message, { cause: envelope.error });
  }
  const config = BanditConfigSchema.safeParse(envelope.data.config);
  if (!config.success) {
    const issue = config.error.issues[0];
    throw new InvalidBanditStateError(`config.${issuePath(issue.path)}`, issue.message, { cause: config.error });
  }
  if (config.data.algorithm !== envelope.data.algorithm) {
    throw new InvalidBanditStateError(
      'algorithm',
      `is ${envelope.data.algorithm} but config.algorithm is ${config.data.algorithm}`,
    );
  }
  return new StateReader(envelope.data as SerializedBandit, config.data);
}

/**
 * Short content hash of a config and state: the policy version logged with every decision.
 * @example stateHash(config, 10, [F, b]) // '3f9a2c1b7d'
 */
export function stateHash(config: BanditConfig, updates: number, arrays: readonly Typed[]): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(config));
  hash.update(String(updates));
  for (const a of arrays) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex').slice(0, 10);
}
