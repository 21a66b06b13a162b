/**
 * The policies the simulator can compare, by name: the production ones from model/ (bandit, heuristic,
 * fixed local hour, random) wrapped for the simulator, and the simulator-only oracle.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { fixedHourPolicy, heuristicPolicy, populationPeakHour, randomPolicy } from '#model/heuristic.ts';
import type { NotificationPolicy } from '#model/policy.ts';
import { hashString, Rng } from '#model/random.ts';
import { UnknownPolicyError } from './errors.ts';
import { createLinearCeiling } from './linear-ceiling.ts';
import { createMlpCeiling } from './mlp-ceiling.ts';
import { createHalfOracle, createOracle } from './oracle.ts';
import type { DecideInput, PolicyContext, PolicySpec, SimPolicy } from './policy-api.ts';
import type { Population } from './population.ts';
import { DAY_MS } from './truth.ts';

/** The policies compared by default. */
export const POLICY_NAMES = ['bandit', 'heuristic', 'fixed-hour', 'random', 'oracle'] as const;
/**
 * Diagnostics, on request: the heuristic's channel with the best time by the truth ('oracle-timing'),
 * and the heuristic's time with the best channel by the truth ('oracle-channel'). They show how much
 * of the heuristic's regret is timing and how much is channel choice. 'oracle-linear' is the best a
 * learner linear in the policy's features could do (see linear-ceiling.ts; read its last-week numbers),
 * 'oracle-mlp' the same with a small MLP in place of least squares (mlp-ceiling.ts; about a minute of
 * training per seed).
 */
export const DIAGNOSTIC_POLICY_NAMES = ['oracle-timing', 'oracle-channel', 'oracle-linear', 'oracle-mlp'] as const;
export const ALL_POLICY_NAMES = [...POLICY_NAMES, ...DIAGNOSTIC_POLICY_NAMES] as const;
export type SimPolicyName = (typeof ALL_POLICY_NAMES)[number];

/** A bandit variant to compare: a label for reports and the config it runs under. */
export interface BanditVariant {
  label: string;
  config: AnalystConfig;
}

/** Builds the learning policy for one seed; injected so the simulator does not depend on a learner backend. */
export type BanditFactory = (config: AnalystConfig, ctx: PolicyContext) => Promise<SimPolicy> | SimPolicy;

/** The policy's own random stream: depends on the seed and its name, never on another policy. */
function policyRng(name: string, seed: number, config: AnalystConfig): Rng {
  return new Rng(hashString(`${name}/${seed}/${config.bandit.seed}`));
}

/** Adapts a production NotificationPolicy (synchronous, rng passed in) to the simulator's interface. */
function fromModel(policy: NotificationPolicy, rng: Rng): SimPolicy {
  return { decide: (inputs: DecideInput[]) => policy.decide(inputs, rng) };
}

/**
 * The heuristic with its population hour kept current: once per simulated day it takes the most-engaged
 * local hour of all users' observed histograms, as a production deployment would from its user table.
 */
function dailyHeuristic(ctx: PolicyContext): SimPolicy {
  let day = Number.NaN;
  let current: NotificationPolicy | undefined;
  const rng = policyRng('heuristic', ctx.seed, ctx.config);
  return {
    decide(inputs) {
      const today = inputs.length ? Math.floor(inputs[0].nowMs / DAY_MS) : day;
      if (!current || today !== day) {
        day = today;
        const populationHour = populationPeakHour(ctx.observedUsers()) ?? ctx.config.holdout.fixedLocalHour;
        current = heuristicPolicy(ctx.config, { populationHour });
      }
      return current.decide(inputs, rng);
    },
  };
}

export interface PolicySpecOptions {
  population: Population;
  /** the world's config: baselines and the oracle run under it */
  config: AnalystConfig;
  /** bandit variants; one per --configs file, or the world's config alone */
  bandits?: BanditVariant[];
  banditFactory?: BanditFactory;
}

/**
 * Policy specs for these names, in order; 'bandit' expands to one spec per bandit variant.
 * @example buildPolicySpecs(['heuristic', 'oracle'], { population, config })
 * @throws UnknownPolicyError for a name not in ALL_POLICY_NAMES
 */
export function buildPolicySpecs(names: readonly string[], options: PolicySpecOptions): PolicySpec[] {
  const { population, config } = options;
  const specs: PolicySpec[] = [];
  for (const name of names) {
    switch (name) {
      case 'bandit': {
        const variants = options.bandits?.length ? options.bandits : [{ label: 'bandit', config }];
        const factory = options.banditFactory;
        if (!factory) throw new UnknownPolicyError('bandit (no learner available)', ALL_POLICY_NAMES);
        for (const v of variants) {
          specs.push({
            name: variants.length > 1 || v.label !== 'bandit' ? `bandit:${v.label}` : 'bandit',
            learns: true,
            // Every policy runs under the world's guardrails, whatever the variant's file says.
            config: { ...v.config, guardrails: config.guardrails },
            create: (ctx) => factory(ctx.config, ctx),
          });
        }
        break;
      }
      case 'heuristic':
        specs.push({ name, learns: false, create: (ctx) => dailyHeuristic(ctx) });
        break;
      case 'fixed-hour':
        specs.push({
          name,
          learns: false,
          create: (ctx) =>
            fromModel(
              fixedHourPolicy(ctx.config, ctx.config.holdout.fixedLocalHour),
              policyRng(name, ctx.seed, ctx.config),
            ),
        });
        break;
      case 'random':
        specs.push({
          name,
          learns: false,
          create: (ctx) => fromModel(randomPolicy(ctx.config), policyRng(name, ctx.seed, ctx.config)),
        });
        break;
      case 'oracle':
        specs.push({ name, learns: false, create: (ctx) => createOracle(population, ctx.config, ctx.world) });
        break;
      case 'oracle-timing':
      case 'oracle-channel':
        specs.push({
          name,
          learns: false,
          create: (ctx) =>
            createHalfOracle(
              population,
              ctx.config,
              ctx.world,
              dailyHeuristic(ctx),
              name === 'oracle-timing' ? 'channel' : 'time',
            ),
        });
        break;
      case 'oracle-linear':
        specs.push({ name, learns: false, create: (ctx) => createLinearCeiling(population, ctx.config, ctx) });
        break;
      case 'oracle-mlp':
        specs.push({ name, learns: false, create: (ctx) => createMlpCeiling(population, ctx.config, ctx) });
        break;
      default:
        throw new UnknownPolicyError(name, ALL_POLICY_NAMES);
    }
  }
  return specs;
}
