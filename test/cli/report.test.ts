/**
 * `sto report`: the lift of the bandit over the holdout checked against a hand computation on a small log,
 * the interval method on a case with a closed form, the other sections, and the files it writes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '#config/load.ts';
import type { DecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import { fixtureDecisions, fixtureRows, toJsonl } from '#test/helpers/decision-log-fixtures.ts';
import { buildLiftReport } from '../../cli/analysis/lift-report.ts';
import { main } from '../../cli/main.ts';

const config = defaultConfig();
const HOUR = 3_600_000;

/** Sent, rewarded rows from real decisions, then set by hand: user, group, channel, reward, send instant (UTC). */
function handLog(
  spec: { user: string; holdout: boolean; channel: 'email' | 'push' | 'sms'; reward: number; sendAt: string }[],
): DecisionLogRow[] {
  const base = fixtureRows(fixtureDecisions({ config, count: spec.length, seed: 4 }));
  return spec.map((s, i) => ({
    ...base[i],
    userId: s.user,
    holdout: s.holdout,
    channel: s.channel,
    reward: s.reward,
    sendAt: s.sendAt,
    timeZone: 'UTC',
    decidedAt: new Date(Date.parse(s.sendAt) - HOUR).toISOString(),
    status: 'sent',
    rewardClosed: true,
  }));
}

