/**
 * `sto evaluate --logs FILE --config CANDIDATE.json [--baseline CURRENT.json] [--model MODEL.json] [--out FILE.json]`:
 * would the candidate config have beaten the current policy on the traffic already served? Replays the
 * candidate's policy over the logged decisions (cli/analysis/offline-evaluation.ts) and reports IPS, SNIPS,
 * DM and DR with 95% bootstrap intervals, the effective sample size, warnings about small propensities, and
 * one line judged on the lower bound of the candidate-minus-baseline interval. Exit code 2 on bad input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfigFile } from '#config/load.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import type { SerializedPolicy } from '#model/policy.ts';
import { readDecisionLogFile } from '../analysis/decision-log-file.ts';
import {
  EXCLUSION_REASONS,
  type ExclusionReason,
  evaluateOnLog,
  type OfflineEvaluation,
  REPLAY_POLICIES,
  type ReplayPolicyName,
  type TargetReport,
} from '../analysis/offline-evaluation.ts';
import { CliError } from '../errors.ts';
import { optionalWholeNumber, outputFile } from '../options.ts';

export interface EvaluateOptions {
  logs: string;
  config: string;
  baseline?: string;
  model?: string;
  baselineModel?: string;
  policy?: string;
  baselinePolicy?: string;
  out?: string;
  learnEvery?: string;
  seed?: string;
  resamples?: string;
  minLift?: string;
}

function policyName(value: string | undefined, option: string): ReplayPolicyName {
  const name = value ?? 'bandit';
  if (!(REPLAY_POLICIES as readonly string[]).includes(name)) {
    throw new CliError(`${option} must be one of ${REPLAY_POLICIES.join(', ')}, got "${name}"`);
  }
  return name as ReplayPolicyName;
}

/**
 * A saved policy state: a SerializedPolicy JSON file, or a model-table item (its `state`, JSON text or object).
 * @example readModelFile('head.json').bandit.algorithm // 'linear-ts'
 */
export function readModelFile(file: string): SerializedPolicy {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new CliError(`Cannot read model ${file}: ${(cause as Error).message}`, undefined, { cause });
  }
  let state = json as { format?: unknown; state?: unknown };
  if (state && typeof state === 'object' && state.format === undefined && state.state !== undefined) {
    try {
      state = (typeof state.state === 'string' ? JSON.parse(state.state) : state.state) as typeof state;
    } catch (cause) {
      throw new CliError(`Model ${file}: its state is not valid JSON`, undefined, { cause });
    }
  }
  if (!state || typeof state !== 'object' || state.format !== 'send-time-policy/1') {
    throw new CliError(
      `Model ${file}: not a send-time policy state (format 'send-time-policy/1', or a model-table item with one in 'state')`,
    );
  }
  return state as unknown as SerializedPolicy;
}

/**
 * Runs `sto evaluate` with parsed options.
 * @example const result = await runEvaluate({ logs: 'log.jsonl', config: 'candidate.json' });
 */
export async function runEvaluate(options: EvaluateOptions): Promise<OfflineEvaluation> {
  const learnEvery = optionalWholeNumber(options.learnEvery, '--learn-every', 100, 1, 1_000_000);
  const seed = optionalWholeNumber(options.seed, '--seed', 0, 0, 2 ** 31 - 1);
  const resamples = optionalWholeNumber(options.resamples, '--resamples', 1000, 100, 100_000);
  const minimumLift = options.minLift === undefined ? 0 : Number(options.minLift);
  if (!Number.isFinite(minimumLift)) throw new CliError(`--min-lift must be a number, got "${options.minLift}"`);
  const candidatePolicy = policyName(options.policy, '--policy');
  const baselinePolicy = policyName(options.baselinePolicy, '--baseline-policy');
  if (options.baselinePolicy !== undefined && !options.baseline) {
    throw new CliError('--baseline-policy needs --baseline (the config it runs under)');
  }
  const config = loadConfigFile(options.config);
  const outFile = options.out === undefined ? undefined : outputFile(options.out, '--out');
  const baselineConfig = options.baseline ? loadConfigFile(options.baseline) : undefined;
  const model = options.model ? readModelFile(options.model) : undefined;
  const baselineModelFile = options.baselineModel ?? options.model;
  const baselineModel = baselineModelFile ? readModelFile(baselineModelFile) : undefined;
  const rows = await readDecisionLogFile(options.logs);
  if (candidatePolicy === 'bandit' || (baselineConfig && baselinePolicy === 'bandit')) await initTensorBackend();
  const result = evaluateOnLog(
    rows,
    { config, configFile: options.config, policy: candidatePolicy, model, modelFile: options.model },
    baselineConfig && {
      config: baselineConfig,
      configFile: options.baseline,
      policy: baselinePolicy,
      model: baselineModel,
      modelFile: baselineModelFile,
    },
    { learnEvery, seed, resamples, minimumLift, logsFile: options.logs },
  );
  if (outFile) writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(4));

