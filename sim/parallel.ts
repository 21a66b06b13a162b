/**
 * Runs the seeds of a simulation on several worker threads. Seeds are independent replicates, so a
 * machine with k cores finishes k of them in the time of one; the merged result is the same as one
 * process would produce (every seed's world depends on its seed alone).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AnalystConfig } from '#config/schema.ts';
import { createBanditFactory } from './bandit.ts';
import { type SimulationResult, simulate } from './engine.ts';
import { SimulationError } from './errors.ts';
import { type BanditVariant, buildPolicySpecs } from './policies.ts';
import type { Population } from './population.ts';

/** Everything a worker needs, as plain data (policies are rebuilt from their names in each worker). */
export interface SimulationJob {
  population: Population;
  config: AnalystConfig;
  policyNames: string[];
  bandits?: BanditVariant[];
  days: number;
  seeds: number[];
}

export type WorkerMessage =
  | { type: 'progress'; seed: number; day: number }
  | { type: 'done'; result: SimulationResult }
  | { type: 'failed'; message: string; stack?: string };

/**
 * Runs a job in this thread.
 * @example const result = await runJob({ population, config, policyNames: ['heuristic', 'oracle'], days: 7, seeds: [1] });
 */
export async function runJob(
  job: SimulationJob,
  onDay?: (seed: number, day: number) => void,
): Promise<SimulationResult> {
  const needsBandit = job.policyNames.includes('bandit');
  const policies = buildPolicySpecs(job.policyNames, {
    population: job.population,
    config: job.config,
    bandits: job.bandits,
    banditFactory: needsBandit ? await createBanditFactory() : undefined,
  });
  return simulate({
    population: job.population,
    config: job.config,
    policies,
    days: job.days,
    seeds: job.seeds,
    onProgress: (p) => onDay?.(p.seed, p.day),
  });
}

/** Merges results of disjoint seed sets (same population, config, days, policies), seeds in the job's order. */
export function mergeResults(parts: SimulationResult[], seeds: readonly number[], wallMs: number): SimulationResult {
  const runs = parts.flatMap((p) => p.runs);
  runs.sort((a, b) => seeds.indexOf(a.seed) - seeds.indexOf(b.seed));
  return { ...parts[0], seeds: [...seeds], runs, wallMs };
}

/**
 * Runs a job's seeds on up to `jobs` worker threads (in this thread when 1).
 * @example const result = await simulateInParallel(job, { jobs: 2, onProgress: (done, total) => bar.update(done) });
 */
export async function simulateInParallel(
  job: SimulationJob,
  options: { jobs?: number; onProgress?: (done: number, total: number, seed: number, day: number) => void } = {},
): Promise<SimulationResult> {
  const started = performance.now();
  const total = job.seeds.length * job.days;
  let done = 0;
  const tick = (seed: number, day: number) => options.onProgress?.(++done, total, seed, day);
  const jobs = Math.max(1, Math.min(options.jobs ?? availableParallelism(), job.seeds.length));
  if (jobs === 1) {
    const result = await runJob(job, tick);
    return { ...result, wallMs: performance.now() - started };
  }
  // Round-robin, so each worker gets early and late seeds alike.
  const groups: number[][] = Array.from({ length: jobs }, () => []);
  job.seeds.forEach((seed, i) => {
    groups[i % jobs].push(seed);
  });
  const tsx = import.meta.resolve('tsx');
  const parts = await Promise.all(
    groups.map(
      (seeds) =>
        new Promise<SimulationResult>((resolve, reject) => {
          // The worker is TypeScript: load it through tsx whatever started this process.
          const worker = new Worker(new URL('./worker.ts', import.meta.url), {
            execArgv: ['--import', tsx],
            workerData: { ...job, seeds } satisfies SimulationJob,
          });
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'progress') tick(m.seed, m.day);
            else if (m.type === 'done') {
              resolve(m.result);
              void worker.terminate(); // a learner backend may keep the thread alive
            } else reject(new SimulationError(`simulation of seeds ${seeds.join(', ')} failed: ${m.message}`));
          });
          worker.on('error', reject);
          worker.on('exit', (code) => {
            // After 'done', terminate() exits with 1; the promise is settled by then and ignores it.
            if (code !== 0)
              reject(new SimulationError(`simulation worker for seeds ${seeds.join(', ')} exited with ${code}`));
          });
        }),
    ),
  );
  return mergeResults(parts, job.seeds, performance.now() - started);
}