describe('buildLiftReport', () => {
  it('matches a hand computation of the lift, overall and by channel, hour and day', () => {
    // Prepare: bandit users a (1, 0) and b (0.3); holdout users c (0) and d (0.3, 0.3)
    const rows = handLog([
      { user: 'a', holdout: false, channel: 'push', reward: 1, sendAt: '2026-07-01T09:00:00.000Z' },
      { user: 'a', holdout: false, channel: 'email', reward: 0, sendAt: '2026-07-02T18:00:00.000Z' },
      { user: 'b', holdout: false, channel: 'push', reward: 0.3, sendAt: '2026-07-02T09:30:00.000Z' },
      { user: 'c', holdout: true, channel: 'email', reward: 0, sendAt: '2026-07-01T18:00:00.000Z' },
      { user: 'd', holdout: true, channel: 'push', reward: 0.3, sendAt: '2026-07-01T09:15:00.000Z' },
      { user: 'd', holdout: true, channel: 'email', reward: 0.3, sendAt: '2026-07-02T18:10:00.000Z' },
    ]);

    // Act
    const report = buildLiftReport(rows, { resamples: 2000, seed: 3 });

    // Assess: overall 1.3 / 3 against 0.6 / 3
    const o = report.lift.overall;
    expect(o.bandit?.reward.estimate).toBeCloseTo(1.3 / 3, 12);
    expect(o.holdout?.reward.estimate).toBeCloseTo(0.2, 12);
    expect(o.difference?.estimate).toBeCloseTo(1.3 / 3 - 0.2, 12);
    expect(o.relativeLift?.estimate).toBeCloseTo((1.3 / 3 - 0.2) / 0.2, 12);
    expect(o.bandit).toMatchObject({ sends: 3, users: 2 });
    expect(o.holdout).toMatchObject({ sends: 3, users: 2 });
    const d = o.difference as { low: number; high: number; estimate: number };
    expect(d.low).toBeLessThan(d.estimate);
    expect(d.high).toBeGreaterThan(d.estimate);
    // two users a side: the bandit's replicates are means of {a, a}, {a, b}, {b, b}; none below 0 nor above 0.5
    expect(o.bandit?.reward.low).toBeGreaterThanOrEqual(0);
    expect(o.bandit?.reward.high).toBeLessThanOrEqual(0.5 + 1e-12);
    // push: bandit (1 + 0.3) / 2 against holdout 0.3; email: bandit 0 against holdout (0 + 0.3) / 2
    expect(report.lift.byChannel.push.difference?.estimate).toBeCloseTo(0.65 - 0.3, 12);
    expect(report.lift.byChannel.email.difference?.estimate).toBeCloseTo(0 - 0.15, 12);
    expect(report.lift.byChannel.sms).toEqual({ bandit: null, holdout: null, difference: null, relativeLift: null });
    // 09:xx local: bandit (1, 0.3), holdout (0.3); 18:xx: bandit (0), holdout (0, 0.3)
    expect(report.lift.byLocalHour[9].bandit?.reward.estimate).toBeCloseTo(0.65, 12);
    expect(report.lift.byLocalHour[9].holdout?.reward.estimate).toBeCloseTo(0.3, 12);
    expect(report.lift.byLocalHour[18].difference?.estimate).toBeCloseTo(-0.15, 12);
    expect(report.lift.byLocalHour[12].bandit).toBeNull();
    // days by decision (an hour before the send): 07-01 bandit 1 vs holdout (0, 0.3); 07-02 bandit (0, 0.3) vs 0.3
    expect(report.lift.byDay.map((x) => x.day)).toEqual(['2026-07-01', '2026-07-02']);
    expect(report.lift.byDay[0].difference?.estimate).toBeCloseTo(1 - 0.15, 12);
    expect(report.lift.byDay[1].difference?.estimate).toBeCloseTo(0.15 - 0.3, 12);
  });

  it('gives a zero-width interval when every user earns the same per notification', () => {
    // Prepare: each bandit user 0.5 per notification, each holdout user 0.25
    const rows = handLog([
      { user: 'a', holdout: false, channel: 'push', reward: 0.5, sendAt: '2026-07-01T09:00:00.000Z' },
      { user: 'b', holdout: false, channel: 'push', reward: 0, sendAt: '2026-07-01T10:00:00.000Z' },
      { user: 'b', holdout: false, channel: 'push', reward: 1, sendAt: '2026-07-01T11:00:00.000Z' },
      { user: 'c', holdout: true, channel: 'push', reward: 0.25, sendAt: '2026-07-01T09:00:00.000Z' },
      { user: 'd', holdout: true, channel: 'push', reward: 0.5, sendAt: '2026-07-01T10:00:00.000Z' },
      { user: 'd', holdout: true, channel: 'push', reward: 0, sendAt: '2026-07-01T11:00:00.000Z' },
    ]);

    // Act
    const { difference, relativeLift } = buildLiftReport(rows, { resamples: 500 }).lift.overall;

    // Assess
    expect(difference).toEqual({ estimate: 0.25, low: 0.25, high: 0.25 });
    expect(relativeLift).toEqual({ estimate: 1, low: 1, high: 1 });
  });

  it('rescores rewards with a config: its weights on the logged events, minus its channel cost', () => {
    const [row] = handLog([
      { user: 'a', holdout: false, channel: 'sms', reward: 1, sendAt: '2026-07-01T09:00:00.000Z' },
    ]);
    row.rewardEvents = ['notification_opened'];
    const rescoring = parseConfig({
      ...structuredClone(config),
      reward: { ...config.reward, weights: { ...config.reward.weights, notification_opened: 0.5 } },
    });
    const report = buildLiftReport([row], { config: rescoring, resamples: 100 });
    expect(report.lift.overall.bandit?.reward.estimate).toBeCloseTo(0.5 - config.channels.sms.cost, 12);
    expect(report.reward.rescoredWith).toBe(config.version);
  });

  it('counts statuses, exploration, propensities, stops and no-arm reasons', () => {
    // Prepare
    const rows = handLog([
      { user: 'a', holdout: false, channel: 'push', reward: 1, sendAt: '2026-07-01T09:00:00.000Z' },
      { user: 'b', holdout: false, channel: 'push', reward: 0, sendAt: '2026-07-01T10:00:00.000Z' },
      { user: 'c', holdout: false, channel: 'email', reward: 0, sendAt: '2026-07-01T10:00:00.000Z' },
      { user: 'd', holdout: false, channel: 'email', reward: 0, sendAt: '2026-07-01T10:00:00.000Z' },
      { user: 'e', holdout: true, channel: 'email', reward: 0, sendAt: '2026-07-01T10:00:00.000Z' },
    ]);
    for (const row of rows) row.explored = false;
    rows[0].propensity = 0.005;
    rows[0].explored = true;
    rows[1].propensity = 0.5;
    rows[2] = { ...rows[2], status: 'stopped', stopReason: 'quiet_hours', rewardClosed: undefined, reward: undefined };
    rows[3] = { ...rows[3], status: 'sent', rewardClosed: false };
    const { armIndex: _a, channel: _c, slotIndex: _s, sendAt: _t, propensity: _p, features: _f, ...noArm } = rows[4];
    rows[4] = {
      ...noArm,
      status: 'dropped',
      noArmReasons: { no_consent: 48, quiet_hours: 20 },
      rewardClosed: undefined,
    };

    // Act
    const report = buildLiftReport(rows, { resamples: 100 });

    // Assess
    expect(report.statuses).toEqual({ sent: 3, stopped: 1, dropped: 1 });
    expect(report.rewarded).toEqual({ rows: 2, awaitingReward: 1, notSent: 1, noArm: 1, pending: 0 });
    expect(report.exploration).toMatchObject({ banditSends: 4, explored: 1 });
    expect(report.propensity.rows).toBe(4);
    expect(report.propensity.min).toBe(0.005);
    expect(report.propensity.belowOnePercent).toBe(0.25);
    expect(report.propensity.histogram.reduce((a, b) => a + b.count, 0)).toBe(4);
    expect(report.guardrails.stopped).toEqual({ quiet_hours: 1 });
    expect(report.guardrails.noArm).toEqual({
      decisions: 1,
      byMainReason: { quiet_hours: 1 },
      armsMasked: { no_consent: 48, quiet_hours: 20 },
    });
    expect(report.lift.overall.holdout).toBeNull();
    expect(report.lift.overall.difference).toBeNull();
  });
});

