/**
 * A decision log with known truth, from the simulator: a logging policy decides a simulated population's
 * requests (as decide would, items built with decisionItem()), the simulator plays out the sends and the
 * engagement, and each row becomes a decision-log/1 row with its outcome and reward. Alongside, for every
 * decision, the expected reward under the hidden truth of the arm a target policy would have chosen on the
 * same (rebuilt) input, and of the arm the logger chose: the true values off-policy evaluation estimates.
 */
import type { AnalystConfig } from '#config/schema.ts';
import type { NotificationRequest } from '#events/index.ts';
import { type DecisionItem, decisionIdFor, decisionInput, decisionItem } from '#lambdas/shared/decision-item.ts';
import { type DecisionLogRow, toDecisionLogRow } from '#lambdas/shared/decision-log.ts';
import {
  type DecideInput,
  isInHoldout,
  type LearnRow,
  type NotificationPolicy,
  type SendDecision,
} from '#model/policy.ts';
import { Rng } from '#model/random.ts';
import { computeReward } from '#model/reward.ts';
import { type DecisionTrace, simulate } from '#sim/engine.ts';
import type { PolicySpec, WorldView } from '#sim/policy-api.ts';
import type { Population } from '#sim/population.ts';
import { expectedReward, windowShares } from '#sim/reward.ts';
import { affinityTable, HOUR_MS, responseProbabilities } from '#sim/truth.ts';

export interface SimulatedLogOptions {
  population: Population;
  config: AnalystConfig;
  days: number;
  seed: number;
  /** the policy that decides (and logs its propensities); with `learn`, it learns the rewards as they arrive */
  logger: (config: AnalystConfig) => NotificationPolicy & { learn?(rows: LearnRow[]): void; dispose?(): void };
  /** users in the holdout (by the production hash) are marked so in the log; the logger routes them itself */
  holdout?: Pick<AnalystConfig['holdout'], 'share' | 'salt'>;
  /** whether the logger learns (the simulator then feeds it rewards) */
  learns?: boolean;
  /** the policy whose true value on the logged contexts is computed (deterministic or not: its draw is scored) */
  target: (config: AnalystConfig) => NotificationPolicy;
}

export interface SimulatedLog {
  rows: DecisionLogRow[];
  /** rows sent with a final reward (what evaluate uses) */
  rewardedRows: number;
  truth: {
    /** mean expected reward of the target's choices on the rewarded rows' contexts (0 where it has no arm) */
    target: number;
    /** mean expected reward of the logger's own choices on the same rows */
    logger: number;
    /** mean realised reward of the logger on those rows */
    loggerRealised: number;
  };
  /** per rewarded row: the expected rewards of the target's and the logger's choices */
  values: Map<string, { target: number; logger: number }>;
}

interface Recorded {
  item: DecisionItem;
  targetValue: number;
  loggerValue: number;
}

/** A value to compute once the simulated clock has reached the send instant it is about. */
interface PendingValue {
  record: Recorded;
  field: 'targetValue' | 'loggerValue';
  input: DecideInput;
  decision: SendDecision;
  /** the logger's own send, which would not exist had the target chosen instead */
  replacedSendAtMs?: number;
}

const keyOf = (userId: string, atMs: number, kind: string, w: { notBeforeMs: number; notAfterMs: number }) =>
  `${userId}|${atMs}|${kind}|${w.notBeforeMs}|${w.notAfterMs}`;

/**
 * Simulates, logs and scores. One seed; everything deterministic for it.
 * @example const log = await simulatedDecisionLog({ population, config, days: 7, seed: 1, logger: randomPolicy, target: heuristicPolicy });
 */
