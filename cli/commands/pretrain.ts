/**
 * `sto pretrain --events FILE [--config FILE] [--end ISO] [--kind KIND] (--out FILE | [--table NAME] [--region R]
 * [--endpoint URL] [--force])`: trains a fresh bandit on the notifications users received before it existed
 * (model/pretrain.ts: each delivered notification rebuilt as the decision it would have been, scored by the
 * engagement attributed to it), so a new deployment does not start cold while the holdout's heuristic already
 * reads every user's history.
 *
 * Input: a JSONL file of IngestEvents (the events-queue contract, events/), what producers sent or would send
 * to the events queue. Each line is read with the contract's own parser (the same reasons ingest gives a DLQ);
 * a bad line is reported by number and skipped. Output: the SerializedPolicy JSON (--out), or the head model
 * of the model table, written as the learner writes a version (putPretrainedModel): conditionally, never over
 * an existing head unless --force, and then as the next version on top of it.
 */
import { createReadStream } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';
import { defaultConfig, loadConfigFile } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import { type IngestEvent, parseIngestEvent } from '#events/index.ts';
import { MODEL_ITEM_BUDGET_BYTES } from '#lambdas/learner/applied-rewards.ts';
import type { LearnerModelStore } from '#lambdas/learner/learner.ts';
import { modelTableStore, SEND_TIME_MODEL_ID } from '#lambdas/shared/model-store.ts';
import type { SendTimePolicy, SerializedPolicy } from '#model/policy.ts';
import { type PretrainedPolicy, pretrainPolicy } from '#model/pretrain.ts';
import { dynamoClientConfig } from '../dynamodb.ts';
import { CliError, EXIT_FAILURE } from '../errors.ts';
import { outputFile, parseInstant } from '../options.ts';
import { startProgress } from '../progress.ts';

export interface PretrainOptions {
  events: string;
  config?: string;
  /** end of the history (ISO instant); default the newest event's instant */
  end?: string;
  /** request kind of every send in the history (the events carry none) */
  kind?: string;
  out?: string;
  table?: string;
  region?: string;
  endpoint?: string;
  force?: boolean;
  quiet?: boolean;
}

/** A line of the events file that is not a valid IngestEvent. */
export interface BadLine {
  line: number;
  reason: string;
}

export interface EventsFile {
  events: IngestEvent[];
  /** non-blank lines read */
  lines: number;
  bad: BadLine[];
}

/** Where the pretrained model went. */
export type PretrainDestination =
  | { kind: 'file'; file: string }
  | { kind: 'table'; table: string; modelId: string; version: number; replacedVersion?: number };

export interface PretrainResult {
  file: EventsFile;
  pretrained: Omit<PretrainedPolicy, 'policy'> & { algorithm: string; policyVersion: string; updates: number };
  destination: PretrainDestination;
}

/**
 * Every valid IngestEvent of a JSONL file, in file order, and the lines that are not one (blank lines are
 * skipped). A line is read as the events queue reads a body (parseIngestEvent): the reason never quotes a
 * field's value, so it is safe to print.
 * @throws CliError (exit code 2) naming the file when it cannot be read
 * @example const { events, bad } = await readEventsFile('history.jsonl');
 */
export async function readEventsFile(file: string, onBytes?: (bytes: number) => void): Promise<EventsFile> {
  let stream: ReturnType<typeof createReadStream>;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a file');
    stream = createReadStream(file, 'utf8');
  } catch (cause) {
    throw new CliError(`Cannot read events ${file}: ${(cause as Error).message}`, undefined, { cause });
  }
  const out: EventsFile = { events: [], lines: 0, bad: [] };
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (lineNumber % 10_000 === 0) onBytes?.(stream.bytesRead);
      if (line.trim() === '') continue;
      out.lines++;
      const parsed = parseIngestEvent(line);
      if (parsed.ok) out.events.push(parsed.value);
      else out.bad.push({ line: lineNumber, reason: `${parsed.error.reason}: ${parsed.error.message}` });
    }
  } catch (cause) {
    throw new CliError(`Cannot read events ${file}, line ${lineNumber + 1}: ${(cause as Error).message}`, undefined, {
      cause,
    });
  } finally {
    lines.close();
  }
  onBytes?.(stream.bytesRead);
  return out;
}

export interface PutPretrainedOptions {
  /** write even when the table has a head model: the pretrained model becomes the next version on top of it */
  force?: boolean;
  /** epoch ms of createdAt */
  now: number;
  /** how to name the table in messages, e.g. its name and endpoint */
  where: string;
  /** default MODEL_ITEM_BUDGET_BYTES */
  itemBudgetBytes?: number;
}

/**
 * Puts a pretrained policy as the head model of a model store, as the learner puts a version (conditional on
 * the version not existing). With no head it writes version 1; with one, it refuses unless `force`, and then
 * writes head + 1, keeping the head's memory of applied rewards so that a reward SQS redelivers later is still
 * applied once. Decide picks the new head up within config.model.refreshIntervalSeconds.
 * @throws CliError: a head exists and no force (exit code 2); another writer took the version (exit code 1);
 *   the state does not fit in one item
 * @example const { version } = await putPretrainedModel(modelTableStore(doc, table), policy, { now: Date.now(), where: table });
 */
