/**
 * `npm run bench evaluate`: rows per second of `sto evaluate`'s engine (cli/analysis/offline-evaluation.ts)
 * on a simulated decision log (default population, 600 users, 14 days, uniform-random logger): replay of
 * the target, reward model, four estimators with 1,000 bootstrap resamples over users. The simulation
 * that makes the log is not timed.
 */
import { defaultConfig } from '#config/load.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { heuristicPolicy, randomPolicy } from '#model/heuristic.ts';
import { loadPopulationFile, shippedPopulationPath } from '#sim/population.ts';
import { simulatedDecisionLog } from '#test/helpers/simulated-decision-log.ts';
import { evaluateOnLog, type ReplayPolicyName } from '../cli/analysis/offline-evaluation.ts';

export async function run(): Promise<Record<string, unknown>> {
  await initTensorBackend();
  const config = defaultConfig();
  const population = loadPopulationFile(shippedPopulationPath('default'));
  population.users = 600;
  const log = await simulatedDecisionLog({
    population,
    config,
    days: 14,
    seed: 1,
    logger: (c) => randomPolicy(c),
    target: (c) => heuristicPolicy(c),
  });
  const out: Record<string, unknown> = { logRows: log.rows.length, evaluatedRows: log.rewardedRows };
  const cases: { name: string; policy: ReplayPolicyName }[] = [
    { name: 'heuristic', policy: 'heuristic' },
    { name: 'bandit (linear-ts, progressive)', policy: 'bandit' },
  ];
  for (const c of cases) {
    evaluateOnLog(log.rows, { config, policy: c.policy }, undefined, { resamples: 100 }); // warm-up
    const started = performance.now();
    const result = evaluateOnLog(log.rows, { config, policy: c.policy }, undefined, { resamples: 1000 });
    const seconds = (performance.now() - started) / 1000;
    out[c.name] = {
      seconds: Number(seconds.toFixed(2)),
      rowsPerSecond: Math.round(log.rows.length / seconds),
      evaluatedRowsPerSecond: Math.round(result.logs.evaluated / seconds),
    };
  }
  return out;
}
