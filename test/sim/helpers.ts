/** Small worlds for fast simulator tests. */
import { defaultConfig } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import type { SimulationResult } from '#sim/engine.ts';
import { loadPopulationFile, type Population, shippedPopulationPath } from '#sim/population.ts';
import type { SimulationSummary } from '#sim/summary.ts';

/** The default population at a size a test runs in a second or two. */
export function tinyPopulation(overrides: (p: Population) => void = () => {}): Population {
  const population = loadPopulationFile(shippedPopulationPath('default'));
  population.users = 120;
  population.coldStart.warmupDays = 7;
  population.coldStart.newUsersPerDay = 3;
  overrides(population);
  return population;
}

export function testConfig(): AnalystConfig {
  return defaultConfig();
}

/** A result without wall-clock timings, which differ between identical runs. */
export function withoutTimings(result: SimulationResult): unknown {
  return {
    ...result,
    wallMs: 0,
    runs: result.runs.map((r) => ({
      ...r,
      policies: Object.fromEntries(
        Object.entries(r.policies).map(([name, t]) => [name, { ...t, decideMs: 0, learnMs: 0 }]),
      ),
    })),
  };
}

/** A summary without its wall-clock timings. */
export function summaryWithoutTimings(summary: SimulationSummary): unknown {
  return {
    ...summary,
    wallSeconds: 0,
    policies: Object.fromEntries(
      Object.entries(summary.policies).map(([name, p]) => [name, { ...p, decideMicrosPerRequest: 0 }]),
    ),
  };
}
