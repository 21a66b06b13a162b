/**
 * `sto`: the project's command line. Each subcommand lives in its own module under cli/commands/ and is
 * listed in cli/commands/index.ts; this file only builds the program and maps errors to exit codes.
 *
 * Run it as `npx sto <command>` (bin/sto.js) or `npx tsx cli/main.ts <command>`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/index.ts';
import { EXIT_BAD_INPUT, EXIT_OK, exitCodeFor } from './errors.ts';

/**
 * The `sto` program with every subcommand registered.
 * @example await buildProgram().parseAsync(['node', 'sto', 'simulate', '--days', '7']);
 */
export function buildProgram(): Command {
  const program = new Command('sto')
    .description('Send-time optimizer: simulate, evaluate and configure the notification bandit')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/**
 * Runs the CLI and returns its exit code instead of exiting, so tests can call it in-process.
 * @example process.exitCode = await main(process.argv);
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version come through here too, with exit code 0; commander has printed its message.
      return error.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    process.stderr.write(`error: ${(error as Error).message ?? String(error)}\n`);
    return exitCodeFor(error);
  }
}

const invokedDirectly = process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) process.exitCode = await main(process.argv);
