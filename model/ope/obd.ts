/**
 * Open Bandit Dataset (Saito et al., NeurIPS 2021 Datasets and Benchmarks): logged feedback
 * from ZOZOTOWN's fashion recommendations, where a uniform-random policy and a Bernoulli
 * Thompson sampling (BTS) policy ran side by side on random halves of the same traffic. That
 * makes it a real-data check of off-policy evaluation: estimate BTS's click rate from the random
 * log alone and compare with the rate BTS measured on its own traffic.
 *
 * Modelling choices, and why:
 *   - One row is one impression at one position (1..3). The action is the item; the position is
 *     context, because both logging policies fill every position on every impression, so the
 *     position distribution is the traffic's, not the policy's. The random logger's propensity
 *     is 1/34 per position (the file's `propensity_score`).
 *   - BTS's posterior moved during the week, so its logged propensities vary row to row. The
 *     target is its time-averaged distribution: the share of each item at each position in its
 *     own log. Policy value is linear in the policy, so this mixture has the value the moving
 *     policy had (on the position mix of the log it is evaluated on).
 *
 * Parsing is pure (`parseOpenBanditCsv`); `loadOpenBanditLog` reads the file at the path given.
 * Data stays where it is (../shared/data/obd): never copied into the repository.
 */
import { readFileSync } from 'node:fs';
import { OpenBanditDataError } from './errors.ts';
import { type EvaluationOptions, evaluatePolicy, type LoggedFeedback, type PolicyEvaluation } from './estimators.ts';
import { fitActionMeanRewardModel, fitRidgeRewardModel, type RewardModelFit } from './reward-model.ts';

export interface OpenBanditLog {
  /** where the rows came from (a path, or a name given to the parser) */
  readonly source: string;
  readonly rows: number;
  /** items in the campaign (34 for "men"): the number of user-item affinity columns */
  readonly itemCount: number;
  /** positions on the page (3) */
  readonly positionCount: number;
  /** epoch milliseconds */
  readonly timestamp: Float64Array;
  readonly item: Int32Array;
  /** 0-based: the file's position minus 1 */
  readonly position: Int32Array;
  readonly click: Uint8Array;
  /** the logging policy's probability of this item at this position */
  readonly propensity: Float64Array;
  /** hashed categorical user features, as integer codes per column (rows x names.length) */
  readonly userFeatures: {
    readonly names: readonly string[];
    readonly codes: Int32Array;
    readonly vocabularies: readonly (readonly string[])[];
  };
  /** user-item affinity (rows x itemCount) */
  readonly affinity: Float32Array;
}

/** A policy that is a fixed distribution over items at each position: `probs[position * itemCount + item]`. */
export interface PositionItemPolicy {
  readonly itemCount: number;
  readonly positionCount: number;
  readonly probs: Float64Array;
}

export type OpenBanditRewardModel = 'action-mean' | 'ridge';

export interface OpenBanditEvaluationOptions extends EvaluationOptions {
  /** reward model for DM and DR (default 'action-mean': per (position, item), shrunk to the position mean) */
  readonly rewardModel?: OpenBanditRewardModel;
  /** cross-fitting folds of the reward model (default 5) */
  readonly folds?: number;
}

export interface OpenBanditEvaluation {
  /** the target policy's click rate measured on its own log */
  readonly truth: { readonly clicks: number; readonly rows: number; readonly ctr: number };
  /** estimates from the evaluation log alone */
  readonly evaluation: PolicyEvaluation;
  readonly target: PositionItemPolicy;
  readonly rewardModel: RewardModelFit;
}

const REQUIRED_COLUMNS = ['timestamp', 'item_id', 'position', 'click', 'propensity_score'] as const;

/**
 * Parses an Open Bandit Dataset log (`<campaign>.csv`): unnamed index, timestamp, item_id,
 * position (1..3), click, propensity_score, user_feature_0..3, user-item_affinity_0..N-1.
 *
 * @example
 * const log = parseOpenBanditCsv(
 *   ',timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1\n' +
 *   '0,2019-11-24 00:03:13.44+00:00,1,2,0,0.5,abc,0.0,1.0\n',
 *   'inline',
 * );
 * log.item[0] // 1; log.position[0] // 1 (0-based)
 */
