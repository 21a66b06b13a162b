/**
 * Field schemas shared by every message of the contract: identifiers, instants, channels, time zones
 * and contact endpoints. Messages in events/engagement.ts, events/profile.ts and events/request.ts are
 * built from these, so one rule (say, what an id may contain) holds everywhere.
 *
 * Custom messages here name the rule, never the offending value: they end up in logs and DLQ reasons,
 * and the value may be an email address or a phone number.
 */
import * as z from 'zod';

/** The contract version this code reads and writes. A message with another `schemaVersion` is refused. */
export const SCHEMA_VERSION = 1;

/** Delivery channels, in the order the rest of the system lists them. */
export const CHANNELS = ['email', 'push', 'sms'] as const;

/**
 * A delivery channel (a zod enum; `Channel.enum.email`, `Channel.options`).
 * @example Channel.parse('push') // 'push'
 */
export const Channel = z.enum(CHANNELS).meta({ description: 'Delivery channel.' });
export type Channel = z.infer<typeof Channel>;

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const ID_RULE = 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -';

function identifier(description: string) {
  return z.string().regex(ID_PATTERN, { error: ID_RULE }).meta({ description });
}

/** A producer-chosen message id; a second message with the same id is a duplicate and counts once. */
export const MessageId = identifier(
  'Producer-chosen id of this message, unique per producer; a redelivered or re-sent message with the same id is counted once.',
);

/** The user the message is about, in the producer's own id space. */
export const UserId = identifier('Id of the user, as the producer knows them. Not an email address or phone number.');

/** The id the system put on a send (decision), echoed on engagement events so rewards can be attributed. */
export const DecisionId = identifier(
  'The decisionId the optimizer attached to the notification this event is about; lets the reward be attributed to the decision.',
);

/** A campaign id chosen by the producer. */
export const CampaignId = identifier('Producer-chosen id of the campaign the notification belongs to.');

/**
 * An instant as ISO 8601 with seconds and an explicit offset (`Z` or `+hh:mm`), e.g. `2026-11-02T09:30:00+01:00`.
 * Local times without an offset are refused: the optimizer reasons in the user's zone and cannot guess the producer's.
 */
export const IsoDateTime = z.iso
  .datetime({
    offset: true,
    error: 'must be an ISO 8601 date-time with seconds and an offset, e.g. 2026-11-02T09:30:00Z',
  })
  .meta({ description: 'ISO 8601 date-time with an offset (Z or +hh:mm).', examples: ['2026-11-02T09:30:00Z'] });

// IANA names start with a letter; this also keeps out offset zones such as '+05:00' that Intl accepts.
const TIME_ZONE_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;
const knownZones = new Map<string, boolean>();

/**
 * True when the name is an IANA time zone this runtime knows: canonical names and links such as
 * `Asia/Calcutta` or `US/Pacific`. Offset strings (`UTC+5`, `+05:00`) and unknown names are false.
 * @example isKnownTimeZone('Europe/Berlin') // true
 * @example isKnownTimeZone('Mars/Olympus') // false
 */
export function isKnownTimeZone(name: string): boolean {
  if (typeof name !== 'string' || name.length > 64 || !TIME_ZONE_SHAPE.test(name)) return false;
  let known = knownZones.get(name);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: name });
      known = true;
    } catch {
      known = false;
    }
    // Bounded: producers could otherwise grow the cache with made-up names.
    if (knownZones.size < 2_000) knownZones.set(name, known);
  }
  return known;
}

/** An IANA time zone name, checked against the runtime's time zone database. */
export const TimeZone = z
  .string()
  .refine(isKnownTimeZone, {
    error: 'must be an IANA time zone name that exists, such as Europe/Berlin or America/New_York (not an offset)',
  })
  .meta({
    description:
      'IANA time zone name (canonical or link, e.g. Europe/Berlin, Asia/Calcutta). Consumers reject names their time zone database does not know, and offsets such as UTC+5.',
    pattern: TIME_ZONE_SHAPE.source,
    maxLength: 64,
    examples: ['Europe/Berlin', 'America/New_York'],
  });

