/**
 * What the simulator needs from a policy: decide a batch of requests, learn from rewards that have
 * arrived. Inputs are the production DecideInput (model/policy.ts); a decision needs only the fields
 * below, so the production SendDecision fits as is and the simulator-only oracle can return the same shape.
 */
import type { AnalystConfig, ChannelName } from '#config/schema.ts';
import type { NoArm } from '#model/guardrails.ts';
import type { DecideInput, LearnRow } from '#model/policy.ts';
import type { UserState } from '#model/user-state.ts';
import type { UserTruth, ZoneClock } from './truth.ts';
import type { WarmupHistory } from './warmup.ts';

export type { DecideInput, LearnRow };

/** The part of a `send` decision the simulator acts on and scores. */
export interface SimSendChoice {
  kind: 'send';
  channel: ChannelName;
  armIndex: number;
  sendAtMs: number;
  propensity: number;
  explored: boolean;
  /** the chosen arm's feature row, handed back to `learn` with its reward */
  features: ArrayLike<number>;
}

export type SimDecision = SimSendChoice | NoArm;

/** A policy as the simulator drives it. One instance per seed, so no state leaks between seeds. */
export interface SimPolicy {
  decide(inputs: DecideInput[]): SimDecision[] | Promise<SimDecision[]>;
  /**
   * Rewards that have arrived (never before their events happened). As in production, `reward` is the
   * engagement reward by the policy's config weights, before channel cost: the policy subtracts the cost
   * it recorded in the row (model/policy.ts netReward). Absent for policies that do not learn.
   */
  learn?(rows: LearnRow[]): void | Promise<void>;
  dispose?(): void;
}

/** What only the oracle may read: the hidden truth and the sends its world has made or scheduled. */
export interface WorldView {
  truthOf(userId: string): UserTruth;
  /** send instants to this user, made or scheduled, any channel */
  sendTimes(userId: string): readonly number[];
  clock: ZoneClock;
}

export interface PolicyContext {
  seed: number;
  /** the config this policy runs under (its guardrails are the world's) */
  config: AnalystConfig;
  /** the simulated clock: the instant of the current decide or learn call */
  now(): number;
  /** what production could observe too: every user's current state in this policy's world */
  observedUsers(): Iterable<UserState>;
  /**
   * The users' history before day 0 (arrival profiles, app sessions, the legacy notifications and their
   * outcomes) as the event log a deployment holds when the bandit starts, which the heuristic's counts are
   * built from too: what model/pretrain.ts pretrains on.
   */
  warmupHistory?(): WarmupHistory;
  /** the oracle's window on the truth; other policies must not use it */
  world: WorldView;
}

/** A named way to build a policy for each seed. */
export interface PolicySpec {
  /** unique name in reports, e.g. 'bandit', 'bandit:tuned', 'heuristic' */
  name: string;
  /** whether it learns (its rewards are fed back) */
  learns: boolean;
  /** the analyst config the policy runs under; the world's config when absent */
  config?: AnalystConfig;
  create(ctx: PolicyContext): SimPolicy | Promise<SimPolicy>;
}
