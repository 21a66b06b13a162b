/**
 * Parsing of the `sto` commands' option values, with the message every command gives for a bad one:
 * the option, what it must be, and what was given.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CliError } from './errors.ts';

/**
 * A whole number in [min, max], or a CliError naming the option.
 * @example wholeNumber(options.days, '--days', 1, 365)
 */
export function wholeNumber(value: string, option: string, min: number, max: number): number {
  // digits only: Number() would also take "" (0), "0x2" and "1e1"
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliError(`${option} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/**
 * wholeNumber, or `fallback` when the option was not given.
 * @example optionalWholeNumber(options.seed, '--seed', 0, 0, 2 ** 31 - 1)
 */
export function optionalWholeNumber(
  value: string | undefined,
  option: string,
  fallback: number,
  min: number,
  max: number,
): number {
  return value === undefined ? fallback : wholeNumber(value, option, min, max);
}

/**
 * An ISO 8601 instant as epoch ms (a date alone means its midnight UTC), or a CliError naming the option.
 * @example parseInstant(options.from, '--from')
 */
export function parseInstant(value: string | undefined, option: string): number {
  const ms = value === undefined ? Number.NaN : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new CliError(`${option} must be an ISO 8601 instant such as 2026-07-01T00:00:00Z, got "${value ?? ''}"`);
  }
  return ms;
}

/**
 * A directory to write into, checked before any work is done: created if missing, or a CliError naming
 * the option, the path and why it cannot be used (a file is in the way, no permission). Returns the
 * absolute path.
 * @example const dir = outputDirectory(options.out, '--out')
 */
export function outputDirectory(value: string, option: string): string {
  const dir = resolve(value);
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new Error('it is a file, not a directory');
    accessSync(dir, constants.W_OK);
  } catch (cause) {
    throw new CliError(`${option}: cannot write into ${dir}: ${reasonOf(cause)}`);
  }
  return dir;
}

/**
 * A file to write, checked before any work is done: its directory is created if missing and must be
 * writable, and the path must not be a directory. Returns the absolute path.
 * @example const file = outputFile(options.out, '--out')
 */
export function outputFile(value: string, option: string): string {
  const file = resolve(value);
  try {
    if (existsSync(file) && statSync(file).isDirectory()) throw new Error('it is a directory');
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    accessSync(existsSync(file) ? file : dir, constants.W_OK);
  } catch (cause) {
    throw new CliError(`${option}: cannot write ${file}: ${reasonOf(cause)}`);
  }
  return file;
}

/** A system error's reason without the call and path Node prefixes it with ("EEXIST: file already exists, mkdir '/x'"). */
function reasonOf(cause: unknown): string {
  const error = cause as NodeJS.ErrnoException;
  if (error.code === 'EEXIST' || error.code === 'ENOTDIR') return 'a file is in the way';
  if (error.code === 'EACCES' || error.code === 'EPERM') return 'permission denied';
  return error.message;
}
