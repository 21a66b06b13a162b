import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type SimulationResult, simulate } from '#sim/engine.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import { lastDaysLabel, renderReportHtml, writeReport } from '#sim/report.ts';
import { type SimulationSummary, summarize } from '#sim/summary.ts';
import { testConfig, tinyPopulation } from './helpers.ts';

describe('writeReport', () => {
  it('writes summary.json and a self-contained report.html with its charts', async () => {
    // Prepare
    const population = tinyPopulation((p) => {
      p.users = 60;
    });
    const config = testConfig();
    const result = await simulate({
      population,
      config,
      days: 2,
      seeds: [1, 2],
      policies: buildPolicySpecs(['heuristic', 'random', 'oracle'], { population, config }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'sto-report-'));
    // Act
    const { summaryFile, reportFile } = await writeReport(dir, summarize(result));
    // Assess
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    expect(Object.keys(summary.policies)).toEqual(['heuristic', 'random', 'oracle']);
    expect(summary.policies.random.liftVsHeuristic.n).toBe(2);
    const html = readFileSync(reportFile, 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(5); // reward by day, share of oracle by day, lift, oracle share, sends by hour
    expect(html).not.toMatch(/NaN|undefined|<script|https?:\/\/(?!vega|www\.w3)/);
    for (const name of ['heuristic', 'random', 'oracle']) expect(html).toContain(name);
    // A 2-day run's "last week" is its last 2 days, and it says so
    expect(html).toContain('last 2 days');
    expect(html).not.toContain('last 7 days');
    expect(html).not.toContain('class="warnings"');
    expect(summary.warnings).toEqual([]);
  });
});

/** The same run, as if only `names` had been asked for (each policy's totals do not depend on the others). */
function only(result: SimulationResult, names: string[]): SimulationResult {
  return {
    ...result,
    policies: result.policies.filter((p) => names.includes(p.name)),
    runs: result.runs.map((r) => ({
      ...r,
      policies: Object.fromEntries(Object.entries(r.policies).filter(([name]) => names.includes(name))),
    })),
  };
}

describe('renderReportHtml', () => {
  const population = tinyPopulation((p) => {
    p.users = 40;
  });
  const config = testConfig();
  let simulated: Promise<SimulationResult> | undefined;
  const run = () =>
    (simulated ??= simulate({
      population,
      config,
      days: 2,
      seeds: [1],
      policies: buildPolicySpecs(['heuristic', 'random', 'oracle'], { population, config }),
    }));

  it('omits the lift panel, saying why, when the run has no heuristic', async () => {
    const html = await renderReportHtml(summarize(only(await run(), ['random', 'oracle'])));
    expect(html).toContain('No heuristic in this run: add heuristic to --policies to see lift.');
    expect(html).not.toContain('reward vs the heuristic');
    expect(html).toContain('reward as % of the oracle');
    expect(html.match(/<svg/g)?.length).toBe(4); // reward by day, share of oracle by day, oracle share, sends by hour
  });

  it('omits the share-of-oracle panel, saying why, when the run has no oracle', async () => {
    const html = await renderReportHtml(summarize(only(await run(), ['heuristic', 'random'])));
    expect(html).toContain('No oracle in this run: add oracle to --policies to see the share of the oracle.');
    expect(html).not.toContain('reward as % of the oracle');
    expect(html).toContain('reward vs the heuristic');
    expect(html.match(/<svg/g)?.length).toBe(3); // reward by day, lift, sends by hour
  });

  it('says there is nothing to lift when the heuristic is the only policy', async () => {
    const html = await renderReportHtml(summarize(only(await run(), ['heuristic'])));
    expect(html).toContain('Only the heuristic in this run');
    expect(html).not.toContain('reward vs the heuristic');
    expect(html).toContain('No oracle in this run');
  });

  it('labels the last-week figures with the days they cover', () => {
    const summary = (lastWeekDays: [number, number]) => ({ lastWeekDays }) as SimulationSummary;
    expect(lastDaysLabel(summary([21, 27]))).toBe('last 7 days');
    expect(lastDaysLabel(summary([0, 2]))).toBe('last 3 days');
    expect(lastDaysLabel(summary([0, 0]))).toBe('last 1 day');
  });

  it('shows the warning of a run that sent nothing, and summary.json carries it', async () => {
    // Prepare: a population that never asks for a notification
    const silent = tinyPopulation((p) => {
      p.users = 30;
      p.requests.perUserPerDay = 0;
    });
    const result = await simulate({
      population: silent,
      config,
      days: 2,
      seeds: [1, 2],
      policies: buildPolicySpecs(['heuristic', 'random', 'oracle'], { population: silent, config }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'sto-report-'));
    // Act
    const { summaryFile, reportFile } = await writeReport(dir, summarize(result));
    // Assess
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    expect(summary.warnings[0]).toMatch(/^no notification was sent: the population made no notification request/);
    expect(summary.policies.random.shareOfOracle.mean).toBeNull();
    const html = readFileSync(reportFile, 'utf8');
    expect(html).toContain('class="warnings"');
    expect(html).toContain('no notification was sent: the population made no notification request');
    expect(html).not.toMatch(/NaN|undefined/);
    expect(html).toContain('No lift to show: it is not a number for any policy (see the warnings above)');
  });
});
