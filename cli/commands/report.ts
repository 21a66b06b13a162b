/**
 * `sto report --logs FILE --out DIR [--config FILE]`: the bandit's reward against the holdout's from a
 * decision log (overall, by channel, by local hour, by day, each with a 95% interval over users),
 * exploration and propensities, guardrail stops and no-arm decisions by reason, status counts. Writes
 * report.json and a self-contained report.html (charts inline as SVG). Exit code 2 on bad input.
 */
import type { Command } from 'commander';
import { loadConfigFile } from '#config/load.ts';
import { readDecisionLogFile } from '../analysis/decision-log-file.ts';
import { buildLiftReport, type LiftReport } from '../analysis/lift-report.ts';
import { writeLiftReport } from '../analysis/report-html.ts';
import { CliError } from '../errors.ts';
import { optionalWholeNumber, outputDirectory } from '../options.ts';

export interface ReportOptions {
  logs: string;
  out: string;
  config?: string;
  resamples?: string;
  seed?: string;
}

/**
 * Runs `sto report` with parsed options.
 * @example const { report } = await runReport({ logs: 'log.jsonl', out: 'report/' });
 */
export async function runReport(
  options: ReportOptions,
): Promise<{ report: LiftReport; jsonFile: string; htmlFile: string }> {
  const resamples = optionalWholeNumber(options.resamples, '--resamples', 1000, 100, 100_000);
  const seed = optionalWholeNumber(options.seed, '--seed', 0, 0, 2 ** 31 - 1);
  const config = options.config ? loadConfigFile(options.config) : undefined;
  const out = outputDirectory(options.out, '--out');
  const rows = await readDecisionLogFile(options.logs);
  if (rows.length === 0) throw new CliError(`Decision log ${options.logs} has no decisions`);
  const report = buildLiftReport(rows, { config, resamples, seed, file: options.logs });
  const files = await writeLiftReport(out, report);
  return { report, ...files };
}

/** Adds `report` to the program. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'Bandit vs holdout from a decision log: lift with 95% intervals by channel, local hour and day; exploration, propensities, guardrail stops; writes report.json and report.html',
    )
    .requiredOption('--logs <file>', 'decision log (JSONL from sto export)')
    .requiredOption('--out <dir>', 'directory for report.json and report.html')
    .option('--config <file>', "rescore rewards from the logged events with this config's weights and channel costs")
    .option('--resamples <n>', 'bootstrap resamples', '1000')
    .option('--seed <n>', 'bootstrap seed', '0')
    .action(async (options: ReportOptions) => {
      const { report, jsonFile, htmlFile } = await runReport(options);
      const o = report.lift.overall;
      const fmt = (x: number) => x.toFixed(4);
      const line = o.difference
        ? `bandit ${fmt(o.bandit?.reward.estimate ?? Number.NaN)} vs holdout ${fmt(o.holdout?.reward.estimate ?? Number.NaN)} per notification: difference ${o.difference.estimate >= 0 ? '+' : ''}${fmt(o.difference.estimate)} (95% interval ${fmt(o.difference.low)} to ${fmt(o.difference.high)})`
        : 'no lift: the log needs rewarded notifications from both the bandit and the holdout';
      process.stdout.write(`${line}\n${jsonFile}\n${htmlFile}\n`);
    });
}
