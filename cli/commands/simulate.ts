/**
 * `sto simulate`: runs policies side by side on a simulated population and writes summary.json and
 * report.html. Exit code 2 on bad input (unreadable file, bad JSON, schema violation, bad option).
 */
import { basename, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfigFile } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import type { SimulationResult } from '#sim/engine.ts';
import { simulateInParallel } from '#sim/parallel.ts';
import { ALL_POLICY_NAMES, type BanditVariant, DIAGNOSTIC_POLICY_NAMES, POLICY_NAMES } from '#sim/policies.ts';
import { loadPopulationFile, SHIPPED_POPULATIONS, shippedPopulationPath } from '#sim/population.ts';
import { writeReport } from '#sim/report.ts';
import { summarize } from '#sim/summary.ts';
import { CliError } from '../errors.ts';
import { outputDirectory, wholeNumber } from '../options.ts';
import { startProgress } from '../progress.ts';

export interface SimulateOptions {
  population: string;
  config: string;
  days: string;
  seeds: string;
  out: string;
  policies: string;
  configs?: string;
  users?: string;
  jobs?: string;
  quiet?: boolean;
}

/** The shipped analyst config, shown relative to the working directory in --help. */
const DEFAULT_CONFIG = relative(process.cwd(), fileURLToPath(new URL('../../config/default.json', import.meta.url)));

/** "5" means seeds 1..5; "3,7,11" means exactly those seeds. */
export function parseSeeds(value: string): number[] {
  if (/^\d+$/.test(value.trim())) {
    const k = wholeNumber(value.trim(), '--seeds', 1, 1000);
    return Array.from({ length: k }, (_, i) => i + 1);
  }
  const seeds = value.split(',').map((s) => wholeNumber(s, '--seeds (list)', 0, 2 ** 31 - 1));
  if (new Set(seeds).size !== seeds.length) throw new CliError(`--seeds lists a seed twice: ${value}`);
  return seeds;
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A path, or the name of a shipped population ("default", "night-owls-global", ...). */
function populationFile(value: string): string {
  if ((SHIPPED_POPULATIONS as readonly string[]).includes(value)) {
    return shippedPopulationPath(value as (typeof SHIPPED_POPULATIONS)[number]);
  }
  return value;
}

function banditVariants(files: string[]): BanditVariant[] {
  const configs = files.map((file) => ({ file, config: loadConfigFile(file) }));
  const versions = configs.map((c) => c.config.version);
  const unique = new Set(versions).size === versions.length;
  // Label by config version (what decisions log); by file name when two files share a version.
  const variants = configs.map(({ file, config }) => ({
    label: unique ? config.version : basename(file).replace(/\.json$/, ''),
    config,
  }));
  variants.forEach((v, i) => {
    const j = variants.findIndex((w) => w.label === v.label);
    if (j === i) return;
    if (resolve(files[j]) === resolve(files[i])) throw new CliError(`--configs lists ${files[i]} twice`);
    throw new CliError(
      `--configs: ${files[j]} and ${files[i]} would both be reported as "${v.label}" ` +
        '(same config version and same file name); give one of them another version or file name',
    );
  });
  return variants;
}

/**
 * Runs `sto simulate` with parsed options.
 * @example await runSimulate({ population: 'default', config: 'config/default.json', days: '7', seeds: '2', out: 'out', policies: 'heuristic,oracle' });
 */
export async function runSimulate(
  options: SimulateOptions,
): Promise<{ summaryFile: string; reportFile: string; warnings: string[] }> {
  const days = wholeNumber(options.days, '--days', 1, 365);
  const seeds = parseSeeds(options.seeds);
  const names = list(options.policies);
  for (const name of names) {
    if (!(ALL_POLICY_NAMES as readonly string[]).includes(name)) {
      throw new CliError(`--policies: unknown policy "${name}"; known: ${ALL_POLICY_NAMES.join(', ')}`);
    }
  }
  if (!names.length) throw new CliError('--policies lists no policy');
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) throw new CliError(`--policies lists "${twice}" twice`);
  const config: AnalystConfig = loadConfigFile(options.config);
  const population = loadPopulationFile(populationFile(options.population));
  if (options.users !== undefined) population.users = wholeNumber(options.users, '--users', 1, 1_000_000);
  const bandits = options.configs ? banditVariants(list(options.configs)) : undefined;
  if (bandits && !names.includes('bandit')) throw new CliError('--configs needs "bandit" in --policies');
  const jobs = options.jobs === undefined ? undefined : wholeNumber(options.jobs, '--jobs', 1, 256);
  const out = outputDirectory(options.out, '--out');

  const progress = startProgress(days * seeds.length, 'simulating', { quiet: options.quiet });
  let result: SimulationResult;
  try {
    result = await simulateInParallel(
      { population, config, policyNames: names, bandits, days, seeds },
      {
        jobs,
        onProgress: (done, _total, seed, day) =>
          progress.update(done, { detail: `seed ${seed} day ${day + 1}/${days}` }),
      },
    );
  } finally {
    progress.stop();
  }
  const summary = summarize(result);
  return { ...(await writeReport(out, summary)), warnings: summary.warnings };
}

/** Adds `simulate` to the program. */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'Compare policies on a simulated population (same users, same random draws, same guardrails); writes summary.json and report.html',
    )
    .option(
      '--population <file>',
      `population JSON file (schema: sim/population.schema.json) or a shipped one: ${SHIPPED_POPULATIONS.join(', ')}`,
      'default',
    )
    .option('--config <file>', 'analyst config: guardrails and reward for every policy, and the bandit', DEFAULT_CONFIG)
    .option('--days <n>', 'simulated days', '28')
    .option('--seeds <k>', 'number of seeds (1..k), or a comma-separated list of seeds', '5')
    .option('--out <dir>', 'directory for summary.json and report.html', 'sim-report')
    .option(
      '--policies <list>',
      `comma-separated, from: ${POLICY_NAMES.join(', ')}; diagnostics: ${DIAGNOSTIC_POLICY_NAMES.join(', ')}`,
      POLICY_NAMES.join(','),
    )
    .option(
      '--configs <files>',
      'comma-separated analyst configs to compare as bandit variants (guardrails always come from --config)',
    )
    .option('--users <n>', 'override the population size (quick runs)')
    .option('--jobs <n>', 'seeds simulated in parallel (worker threads); default: one per CPU core')
    .option('--quiet', 'no progress bar')
    .action(async (options: SimulateOptions) => {
      const { summaryFile, reportFile, warnings } = await runSimulate(options);
      const shown = 5;
      for (const warning of warnings.slice(0, shown)) process.stderr.write(`warning: ${warning}\n`);
      if (warnings.length > shown) process.stderr.write(`(${warnings.length - shown} more warnings in summary.json)\n`);
      process.stdout.write(`${summaryFile}\n${reportFile}\n`);
    });
}
