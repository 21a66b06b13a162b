/**
 * The send-time policy: guardrails -> features -> contextual bandit -> one (channel, send instant) per request.
 *
 * Every policy (the bandit, and the baselines in heuristic.ts) takes the same DecideInput and returns
 * the same SendDecision, with the chosen arm's feature row, its propensity and the policy and config
 * versions, so production logs, the holdout and the simulator treat them alike and any decision can be
 * evaluated off-policy later.
 *
 * Reward optimised: the engagement reward attributed to a decision (config reward.weights) minus the
 * cost of the channel it used (config channels.<c>.cost). `learn` takes the engagement reward and
 * subtracts the cost recorded in the row's channel_cost feature, i.e. the cost that applied when the
 * decision was made.
 *
 * Pure: no clock (nowMs is part of each input), no I/O; randomness only from the Rng passed in.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import { type ArmBatch, type ContextualBandit, createBandit, loadBandit } from '#model/bandit/index.ts';
import { type ArmLayout, armIndex, armLayout, armOf, resolveTimeZone, slotSchedule } from './arms.ts';
import { BanditContractError, InvalidDecideInputError } from './errors.ts';
import { FEATURE_DIMENSION, FeatureBuilder, type FeaturePriors } from './features.ts';
import { type ArmMask, allowedArms, type GuardrailInput, type NoArm, summariseBlocks } from './guardrails.ts';
import {
  checkedBanditState,
  checkLearnerDimension,
  type LearnRow,
  learningMatrix,
  policyVersionOf,
  type SerializedPolicy,
  serializedPolicy,
} from './policy-learning.ts';
import { hashString, type Rng } from './random.ts';

export {
  checkPolicyState,
  type LearnRow,
  netReward,
  PolicyLearner,
  type SerializedPolicy,
} from './policy-learning.ts';

// --- decisions -----------------------------------------------------------------------------------------

/** Everything a policy needs for one notification request (also what the guardrails read). */
export type DecideInput = GuardrailInput;

/** Which policy made a decision; 'oracle' is for simulations that know the hidden truth. */
export type PolicyName = 'bandit' | 'heuristic' | 'fixed-hour' | 'random' | 'oracle';

export interface SendArmDecision {
  kind: 'send';
  policy: PolicyName;
  userId: string;
  channel: ChannelName;
  slotIndex: number;
  armIndex: number;
  sendAtMs: number;
  /** zone the slot was read in (the user's, or the config default) */
  timeZone: string;
  /** probability the policy had of choosing this arm, in (0, 1] */
  propensity: number;
  explored: boolean;
  /** the chosen arm's feature row (FEATURE_DIMENSION floats), for the learner and the log */
  features: Float32Array;
  policyVersion: string;
  configVersion: string;
  /** how many arms the guardrails allowed */
  allowedArms: number;
}

export interface NoArmDecision extends NoArm {
  policy: PolicyName;
  userId: string;
  policyVersion: string;
  configVersion: string;
}

export type SendDecision = SendArmDecision | NoArmDecision;

/**
 * A policy's probability of choosing each arm for one input: what off-policy evaluation needs of a target
 * policy (model/ope: `targetProbs`). Arms in ArmLayout order (armIndex); masked arms have probability 0.
 */
export interface ArmDistribution {
  /** probability of each arm, summing to 1 over the allowed ones */
  probabilities: Float64Array;
  /** the guardrails' mask for the input: 1 = allowed */
  allowed: Uint8Array;
}

/** What every policy offers: a batch of inputs in, one decision per input out, in order. */
export interface NotificationPolicy {
  readonly name: PolicyName;
  readonly version: string;
  decide(inputs: readonly DecideInput[], rng: Rng): SendDecision[];
  /**
   * The distribution decide() draws each input's arm from, behind the same guardrails (undefined for an
   * input with no allowed arm). For the same rng state it is the distribution of the decide() call that would
   * have been made: the bandit's Thompson sampling uses the same K shared posterior samples, LinUCB and
   * epsilon-greedy their argmax with ties split plus epsilon and the exploration floor, the heuristic and
   * fixed-hour baselines put probability 1 on their arm, random is uniform over the allowed arms. So the entry
   * at the arm decide() picks is the propensity it logs.
   * @example const [dist] = policy.armDistributions([input], new Rng(7)); dist?.probabilities[loggedArm]
   */
  armDistributions?(inputs: readonly DecideInput[], rng: Rng): (ArmDistribution | undefined)[];
}

