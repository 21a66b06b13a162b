/**
 * The analysts' config: one file that tunes the bandit, the rewards, the features and the guardrails.
 * Validated with zod before anything runs or deploys; a bad value is refused with its path and reason.
 */
import * as z from 'zod';

export const CHANNEL_NAMES = ['email', 'push', 'sms'] as const;
export const ChannelNameSchema = z.enum(CHANNEL_NAMES);
export type ChannelName = z.infer<typeof ChannelNameSchema>;

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour local time HH:MM, e.g. "21:30"')
  .describe('Local wall-clock time HH:MM');

const probability = z.number().min(0).max(1);

const ChannelSettingsSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Whether the bandit may pick this channel at all'),
  cost: z
    .number()
    .min(0)
    .describe('Cost of one send in reward units; subtracted from the reward the bandit optimises (e.g. SMS 0.05)'),
});

const CommonBanditSchema = {
  explorationFloor: z
    .number()
    .min(0)
    .max(0.5)
    .default(0.05)
    .describe(
      'Minimum exploration: this share of decisions is spread uniformly over the allowed arms, so every allowed arm has propensity >= explorationFloor / allowedArms (keeps off-policy evaluation possible)',
    ),
  seed: z.number().int().min(0).default(1).describe('Seed for every random draw of the policy (determinism)'),
};

/** Thompson-sampling settings shared by linear-ts and neural-linear (see model/bandit/README.md). */
const ThompsonSchema = {
  posteriorSamples: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(15)
    .describe(
      'Posterior samples drawn per decide() batch; each decision draws its arm from their argmax distribution, so the logged propensity is exact; more samples bring it closer to the ideal Thompson probability (lower off-policy variance) at a proportional scoring cost. Scoring computes K + 1 columns (the mean and K samples) in panels of eight, so 7, 15, 23, ... use each panel fully: 15 scores about 1.2x faster than 16',
    ),
  learnNoise: z
    .boolean()
    .default(false)
    .describe(
      'Learn the reward noise from data (Normal-Inverse-Gamma posterior, as Riquelme et al. LinFullPost); noiseScale is then the prior guess of the noise standard deviation',
    ),
  noiseGroups: z
    .array(z.number().int().min(0))
    .max(16)
    .default([])
    .describe(
      'With learnNoise: indices of one-hot features (e.g. the channel columns) whose rows learn separate noise variances while sharing the weights; rows with none of them set form one more group. Empty: one noise variance for all rows',
    ),
};

const LinearTsSchema = z.strictObject({
  algorithm: z.literal('linear-ts'),
  ...CommonBanditSchema,
  priorPrecision: z.number().positive().default(1).describe('Ridge / prior precision lambda of the weight posterior'),
  noiseScale: z
    .number()
    .positive()
    .default(0.5)
    .describe('Scale v of the posterior sample: w ~ N(mean, v^2 A^-1); larger explores more'),
  ...ThompsonSchema,
});

const LinUcbSchema = z.strictObject({
  algorithm: z.literal('linucb'),
  ...CommonBanditSchema,
  priorPrecision: z.number().positive().default(1),
  alpha: z.number().min(0).default(0.5).describe('Width of the confidence bonus: score = x.w + alpha * sqrt(x A^-1 x)'),
});

const EpsilonGreedySchema = z.strictObject({
  algorithm: z.literal('epsilon-greedy'),
  ...CommonBanditSchema,
  priorPrecision: z.number().positive().default(1),
  epsilon: probability.default(0.1).describe('Share of decisions that pick a uniformly random allowed arm'),
});

const NeuralLinearSchema = z.strictObject({
  algorithm: z.literal('neural-linear'),
  ...CommonBanditSchema,
  priorPrecision: z.number().positive().default(1),
  noiseScale: z.number().positive().default(0.5),
  hiddenUnits: z.array(z.number().int().min(1).max(512)).min(1).max(4).default([32, 16]),
  learningRate: z.number().positive().max(1).default(0.01),
  trainEvery: z.number().int().min(1).default(200).describe('Retrain the representation after this many new rewards'),
  trainEpochs: z.number().int().min(1).max(200).default(20),
  replaySize: z.number().int().min(100).default(5000).describe('Rewards kept to retrain the representation on'),
  batchSize: z.number().int().min(1).max(4096).default(64).describe('Minibatch size of representation training'),
  ...ThompsonSchema,
});

export const BanditConfigSchema = z.discriminatedUnion('algorithm', [
  LinearTsSchema,
  LinUcbSchema,
  EpsilonGreedySchema,
  NeuralLinearSchema,
]);
export type BanditConfig = z.infer<typeof BanditConfigSchema>;

