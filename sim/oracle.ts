/**
 * The oracle: behind the same guardrails as every other policy, it picks the allowed arm with the
 * highest expected reward under the hidden truth (response curve, channel responsiveness, kind
 * affinity, fatigue from sends already made or scheduled, attribution window, channel cost).
 * It is greedy, one request at a time: it does not hold back a send now to spare fatigue for a later
 * one, so it is a ceiling for per-request choices, not a planner.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { armLayout, armOf } from '#model/arms.ts';
import { type ArmMask, allowedArms, summariseBlocks } from '#model/guardrails.ts';
import type { DecideInput, SimDecision, SimPolicy, SimSendChoice, WorldView } from './policy-api.ts';
import type { Population } from './population.ts';
import { expectedReward, windowShares } from './reward.ts';
import { affinityTable, HOUR_MS, responseProbabilities } from './truth.ts';

const NO_FEATURES = new Float32Array(0);

/** Limits the oracle to some arms: what a diagnostic variant keeps of another policy's choice. */
export type ArmFilter = (input: DecideInput, arm: number) => boolean;

/**
 * The send decision of a policy that picks one arm for certain (propensity 1, nothing to learn from):
 * the oracle and the ceiling diagnostics.
 * @example return certainSend(mask, best)
 */
export function certainSend(mask: Pick<ArmMask, 'layout' | 'schedule'>, arm: number): SimSendChoice {
  const { channel, slotIndex } = armOf(mask.layout, arm);
  return {
    kind: 'send',
    channel,
    armIndex: arm,
    sendAtMs: mask.schedule.sendAtMs[slotIndex],
    propensity: 1,
    explored: false,
    features: NO_FEATURES,
  };
}

/** The true expected reward of one arm of a request (see trueArmValues). */
export type TrueArmValue = (input: DecideInput, mask: Pick<ArmMask, 'layout' | 'schedule'>, arm: number) => number;

/**
 * The hidden truth's expected reward of an arm: response probabilities for the user's curve at the arm's
 * local hour, the channel and the request's kind, with the fatigue of the sends the world has made or
 * scheduled in the window before it, through the attribution window, net of the channel's cost. What the
 * oracle maximises and the ceiling diagnostics (linear-ceiling.ts, mlp-ceiling.ts) fit.
 * @example const value = trueArmValues(population, config, ctx.world); value(input, mask, 3)
 */
export function trueArmValues(population: Population, config: AnalystConfig, world: WorldView): TrueArmValue {
  const shares = windowShares(population, config);
  const affinity = affinityTable(population);
  const fatigueMs = population.fatigue.windowHours * HOUR_MS;
  return (input, mask, arm) => {
    const truth = world.truthOf(input.user.userId);
    const { channel, slotIndex } = armOf(mask.layout, arm);
    const sendAtMs = mask.schedule.sendAtMs[slotIndex];
    let recentSends = 0;
    for (const t of world.sendTimes(input.user.userId)) if (t > sendAtMs - fatigueMs && t < sendAtMs) recentSends++;
    const p = responseProbabilities(population, affinity, truth, {
      channel,
      kind: input.request.kind,
      hourOfWeek: world.clock.hourOfWeek(truth.zone, sendAtMs),
      recentSends,
    });
    return expectedReward(p, shares[channel], channel, config);
  };
}

/**
 * @example const oracle = createOracle(population, config, ctx.world);
 *          oracle.decide(inputs) // the best allowed arm per input, by the truth
 */
export function createOracle(
  population: Population,
  config: AnalystConfig,
  world: WorldView,
  filterFor?: (inputs: DecideInput[]) => ArmFilter,
): SimPolicy {
  const trueValue = trueArmValues(population, config, world);
  return {
    decide(inputs: DecideInput[]): SimDecision[] {
      const keep = filterFor?.(inputs);
      return inputs.map((input) => {
        const mask = allowedArms(input, config);
        if (mask.allowedCount === 0) return summariseBlocks(mask);
        let best = -1;
        let bestValue = Number.NEGATIVE_INFINITY;
        for (let arm = 0; arm < mask.allowed.length; arm++) {
          if (mask.allowed[arm] !== 1 || (keep && !keep(input, arm))) continue;
          const sendAtMs = mask.schedule.sendAtMs[armOf(mask.layout, arm).slotIndex];
          const value = trueValue(input, mask, arm);
          // Ties go to the earlier send: the same value sooner leaves room under the caps for later requests.
          const earlier = best >= 0 && sendAtMs < mask.schedule.sendAtMs[armOf(mask.layout, best).slotIndex];
          if (value > bestValue + 1e-12 || (Math.abs(value - bestValue) <= 1e-12 && earlier)) {
            best = arm;
            bestValue = value;
          }
        }
        if (best < 0) return summariseBlocks(mask); // the filter left nothing (cannot happen for allowed reference arms)
        return certainSend(mask, best);
      });
    },
  };
}

/**
 * Diagnostic oracles that take half of a reference policy's choice (normally the heuristic's) and
 * choose the other half by the truth: 'timing' keeps its channel and picks the best time, 'channel'
 * keeps its time slot and picks the best channel. Their rewards split the heuristic's regret into what
 * better timing and what better channels could win back.
 * @example createHalfOracle(population, config, world, heuristic, 'timing')
 */
export function createHalfOracle(
  population: Population,
  config: AnalystConfig,
  world: WorldView,
  reference: SimPolicy,
  keep: 'channel' | 'time',
): SimPolicy {
  const layout = armLayout(config.slots.grid);
  return createOracle(population, config, world, (inputs) => {
    const chosen = reference.decide(inputs) as SimDecision[];
    const byInput = new Map(inputs.map((input, i) => [input, chosen[i]]));
    return (input, arm) => {
      const d = byInput.get(input);
      if (d?.kind !== 'send') return true;
      const mine = armOf(layout, arm);
      const theirs = armOf(layout, d.armIndex);
      return keep === 'channel' ? mine.channel === theirs.channel : mine.slotIndex === theirs.slotIndex;
    };
  });
}
