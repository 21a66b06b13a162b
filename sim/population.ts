/**
 * The simulated population: who the users are, when and how they respond to notifications (the hidden
 * truth no policy sees), and what they reveal about themselves through app sessions.
 *
 * A population file is JSON validated by `PopulationSchema`; its JSON Schema (for editors and other
 * languages) is generated into sim/population.schema.json by `npx tsx sim/write-population-schema.ts`.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { describeIssues } from '#config/load.ts';
import { CHANNEL_NAMES } from '#config/schema.ts';
import { isKnownTimeZone } from '#model/local-time.ts';
import { InvalidPopulationError, PopulationFileError } from './errors.ts';

const share = z.number().min(0).max(1);
const probability = z.number().min(0).max(1);
const positive = z.number().positive();

const MeanSd = (what: string, min?: number) =>
  z
    .strictObject({
      mean: (min === undefined ? z.number() : z.number().min(min)).describe(`Population mean of ${what}`),
      sd: z.number().min(0).describe(`Spread (standard deviation) of ${what} across users`),
    })
    .describe(what);

const LogitNormal = (what: string) =>
  z
    .strictObject({
      median: z
        .number()
        .gt(0)
        .lt(1)
        .describe(`Median ${what} across users (the probability of the typical user at an average hour)`),
      logitSd: z
        .number()
        .min(0)
        .max(4)
        .describe(
          `Spread across users on the logit scale: 0 = everyone the same, 1 = the 84th percentile user has e x the odds`,
        ),
    })
    .describe(`${what}: logit-normal across users`);

const LogNormalDelay = (what: string) =>
  z
    .strictObject({
      medianMinutes: positive.describe(`Median ${what}, minutes`),
      sigma: z.number().min(0).max(3).describe('Log-scale spread: 1 means a quarter of delays exceed 2x the median'),
    })
    .describe(`${what}: log-normal`);

const ChannelTruthSchema = z
  .strictObject({
    reachable: share.describe(
      'Share of users who are opted in to this channel and have an address / endpoint / phone for it at arrival',
    ),
    open: LogitNormal(
      'probability that a notification on this channel is opened (push: tapped; SMS: read and acted on)',
    ),
    clickGivenOpen: LogitNormal('probability of a click once opened'),
    timeSensitivity: share.describe(
      'How much the hour of sending matters on this channel: 1 = the full hour-of-week curve (push), 0 = no effect (an email that waits in the inbox)',
    ),
    unsubscribePerSend: probability.describe(
      'Probability that one send on this channel makes the user opt out of it (no fatigue)',
    ),
    openDelay: LogNormalDelay('delay from send to open'),
    clickDelay: LogNormalDelay('delay from open to click'),
    unsubscribeDelay: LogNormalDelay('delay from send to unsubscribe'),
  })
  .describe('Hidden truth of one channel');

const BumpCenterSchema = z.strictObject({
  hour: z.number().min(0).lt(24).describe('Local hour (may be fractional, 12.5 = 12:30) of this population mode'),
  weight: positive.describe('Relative share of user bumps drawn from this mode'),
  spreadHours: z.number().min(0).max(12).describe('Standard deviation of user bump centres around this mode, hours'),
});

const RequestKindSchema = z
  .strictObject({
    kind: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9_-]+$/)
      .describe('Name of the notification kind (campaign type), e.g. "promotion"'),
    weight: positive.describe('Relative share of requests of this kind'),
    windowHours: z
      .strictObject({ min: z.number().min(1).max(336), max: z.number().min(1).max(336) })
      .describe(
        'Delivery window length (hours from arrival of the request), uniform between min and max; min must not be above max',
      ),
    allowedChannels: z.array(z.enum(CHANNEL_NAMES)).min(1).describe('Channels the producer allows for this kind'),
    channelAffinity: z
      .strictObject({ email: positive.optional(), push: positive.optional(), sms: positive.optional() })
      .default({})
      .describe('Multiplier of the open probability of this kind per channel (1 when absent)'),
    ignoreQuietHours: z
      .boolean()
      .default(false)
      .describe(
        'Send during quiet hours too. Only the kind "transactional" may set it to true: the loader refuses it on any other kind, as the guardrails would',
      ),
    arrivalUtcHours: z
      .strictObject({ start: z.number().int().min(0).max(23), end: z.number().int().min(1).max(24) })
      .optional()
      .describe(
        'UTC hours [start, end) in which requests of this kind are created (campaign batch times); start must be before end (no wrapping past midnight); all day when absent',
      ),
  })
  // The one cross-field rule of a kind that JSON Schema states exactly; the loader checks it in superRefine below.
  .meta({
    if: { properties: { ignoreQuietHours: { const: true } }, required: ['ignoreQuietHours'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
    then: { properties: { kind: { const: 'transactional' } } },
  });

export const PopulationSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z.string().min(1).max(100).describe('Short name of the population, shown in reports'),
    description: z.string().default('').describe('What this population stands for and why it looks as it does'),
    startDate: z.iso.date().default('2026-11-02').describe('UTC calendar date of simulated day 0 (starts 00:00 UTC)'),
    users: z.number().int().min(1).max(1_000_000).describe('Users present at day 0'),
    timeZones: z
      .array(
        z.strictObject({
          zone: z
            .string()
            .min(1)
            .describe('IANA time zone (e.g. "Europe/Paris"); the loader refuses a name the runtime does not know'),
          weight: positive,
        }),
      )
      .min(1)
      .describe('Mix of user time zones, with relative weights'),
    preference: z
      .strictObject({
        bumpsPerUser: z
          .array(z.number().min(0))
          .min(1)
          .max(3)
          .meta({ contains: { type: 'number', exclusiveMinimum: 0 } })
          .describe(
            'Relative weights of a user having 1, 2 or 3 bumps (peaks of responsiveness) in the day; at least one must be above 0',
          ),
        bumpCenters: z
          .array(BumpCenterSchema)
          .min(1)
          .describe('Population modes of the local hours users respond best at'),
        bumpWidthHours: MeanSd('the width (standard deviation, hours) of one bump', 0.25),
        floor: share.describe(
          'Share of responsiveness that does not depend on the hour (the flat part of the curve): low = sharp peaks',
        ),
        weekendShiftHours: MeanSd('how many hours later the bumps sit on Saturday and Sunday'),
        weekendLevel: MeanSd('weekend responsiveness relative to weekdays (1 = same)', 0),
      })
      .describe('Per-user hidden response curve over the local hour of week'),
    channels: z.strictObject({ email: ChannelTruthSchema, push: ChannelTruthSchema, sms: ChannelTruthSchema }),
    responsivenessCorrelation: share.describe(
      'Correlation across channels of a user responsiveness (a user who opens emails tends to tap pushes)',
    ),
    fatigue: z
      .strictObject({
        windowHours: z
          .number()
          .positive()
          .max(24 * 14)
          .describe('Sends within this many hours before a send make the user tired'),
        responsePerSend: z
          .number()
          .gt(0)
          .max(1)
          .describe('Open probability is multiplied by this for every send (any channel) in the window'),
        unsubscribeGrowthPerSend: z
          .number()
          .min(0)
          .describe('Unsubscribe probability is multiplied by (1 + this x sends in the window)'),
      })
      .describe('Fatigue from frequent sends'),
    sessions: z
      .strictObject({
        perDay: z
          .strictObject({
            mean: z.number().min(0).describe('Mean sessions per user per day'),
            shape: positive.describe(
              'Inequality across users: the coefficient of variation is 1/sqrt(shape) (log-normal); small = a few heavy users',
            ),
          })
          .describe('App sessions per user per day: log-normal across users, Poisson day to day'),
        noiseShare: share.describe(
          'Share of a user sessions whose hour follows an unrelated curve of their own, not the notification-response curve (0 = sessions reveal the truth exactly)',
        ),
        responsivenessCorrelation: share.describe(
          'Correlation between how active a user is in the app and how responsive to notifications',
        ),
      })
      .describe('App sessions: what the policies can observe of the truth'),
    coldStart: z
      .strictObject({
        share: share.describe('Share of the day-0 users with no history at all'),
        newUsersPerDay: z.number().min(0).describe('New users arriving per day (Poisson), always with no history'),
        warmupDays: z.number().int().min(0).max(60).describe('Days of history the other day-0 users have before day 0'),
        warmupNotificationsPerDay: z
          .number()
          .min(0)
          .max(24)
          .default(0)
          .describe(
            'Notifications per user per day the product sent during the warm-up, before any policy here (legacy campaigns: a request kind by weight, one of its channels the user can receive at random, a random local time 09:00-20:59). It is the message history the heuristic channel rule and the bandit channel features start from',
          ),
      })
      .describe('Users without history'),
    requests: z
      .strictObject({
        perUserPerDay: z.number().min(0).max(24).describe('Notification requests per user per day (Poisson)'),
        kinds: z
          .array(RequestKindSchema)
          .min(1)
          .describe('Notification kinds; each kind name may appear only once (the loader refuses a duplicate)'),
      })
      .describe('The notification requests the producers send'),
  })
  // Rules across fields, which the loader checks here. Each is also stated in the .describe() of the field it
  // concerns (so sim/population.schema.json says it) and in sim/README.md; test/sim/population.test.ts lists them.
  .superRefine((p, ctx) => {
    p.timeZones.forEach((t, i) => {
      if (!isKnownTimeZone(t.zone)) {
        ctx.addIssue({
          code: 'custom',
          path: ['timeZones', i, 'zone'],
          message: `"${t.zone}" is not an IANA time zone this runtime knows`,
        });
      }
    });
    if (!p.preference.bumpsPerUser.some((w) => w > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['preference', 'bumpsPerUser'],
        message: 'at least one weight must be > 0',
      });
    }
    p.requests.kinds.forEach((k, i) => {
      if (k.windowHours.min > k.windowHours.max) {
        ctx.addIssue({ code: 'custom', path: ['requests', 'kinds', i, 'windowHours'], message: 'min is above max' });
      }
      if (k.ignoreQuietHours && k.kind !== 'transactional') {
        ctx.addIssue({
          code: 'custom',
          path: ['requests', 'kinds', i, 'ignoreQuietHours'],
          message: 'only the kind "transactional" may ignore quiet hours (the guardrails refuse it for any other kind)',
        });
      }
      if (k.arrivalUtcHours && k.arrivalUtcHours.start >= k.arrivalUtcHours.end) {
        ctx.addIssue({
          code: 'custom',
          path: ['requests', 'kinds', i, 'arrivalUtcHours'],
          message: 'start must be before end',
        });
      }
    });
    const kinds = p.requests.kinds.map((k) => k.kind);
    const dup = kinds.find((k, i) => kinds.indexOf(k) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['requests', 'kinds'], message: `kind "${dup}" is listed twice` });
  });

export type Population = z.infer<typeof PopulationSchema>;
export type PopulationInput = z.input<typeof PopulationSchema>;
export type ChannelTruthSpec = Population['channels']['email'];
export type RequestKindSpec = Population['requests']['kinds'][number];

/**
 * Validates a parsed population object and fills in defaults.
 * @example const population = parsePopulation(JSON.parse(text), 'my-users.json');
 * @throws InvalidPopulationError naming every bad field (dotted path) and why
 */