export async function simulatedDecisionLog(options: SimulatedLogOptions): Promise<SimulatedLog> {
  const { population, config } = options;
  const shares = windowShares(population, config);
  const affinity = affinityTable(population);
  const fatigueMs = population.fatigue.windowHours * HOUR_MS;
  const recorded = new Map<string, Recorded[]>();
  let counter = 0;

  // Fatigue is counted at the send instant, from the sends the logged world actually made by then: a
  // value taken at decision time would miss the sends decided later for earlier instants.
  const expectedValue = (world: WorldView, input: DecideInput, d: SendDecision, replacedSendAtMs?: number): number => {
    if (d.kind !== 'send') return 0;
    const truth = world.truthOf(input.user.userId);
    let recentSends = 0;
    let replaced = false;
    for (const t of world.sendTimes(input.user.userId)) {
      if (!replaced && t === replacedSendAtMs) {
        replaced = true;
        continue;
      }
      if (t > d.sendAtMs - fatigueMs && t < d.sendAtMs) recentSends++;
    }
    const p = responseProbabilities(population, affinity, truth, {
      channel: d.channel,
      kind: input.request.kind,
      hourOfWeek: world.clock.hourOfWeek(truth.zone, d.sendAtMs),
      recentSends,
    });
    return expectedReward(p, shares[d.channel], d.channel, config);
  };

  let pending: PendingValue[] = [];
  let view: WorldView | undefined;
  const settle = (untilMs: number) => {
    const later: PendingValue[] = [];
    for (const p of pending) {
      if (p.decision.kind === 'send' && p.decision.sendAtMs > untilMs) later.push(p);
      else p.record[p.field] = expectedValue(view as WorldView, p.input, p.decision, p.replacedSendAtMs);
    }
    pending = later;
  };

  const spec: PolicySpec = {
    name: 'logger',
    learns: options.learns ?? false,
    create(ctx) {
      const logger = options.logger(ctx.config);
      const target = options.target(ctx.config);
      const rng = new Rng(options.seed).fork('logger');
      const targetRng = new Rng(options.seed).fork('target');
      view = ctx.world;
      return {
        decide(inputs) {
          settle(ctx.now());
          const decisions = logger.decide(inputs, rng);
          inputs.forEach((input, i) => {
            const id = `sim-${counter++}`;
            const request = {
              schemaVersion: 1,
              id,
              type: 'notification_requested',
              userId: input.user.userId,
              occurredAt: new Date(input.nowMs).toISOString(),
              campaignId: 'simulated',
              kind: input.request.kind,
              content: {},
              allowedChannels: [...input.request.allowedChannels],
              window: {
                notBefore: new Date(input.request.window.notBeforeMs).toISOString(),
                notAfter: new Date(input.request.window.notAfterMs).toISOString(),
              },
              ...(input.request.ignoreQuietHours && { ignoreQuietHours: true }),
            } as NotificationRequest;
            // built now: the simulator's user state changes after this call
            const item = decisionItem(decisions[i], {
              request,
              input,
              holdout: options.holdout ? isInHoldout(input.user.userId, options.holdout) : false,
              decidedAt: input.nowMs,
              attributionWindowHours: config.reward.attributionWindowHours,
            });
            const replayed = decisionInput(item);
            const [targetDecision] = target.decide([replayed], targetRng);
            const key = keyOf(input.user.userId, input.nowMs, input.request.kind, input.request.window);
            const list = recorded.get(key) ?? [];
            const record: Recorded = { item, targetValue: 0, loggerValue: 0 };
            list.push(record);
            recorded.set(key, list);
            const logged = decisions[i];
            const replacedSendAtMs = logged.kind === 'send' ? logged.sendAtMs : undefined;
            pending.push(
              { record, field: 'targetValue', input: replayed, decision: targetDecision, replacedSendAtMs },
              { record, field: 'loggerValue', input: replayed, decision: logged },
            );
          });
          return decisions.map((d) =>
            d.kind === 'send'
              ? {
                  kind: 'send' as const,
                  channel: d.channel,
                  armIndex: d.armIndex,
                  sendAtMs: d.sendAtMs,
                  propensity: d.propensity,
                  explored: d.explored,
                  features: d.features,
                }
              : d,
          );
        },
        learn: (rows) => logger.learn?.(rows),
        dispose: () => logger.dispose?.(),
      };
    },
  };

  const result = await simulate({
    population,
    config,
    policies: [spec],
    days: options.days,
    seeds: [options.seed],
    trace: true,
  });
  settle(Number.POSITIVE_INFINITY);
  const traces = result.runs[0].traces?.logger ?? [];
  const rows: DecisionLogRow[] = [];
  let target = 0;
  let logger = 0;
  let realised = 0;
  let rewarded = 0;
  const values = new Map<string, { target: number; logger: number }>();
  for (const trace of traces) {
    const list = recorded.get(keyOf(trace.userId, trace.decidedAtMs, trace.kind, trace.window));
    const match = list?.shift();
    if (!match) throw new Error(`no recorded decision for trace ${trace.requestId}`);
    const item = withOutcome(match.item, trace, config);
    rows.push(toDecisionLogRow(item));
    if (item.status === 'sent' && item.rewardClosed) {
      rewarded++;
      target += match.targetValue;
      logger += match.loggerValue;
      realised += trace.reward;
      values.set(item.decisionId, { target: match.targetValue, logger: match.loggerValue });
    }
  }
  return {
    rows,
    rewardedRows: rewarded,
    truth: { target: target / rewarded, logger: logger / rewarded, loggerRealised: realised / rewarded },
    values,
  };
}

/** The item as it ends up after dispatch and window closing, under the trace's request id. */
function withOutcome(item: DecisionItem, trace: DecisionTrace, config: AnalystConfig): DecisionItem {
  const out: DecisionItem = {
    ...item,
    requestId: trace.requestId,
    decisionId: decisionIdFor(trace.requestId),
  };
  delete out.dueShard;
  delete out.dueAt;
  if (trace.decision === 'no_arm') return { ...out, status: 'dropped' };
  if (trace.dispatch !== 'sent') return { ...out, status: 'stopped', stopReason: trace.stopReason ?? 'unknown' };
  const events = trace.events.filter((e) => e.attributed).map((e) => e.type);
  return {
    ...out,
    status: 'sent',
    sentAt: trace.sendAtMs,
    ...(events.length && { rewardEvents: new Set(events) }),
    ...(trace.closedAtMs !== undefined && {
      rewardClosed: true,
      reward: computeReward(events, config.reward),
    }),
  };
}