describe('sto report', () => {
  let dir: string;
  const { out, err } = captureCliOutput();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sto-report-'));
  });
  const sto = (...args: string[]) => main(['node', 'sto', ...args]);

  it('writes report.json and a self-contained report.html with inline SVG charts', async () => {
    // Prepare: 120 decisions, every fourth in the holdout
    const rows = fixtureRows(fixtureDecisions({ config, count: 120, holdout: (i) => i % 4 === 0, seed: 5 }));
    const logs = join(dir, 'log.jsonl');
    writeFileSync(logs, toJsonl(rows));

    // Act
    const code = await sto('report', '--logs', logs, '--out', join(dir, 'out'), '--resamples', '200');

    // Assess
    expect(err()).toBe('');
    expect(code).toBe(0);
    expect(out()).toMatch(
      /bandit \d\.\d{4} vs holdout \d\.\d{4} per notification: difference [+-]\d\.\d{4} \(95% interval/,
    );
    const json = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8'));
    expect(json.format).toBe('sto-report/1');
    expect(json.lift.overall.bandit.sends + json.lift.overall.holdout.sends).toBe(json.rewarded.rows);
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(html).not.toContain('<script');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('names a missing log file, with exit code 2', async () => {
    const code = await sto('report', '--logs', join(dir, 'nope.jsonl'), '--out', dir);
    expect(code).toBe(2);
    expect(err()).toContain(`Cannot read decision log ${join(dir, 'nope.jsonl')}`);
  });

  it('names the line that is not JSON', async () => {
    const rows = fixtureRows(fixtureDecisions({ config, count: 3 }));
    const logs = join(dir, 'bad.jsonl');
    writeFileSync(logs, `${JSON.stringify(rows[0])}\n\n${JSON.stringify(rows[1])}\n{"decisionId": "dec_x",\n`);
    const code = await sto('report', '--logs', logs, '--out', dir);
    expect(code).toBe(2);
    expect(err()).toContain(`Decision log ${logs}, line 4: not valid JSON`);
  });

  it('names the line and field of a row that breaks the format', async () => {
    const rows = fixtureRows(fixtureDecisions({ config, count: 2 }));
    const logs = join(dir, 'bad.jsonl');
    writeFileSync(logs, toJsonl([rows[0], { ...rows[1], propensity: 0, content: { text: 'hi' } }]));
    const code = await sto('report', '--logs', logs, '--out', dir);
    expect(code).toBe(2);
    expect(err()).toContain(`Decision log ${logs}, line 2: not a decision-log/1 row`);
    expect(err()).toContain('propensity: must be in (0, 1]');
    expect(err()).toMatch(/\(row\): Unrecognized key: "content"/);
  });
});
