/**
 * Parsing of the `sto` commands' option values, with the message every command gives for a bad one:
 * the option, what it must be, and what was given.
 */
import { CliError } from './errors.ts';

/**
 * A whole number in [min, max], or a CliError naming the option.
 * @example wholeNumber(options.days, '--days', 1, 365)
 */
export function wholeNumber(value: string, option: string, min: number, max: number): number {
  const n = Number(value);
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