/**
 * The arm distributions of any policy that offers them (every policy in model/ does); a clear error for
 * one that does not.
 * @example const dists = armDistributionsOf(heuristicPolicy(config), inputs, new Rng(1));
 */
export function armDistributionsOf(
  policy: NotificationPolicy,
  inputs: readonly DecideInput[],
  rng: Rng,
): (ArmDistribution | undefined)[] {
  if (!policy.armDistributions) {
    throw new BanditContractError(`policy ${policy.name} (${policy.version}) cannot give its arm distributions`);
  }
  const out = policy.armDistributions(inputs, rng);
  if (out.length !== inputs.length) {
    throw new BanditContractError(`policy ${policy.name} gave ${out.length} distributions for ${inputs.length} inputs`);
  }
  return out;
}

/** A guardrail mask for one input, and where its feature rows sit in the batch (row -1: no arm allowed). */
export interface PreparedDecision {
  input: DecideInput;
  mask: ArmMask;
  row: number;
}

export interface PreparedBatch {
  decisions: PreparedDecision[];
  /** only the inputs with at least one allowed arm, in input order; views into reused buffers */
  batch: ArmBatch;
}

function validateInput(input: DecideInput): void {
  const userId = input.user?.userId ?? '(unknown)';
  if (!input.user) throw new InvalidDecideInputError(userId, 'user', 'is missing');
  if (!Number.isFinite(input.nowMs)) throw new InvalidDecideInputError(userId, 'nowMs', 'is not a finite instant');
  const w = input.request?.window;
  if (!w || Number.isNaN(w.notBeforeMs) || Number.isNaN(w.notAfterMs)) {
    throw new InvalidDecideInputError(userId, 'request.window', 'needs numeric notBeforeMs and notAfterMs');
  }
  if (typeof input.request.kind !== 'string') {
    throw new InvalidDecideInputError(userId, 'request.kind', 'is not a string');
  }
  if (!Array.isArray(input.request.allowedChannels)) {
    throw new InvalidDecideInputError(userId, 'request.allowedChannels', 'is not a list of channels');
  }
}

/**
 * Guardrails and features for a batch of inputs, written into buffers it reuses between calls
 * (the hot path allocates only when a batch is larger than any before). Shared by every policy.
 * @example
 *   const prep = new DecisionPreparer(config);
 *   const { decisions, batch } = prep.prepare(inputs); // batch.features: Float32Array [size * arms * d]
 */
export class DecisionPreparer {
  readonly layout: ArmLayout;
  private readonly builder: FeatureBuilder;
  private features = new Float32Array(0);
  private allowed = new Uint8Array(0);
  private scratch = new Float32Array(0);

  constructor(
    readonly config: AnalystConfig,
    priors?: FeaturePriors,
  ) {
    this.layout = armLayout(config.slots.grid);
    this.builder = new FeatureBuilder(config, priors);
  }

  prepare(inputs: readonly DecideInput[]): PreparedBatch {
    const arms = this.layout.armCount;
    const stride = arms * FEATURE_DIMENSION;
    const decisions: PreparedDecision[] = [];
    let rows = 0;
    for (const input of inputs) {
      validateInput(input);
      const mask = allowedArms(input, this.config);
      decisions.push({ input, mask, row: mask.allowedCount > 0 ? rows++ : -1 });
    }
    if (this.features.length < rows * stride) {
      this.features = new Float32Array(rows * stride);
      this.allowed = new Uint8Array(rows * arms);
    }
    for (const d of decisions) {
      if (d.row < 0) continue;
      this.builder.writeArms(this.features, d.row * stride, {
        user: d.input.user,
        nowMs: d.input.nowMs,
        kind: d.input.request.kind,
        schedule: d.mask.schedule,
        recentSends: d.input.recentSends,
      });
      this.allowed.set(d.mask.allowed, d.row * arms);
    }
    return {
      decisions,
      batch: {
        size: rows,
        arms,
        dimension: FEATURE_DIMENSION,
        features: this.features.subarray(0, rows * stride),
        allowed: this.allowed.subarray(0, rows * arms),
      },
    };
  }

