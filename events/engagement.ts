/**
 * Engagement events: what users did (opened the app, opened or clicked a notification, unsubscribed,
 * bounced, converted, ...). They feed the per-user features and, when they carry the `decisionId` of
 * a send, the rewards of the bandit.
 */
import * as z from 'zod';
import { Channel, DecisionId, envelopeFields, TimeZone } from './fields.ts';

const engagementFields = {
  ...envelopeFields,
  timeZone: TimeZone.optional().meta({
    description:
      'The user’s IANA time zone when the event happened, if the producer knows it (e.g. Europe/Berlin). Names the tz database does not know are rejected.',
  }),
};

const attributedDecision = DecisionId.optional();

/** The user opened the app (a session started). */
export const AppOpenedSchema = z
  .strictObject({
    ...engagementFields,
    type: z.literal('app_opened'),
    sessionSeconds: z
      .number()
      .nonnegative({ error: 'must be 0 or more' })
      .max(86_400, { error: 'must be at most 86400 (one day)' })
      .optional()
      .meta({ description: 'Length of the session in seconds, if known.' }),
  })
  .meta({ title: 'AppOpened', description: 'The user opened the app (a session started).' });

function notificationEvent<T extends string>(type: T, description: string) {
  return z
    .strictObject({
      ...engagementFields,
      type: z.literal(type),
      channel: Channel,
      decisionId: attributedDecision,
    })
    .meta({ title: pascal(type), description });
}

/** A notification reached the user's device or inbox. */
export const NotificationDeliveredSchema = notificationEvent(
  'notification_delivered',
  'A notification reached the user’s device or inbox.',
);
/** The user opened a notification (email open, push tap, SMS read receipt). */
export const NotificationOpenedSchema = notificationEvent(
  'notification_opened',
  'The user opened a notification (email open, push open).',
);
/** The user clicked a link or action in a notification. */
export const NotificationClickedSchema = notificationEvent(
  'notification_clicked',
  'The user clicked a link or action in a notification.',
);
/** The user dismissed a notification without opening it. */
export const NotificationDismissedSchema = notificationEvent(
  'notification_dismissed',
  'The user dismissed a notification without opening it.',
);

/** The user unsubscribed from a channel: the optimizer stops using it for them. */
export const UnsubscribedSchema = z
  .strictObject({
    ...engagementFields,
    type: z.literal('unsubscribed'),
    channel: Channel,
    decisionId: attributedDecision,
  })
  .meta({ title: 'Unsubscribed', description: 'The user unsubscribed from a channel; it is no longer used for them.' });

/** A send bounced. A permanent bounce suppresses the channel for the user. */
export const BouncedSchema = z
  .strictObject({
    ...engagementFields,
    type: z.literal('bounced'),
    channel: Channel,
    bounceType: z
      .enum(['permanent', 'transient'])
      .meta({ description: 'permanent suppresses the channel for the user; transient does not.' }),
    decisionId: attributedDecision,
  })
  .meta({ title: 'Bounced', description: 'A send bounced (hard: permanent, soft: transient).' });

/** The user marked a message as spam: the channel is suppressed for them. */
export const ComplainedSchema = z
  .strictObject({
    ...engagementFields,
    type: z.literal('complained'),
    channel: Channel,
    decisionId: attributedDecision,
  })
  .meta({ title: 'Complained', description: 'The user marked a message as spam; the channel is suppressed.' });

/** The user did what the campaign was for (purchase, sign-up, ...). */
export const ConvertedSchema = z
  .strictObject({
    ...engagementFields,
    type: z.literal('converted'),
    decisionId: attributedDecision,
    value: z
      .number()
      .nonnegative({ error: 'must be 0 or more' })
      .optional()
      .meta({ description: 'Monetary or business value of the conversion.' }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { error: 'must be an ISO 4217 code of three capital letters, e.g. EUR' })
      .optional()
      .meta({ description: 'ISO 4217 currency of value.' }),
  })
  .meta({ title: 'Converted', description: 'The user did what the campaign was for (purchase, sign-up, ...).' });

/** Every engagement event, discriminated on `type`. */
export const EngagementEventSchema = z
  .discriminatedUnion('type', [
    AppOpenedSchema,
    NotificationDeliveredSchema,
    NotificationOpenedSchema,
    NotificationClickedSchema,
    NotificationDismissedSchema,
    UnsubscribedSchema,
    BouncedSchema,
    ComplainedSchema,
    ConvertedSchema,
  ])
  .meta({ title: 'EngagementEvent', description: 'An engagement event, discriminated on type.' });

export type AppOpened = z.infer<typeof AppOpenedSchema>;
export type NotificationDelivered = z.infer<typeof NotificationDeliveredSchema>;
export type NotificationOpened = z.infer<typeof NotificationOpenedSchema>;
export type NotificationClicked = z.infer<typeof NotificationClickedSchema>;
export type NotificationDismissed = z.infer<typeof NotificationDismissedSchema>;
export type Unsubscribed = z.infer<typeof UnsubscribedSchema>;
export type Bounced = z.infer<typeof BouncedSchema>;
export type Complained = z.infer<typeof ComplainedSchema>;
export type Converted = z.infer<typeof ConvertedSchema>;
export type EngagementEvent = z.infer<typeof EngagementEventSchema>;
export type EngagementEventType = EngagementEvent['type'];

/** The `type` of every engagement event. */
export const ENGAGEMENT_EVENT_TYPES = EngagementEventSchema.options.map(
  (o) => o.shape.type.value,
) as readonly EngagementEventType[];

/** Engagement events that concern one send and may carry its `decisionId`. */
export type AttributableEvent = Extract<EngagementEvent, { decisionId?: string }>;

function pascal(snake: string): string {
  return snake.replace(/(^|_)([a-z])/g, (_m, _sep: string, c: string) => c.toUpperCase());
}