export async function putPretrainedModel(
  store: LearnerModelStore,
  policy: SendTimePolicy,
  options: PutPretrainedOptions,
): Promise<{ version: number; replacedVersion?: number }> {
  const head = await store.readHead();
  if (head && !options.force) {
    throw new CliError(
      `${options.where} already has a head model: ${store.modelId} version ${head.version} ` +
        `(${head.state.bandit.updates} updates, ${head.state.bandit.algorithm}). Nothing written: the pretrained model ` +
        `would replace what the deployed learner has learned. Pass --force to write it as version ${head.version + 1} ` +
        '(earlier versions stay in the table), or --out FILE to write it to a file instead.',
    );
  }
  const state = policy.serialize();
  const version = (head?.version ?? 0) + 1;
  const appliedRewards = head?.appliedRewards;
  const bytes = Buffer.byteLength(JSON.stringify(state)) + (appliedRewards?.byteLength ?? 0);
  const budget = options.itemBudgetBytes ?? MODEL_ITEM_BUDGET_BYTES;
  if (bytes > budget) {
    throw new CliError(
      `the pretrained model is ${bytes} bytes, over the ${budget}-byte budget of one model-table item; nothing written`,
      EXIT_FAILURE,
    );
  }
  const written = await store.writeVersion({
    version,
    state,
    ...(appliedRewards && { appliedRewards }),
    policyVersion: policy.version,
    createdAt: options.now,
  });
  if (!written) {
    throw new CliError(
      `${options.where}: another writer (a learner?) wrote ${store.modelId} version ${version} while the model was ` +
        `being trained; nothing written. Run again${head || options.force ? '' : ' (with --force to put it on top)'}.`,
      EXIT_FAILURE,
    );
  }
  return { version, ...(head && { replacedVersion: head.version }) };
}

/**
 * Runs `sto pretrain` with parsed options; environment: MODEL_TABLE_NAME (default table), AWS_REGION.
 * @example await runPretrain({ events: 'history.jsonl', out: 'pretrained.json' });
 */
export async function runPretrain(
  options: PretrainOptions,
  env: NodeJS.ProcessEnv = process.env,
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<PretrainResult> {
  // every option is checked before the slow part
  if (options.out && options.table) {
    throw new CliError('pass either --out FILE (write a file) or --table NAME (write the model table), not both');
  }
  const table = options.out ? undefined : (options.table ?? env.MODEL_TABLE_NAME);
  if (!options.out && !table) {
    throw new CliError(
      'no destination: pass --out FILE, or --table NAME (or set MODEL_TABLE_NAME) for the model table',
    );
  }
  if (options.out && options.force) throw new CliError('--force applies to the model table; --out always writes');
  const outFile = options.out === undefined ? undefined : outputFile(options.out, '--out');
  const clientConfig = table ? dynamoClientConfig(options, env) : undefined;
  const endMs = options.end === undefined ? undefined : parseInstant(options.end, '--end');
  if (options.kind !== undefined && options.kind.trim() === '') throw new CliError('--kind must not be empty');
  const config: AnalystConfig = options.config ? loadConfigFile(options.config) : defaultConfig();

  const size = (await stat(options.events).catch(() => undefined))?.size ?? 0;
  const reading = startProgress(Math.max(1, size), 'reading events', { quiet: options.quiet });
  let file: EventsFile;
  try {
    file = await readEventsFile(options.events, (bytes) => reading.update(Math.min(bytes, size), { detail: '' }));
  } finally {
    reading.stop();
  }
  const shown = 10;
  for (const bad of file.bad.slice(0, shown)) report(`${options.events}, line ${bad.line}: skipped, ${bad.reason}`);
  if (file.bad.length > shown) report(`${options.events}: ${file.bad.length - shown} more bad lines skipped`);
  if (file.events.length === 0) {
    throw new CliError(
      `${options.events}: no valid event${file.lines ? ` in ${file.lines} lines (${file.bad.length} bad)` : ' (the file is empty)'}; nothing written`,
    );
  }

  let learning: ReturnType<typeof startProgress> | undefined;
  const pretrained = await pretrainPolicy(file.events, config, {
    ...(endMs !== undefined && { endMs }),
    ...(options.kind !== undefined && { kind: options.kind }),
    onProgress: (done, total) => {
      learning ??= startProgress(total, 'learning', { quiet: options.quiet });
      learning.update(done, { detail: `${done} of ${total} sends` });
    },
  });
  learning?.stop();
  const { policy, ...stats } = pretrained;
  try {
    if (stats.rows === 0) {
      const why =
        stats.events.deliveries === 0
          ? 'it has no notification_delivered event'
          : `none of its ${stats.events.deliveries} deliveries has a closed attribution window by ${new Date(stats.endMs).toISOString()}`;
      throw new CliError(`${options.events}: no send to learn from: ${why}; nothing written`);
    }
    const state: SerializedPolicy = policy.serialize();
    const summary = {
      ...stats,
      algorithm: state.bandit.algorithm,
      policyVersion: policy.version,
      updates: state.bandit.updates,
    };
    if (outFile) {
      // written next to the target and renamed: a failed write leaves no half-written model behind
      const partial = `${outFile}.partial`;
      try {
        await writeFile(partial, `${JSON.stringify(state)}\n`);
        await rename(partial, outFile);
      } catch (cause) {
        await rm(partial, { force: true });
        throw new CliError(`Cannot write ${outFile}: ${(cause as Error).message}`, EXIT_FAILURE, { cause });
      }
      return { file, pretrained: summary, destination: { kind: 'file', file: outFile } };
    }
    const tableName = table as string;
    const client = new DynamoDBClient(clientConfig as DynamoDBClientConfig);
    try {
      const store = modelTableStore(DynamoDBDocumentClient.from(client), tableName, SEND_TIME_MODEL_ID);
      const where = `model table "${tableName}"${options.endpoint ? ` at ${options.endpoint}` : ''}`;
      const put = await putPretrainedModel(store, policy, { force: options.force, now: Date.now(), where });
      return {
        file,
        pretrained: summary,
        destination: { kind: 'table', table: tableName, modelId: store.modelId, ...put },
      };
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') {
        throw new CliError(
          `model table "${tableName}" not found${options.endpoint ? ` at ${options.endpoint}` : ''}`,
          undefined,
          { cause: error },
        );
      }
      throw error;
    } finally {
      client.destroy();
    }
  } finally {
    policy.dispose();
  }
}