  /**
   * The feature row the arm (channel, send instant nearest `sendAtMs`) has for this input, whether the
   * guardrails allow it or not: to rebuild the context of sends this policy did not decide (a legacy
   * campaign's log) and learn from them.
   * @example prep.armRow({ user, request, nowMs: sentAt, recentSends }, 'email', sentAt)
   */
  armRow(input: DecideInput, channel: ChannelName, sendAtMs: number): Float32Array {
    validateInput(input);
    const schedule = slotSchedule(this.layout, {
      nowMs: input.nowMs,
      timeZone: resolveTimeZone(input.user.timeZone, this.config.guardrails.defaultTimeZone),
      notBeforeMs: input.request.window.notBeforeMs,
      notAfterMs: input.request.window.notAfterMs,
      horizonDays: this.config.slots.horizonDays,
    });
    const stride = this.layout.armCount * FEATURE_DIMENSION;
    if (this.scratch.length < stride) this.scratch = new Float32Array(stride);
    this.builder.writeArms(this.scratch, 0, {
      user: input.user,
      nowMs: input.nowMs,
      kind: input.request.kind,
      schedule,
      recentSends: input.recentSends,
    });
    let slot = 0;
    for (let s = 1; s < this.layout.slotCount; s++) {
      if (Math.abs(schedule.sendAtMs[s] - sendAtMs) < Math.abs(schedule.sendAtMs[slot] - sendAtMs)) slot = s;
    }
    const start = armIndex(this.layout, channel, slot) * FEATURE_DIMENSION;
    return this.scratch.slice(start, start + FEATURE_DIMENSION);
  }

  /** A copy of one arm's feature row (the batch buffers are reused by the next prepare). */
  featureRow(batch: ArmBatch, row: number, arm: number): Float32Array {
    const start = (row * batch.arms + arm) * batch.dimension;
    return batch.features.slice(start, start + batch.dimension);
  }
}

/**
 * Builds the decision record for a chosen arm (shared by every policy so they log alike).
 * @example sendDecision(prep, batch, prepared, arm, { policy: 'random', propensity: 1 / 39, explored: true, policyVersion: 'random/1' })
 */
export function sendDecision(
  prep: DecisionPreparer,
  batch: ArmBatch,
  d: PreparedDecision,
  arm: number,
  choice: { policy: PolicyName; propensity: number; explored: boolean; policyVersion: string },
): SendArmDecision {
  const { channel, slotIndex } = armOf(prep.layout, arm);
  return {
    kind: 'send',
    policy: choice.policy,
    userId: d.input.user.userId,
    channel,
    slotIndex,
    armIndex: arm,
    sendAtMs: d.mask.schedule.sendAtMs[slotIndex],
    timeZone: d.mask.timeZone,
    propensity: choice.propensity,
    explored: choice.explored,
    features: prep.featureRow(batch, d.row, arm),
    policyVersion: choice.policyVersion,
    configVersion: prep.config.version,
    allowedArms: d.mask.allowedCount,
  };
}

/**
 * The `no_arm` record for an input no arm of which passes the guardrails.
 * @example noArmDecision(prep, prepared, 'heuristic', 'heuristic/1/h10') // { kind: 'no_arm', reasons: {...}, ... }
 */
export function noArmDecision(
  prep: DecisionPreparer,
  d: PreparedDecision,
  policy: PolicyName,
  policyVersion: string,
): NoArmDecision {
  return {
    ...summariseBlocks(d.mask),
    policy,
    userId: d.input.user.userId,
    policyVersion,
    configVersion: prep.config.version,
  };
}