export function parseOpenBanditCsv(text: string, source = 'csv'): OpenBanditLog {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').replace(/\r$/, '').split(',');
  const column = new Map(header.map((name, index) => [name, index]));
  for (const name of REQUIRED_COLUMNS) {
    if (!column.has(name)) throw new OpenBanditDataError(source, `missing column "${name}" in the header`, 1);
  }
  const userColumns = header.filter((name) => /^user_feature_\d+$/.test(name));
  const affinityColumns = header
    .map((name, index) => ({ match: /^user-item_affinity_(\d+)$/.exec(name), index }))
    .filter((c) => c.match)
    .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]));
  const itemCount = affinityColumns.length;
  if (itemCount === 0) throw new OpenBanditDataError(source, 'no user-item_affinity_<item> columns in the header', 1);
  affinityColumns.forEach((c, j) => {
    if (Number(c.match?.[1]) !== j) throw new OpenBanditDataError(source, `affinity columns skip item ${j}`, 1);
  });

  const body: string[] = [];
  const lineNumbers: number[] = [];
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l].replace(/\r$/, '');
    if (line.length === 0) continue;
    body.push(line);
    lineNumbers.push(l + 1);
  }
  const n = body.length;
  if (n === 0) throw new OpenBanditDataError(source, 'has a header but no rows');
  const timestamp = new Float64Array(n);
  const item = new Int32Array(n);
  const position = new Int32Array(n);
  const click = new Uint8Array(n);
  const propensity = new Float64Array(n);
  const codes = new Int32Array(n * userColumns.length);
  const vocabularies = userColumns.map(() => new Map<string, number>());
  const affinity = new Float32Array(n * itemCount);
  const at = (name: string) => column.get(name) as number;
  const userIndex = userColumns.map(at);
  let positionCount = 0;

  for (let i = 0; i < n; i++) {
    const line = lineNumbers[i];
    const fields = body[i].split(',');
    if (fields.length !== header.length) {
      throw new OpenBanditDataError(source, `has ${fields.length} fields, the header ${header.length}`, line);
    }
    const rawTime = fields[at('timestamp')];
    // "2019-11-24 00:03:13.442536+00:00": ISO 8601 once the space is a T.
    timestamp[i] = Date.parse(rawTime.replace(' ', 'T'));
    if (Number.isNaN(timestamp[i])) throw new OpenBanditDataError(source, `timestamp "${rawTime}" is not a date`, line);
    item[i] = integerField(fields[at('item_id')], 'item_id', 0, itemCount - 1, source, line);
    const p = integerField(fields[at('position')], 'position', 1, Number.MAX_SAFE_INTEGER, source, line);
    position[i] = p - 1;
    if (p > positionCount) positionCount = p;
    click[i] = integerField(fields[at('click')], 'click', 0, 1, source, line);
    const prob = Number(fields[at('propensity_score')]);
    if (!(prob > 0 && prob <= 1)) {
      throw new OpenBanditDataError(
        source,
        `propensity_score "${fields[at('propensity_score')]}" is not in (0, 1]`,
        line,
      );
    }
    propensity[i] = prob;
    for (let u = 0; u < userIndex.length; u++) {
      const vocabulary = vocabularies[u];
      const value = fields[userIndex[u]];
      let code = vocabulary.get(value);
      if (code === undefined) {
        code = vocabulary.size;
        vocabulary.set(value, code);
      }
      codes[i * userIndex.length + u] = code;
    }
    for (let j = 0; j < itemCount; j++) {
      const raw = fields[affinityColumns[j].index];
      const v = Number(raw);
      if (raw === '' || !Number.isFinite(v)) {
        throw new OpenBanditDataError(source, `user-item_affinity_${j} "${raw}" is not a number`, line);
      }
      affinity[i * itemCount + j] = v;
    }
  }
  return {
    source,
    rows: n,
    itemCount,
    positionCount,
    timestamp,
    item,
    position,
    click,
    propensity,
    userFeatures: { names: userColumns, codes, vocabularies: vocabularies.map((v) => [...v.keys()]) },
    affinity,
  };
}

/**
 * Reads and parses an Open Bandit Dataset log from the path given (relative paths resolve
 * against the working directory).
 *
 * @example
 * const random = loadOpenBanditLog('../shared/data/obd/random/men/men.csv');
 * random.rows // 10000
 */
export function loadOpenBanditLog(path: string): OpenBanditLog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new OpenBanditDataError(path, `cannot be read (${(cause as Error).message})`, undefined, { cause });
  }
  return parseOpenBanditCsv(text, path);
}

/**
 * A log's own time-averaged policy: the share of each item among the rows at each position.
 * For a context-free logger (both OBD policies are) this is the distribution it served.
 *
 * @example
 * const bts = positionItemShares(loadOpenBanditLog('../shared/data/obd/bts/men/men.csv'));
 * bts.probs[0 * bts.itemCount + 13] // BTS's share of item 13 at position 1
 */
export function positionItemShares(log: OpenBanditLog): PositionItemPolicy {
  const { itemCount, positionCount } = log;
  const probs = new Float64Array(positionCount * itemCount);
  const perPosition = new Float64Array(positionCount);
  for (let i = 0; i < log.rows; i++) {
    probs[log.position[i] * itemCount + log.item[i]]++;
    perPosition[log.position[i]]++;
  }
  for (let p = 0; p < positionCount; p++) {
    if (perPosition[p] === 0) throw new OpenBanditDataError(log.source, `has no rows at position ${p + 1}`);
    for (let a = 0; a < itemCount; a++) probs[p * itemCount + a] /= perPosition[p];
  }
  return { itemCount, positionCount, probs };
}