const FrequencyCapSchema = z.strictObject({
  maxSends: z.number().int().min(1),
  perHours: z
    .number()
    .positive()
    .max(24 * 31),
});

export const SLOT_GRIDS = { hourly: 24, 'half-hourly': 48, 'hour-of-week': 168 } as const;

export const AnalystConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9._-]+$/)
      .describe('Config version; recorded on every decision so any decision can be traced to the config that made it'),
    channels: z.strictObject({ email: ChannelSettingsSchema, push: ChannelSettingsSchema, sms: ChannelSettingsSchema }),
    slots: z
      .strictObject({
        grid: z
          .enum(['hourly', 'half-hourly', 'hour-of-week'])
          .default('hourly')
          .describe('Send slots in the user local time: 24 hourly, 48 half-hours, or 168 hours of the week'),
        horizonDays: z
          .number()
          .int()
          .min(1)
          .max(14)
          .default(2)
          .describe('How far ahead of the request a send may be scheduled (also bounded by the request window)'),
      })
      .default({ grid: 'hourly', horizonDays: 2 }),
    bandit: BanditConfigSchema,
    reward: z.strictObject({
      weights: z
        .strictObject({
          notification_opened: z.number().min(-100).max(100).default(0.3),
          notification_clicked: z.number().min(-100).max(100).default(1),
          converted: z.number().min(-100).max(100).default(1),
          notification_dismissed: z.number().min(-100).max(100).default(0),
          unsubscribed: z.number().min(-100).max(100).default(-3),
          complained: z.number().min(-100).max(100).default(-5),
          bounced: z.number().min(-100).max(100).default(0),
        })
        .describe('Reward per engagement event type attributed to a decision'),
      combine: z
        .enum(['max', 'sum'])
        .default('max')
        .describe(
          'How several events on one decision combine: the strongest one (max of positives plus negatives) or the sum',
        ),
      attributionWindowHours: z
        .number()
        .positive()
        .max(24 * 14)
        .default(24),
    }),
    features: z
      .strictObject({
        halfLifeDays: z.number().positive().max(365).default(14).describe('Half-life of the decayed engagement counts'),
        priorStrength: z
          .number()
          .min(0)
          .default(2)
          .describe('Pseudo-sends of the population prior in smoothed per-channel engagement rates'),
      })
      .default({ halfLifeDays: 14, priorStrength: 2 }),
    guardrails: z.strictObject({
      quietHours: z
        .strictObject({ start: clockTime, end: clockTime })
        .describe('Default quiet hours in the user local time (a user may override)'),
      defaultTimeZone: z.string().default('UTC').describe('Time zone assumed when the user has none or an unknown one'),
      frequencyCaps: z.strictObject({
        global: FrequencyCapSchema,
        perChannel: z
          .strictObject({
            email: FrequencyCapSchema.optional(),
            push: FrequencyCapSchema.optional(),
            sms: FrequencyCapSchema.optional(),
          })
          .default({}),
      }),
      whenNoArm: z
        .enum(['defer', 'redecide', 'drop'])
        .default('defer')
        .describe(
          'What to do when no (channel, slot) is allowed: defer to the next allowed time, re-decide later, or drop',
        ),
    }),
    holdout: z
      .strictObject({
        share: z.number().min(0).max(0.5).default(0.05),
        policy: z.enum(['fixed-hour', 'heuristic']).default('heuristic'),
        fixedLocalHour: z.number().int().min(0).max(23).default(10),
        salt: z.string().min(1).default('holdout-v1').describe('Changing the salt reshuffles who is in the holdout'),
      })
      .default({ share: 0.05, policy: 'heuristic', fixedLocalHour: 10, salt: 'holdout-v1' }),
    model: z
      .strictObject({
        refreshIntervalSeconds: z.number().int().min(1).max(3600).default(60),
      })
      .default({ refreshIntervalSeconds: 60 }),
  })
  .superRefine((cfg, ctx) => {
    if (!Object.values(cfg.channels).some((c) => c.enabled)) {
      ctx.addIssue({ code: 'custom', path: ['channels'], message: 'at least one channel must be enabled' });
    }
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: cfg.guardrails.defaultTimeZone });
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['guardrails', 'defaultTimeZone'],
        message: 'is not an IANA time zone this runtime knows',
      });
    }
    if (cfg.guardrails.quietHours.start === cfg.guardrails.quietHours.end) {
      ctx.addIssue({
        code: 'custom',
        path: ['guardrails', 'quietHours'],
        message: 'start equals end; remove quiet hours by choosing a short window instead of an ambiguous one',
      });
    }
  });

export type AnalystConfig = z.infer<typeof AnalystConfigSchema>;
export type AnalystConfigInput = z.input<typeof AnalystConfigSchema>;
