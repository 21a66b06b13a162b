/**
 * Reading a JSONL decision log (what `sto export` writes) with errors an analyst can act on: the file
 * that cannot be read, the line that is not JSON, the field of the line that breaks the row format.
 * Blank lines are skipped; every other line must be a decision-log/1 row.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { type DecisionLogRow, parseDecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { CliError } from '../errors.ts';

/** At most this many problems are listed for one bad line (a wrong format usually breaks every field). */
const MAX_PROBLEMS = 5;

/**
 * Every row of a decision log file, in file order.
 * @throws CliError (exit code 2) naming the file and, for a bad row, its line number and fields
 * @example const rows = await readDecisionLogFile('log.jsonl');
 */
export async function readDecisionLogFile(file: string): Promise<DecisionLogRow[]> {
  try {
    await access(file);
  } catch (cause) {
    throw new CliError(`Cannot read decision log ${file}: ${(cause as Error).message}`, undefined, { cause });
  }
  const rows: DecisionLogRow[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (cause) {
        throw new CliError(
          `Decision log ${file}, line ${lineNumber}: not valid JSON (${(cause as Error).message})`,
          undefined,
          {
            cause,
          },
        );
      }
      const parsed = parseDecisionLogRow(json);
      if (!parsed.ok) {
        const listed = parsed.problems.slice(0, MAX_PROBLEMS).map((p) => `  - ${p.path}: ${p.reason}`);
        const more = parsed.problems.length > MAX_PROBLEMS ? [`  (${parsed.problems.length - MAX_PROBLEMS} more)`] : [];
        throw new CliError(
          `Decision log ${file}, line ${lineNumber}: not a decision-log/1 row:\n${[...listed, ...more].join('\n')}`,
        );
      }
      rows.push(parsed.row);
    }
  } finally {
    lines.close();
  }
  return rows;
}