function estimatesTable(label: string, t: TargetReport): string[] {
  const lines = [`${label}: ${t.policy}${t.algorithm ? ` (${t.algorithm})` : ''}, config ${t.configVersion}`];
  lines.push(`  model: ${t.model}`);
  for (const name of ['ips', 'snips', 'dm', 'dr'] as const) {
    const e = t.estimates[name];
    if (e)
      lines.push(`  ${name.toUpperCase().padEnd(6)}${fmt(e.estimate)}   95% interval ${fmt(e.low)} to ${fmt(e.high)}`);
  }
  lines.push(
    `  effective sample size ${t.weights.effectiveSampleSize.toFixed(1)} (${(100 * t.weights.essFraction).toFixed(1)}% of rows), max weight ${t.weights.max.toPrecision(4)}`,
  );
  if (t.noArmRows) lines.push(`  ${t.noArmRows} rows with no allowed arm under this config (would not send: reward 0)`);
  for (const w of t.warnings) lines.push(`  warning (${w.code}): ${w.message}`);
  return lines;
}

/** The text `sto evaluate` prints. */
export function formatEvaluation(result: OfflineEvaluation): string {
  const { logs } = result;
  const excluded = Object.entries(logs.excluded)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `  ${n} left out: ${EXCLUSION_REASONS[reason as ExclusionReason]}`);
  const lines = [
    `${logs.evaluated} of ${logs.rows} logged decisions evaluated (${logs.firstDecision} to ${logs.lastDecision})`,
    ...excluded,
    `reward: ${result.reward}`,
    '',
    ...estimatesTable('candidate', result.candidate),
    '',
  ];
  if ('kind' in result.baseline) {
    const b = result.baseline.estimate;
    lines.push(
      `baseline: the logging policy (${result.baseline.policies.join(', ')}), its mean reward ${fmt(b.estimate)}   95% interval ${fmt(b.low)} to ${fmt(b.high)}`,
    );
  } else lines.push(...estimatesTable('baseline', result.baseline));
  lines.push('', result.comparison.summary, result.answer);
  return `${lines.join('\n')}\n`;
}

/** Adds `evaluate` to the program. */
export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'Off-policy evaluation of a candidate config on a decision log: IPS, SNIPS, DM, DR with 95% intervals, and whether it would beat the current policy',
    )
    .requiredOption('--logs <file>', 'decision log (JSONL from sto export)')
    .requiredOption('--config <file>', 'candidate analyst config')
    .option(
      '--baseline <file>',
      "current config, replayed the same way (default: the logging policy's own mean reward)",
    )
    .option(
      '--model <file>',
      'frozen policy state (SerializedPolicy JSON or a model-table item); default: learn progressively from the log',
    )
    .option('--baseline-model <file>', "the baseline's frozen state (default: --model)")
    .option('--policy <name>', `candidate policy under --config: ${REPLAY_POLICIES.join(', ')}`, 'bandit')
    .option('--baseline-policy <name>', `baseline policy under --baseline: ${REPLAY_POLICIES.join(', ')}`)
    .option('--out <file>', 'write the full result as JSON')
    .option('--learn-every <n>', 'rows between the progressive learner’s updates', '100')
    .option('--seed <n>', 'seed of the targets’ random draws and the bootstrap', '0')
    .option('--resamples <n>', 'bootstrap resamples', '1000')
    .option('--min-lift <x>', 'lift (reward units) the candidate must beat', '0')
    .action(async (options: EvaluateOptions) => {
      const result = await runEvaluate(options);
      process.stdout.write(formatEvaluation(result));
      if (options.out) process.stdout.write(`${resolve(options.out)}\n`);
    });
}