// --- the bandit policy -----------------------------------------------------------------------------------

export interface PolicyOptions {
  /** population priors of the smoothed per-channel rates (features.ts) */
  priors?: FeaturePriors;
}

/**
 * The contextual-bandit send-time policy. Call initTensorBackend() (model/bandit) once before creating one.
 * @example
 *   await initTensorBackend();
 *   const policy = SendTimePolicy.create(config);
 *   const [d] = policy.decide([{ user, request, nowMs, recentSends }], new Rng(config.bandit.seed));
 *   if (d.kind === 'send') schedule(d.channel, d.sendAtMs);
 *   policy.learn([{ features: d.features, reward: 1 }]);
 */
export class SendTimePolicy implements NotificationPolicy {
  readonly name = 'bandit' as const;
  private readonly prep: DecisionPreparer;

  constructor(
    readonly config: AnalystConfig,
    private readonly bandit: ContextualBandit,
    priors?: FeaturePriors,
  ) {
    checkLearnerDimension(bandit.dimension);
    this.prep = new DecisionPreparer(config, priors);
  }

  /**
   * A policy with a fresh learner as config.bandit describes, or the learner of `state` when given.
   * @example const policy = SendTimePolicy.create(config, { state: JSON.parse(savedText) });
   */
  static create(config: AnalystConfig, options: PolicyOptions & { state?: SerializedPolicy } = {}): SendTimePolicy {
    if (options.state) return SendTimePolicy.load(config, options.state, options);
    return new SendTimePolicy(config, createBandit(config.bandit, FEATURE_DIMENSION), options.priors);
  }

  /**
   * Restores a saved policy under `config` (guardrails, slots and costs come from the config; the learner
   * and its parameters from the state). Refuses state of another feature layout, and state of another
   * algorithm than config.bandit.algorithm (switching algorithm means starting a new learner, on purpose).
   * @example const policy = SendTimePolicy.load(config, JSON.parse(savedText));
   */
  static load(config: AnalystConfig, state: SerializedPolicy, options: PolicyOptions = {}): SendTimePolicy {
    return new SendTimePolicy(config, loadBandit(checkedBanditState(config, state)), options.priors);
  }

  /** Changes whenever the model changes (learner state or feature layout); logged on every decision. */
  get version(): string {
    return policyVersionOf(this.bandit);
  }

  get layout(): ArmLayout {
    return this.prep.layout;
  }

  /**
   * The feature row of an arm for this input (see DecisionPreparer.armRow): to learn from a log of sends
   * the policy did not decide, e.g. pretraining on the notification history that exists before it starts.
   * @example policy.learn([{ features: policy.armRow(input, 'email', sentAt), reward: 0.3 }])
   */
  armRow(input: DecideInput, channel: ChannelName, sendAtMs: number): Float32Array {
    return this.prep.armRow(input, channel, sendAtMs);
  }

  decide(inputs: readonly DecideInput[], rng: Rng): SendDecision[] {
    const { decisions, batch } = this.prep.prepare(inputs);
    const version = this.version;
    const choices = batch.size > 0 ? this.bandit.decide(batch, rng) : [];
    if (choices.length !== batch.size) {
      throw new BanditContractError(`bandit returned ${choices.length} choices for a batch of ${batch.size}`);
    }
    return decisions.map((d) => {
      if (d.row < 0) return noArmDecision(this.prep, d, this.name, version);
      const choice = choices[d.row];
      const arm = choice.arm;
      if (!Number.isInteger(arm) || arm < 0 || arm >= batch.arms || d.mask.allowed[arm] !== 1) {
        throw new BanditContractError(`bandit chose arm ${arm}, which the guardrails mask`, {
          userId: d.input.user.userId,
          arm,
        });
      }
      if (!(choice.propensity > 0 && choice.propensity <= 1)) {
        throw new BanditContractError(`bandit returned propensity ${choice.propensity} outside (0, 1]`, { arm });
      }
      return sendDecision(this.prep, batch, d, arm, {
        policy: this.name,
        propensity: choice.propensity,
        explored: choice.explored,
        policyVersion: version,
      });
    });
  }

