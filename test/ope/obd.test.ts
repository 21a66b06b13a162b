/**
 * Off-policy evaluation against reality: the Open Bandit Dataset's uniform-random log must
 * predict what Bernoulli Thompson sampling measured on its own half of the same traffic
 * (69 clicks in 10,000 impressions). The data is read in place from ../shared/data/obd.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OpenBanditDataError } from '#model/ope/errors.ts';
import { compareToBaseline, type IntervalEstimate } from '#model/ope/estimators.ts';
import {
  evaluateOpenBanditPolicy,
  feedbackFromOpenBanditLog,
  loadOpenBanditLog,
  openBanditFeatures,
  parseOpenBanditCsv,
  positionItemShares,
} from '#model/ope/obd.ts';
import { fitActionMeanRewardModel } from '#model/ope/reward-model.ts';

const obd = fileURLToPath(new URL('../../../shared/data/obd/', import.meta.url));
const random = loadOpenBanditLog(`${obd}random/men/men.csv`);
const bts = loadOpenBanditLog(`${obd}bts/men/men.csv`);

describe('loadOpenBanditLog', () => {
  it('reads the random and BTS logs of the men campaign as documented', () => {
    expect(random).toMatchObject({ rows: 10_000, itemCount: 34, positionCount: 3 });
    expect(random.click.reduce((s, c) => s + c, 0)).toBe(46);
    expect(random.propensity.every((p) => p === 1 / 34)).toBe(true);
    expect(new Set(random.position)).toEqual(new Set([0, 1, 2]));
    expect(random.userFeatures.names).toEqual(['user_feature_0', 'user_feature_1', 'user_feature_2', 'user_feature_3']);
    expect(random.timestamp[0]).toBe(Date.parse('2019-11-24T00:03:13.442Z'));

    expect(bts.rows).toBe(10_000);
    expect(bts.click.reduce((s, c) => s + c, 0)).toBe(69);
    expect(Math.min(...bts.propensity)).toBe(0.000165);
    expect(Math.max(...bts.propensity)).toBe(0.72529);
  });

  it('takes the BTS policy as its item shares per position', () => {
    const target = positionItemShares(bts);
    for (let p = 0; p < 3; p++) {
      const row = target.probs.subarray(p * 34, (p + 1) * 34);
      expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    }
    // BTS's favourite, item 13, holds 735 of the 3339 impressions at position 1
    expect(target.probs[13]).toBeCloseTo(735 / 3339, 12);
  });

  it('builds one-hot and affinity features', () => {
    const { featureCount, names, features } = openBanditFeatures(random);
    expect(featureCount).toBe(3 + 25 + 34);
    expect(names.slice(0, 3)).toEqual(['position=1', 'position=2', 'position=3']);
    expect(features.subarray(0, 3)).toEqual(new Float64Array([0, 0, 1])); // row 0 is at position 3
  });
});

describe('off-policy estimate of Bernoulli TS from the uniform-random log', () => {
  const row = (name: string, e: IntervalEstimate | undefined, truth: number) => ({
    estimator: name,
    estimate: e?.estimate.toFixed(5),
    low: e?.low.toFixed(5),
    high: e?.high.toFixed(5),
    truth: truth.toFixed(5),
    covers: e !== undefined && e.low <= truth && truth <= e.high,
  });

  it('holds the true 0.690% CTR inside the 95% intervals of SNIPS and DR', () => {
    // Act
    const { truth, evaluation } = evaluateOpenBanditPolicy(random, bts, { resamples: 2000, seed: 2019 });
    const ridge = evaluateOpenBanditPolicy(random, bts, { resamples: 2000, seed: 2019, rewardModel: 'ridge' });
    console.table([
      row('IPS', evaluation.ips, truth.ctr),
      row('SNIPS', evaluation.snips, truth.ctr),
      row('DM (cell means)', evaluation.dm, truth.ctr),
      row('DR (cell means)', evaluation.dr, truth.ctr),
      row('DM (ridge)', ridge.evaluation.dm, truth.ctr),
      row('DR (ridge)', ridge.evaluation.dr, truth.ctr),
    ]);
    console.log('importance weights', evaluation.weights, 'warnings', evaluation.warnings);

    // Assess
    expect(truth).toEqual({ clicks: 69, rows: 10_000, ctr: 0.0069 });
    expect(evaluation.snips.low).toBeLessThanOrEqual(truth.ctr);
    expect(evaluation.snips.high).toBeGreaterThanOrEqual(truth.ctr);
    expect(evaluation.dr?.low).toBeLessThanOrEqual(truth.ctr);
    expect(evaluation.dr?.high).toBeGreaterThanOrEqual(truth.ctr);
    // BTS stays inside the random logger's support: no deficiency, weights average about 1
    expect(evaluation.supportDeficit?.targetMass).toBe(0);
    expect(evaluation.weights.mean).toBeCloseTo(1, 1);
    expect(evaluation.warnings).toEqual([]);
  });
});

describe('compareToBaseline on the Open Bandit Dataset', () => {
  it('cannot tell Bernoulli TS from uniform random on 10,000 random rows: inconclusive', () => {
    // Prepare: both policies evaluated on the random log; the random policy's value is its mean CTR
    const q = fitActionMeanRewardModel(
      { actionCount: 34, action: random.item, reward: random.click, stratum: random.position },
      { seed: 2019 },
    );
    const uniform = { ...positionItemShares(random), probs: new Float64Array(3 * 34).fill(1 / 34) };
    // Act
    const result = compareToBaseline(
      feedbackFromOpenBanditLog(random, positionItemShares(bts), q.predictions),
      feedbackFromOpenBanditLog(random, uniform, q.predictions),
      { resamples: 2000, seed: 2019 },
    );
    console.log(result.summary);
    // Assess: BTS's true lift on this campaign is +0.0023, but 46 clicks cannot resolve it
    expect(result.estimator).toBe('dr');
    // DR of the logger on its own log is its mean CTR up to the cross-fitted model's residuals
    expect(result.baseline.estimate).toBeCloseTo(0.0046, 4);
    expect(result.difference.estimate).toBeGreaterThan(0);
    expect(result.verdict).toBe('inconclusive');
  });
});

describe('parseOpenBanditCsv', () => {
  const header =
    ',timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1';

  it('parses a minimal log', () => {
    const log = parseOpenBanditCsv(`${header}\r\n0,2019-11-24 00:00:01.5+00:00,1,2,1,0.5,abc,0.0,2.0\r\n`, 'inline');
    expect(log).toMatchObject({ rows: 1, itemCount: 2, positionCount: 2, source: 'inline' });
    expect([log.item[0], log.position[0], log.click[0], log.propensity[0]]).toEqual([1, 1, 1, 0.5]);
    expect([...log.affinity]).toEqual([0, 2]);
  });

  it.each([
    ['a missing column', header.replace(',click', ''), '', /missing column "click"/],
    ['a short row', header, '0,2019-11-24 00:00:01+00:00,1,2,1,0.5,abc,0.0', /line 2: has 8 fields, the header 9/],
    [
      'an unknown item',
      header,
      '0,2019-11-24 00:00:01+00:00,2,1,1,0.5,abc,0,0',
      /item_id "2" is not an integer in \[0, 1\]/,
    ],
    ['position 0', header, '0,2019-11-24 00:00:01+00:00,1,0,1,0.5,abc,0,0', /position "0" is not an integer >= 1/],
    ['a zero propensity', header, '0,2019-11-24 00:00:01+00:00,1,1,1,0,abc,0,0', /propensity_score "0" is not in/],
    ['a bad timestamp', header, '0,yesterday,1,1,1,0.5,abc,0,0', /timestamp "yesterday" is not a date/],
  ])('refuses %s, naming the line', (_, head, line, message) => {
    const act = () => parseOpenBanditCsv(`${head}\n${line}\n`, 'inline');
    expect(act).toThrow(OpenBanditDataError);
    expect(act).toThrow(message);
  });

  it('names the path it could not read', () => {
    expect(() => loadOpenBanditLog(`${obd}nowhere.csv`)).toThrow(/nowhere\.csv: cannot be read \(ENOENT/);
  });
});
