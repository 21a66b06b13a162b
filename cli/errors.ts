/**
 * CLI errors and exit codes. Exit code 2 means "your input is wrong" (a file that cannot be read, is not
 * JSON, or breaks its schema; a bad option): scripts can tell it from a crash (1).
 */
import { ConfigError } from '#config/errors.ts';
import { SimulationError } from '#sim/errors.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

/** An error the CLI reports in one message, with the exit code it stands for. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_BAD_INPUT,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/**
 * The exit code for an error: 2 for bad input (config, population, options), 1 for anything else.
 * @example process.exitCode = exitCodeFor(error);
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof ConfigError || error instanceof SimulationError) return EXIT_BAD_INPUT;
  return EXIT_FAILURE;
}