/** An email address (the value is never echoed in errors or logs). */
export const EmailAddress = z
  .email({ error: 'must be a valid email address' })
  .max(254, { error: 'must be at most 254 characters' })
  .meta({ description: 'Email address of the user. Personal data: never logged by the optimizer.' });

const E164 = /^\+[1-9]\d{6,14}$/;

/** A phone number in E.164 (`+` country code and number, digits only). */
export const E164PhoneNumber = z
  .string()
  .regex(E164, {
    error: "must be an E.164 phone number: '+', country code and subscriber number, 7 to 15 digits, no spaces",
  })
  .meta({ description: 'Phone number in E.164 form. Personal data: never logged by the optimizer.' });

const PUSH_ENDPOINT_ARN =
  /^arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:endpoint\/[A-Za-z_]+\/[A-Za-z0-9_.-]{1,256}\/[A-Za-z0-9-]{1,64}$/;

/** An Amazon SNS mobile platform endpoint ARN. */
export const PushEndpointArn = z
  .string()
  .regex(PUSH_ENDPOINT_ARN, {
    error:
      'must be an SNS platform endpoint ARN: arn:aws:sns:<region>:<account>:endpoint/<platform>/<application>/<id>',
  })
  .meta({
    description: 'Amazon SNS mobile platform endpoint ARN of the user’s device. Never logged by the optimizer.',
  });

const LOCALE_SHAPE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

function isWellFormedLocale(tag: string): boolean {
  if (!LOCALE_SHAPE.test(tag)) return false;
  try {
    return Intl.getCanonicalLocales(tag).length === 1;
  } catch {
    return false;
  }
}

/** A BCP 47 language tag such as `en-US` or `pt-BR`. */
export const Locale = z
  .string()
  .max(35)
  .refine(isWellFormedLocale, { error: 'must be a BCP 47 language tag such as en-US' })
  .meta({ description: 'BCP 47 language tag.', pattern: LOCALE_SHAPE.source, examples: ['en-US', 'de-DE'] });

const TIME_OF_DAY = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

/** A wall-clock time of day, `HH:MM` on a 24-hour clock. */
export const LocalTimeOfDay = z
  .string()
  .regex(TIME_OF_DAY, { error: 'must be a 24-hour time HH:MM, 00:00 to 23:59' })
  .meta({ description: 'Local wall-clock time HH:MM (24-hour).', examples: ['22:00'] });

/**
 * Hours in the user's own zone when nothing but transactional messages may be sent.
 * `end` before `start` spans midnight (22:00 to 07:00).
 */
export const QuietHours = z
  .strictObject({ start: LocalTimeOfDay, end: LocalTimeOfDay })
  .refine((q) => q.start !== q.end, { error: 'start and end must differ', path: ['end'] })
  .meta({
    description: 'Quiet hours in the user’s local time; end before start spans midnight. start and end must differ.',
  });
export type QuietHours = z.infer<typeof QuietHours>;

/** Per-channel opt-in: true opts in, false opts out, an absent channel keeps what the user had. */
export const Consents = z
  .strictObject({ email: z.boolean().optional(), push: z.boolean().optional(), sms: z.boolean().optional() })
  .meta({ description: 'Opt-in per channel: true opted in, false opted out; an absent channel is left unchanged.' });
export type Consents = z.infer<typeof Consents>;

/** Fields every message carries, whatever its type. */
export const envelopeFields = {
  schemaVersion: z.literal(SCHEMA_VERSION).meta({ description: 'Contract version; this is version 1.' }),
  id: MessageId,
  userId: UserId,
  occurredAt: IsoDateTime.meta({
    description: 'When it happened (or was requested), ISO 8601 with an offset.',
    examples: ['2026-11-02T09:30:00Z'],
  }),
};
