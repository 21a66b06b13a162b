/**
 * The oracle: behind the same guardrails as every other policy, it picks the allowed arm with the
 * highest expected reward under the hidden truth (response curve, channel responsiveness, kind
 * affinity, fatigue from sends already made or scheduled, attribution window, channel cost).
 * It is greedy, one request at a time: it does not hold back a send now to spare fatigue for a later
 * one, so it is a ceiling for per-request choices, not a planner.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { armLayout, armOf } from '#model/arms.ts';
import { allowedArms, summariseBlocks } from '#model/guardrails.ts';
import type { DecideInput, SimDecision, SimPolicy, WorldView } from './policy-api.ts';
import type { Population } from './population.ts';
import { expectedReward, windowShares } from './reward.ts';
import { affinityTable, HOUR_MS, responseProbabilities } from './truth.ts';

const NO_FEATURES = new Float32Array(0);

/** Limits the oracle to some arms: what a diagnostic variant keeps of another policy's choice. */
export type ArmFilter = (input: DecideInput, arm: number) => boolean;

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
  const shares = windowShares(population, config);
  const affinity = affinityTable(population);
  const fatigueMs = population.fatigue.windowHours * HOUR_MS;
  return {
    decide(inputs: DecideInput[]): SimDecision[] {
      const keep = filterFor?.(inputs);
      return inputs.map((input) => {
        const mask = allowedArms(input, config);
        if (mask.allowedCount === 0) return summariseBlocks(mask);
        const truth = world.truthOf(input.user.userId);
        const sends = world.sendTimes(input.user.userId);
        let best = -1;
        let bestValue = Number.NEGATIVE_INFINITY;
        for (let arm = 0; arm < mask.allowed.length; arm++) {
          if (mask.allowed[arm] !== 1 || (keep && !keep(input, arm))) continue;
          const { channel, slotIndex } = armOf(mask.layout, arm);
          const sendAtMs = mask.schedule.sendAtMs[slotIndex];
          let recentSends = 0;
          for (const t of sends) if (t > sendAtMs - fatigueMs && t < sendAtMs) recentSends++;
          const p = responseProbabilities(population, affinity, truth, {
            channel,
            kind: input.request.kind,
            hourOfWeek: world.clock.hourOfWeek(truth.zone, sendAtMs),
            recentSends,
          });
          const value = expectedReward(p, shares[channel], channel, config);
          // Ties go to the earlier send: the same value sooner leaves room under the caps for later requests.
          const earlier = best >= 0 && sendAtMs < mask.schedule.sendAtMs[armOf(mask.layout, best).slotIndex];
          if (value > bestValue + 1e-12 || (Math.abs(value - bestValue) <= 1e-12 && earlier)) {
            best = arm;
            bestValue = value;
          }
        }
        if (best < 0) return summariseBlocks(mask); // the filter left nothing (cannot happen for allowed reference arms)
        const { channel, slotIndex } = armOf(mask.layout, best);
        return {
          kind: 'send',
          channel,
          armIndex: best,
          sendAtMs: mask.schedule.sendAtMs[slotIndex],
          propensity: 1,
          explored: false,
          features: NO_FEATURES,
        };
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
