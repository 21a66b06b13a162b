import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulate } from '#sim/engine.ts';
import { buildPolicySpecs } from '#sim/policies.ts';
import { writeReport } from '#sim/report.ts';
import { summarize } from '#sim/summary.ts';
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
  });
});