/** The text `sto pretrain` prints on stdout. */
export function formatPretrain(result: PretrainResult, eventsFile: string): string {
  const { file, pretrained: p, destination } = result;
  const e = p.events;
  const iso = (ms: number) => new Date(ms).toISOString();
  const lines = [
    `events: ${file.events.length} valid of ${file.lines} lines in ${eventsFile}` +
      `${file.bad.length ? ` (${file.bad.length} bad line${file.bad.length === 1 ? '' : 's'} skipped)` : ''}; ${e.users} users` +
      `${e.duplicates ? `, ${e.duplicates} repeated event ids counted once` : ''}` +
      `${e.afterEnd ? `, ${e.afterEnd} events after --end ignored` : ''}`,
    `history ends ${iso(p.endMs)}`,
    `sends: ${e.deliveries} delivered, ${p.rows} learned`,
  ];
  if (p.skipped.windowOpen) {
    lines.push(`  ${p.skipped.windowOpen} left out: attribution window still open at the end of the history`);
  }
  if (p.skipped.repeatedDecision) {
    lines.push(`  ${p.skipped.repeatedDecision} left out: a second delivery of a decisionId already delivered`);
  }
  const a = e.attributed;
  const u = e.unattributed;
  lines.push(
    `attribution: ${a.byDecisionId + a.byNearestDelivery} engagement events counted on a send ` +
      `(${a.byDecisionId} by decisionId, ${a.byNearestDelivery} by the nearest earlier delivery on their channel); ` +
      `${u.outsideWindow + u.noDelivery} counted on none (${u.outsideWindow} after the attribution window, ` +
      `${u.noDelivery} with no earlier delivery)`,
    `reward: mean ${p.reward.mean.toFixed(4)} per learned send; ${p.reward.positive} sends with a positive reward, ${p.reward.negative} negative`,
    `model: ${p.algorithm}, ${p.updates} updates, policy ${p.policyVersion} (${(p.timings.rowsMs / 1000).toFixed(1)} s to rebuild the sends, ${(p.timings.learnMs / 1000).toFixed(1)} s to learn)`,
  );
  if (destination.kind === 'file') lines.push(`written to ${destination.file}`);
  else {
    lines.push(
      `written to model table "${destination.table}": ${destination.modelId} version ${destination.version}` +
        `${destination.replacedVersion === undefined ? '' : ` (on top of version ${destination.replacedVersion}, --force)`}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Adds `pretrain` to the program. */
export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description(
      'Train a fresh bandit on the notification history (JSONL of events-queue events) so a new deployment does not start cold; write it to a file or as the head model of the model table',
    )
    .requiredOption('--events <file>', 'JSONL of IngestEvents (the events-queue contract), one per line')
    .option(
      '--config <file>',
      'analyst config: bandit, reward weights, attribution window (default: the shipped config)',
    )
    .option('--end <iso>', 'end of the history: later events are ignored (default: the newest event)')
    .option('--kind <kind>', 'request kind of every past send, e.g. promotional (default: none, kind group "other")')
    .option('--out <file>', 'write the model (SerializedPolicy JSON) to this file instead of the model table')
    .option('--table <name>', 'model table to write the head model to (default: $MODEL_TABLE_NAME)')
    .option('--region <region>', 'AWS region (default: $AWS_REGION)')
    .option('--endpoint <url>', 'DynamoDB endpoint, e.g. the local stack http://127.0.0.1:8000')
    .option('--force', 'write even if the table already has a head model (as the next version on top of it)')
    .option('--quiet', 'no progress bars')
    .action(async (options: PretrainOptions) => {
      const result = await runPretrain(options);
      process.stdout.write(formatPretrain(result, options.events));
    });
}
