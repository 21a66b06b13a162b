/**
 * `sto evaluate` end to end on a simulated decision log with known truth (a uniform-random logger on the
 * default population; the simulator knows every arm's expected reward), the closed form of a target equal
 * to the logger, the progressive and frozen bandit targets, a baseline config, and refusals of bad input.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '#config/load.ts';
import type { DecisionLogRow } from '#lambdas/shared/decision-log.ts';
import { initTensorBackend } from '#model/bandit/index.ts';
import { heuristicPolicy, randomPolicy } from '#model/heuristic.ts';
import { SendTimePolicy } from '#model/policy.ts';
import { computeReward } from '#model/reward.ts';
import { loadPopulationFile, shippedPopulationPath } from '#sim/population.ts';
import { captureCliOutput } from '#test/helpers/cli-output.ts';
import { fixtureDecisions, fixtureRows, toJsonl } from '#test/helpers/decision-log-fixtures.ts';
import { type SimulatedLog, simulatedDecisionLog } from '#test/helpers/simulated-decision-log.ts';
import type { OfflineEvaluation } from '../../cli/analysis/offline-evaluation.ts';
import { main } from '../../cli/main.ts';

const config = defaultConfig();
let dir: string;
const { out, err } = captureCliOutput();
let sim: SimulatedLog;
let simFile: string;

beforeAll(async () => {
  await initTensorBackend();
  const population = loadPopulationFile(shippedPopulationPath('default'));
  population.users = 600;
  sim = await simulatedDecisionLog({
    population,
    config,
    days: 14,
    seed: 3,
    logger: (c) => randomPolicy(c),
    target: (c) => heuristicPolicy(c),
  });
  simFile = join(mkdtempSync(join(tmpdir(), 'sto-evaluate-sim-')), 'log.jsonl');
  writeFileSync(simFile, toJsonl(sim.rows));
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sto-evaluate-'));
});

const sto = (...args: string[]) => main(['node', 'sto', ...args]);
const readResult = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as OfflineEvaluation;
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe('sto evaluate on a simulated log with known truth', () => {
  it("puts the heuristic's true value on the logged contexts inside the SNIPS and DR intervals, and calls it better", async () => {
    // Prepare: the simulator's truth; the heuristic is really better than the random logger
    expect(sim.rewardedRows).toBeGreaterThan(5000);
    expect(sim.truth.target - sim.truth.logger).toBeGreaterThan(0.015);
    const file = join(dir, 'heuristic.json');

    // Act
    const code = await sto(
      'evaluate',
      '--logs',
      simFile,
      '--config',
      'config/default.json',
      '--policy',
      'heuristic',
      '--out',
      file,
    );

    // Assess
    expect(err()).toBe('');
    expect(code).toBe(0);
    const result = readResult(file);
    expect(result.logs.evaluated).toBe(sim.rewardedRows);
    const { snips, dr, ips } = result.candidate.estimates;
    for (const e of [snips, dr, ips]) {
      expect(e?.low).toBeLessThanOrEqual(sim.truth.target);
      expect(e?.high).toBeGreaterThanOrEqual(sim.truth.target);
    }
    // the difference against the logger's own mean covers the true difference, and its lower bound is above 0
    const trueDifference = sim.truth.target - sim.truth.logger;
    expect(result.comparison.difference.low).toBeLessThanOrEqual(trueDifference);
    expect(result.comparison.difference.high).toBeGreaterThanOrEqual(trueDifference);
    expect(result.comparison.verdict).toBe('better');
    expect(result.answer).toMatch(/^Would the candidate beat the current \(logging\) policy\? Yes: the lower bound/);
    expect(out()).toContain(result.answer);
    expect(result.candidate.weights.effectiveSampleSize).toBeGreaterThan(300);
    expect(result.bootstrap.unit).toMatch(/^users \(\d+ clusters\)/);
  });

  it('returns the logged mean, exactly, for IPS and SNIPS when the target is the logging policy itself', async () => {
    const file = join(dir, 'random.json');
    expect(
      await sto('evaluate', '--logs', simFile, '--config', 'config/default.json', '--policy', 'random', '--out', file),
    ).toBe(0);
    const result = readResult(file);
    const rows = sim.rows.filter((r) => r.status === 'sent' && r.rewardClosed);
    const mean =
      rows.reduce(
        (a, r) => a + computeReward(r.rewardEvents ?? [], config.reward) - config.channels[r.channel as 'email'].cost,
        0,
      ) / rows.length;
    expect(result.candidate.estimates.ips.estimate).toBeCloseTo(mean, 12);
    expect(result.candidate.estimates.snips.estimate).toBeCloseTo(mean, 12);
    expect(result.candidate.weights).toMatchObject({ max: 1, mean: 1 });
    // the verdict uses DR, which adds its reward model's noise to the same rows: small, not exactly 0
    expect(result.comparison.difference.estimate).toBeCloseTo(
      (result.candidate.estimates.dr?.estimate as number) - mean,
      12,
    );
    expect(Math.abs(result.comparison.difference.estimate)).toBeLessThan(0.002);
    expect(result.candidate.warnings).toEqual([]);
  });

  it('replays the bandit learning progressively, and says why IPS stays valid', async () => {
    const file = join(dir, 'bandit.json');
    expect(
      await sto('evaluate', '--logs', simFile, '--config', 'config/default.json', '--out', file, '--resamples', '200'),
    ).toBe(0);
    const result = readResult(file);
    expect(result.candidate.policy).toBe('bandit');
    expect(result.candidate.model).toMatch(
      /learns progressively .* depends only on rows decided before t and IPS stays unbiased/,
    );
    // it learns every reward of the log, the last ones after the last block
    expect(result.candidate.learnedRows).toBe(sim.rewardedRows);
    for (const e of Object.values(result.candidate.estimates)) expect(Number.isFinite(e.estimate)).toBe(true);
    expect(result.candidate.estimates.dr?.low).toBeLessThan(result.candidate.estimates.dr?.high as number);
  });

  it('compares with a baseline config replayed the same way, paired on the same rows', async () => {
    const file = join(dir, 'vs.json');
    const code = await sto(
      'evaluate',
      '--logs',
      simFile,
      '--config',
      'config/default.json',
      '--policy',
      'heuristic',
      '--baseline',
      'config/default.json',
      '--baseline-policy',
      'random',
      '--out',
      file,
    );
    expect(code).toBe(0);
    const result = readResult(file);
    if ('kind' in result.baseline) throw new Error('expected a replayed baseline');
    expect(result.baseline.policy).toBe('random');
    expect(result.comparison.estimator).toBe('dr');
    expect(result.comparison.difference.estimate).toBeCloseTo(
      (result.candidate.estimates.dr?.estimate as number) - (result.baseline.estimates.dr?.estimate as number),
      12,
    );
    expect(result.answer).toMatch(/^Would the candidate beat the baseline config\?/);
  });
});

describe('sto evaluate with a frozen model', () => {
  it('evaluates the state given, learning nothing; a model-table item works as well', async () => {
    // Prepare: a state that has learned a little, saved both ways
    const policy = SendTimePolicy.create(config);
    const log = fixtureDecisions({ config, count: 60 });
    policy.learn(
      log.flatMap((d, i) =>
        d.item.channel && d.item.sendAt !== undefined
          ? [{ features: policy.armRow(d.input, d.item.channel, d.item.sendAt), reward: i % 2 }]
          : [],
      ),
    );
    const state = policy.serialize();
    policy.dispose();
    const plain = write('model.json', JSON.stringify(state));
    const item = write(
      'item.json',
      JSON.stringify({ modelId: 'send-time-policy', version: 3, state: JSON.stringify(state) }),
    );
    const logs = write('log.jsonl', toJsonl(fixtureRows(log)));

    // Act
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    expect(await sto('evaluate', '--logs', logs, '--config', 'config/default.json', '--model', plain, '--out', a)).toBe(
      0,
    );
    expect(await sto('evaluate', '--logs', logs, '--config', 'config/default.json', '--model', item, '--out', b)).toBe(
      0,
    );

    // Assess
    const first = readResult(a);
    expect(first.candidate.model).toBe(`frozen state from ${plain} (${state.bandit.updates} rewards learned)`);
    expect(first.candidate.learnedRows).toBeUndefined();
    expect(readResult(b).candidate.estimates).toEqual(first.candidate.estimates);
  });

  it('refuses a model of another algorithm than the config, with exit code 2', async () => {
    const policy = SendTimePolicy.create(config);
    const model = write('model.json', JSON.stringify(policy.serialize()));
    policy.dispose();
    const linucb = write(
      'linucb.json',
      JSON.stringify({ ...structuredClone(config), bandit: { algorithm: 'linucb' } }),
    );
    const logs = write('log.jsonl', toJsonl(fixtureRows(fixtureDecisions({ config, count: 10 }))));
    expect(await sto('evaluate', '--logs', logs, '--config', linucb, '--model', model)).toBe(2);
    expect(err()).toContain(`model ${model} cannot serve config`);
    expect(err()).toContain('leave out --model');
  });
});

describe('sto evaluate refuses bad input with a clear message and exit code 2', () => {
  const rows = () => fixtureRows(fixtureDecisions({ config, count: 5 }));

  it('a missing log file', async () => {
    expect(await sto('evaluate', '--logs', join(dir, 'missing.jsonl'), '--config', 'config/default.json')).toBe(2);
    expect(err()).toContain(`Cannot read decision log ${join(dir, 'missing.jsonl')}`);
  });

  it('a malformed JSONL line, by its line number', async () => {
    const [a, b] = rows();
    const logs = write('bad.jsonl', `${JSON.stringify(a)}\n${JSON.stringify(b)}\nnot json at all\n`);
    expect(await sto('evaluate', '--logs', logs, '--config', 'config/default.json')).toBe(2);
    expect(err()).toContain(`Decision log ${logs}, line 3: not valid JSON`);
  });

  it('a bad candidate config, with the path and reason of each bad field', async () => {
    const bad = structuredClone(config) as unknown as {
      bandit: { explorationFloor: number };
      channels: { sms: { cost: number } };
    };
    bad.bandit.explorationFloor = 2;
    bad.channels.sms.cost = -1;
    const candidate = write('candidate.json', JSON.stringify(bad));
    const logs = write('log.jsonl', toJsonl(rows()));
    expect(await sto('evaluate', '--logs', logs, '--config', candidate)).toBe(2);
    expect(err()).toContain(`Invalid config in ${candidate}`);
    expect(err()).toMatch(/bandit\.explorationFloor: /);
    expect(err()).toMatch(/channels\.sms\.cost: /);
  });

  it('a log with no rewarded decision, saying why each row was left out', async () => {
    const pending: DecisionLogRow[] = rows().map((r, i) =>
      i < 3 ? { ...r, rewardClosed: false } : { ...r, holdout: true },
    );
    const logs = write('pending.jsonl', toJsonl(pending));
    expect(await sto('evaluate', '--logs', logs, '--config', 'config/default.json')).toBe(2);
    expect(err()).toContain(
      `Decision log ${logs} has no decision to evaluate on (sent, reward final, not holdout): 5 rows`,
    );
    expect(err()).toContain('3 sent, but the attribution window has not closed');
    expect(err()).toContain('2 holdout decisions');
  });

  it('an unknown policy name', async () => {
    const logs = write('log.jsonl', toJsonl(rows()));
    expect(await sto('evaluate', '--logs', logs, '--config', 'config/default.json', '--policy', 'oracle')).toBe(2);
    expect(err()).toContain('--policy must be one of bandit, heuristic, fixed-hour, random, holdout, got "oracle"');
  });
});
