/**
 * `sto export --out FILE --from ISO --to ISO [--table NAME] [--region R] [--endpoint URL] [--config FILE]`: writes the
 * decisions made in [from, to) as a JSONL decision log (lambdas/shared/decision-log.ts, format
 * decision-log/1), the input of `sto evaluate` and `sto report`. Content and contact data are never
 * exported. Each row's reward is computed from the event types counted on the decision, by the reward
 * weights of `--config` (default: the shipped config), and is final once its window plus the late-event
 * grace has passed (settledReward). It Scans the decisions table: the read cost is the whole table's size, whatever the range
 * (see exportDecisionLog).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Command } from 'commander';
import { defaultConfig, loadConfigFile } from '#config/load.ts';
import { exportDecisionLog } from '#lambdas/shared/decision-log.ts';
import { dynamoClientConfig } from '../dynamodb.ts';
import { CliError } from '../errors.ts';
import { parseInstant } from '../options.ts';

export interface ExportOptions {
  out: string;
  from: string;
  to: string;
  table?: string;
  region?: string;
  endpoint?: string;
  /** analyst config whose reward weights score the counted events (default: the shipped default config) */
  config?: string;
}

export interface ExportResult {
  file: string;
  rows: number;
  /** items DynamoDB read to find them (the whole table) */
  scanned: number;
  pages: number;
  /** read capacity units consumed, when DynamoDB reports it */
  consumedCapacity: number;
}

/**
 * Runs `sto export` with parsed options; environment: DECISIONS_TABLE_NAME (default table), AWS_REGION.
 * @example await runExport({ out: 'log.jsonl', from: '2026-07-01', to: '2026-07-08', endpoint: 'http://127.0.0.1:8000' });
 */
export async function runExport(options: ExportOptions, env: NodeJS.ProcessEnv = process.env): Promise<ExportResult> {
  const from = parseInstant(options.from, '--from');
  const to = parseInstant(options.to, '--to');
  if (!(from < to)) throw new CliError(`--from (${options.from}) must be before --to (${options.to})`);
  const table = options.table ?? env.DECISIONS_TABLE_NAME;
  if (!table) throw new CliError('no decisions table: pass --table NAME or set DECISIONS_TABLE_NAME');
  const clientConfig = dynamoClientConfig(options, env);
  const config = options.config ? loadConfigFile(options.config) : defaultConfig();
  const file = resolve(options.out);
  await mkdir(dirname(file), { recursive: true });
  // Written next to the target and renamed at the end: a failed export leaves no half-written log behind.
  const partial = `${file}.partial`;
  const client = new DynamoDBClient(clientConfig);
  const doc = DynamoDBDocumentClient.from(client);
  const out = createWriteStream(partial);
  const result: ExportResult = { file, rows: 0, scanned: 0, pages: 0, consumedCapacity: 0 };
  try {
    const rows = exportDecisionLog({
      doc,
      decisionsTable: table,
      from,
      to,
      settlement: { reward: config.reward, now: Date.now() },
      onPage: (page) => {
        result.pages++;
        result.scanned += page.scanned;
        result.consumedCapacity += page.consumedCapacity ?? 0;
      },
    });
    for await (const row of rows) {
      if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
      result.rows++;
    }
    out.end();
    await once(out, 'finish');
    await rename(partial, file);
    return result;
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    const name = (error as Error).name;
    if (name === 'ResourceNotFoundException') {
      throw new CliError(
        `decisions table "${table}" not found${options.endpoint ? ` at ${options.endpoint}` : ''}`,
        2,
        {
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** Adds `export` to the program. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'Write the decisions made in [--from, --to) as a JSONL decision log (no content, no contact data); Scans the decisions table',
    )
    .requiredOption('--out <file>', 'JSONL file to write (format decision-log/1)')
    .requiredOption('--from <iso>', 'first decision instant included, e.g. 2026-07-01T00:00:00Z')
    .requiredOption('--to <iso>', 'first decision instant excluded')
    .option('--table <name>', 'decisions table (default: $DECISIONS_TABLE_NAME)')
    .option('--region <region>', 'AWS region (default: $AWS_REGION)')
    .option('--endpoint <url>', 'DynamoDB endpoint, e.g. the local stack http://127.0.0.1:8000')
    .option(
      '--config <file>',
      "analyst config whose reward weights score each decision's counted events (default: the shipped config)",
    )
    .action(async (options: ExportOptions) => {
      const r = await runExport(options);
      process.stdout.write(
        `${r.file}\n${r.rows} decisions exported; ${r.scanned} items scanned in ${r.pages} pages` +
          `${r.consumedCapacity ? `, ${r.consumedCapacity} read capacity units` : ''}\n`,
      );
    });
}
