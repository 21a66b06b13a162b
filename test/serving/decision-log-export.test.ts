/**
 * Decision log export on the local stack (DynamoDB Local): decision items written as decide writes them,
 * from real policy decisions, read back with a paginated Scan. The time range holds, pages lose and repeat
 * nothing, content never leaves the table, and a row rebuilds the DecideInput its decision was made from.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteCommand, type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import { type DecisionItem, decisionInput } from '#lambdas/shared/decision-item.ts';
import {
  DECISION_LOG_FORMAT,
  type DecisionLogRow,
  exportDecisionLog,
  fromDecisionLogRow,
  parseDecisionLogRow,
  toDecisionLogRow,
} from '#lambdas/shared/decision-log.ts';
import { heuristicPolicy } from '#model/heuristic.ts';
import { Rng } from '#model/random.ts';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import { DAY, fixtureDecisions, HOUR, LOG_START, SECRET_CONTENT } from '#test/helpers/decision-log-fixtures.ts';
import { useLocalStack } from '#test/helpers/local-stack.ts';
import { main } from '../../cli/main.ts';

const stack = useLocalStack({ resetBeforeEach: true });
const config = defaultConfig();

async function putAll(doc: DynamoDBDocumentClient, table: string, items: DecisionItem[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    await doc.send(
      new BatchWriteCommand({
        RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
}

async function collect(rows: AsyncIterable<DecisionLogRow>): Promise<DecisionLogRow[]> {
  const out: DecisionLogRow[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

describe('exportDecisionLog', () => {
  it('returns exactly the decisions made in [from, to), with content left in the table', async () => {
    // Prepare: 48 hourly decisions over two days, plus a deferred one that keeps its request (and content)
    const log = fixtureDecisions({ config, count: 48, spacingMs: HOUR, users: 12 });
    const { doc } = stack().clients;
    const table = stack().tableNames.decisions;
    await putAll(
      doc,
      table,
      log.map((d) => d.item),
    );
    const stored = log[10].item;
    expect(JSON.stringify({ ...stored, input: undefined })).toContain(SECRET_CONTENT);
    const from = LOG_START + 10 * HOUR;
    const to = LOG_START + 30 * HOUR;

    // Act
    const rows = await collect(exportDecisionLog({ doc, decisionsTable: table, from, to }));

    // Assess: decisions 10..29, the bound at `to` excluded
    expect(rows.map((r) => r.requestId).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `req-${i + 10}`).sort());
    for (const row of rows) {
      expect(Date.parse(row.decidedAt)).toBeGreaterThanOrEqual(from);
      expect(Date.parse(row.decidedAt)).toBeLessThan(to);
      expect(row.format).toBe(DECISION_LOG_FORMAT);
      expect(parseDecisionLogRow(JSON.parse(JSON.stringify(row)))).toMatchObject({ ok: true });
    }
    const text = JSON.stringify(rows);
    expect(text).not.toContain(SECRET_CONTENT);
    expect(text).not.toContain('"content"');
  });

  it('pages through many items without losing or repeating one', async () => {
    // Prepare: 260 decisions, 10-item pages
    const log = fixtureDecisions({ config, count: 260, spacingMs: 10 * 60_000, users: 40, seed: 3 });
    const { doc } = stack().clients;
    const table = stack().tableNames.decisions;
    await putAll(
      doc,
      table,
      log.map((d) => d.item),
    );
    const pages: number[] = [];

    // Act
    const rows = await collect(
      exportDecisionLog({
        doc,
        decisionsTable: table,
        from: LOG_START,
        to: LOG_START + 10 * DAY,
        pageSize: 10,
        onPage: (p) => pages.push(p.scanned),
      }),
    );

    // Assess
    expect(pages.length).toBeGreaterThanOrEqual(26);
    expect(pages.reduce((a, b) => a + b, 0)).toBe(260);
    expect(new Set(rows.map((r) => r.decisionId)).size).toBe(260);
    expect(rows).toHaveLength(260);
  });

  it('never exports the request a deferred decision keeps (it holds the content)', async () => {
    // Prepare: a decision with no arm (quiet hours all window long), deferred with its request
    const [d] = fixtureDecisions({ config, count: 1 });
    const deferred: DecisionItem = {
      ...d.item,
      decisionId: 'dec_deferred',
      requestId: 'deferred',
      status: 'deferred',
      request: JSON.stringify({ content: { sms: { text: SECRET_CONTENT } } }),
      content: { text: SECRET_CONTENT },
      noArmReasons: { quiet_hours: 72 },
    };
    await stack().clients.doc.send(new PutCommand({ TableName: stack().tableNames.decisions, Item: deferred }));

    // Act
    const rows = await collect(
      exportDecisionLog({
        doc: stack().clients.doc,
        decisionsTable: stack().tableNames.decisions,
        from: LOG_START - DAY,
        to: LOG_START + DAY,
      }),
    );

    // Assess
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('deferred');
    expect(rows[0].noArmReasons).toEqual({ quiet_hours: 72 });
    expect(JSON.stringify(rows[0])).not.toContain(SECRET_CONTENT);
    expect(Object.keys(rows[0])).not.toContain('request');
  });

  it('gives back, through fromDecisionLogRow and decisionInput, the DecideInput the decision was made from', async () => {
    // Prepare: decisions of the heuristic with recent sends and a quiet-hours exemption on one of them
    const log = fixtureDecisions({ config, count: 6, policy: heuristicPolicy(config), seed: 9 });
    const item = log[4].item;
    item.input.recentSends = { push: [LOG_START - 3 * HOUR, LOG_START - HOUR], email: [LOG_START - 20 * HOUR] };
    item.context.ignoreQuietHours = true;
    await putAll(
      stack().clients.doc,
      stack().tableNames.decisions,
      log.map((d) => d.item),
    );

    // Act: export, through JSON text, and back
    const rows = await collect(
      exportDecisionLog({
        doc: stack().clients.doc,
        decisionsTable: stack().tableNames.decisions,
        from: LOG_START,
        to: LOG_START + DAY,
      }),
    );
    const row = JSON.parse(JSON.stringify(rows.find((r) => r.requestId === item.requestId)));
    const parsed = parseDecisionLogRow(row);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const back = fromDecisionLogRow(parsed.row);

    // Assess: the same input as the stored item gives, and the same decision from it
    const expected = decisionInput(item);
    expect(decisionInput(back)).toEqual(expected);
    expect(decisionInput(back).request.ignoreQuietHours).toBe(true);
    const policy = heuristicPolicy(config);
    const [again] = policy.decide([decisionInput(back)], new Rng(1));
    const [original] = policy.decide([expected], new Rng(1));
    expect(again).toEqual(original);
    expect(back.armIndex).toBe(item.armIndex);
    expect(back.sendAt).toBe(item.sendAt);
    expect(back.propensity).toBe(item.propensity);
    expect(back.rewardEvents).toEqual(item.rewardEvents);
    expect(toDecisionLogRow(back)).toEqual(row);
  });
});

describe('rewards in the log', () => {
  it("computes a row's reward from the counted events once the window and the grace are over, by the weights given", () => {
    // Prepare: a sent decision with an open and a click counted, as the closer leaves it (no reward on the item)
    const [fixture] = fixtureDecisions({ config, count: 1 });
    const windowEndsAt = Number(fixture.item.sendAt) + 24 * HOUR;
    const item: DecisionItem = {
      ...fixture.item,
      status: 'sent',
      windowEndsAt,
      rewardEvents: new Set(['notification_clicked', 'notification_opened']),
      reward: undefined,
      rewardClosed: undefined,
    };
    const grace = 30 * 60_000;
    const sum = { ...config.reward, combine: 'sum' as const };

    // Act
    const open = toDecisionLogRow(item, { reward: config.reward, now: windowEndsAt + grace });
    const closed = toDecisionLogRow(item, { reward: config.reward, now: windowEndsAt + grace + 1 });
    const summed = toDecisionLogRow(item, { reward: sum, now: windowEndsAt + grace + 1 });

    // Assess
    expect(open.rewardClosed).toBeUndefined();
    expect(open.reward).toBeUndefined();
    expect(closed).toMatchObject({ rewardClosed: true, reward: config.reward.weights.notification_clicked });
    expect(summed.reward).toBeCloseTo(
      config.reward.weights.notification_clicked + config.reward.weights.notification_opened,
      12,
    );
  });
});

describe('sto export', () => {
  const { out, err } = captureCliOutput();

  it('writes the range as JSONL from the local stack', async () => {
    // Prepare
    const log = fixtureDecisions({ config, count: 30, spacingMs: HOUR });
    await putAll(
      stack().clients.doc,
      stack().tableNames.decisions,
      log.map((d) => d.item),
    );
    const file = join(await mkdtemp(join(tmpdir(), 'sto-export-')), 'nested', 'log.jsonl');

    // Act
    const code = await main([
      'node',
      'sto',
      'export',
      '--out',
      file,
      '--from',
      new Date(LOG_START).toISOString(),
      '--to',
      new Date(LOG_START + 12 * HOUR).toISOString(),
      '--table',
      stack().tableNames.decisions,
      '--region',
      stack().region,
      '--endpoint',
      stack().endpoints.dynamodb,
    ]);

    // Assess
    expect(err()).toBe('');
    expect(code).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(out()).toContain('12 decisions exported; 30 items scanned');
    expect(lines.every((l) => parseDecisionLogRow(JSON.parse(l)).ok)).toBe(true);
  });

  it('says which table it could not find, with exit code 2', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'sto-export-')), 'log.jsonl');
    const code = await main([
      'node',
      'sto',
      'export',
      '--out',
      file,
      '--from',
      '2026-07-01',
      '--to',
      '2026-07-02',
      '--table',
      'no-such-table',
      '--endpoint',
      stack().endpoints.dynamodb,
    ]);
    expect(code).toBe(2);
    expect(err()).toContain('decisions table "no-such-table" not found');
  });

  it('refuses a range that ends before it starts', async () => {
    const code = await main([
      'node',
      'sto',
      'export',
      '--out',
      'x.jsonl',
      '--from',
      '2026-07-02',
      '--to',
      '2026-07-01',
    ]);
    expect(code).toBe(2);
    expect(err()).toContain('--from (2026-07-02) must be before --to (2026-07-01)');
  });
});