  armDistributions(inputs: readonly DecideInput[], rng: Rng): (ArmDistribution | undefined)[] {
    if (!this.bandit.distribution) {
      throw new BanditContractError(`the ${this.bandit.algorithm} learner cannot give its arm distributions`);
    }
    const { decisions, batch } = this.prep.prepare(inputs);
    const probs = batch.size > 0 ? this.bandit.distribution(batch, rng) : new Float64Array(0);
    if (probs.length !== batch.size * batch.arms) {
      throw new BanditContractError(
        `bandit returned ${probs.length} probabilities for ${batch.size} x ${batch.arms} arms`,
      );
    }
    return decisions.map((d) => {
      if (d.row < 0) return undefined;
      const start = d.row * batch.arms;
      return { probabilities: probs.slice(start, start + batch.arms), allowed: d.mask.allowed };
    });
  }

  /** Updates the learner with engagement rewards; the channel cost is subtracted here (see netReward). */
  learn(rows: readonly LearnRow[]): void {
    if (rows.length === 0) return;
    const { features, rewards } = learningMatrix(rows);
    this.bandit.update(features, rewards);
  }

  serialize(): SerializedPolicy {
    return serializedPolicy(this.config, this.bandit);
  }

  dispose(): void {
    this.bandit.dispose();
  }
}

// --- holdout ---------------------------------------------------------------------------------------------

/**
 * Whether a user is in the holdout: a stable hash of salt and user id, so a user stays in (or out)
 * across decisions and Lambdas, and changing the salt reshuffles everyone.
 * @example isInHoldout('user-42', config.holdout) // same answer on every call
 */
export function isInHoldout(userId: string, holdout: Pick<AnalystConfig['holdout'], 'share' | 'salt'>): boolean {
  return avalanche(hashString(`${holdout.salt}\u0000${userId}`)) / 4294967296 < holdout.share;
}

/**
 * Murmur3's finaliser. FNV-1a alone barely moves the high bits when only the last characters differ
 * (user-1, user-2, ... would land side by side, all in or all out of the holdout).
 */
function avalanche(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Routes holdout users to the holdout policy and everyone else to the main one, keeping input order.
 * @example const live = withHoldout(SendTimePolicy.create(config), holdoutPolicy(config), config.holdout);
 */
export function withHoldout(
  main: NotificationPolicy,
  holdoutPolicy: NotificationPolicy,
  holdout: Pick<AnalystConfig['holdout'], 'share' | 'salt'>,
): NotificationPolicy {
  return {
    name: main.name,
    get version() {
      return main.version;
    },
    decide(inputs, rng) {
      const held: DecideInput[] = [];
      const live: DecideInput[] = [];
      const inHoldout = inputs.map((input) => isInHoldout(input.user.userId, holdout));
      inputs.forEach((input, i) => {
        (inHoldout[i] ? held : live).push(input);
      });
      const liveOut = live.length ? main.decide(live, rng) : [];
      const heldOut = held.length ? holdoutPolicy.decide(held, rng) : [];
      let a = 0;
      let b = 0;
      return inputs.map((_, i) => (inHoldout[i] ? heldOut[b++] : liveOut[a++]));
    },
    armDistributions(inputs, rng) {
      const inHoldout = inputs.map((input) => isInHoldout(input.user.userId, holdout));
      const live = inputs.filter((_, i) => !inHoldout[i]);
      const held = inputs.filter((_, i) => inHoldout[i]);
      const liveOut = live.length ? armDistributionsOf(main, live, rng) : [];
      const heldOut = held.length ? armDistributionsOf(holdoutPolicy, held, rng) : [];
      let a = 0;
      let b = 0;
      return inputs.map((_, i) => (inHoldout[i] ? heldOut[b++] : liveOut[a++]));
    },
  };
}
