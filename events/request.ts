/**
 * Notification requests: a producer asks the optimizer to deliver one notification to one user,
 * somewhere inside a window, on one of the channels it allows. The optimizer picks the channel and
 * the send time; the content for every allowed channel comes with the request.
 */
import * as z from 'zod';
import { CampaignId, CHANNELS, Channel, envelopeFields, IsoDateTime } from './fields.ts';

/** The longest delivery window a request may give, in days. */
export const MAX_DELIVERY_WINDOW_DAYS = 14;
const MAX_DELIVERY_WINDOW_MS = MAX_DELIVERY_WINDOW_DAYS * 86_400_000;

/** SMS text limit: ten concatenated GSM-7 segments. */
export const MAX_SMS_TEXT_LENGTH = 1_600;

/** What a notification is for; guardrails and quiet hours depend on it. */
export const NOTIFICATION_KINDS = ['transactional', 'promotional', 'reminder', 'digest', 'social'] as const;

/**
 * The kind of a notification (a zod enum; `NotificationKind.enum.promotional`, `NotificationKind.options`).
 * @example NotificationKind.parse('digest') // 'digest'
 */
export const NotificationKind = z.enum(NOTIFICATION_KINDS).meta({
  description: 'What the notification is for. Only transactional notifications may ignore quiet hours.',
});
export type NotificationKind = z.infer<typeof NotificationKind>;

function text(max: number, description: string) {
  return z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(max, { error: `must be at most ${max} characters` })
    .meta({ description });
}

export const EmailContentSchema = z
  .strictObject({
    subject: text(998, 'Subject line.'),
    text: text(65_536, 'Plain-text body.'),
    html: text(65_536, 'HTML body; the plain-text body is sent alongside it.').optional(),
  })
  .meta({ title: 'EmailContent' });

// FCM refuses these keys; __proto__ would also vanish into the parsed object's prototype.
const PUSH_DATA_KEY = /^(?!(?:__proto__|from|notification|message_type)$|google|gcm)[A-Za-z0-9_.:-]{1,64}$/;

export const PushContentSchema = z
  .strictObject({
    title: text(256, 'Notification title.'),
    body: text(4_000, 'Notification body.'),
    data: z
      .record(
        z.string().regex(PUSH_DATA_KEY, {
          error:
            'keys must be 1 to 64 characters of A-Z a-z 0-9 _ . : - and not reserved (__proto__, from, notification, message_type, google*, gcm*)',
        }),
        z.string().max(1_024, { error: 'values must be at most 1024 characters' }),
      )
      .optional()
      .meta({ description: 'Custom key-value payload delivered to the app (deep link, ids).' }),
  })
  .meta({ title: 'PushContent' });

export const SmsContentSchema = z
  .strictObject({ text: text(MAX_SMS_TEXT_LENGTH, `Message text, at most ${MAX_SMS_TEXT_LENGTH} characters.`) })
  .meta({ title: 'SmsContent' });

/** Content per channel; every channel in `allowedChannels` needs its part. */
export const NotificationContentSchema = z
  .strictObject({
    email: EmailContentSchema.optional(),
    push: PushContentSchema.optional(),
    sms: SmsContentSchema.optional(),
  })
  .meta({ title: 'NotificationContent', description: 'Content per channel.' });

/** The window the notification must be sent in: `notBefore` < `notAfter`, at most 14 days apart. */
export const DeliveryWindowSchema = z
  .strictObject({
    notBefore: IsoDateTime.meta({ description: 'Earliest send time.' }),
    notAfter: IsoDateTime.meta({ description: 'Latest send time; after notBefore, at most 14 days later.' }),
  })
  .superRefine((w, ctx) => {
    const span = Date.parse(w.notAfter) - Date.parse(w.notBefore);
    if (!(span > 0)) ctx.addIssue({ code: 'custom', path: ['notAfter'], message: 'must be later than notBefore' });
    else if (span > MAX_DELIVERY_WINDOW_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['notAfter'],
        message: `must be at most ${MAX_DELIVERY_WINDOW_DAYS} days after notBefore`,
      });
  })
  .meta({
    title: 'DeliveryWindow',
    description: `Send no earlier than notBefore and no later than notAfter; notAfter must be later than notBefore and at most ${MAX_DELIVERY_WINDOW_DAYS} days after it.`,
  });

// JSON Schema cannot compare two dates, but it can say that an allowed channel needs its content and
// that only transactional requests may ignore quiet hours; zod checks the same in superRefine below.
const crossFieldJsonSchema = [
  ...CHANNELS.map((channel) => ({
    if: {
      type: 'object',
      properties: { allowedChannels: { type: 'array', contains: { const: channel } } },
      required: ['allowedChannels'],
    },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited
    then: {
      type: 'object',
      properties: { content: { type: 'object', properties: { [channel]: { type: 'object' } }, required: [channel] } },
      required: ['content'],
    },
  })),
  {
    if: { type: 'object', properties: { ignoreQuietHours: { const: true } }, required: ['ignoreQuietHours'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited
    then: { type: 'object', properties: { kind: { const: 'transactional' } } },
  },
];

/** A request to deliver one notification to one user. */
export const NotificationRequestSchema = z
  .strictObject({
    ...envelopeFields,
    id: envelopeFields.id.meta({
      description: 'Request id, unique per producer; a request sent twice with the same id is delivered at most once.',
    }),
    type: z.literal('notification_requested'),
    campaignId: CampaignId,
    kind: NotificationKind,
    content: NotificationContentSchema,
    allowedChannels: z.array(Channel).min(1, { error: 'must list at least one channel' }).meta({
      description: 'Channels the optimizer may choose from; no duplicates, and each needs its content.',
      uniqueItems: true,
    }),
    window: DeliveryWindowSchema,
    priority: z
      .enum(['normal', 'high'])
      .optional()
      .meta({ description: 'high asks for the earliest good slot in the window; default normal.' }),
    ignoreQuietHours: z
      .boolean()
      .optional()
      .meta({ description: 'Send even inside the user’s quiet hours; only allowed when kind is transactional.' }),
  })
  .superRefine((request, ctx) => {
    const seen = new Set<Channel>();
    request.allowedChannels.forEach((channel, index) => {
      if (seen.has(channel))
        ctx.addIssue({ code: 'custom', path: ['allowedChannels', index], message: `duplicate channel '${channel}'` });
      seen.add(channel);
      if (!request.content[channel])
        ctx.addIssue({
          code: 'custom',
          path: ['content', channel],
          message: `required: allowedChannels includes '${channel}'`,
        });
    });
    if (request.ignoreQuietHours && request.kind !== 'transactional')
      ctx.addIssue({
        code: 'custom',
        path: ['ignoreQuietHours'],
        message: `only allowed when kind is 'transactional' (kind is '${request.kind}')`,
      });
  })
  .meta({
    title: 'NotificationRequested',
    description: 'A request to deliver one notification to one user inside a window, on one of the allowed channels.',
    allOf: crossFieldJsonSchema,
  });

export type EmailContent = z.infer<typeof EmailContentSchema>;
export type PushContent = z.infer<typeof PushContentSchema>;
export type SmsContent = z.infer<typeof SmsContentSchema>;
export type NotificationContent = z.infer<typeof NotificationContentSchema>;
export type DeliveryWindow = z.infer<typeof DeliveryWindowSchema>;
export type NotificationRequest = z.infer<typeof NotificationRequestSchema>;
export type NotificationPriority = NonNullable<NotificationRequest['priority']>;
