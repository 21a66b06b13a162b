/**
 * Factories for valid contract messages and the SQS records that carry them, for every part's tests.
 * Each factory returns a message that passes the schema; pass overrides for what the test is about.
 * Ids come from a counter (`evt-000001`, `req-000001`, ...), so messages are distinct unless a test
 * reuses an id on purpose; `resetEventFactories()` restarts the counter.
 * @example
 *   const open = makeNotificationOpened({ userId: 'u-1', channel: 'push', decisionId: 'dec-1' });
 *   const event = makeSqsEvent([open, makeAppOpened({ userId: 'u-1' })]);
 */
import { createHash, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type {
  AppOpened,
  Bounced,
  Channel,
  Complained,
  Converted,
  IngestEvent,
  IngestEventType,
  NotificationClicked,
  NotificationDelivered,
  NotificationDismissed,
  NotificationOpened,
  NotificationRequest,
  ProfileUpsert,
  Unsubscribed,
} from '#events/index.ts';

/** The instant factories use when a test does not give one. */
export const FACTORY_NOW = '2026-11-02T09:00:00Z';

let sequence = 0;

/** Restarts the id counter (call in beforeEach when a test asserts on generated ids). */
export function resetEventFactories(): void {
  sequence = 0;
}

function nextId(prefix: string): string {
  sequence += 1;
  return `${prefix}-${String(sequence).padStart(6, '0')}`;
}

function envelope(prefix: string) {
  return { schemaVersion: 1 as const, id: nextId(prefix), userId: 'user-1', occurredAt: FACTORY_NOW };
}

/** @example makeAppOpened({ userId: 'u-7', occurredAt: '2026-11-02T07:30:00+01:00', sessionSeconds: 60 }) */
export function makeAppOpened(overrides: Partial<AppOpened> = {}): AppOpened {
  return { ...envelope('evt'), type: 'app_opened', ...overrides };
}

/** @example makeNotificationDelivered({ channel: 'sms', decisionId: 'dec-1' }) */
export function makeNotificationDelivered(overrides: Partial<NotificationDelivered> = {}): NotificationDelivered {
  return { ...envelope('evt'), type: 'notification_delivered', channel: 'push', ...overrides };
}

/** @example makeNotificationOpened({ channel: 'email', decisionId: 'dec-1' }) */
export function makeNotificationOpened(overrides: Partial<NotificationOpened> = {}): NotificationOpened {
  return { ...envelope('evt'), type: 'notification_opened', channel: 'push', ...overrides };
}

/** @example makeNotificationClicked({ decisionId: 'dec-1' }) */
export function makeNotificationClicked(overrides: Partial<NotificationClicked> = {}): NotificationClicked {
  return { ...envelope('evt'), type: 'notification_clicked', channel: 'push', ...overrides };
}

/** @example makeNotificationDismissed({ channel: 'push' }) */
export function makeNotificationDismissed(overrides: Partial<NotificationDismissed> = {}): NotificationDismissed {
  return { ...envelope('evt'), type: 'notification_dismissed', channel: 'push', ...overrides };
}

/** @example makeUnsubscribed({ channel: 'sms' }) */
export function makeUnsubscribed(overrides: Partial<Unsubscribed> = {}): Unsubscribed {
  return { ...envelope('evt'), type: 'unsubscribed', channel: 'email', ...overrides };
}

/** @example makeBounced({ bounceType: 'transient' }) */
export function makeBounced(overrides: Partial<Bounced> = {}): Bounced {
  return { ...envelope('evt'), type: 'bounced', channel: 'email', bounceType: 'permanent', ...overrides };
}

/** @example makeComplained({ decisionId: 'dec-1' }) */
export function makeComplained(overrides: Partial<Complained> = {}): Complained {
  return { ...envelope('evt'), type: 'complained', channel: 'email', ...overrides };
}

/** @example makeConverted({ value: 42, currency: 'EUR', decisionId: 'dec-1' }) */
export function makeConverted(overrides: Partial<Converted> = {}): Converted {
  return { ...envelope('evt'), type: 'converted', ...overrides };
}

/**
 * A profile upsert with a time zone and all channels opted in (contact endpoints only when given).
 * @example makeProfileUpsert({ userId: 'u-1', timeZone: 'Asia/Tokyo', consents: { sms: false } })
 */
export function makeProfileUpsert(overrides: Partial<ProfileUpsert> = {}): ProfileUpsert {
  return {
    ...envelope('evt'),
    type: 'profile_upserted',
    timeZone: 'Europe/Berlin',
    consents: { email: true, push: true, sms: true },
    ...overrides,
  };
}

const FACTORIES: { [T in IngestEventType]: (overrides?: Partial<Extract<IngestEvent, { type: T }>>) => IngestEvent } = {
  app_opened: makeAppOpened,
  notification_delivered: makeNotificationDelivered,
  notification_opened: makeNotificationOpened,
  notification_clicked: makeNotificationClicked,
  notification_dismissed: makeNotificationDismissed,
  unsubscribed: makeUnsubscribed,
  bounced: makeBounced,
  complained: makeComplained,
  converted: makeConverted,
  profile_upserted: makeProfileUpsert,
};

/**
 * Any events-queue message by type.
 * @example makeIngestEvent('bounced', { userId: 'u-3', bounceType: 'transient' })
 */
export function makeIngestEvent<T extends IngestEventType>(
  type: T,
  overrides: Partial<Extract<IngestEvent, { type: T }>> = {},
): Extract<IngestEvent, { type: T }> {
  const factory = FACTORIES[type] as unknown as (
    o: Partial<Extract<IngestEvent, { type: T }>>,
  ) => Extract<IngestEvent, { type: T }>;
  return factory(overrides);
}

/** Content for each channel, realistic and within every limit. */
export const SAMPLE_CONTENT: Required<NotificationRequest['content']> = {
  email: {
    subject: 'Your weekly picks are here',
    text: 'Hi, here are this week’s picks: https://shop.example.com/picks',
  },
  push: { title: 'Weekly picks', body: 'Five new picks for you', data: { deepLink: 'shop://picks' } },
  sms: { text: 'Shop: your weekly picks are in. shop.example.com/p Reply STOP to opt out' },
};

/**
 * A promotional request allowing every channel, window from `FACTORY_NOW` to 48 hours later.
 * Give `allowedChannels` alone and the content follows (only those channels' parts).
 * @example makeRequest({ userId: 'u-1', allowedChannels: ['push'], window: { notBefore: a, notAfter: b } })
 */
export function makeRequest(overrides: Partial<NotificationRequest> = {}): NotificationRequest {
  const allowedChannels: Channel[] = overrides.allowedChannels ?? ['email', 'push', 'sms'];
  const content = Object.fromEntries(allowedChannels.map((c) => [c, SAMPLE_CONTENT[c]]));
  return {
    ...envelope('req'),
    type: 'notification_requested',
    campaignId: 'campaign-weekly-picks',
    kind: 'promotional',
    content,
    allowedChannels,
    window: { notBefore: FACTORY_NOW, notAfter: new Date(Date.parse(FACTORY_NOW) + 48 * 3_600_000).toISOString() },
    ...overrides,
  };
}

/** Alias of makeRequest under the message's own name. */
export const makeNotificationRequest = makeRequest;

const DEFAULT_QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:sto-events';

/**
 * An SQS record as Lambda's event source hands it over. `body` may be an object (serialised with
 * JSON.stringify) or a raw string (for malformed or oversize bodies). md5OfBody matches the body.
 * @example makeSqsRecord('{"not json', { messageId: 'poison-1' })
 * @example makeSqsRecord(makeRequest(), { eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:sto-requests' })
 */
export function makeSqsRecord(body: string | object, overrides: Partial<SQSRecord> = {}): SQSRecord {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const sentMs = Date.parse(FACTORY_NOW);
  const eventSourceARN = overrides.eventSourceARN ?? DEFAULT_QUEUE_ARN;
  const { attributes, ...rest } = overrides;
  return {
    messageId: randomUUID(),
    receiptHandle: `AQEB${Buffer.from(randomUUID() + randomUUID()).toString('base64')}`,
    body: text,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(sentMs),
      SenderId: 'AROAIWPX5BD2BHG722MW4:producer',
      ApproximateFirstReceiveTimestamp: String(sentMs + 25),
      ...attributes,
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(text, 'utf8').digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion: eventSourceARN.split(':')[3] ?? 'eu-west-1',
    ...rest,
  };
}

/**
 * An SQS event (one Lambda invocation's batch) from bodies or ready-made records.
 * @example makeSqsEvent([makeAppOpened(), '{"broken"'])
 */
export function makeSqsEvent(items: (string | object | SQSRecord)[], overrides: Partial<SQSRecord> = {}): SQSEvent {
  return { Records: items.map((item) => (isSqsRecord(item) ? item : makeSqsRecord(item, overrides))) };
}

function isSqsRecord(item: unknown): item is SQSRecord {
  return typeof item === 'object' && item !== null && 'receiptHandle' in item && 'eventSource' in item;
}