/**
 * Logged feedback for evaluating a per-position item policy on an OBD log: action = item,
 * reward = click, propensity = the log's propensity_score, target = the policy's distribution
 * at the row's position.
 *
 * @example
 * const feedback = feedbackFromOpenBanditLog(random, positionItemShares(bts));
 * evaluatePolicy(feedback).snips
 */
export function feedbackFromOpenBanditLog(
  log: OpenBanditLog,
  target: PositionItemPolicy,
  rewardModel?: Float64Array,
): LoggedFeedback {
  if (target.itemCount !== log.itemCount) {
    throw new OpenBanditDataError(log.source, `has ${log.itemCount} items, the target policy ${target.itemCount}`);
  }
  if (target.positionCount < log.positionCount) {
    throw new OpenBanditDataError(
      log.source,
      `has ${log.positionCount} positions, the target policy covers ${target.positionCount}`,
    );
  }
  const k = log.itemCount;
  const targetProbs = new Float64Array(log.rows * k);
  for (let i = 0; i < log.rows; i++) {
    targetProbs.set(target.probs.subarray(log.position[i] * k, (log.position[i] + 1) * k), i * k);
  }
  return {
    actionCount: k,
    action: log.item,
    reward: log.click,
    propensity: log.propensity,
    targetProbs,
    ...(rewardModel && { rewardModel }),
  };
}

/**
 * Context features of each row for a feature-based reward model: position one-hot, one-hot of
 * each hashed user feature, and the user-item affinities.
 *
 * @example
 * const { features, featureCount } = openBanditFeatures(random);
 * featureCount // 3 positions + 25 user-feature values + 34 affinities = 62 on "men"
 */
export function openBanditFeatures(log: OpenBanditLog): {
  features: Float64Array;
  featureCount: number;
  names: string[];
} {
  const names: string[] = [];
  for (let p = 0; p < log.positionCount; p++) names.push(`position=${p + 1}`);
  const offsets: number[] = [];
  log.userFeatures.names.forEach((name, u) => {
    offsets.push(names.length);
    for (const value of log.userFeatures.vocabularies[u]) names.push(`${name}=${value}`);
  });
  const affinityOffset = names.length;
  for (let j = 0; j < log.itemCount; j++) names.push(`user-item_affinity_${j}`);
  const d = names.length;
  const u = log.userFeatures.names.length;
  const features = new Float64Array(log.rows * d);
  for (let i = 0; i < log.rows; i++) {
    const row = i * d;
    features[row + log.position[i]] = 1;
    for (let f = 0; f < u; f++) features[row + offsets[f] + log.userFeatures.codes[i * u + f]] = 1;
    for (let j = 0; j < log.itemCount; j++) features[row + affinityOffset + j] = log.affinity[i * log.itemCount + j];
  }
  return { features, featureCount: d, names };
}

/**
 * The classic OBD experiment: estimate, from `evaluationLog` alone, the click rate of the policy
 * that produced `targetLog` (its time-averaged per-position item distribution), next to the
 * click rate `targetLog` measured on its own traffic. DM and DR use a cross-fitted reward model
 * fitted on `evaluationLog`.
 *
 * @example
 * const { truth, evaluation } = evaluateOpenBanditPolicy(
 *   loadOpenBanditLog('../shared/data/obd/random/men/men.csv'),
 *   loadOpenBanditLog('../shared/data/obd/bts/men/men.csv'),
 *   { resamples: 2000, seed: 7 },
 * );
 * truth.ctr // 0.0069; evaluation.snips / evaluation.dr: estimate with a 95% interval
 */
export function evaluateOpenBanditPolicy(
  evaluationLog: OpenBanditLog,
  targetLog: OpenBanditLog,
  options: OpenBanditEvaluationOptions = {},
): OpenBanditEvaluation {
  const target = positionItemShares(targetLog);
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 0;
  const model =
    (options.rewardModel ?? 'action-mean') === 'ridge'
      ? fitRidgeRewardModel(
          {
            actionCount: evaluationLog.itemCount,
            action: evaluationLog.item,
            reward: evaluationLog.click,
            ...openBanditFeatures(evaluationLog),
          },
          { folds, seed },
        )
      : fitActionMeanRewardModel(
          {
            actionCount: evaluationLog.itemCount,
            action: evaluationLog.item,
            reward: evaluationLog.click,
            stratum: evaluationLog.position,
          },
          { folds, seed },
        );
  const feedback = feedbackFromOpenBanditLog(evaluationLog, target, model.predictions);
  let clicks = 0;
  for (let i = 0; i < targetLog.rows; i++) clicks += targetLog.click[i];
  return {
    truth: { clicks, rows: targetLog.rows, ctr: clicks / targetLog.rows },
    evaluation: evaluatePolicy(feedback, options),
    target,
    rewardModel: model,
  };
}

function integerField(raw: string, name: string, min: number, max: number, source: string, line: number): number {
  const v = Number(raw);
  if (raw === '' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new OpenBanditDataError(source, `${name} "${raw}" is not an integer ${range}`, line);
  }
  return v;
}