export function parsePopulation(value: unknown, file?: string): Population {
  const result = PopulationSchema.safeParse(value);
  if (!result.success) throw new InvalidPopulationError(describeIssues(result.error.issues), file);
  return result.data;
}

/**
 * Reads and validates a population file.
 * @example const population = loadPopulationFile('sim/populations/default.json');
 * @throws PopulationFileError when unreadable or not JSON, InvalidPopulationError on schema violations
 */
export function loadPopulationFile(file: string): Population {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new PopulationFileError(`Cannot read population file ${file}: ${(cause as Error).message}`, file, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new PopulationFileError(`Population file ${file} is not valid JSON: ${(cause as Error).message}`, file, {
      cause,
    });
  }
  return parsePopulation(json, file);
}

/** The shipped populations, by name (files in sim/populations/). */
export const SHIPPED_POPULATIONS = [
  'default',
  'night-owls-global',
  'b2b-email-weekdays',
  'push-heavy-fatigue',
] as const;

/**
 * Path of a shipped population file.
 * @example loadPopulationFile(shippedPopulationPath('default'))
 */
export function shippedPopulationPath(name: (typeof SHIPPED_POPULATIONS)[number]): string {
  return new URL(`./populations/${name}.json`, import.meta.url).pathname;
}

/**
 * The JSON Schema of population files (what sim/population.schema.json holds: see
 * `populationSchemaText` in sim/write-population-schema.ts).
 * @example const validate = new Ajv2020().compile(populationJsonSchema());
 */
export function populationJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(PopulationSchema, { io: 'input', target: 'draft-2020-12' }),
    $id: 'https://github.com/send-time-optimizer/send-time-optimizer/sim/population.schema.json',
    title: 'Simulated population',
    description:
      'A population for `sto simulate`: users, time zones, hidden response curves, channels, fatigue, opt-outs, app sessions, cold start and notification requests.',
  };
}
