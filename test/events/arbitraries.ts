/**
 * fast-check arbitraries for valid contract messages (every type, every optional field sometimes
 * present, instants with arbitrary offsets) and for the contact data that must never reach a log.
 * @example fc.assert(fc.property(ingestEventArb, (event) => parseIngestEvent(JSON.stringify(event)).ok));
 */
import fc from 'fast-check';
import {
  CHANNELS,
  type IngestEvent,
  MAX_DELIVERY_WINDOW_DAYS,
  NOTIFICATION_KINDS,
  type NotificationRequest,
} from '#events/index.ts';

export const idArb = fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/);
export const channelArb = fc.constantFrom(...CHANNELS);
export const timeZoneArb = fc.constantFrom(
  ...Intl.supportedValuesOf('timeZone'),
  'UTC',
  'Asia/Calcutta',
  'US/Pacific',
  'Etc/GMT+5',
);

const MIN_MS = Date.parse('2000-01-01T00:00:00Z');
const MAX_MS = Date.parse('2099-12-31T00:00:00Z');

/** An instant written with a random UTC offset (or Z), with or without fractional seconds. */
export const isoInstantArb = fc
  .record({
    ms: fc.integer({ min: MIN_MS, max: MAX_MS }),
    offsetQuarters: fc.integer({ min: -48, max: 56 }),
    zulu: fc.boolean(),
    fraction: fc.constantFrom(0, 3, 6),
  })
  .map(({ ms, offsetQuarters, zulu, fraction }) => formatInstant(ms, zulu ? 0 : offsetQuarters * 15, fraction, zulu));

/** Writes an instant as ISO 8601 in the given offset (minutes east of UTC). */
export function formatInstant(
  ms: number,
  offsetMinutes: number,
  fractionDigits = 0,
  zulu = offsetMinutes === 0,
): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const seconds = local.slice(0, 19);
  const millis = local.slice(20, 23);
  const fraction = fractionDigits === 0 ? '' : `.${`${millis}000`.slice(0, fractionDigits)}`;
  if (zulu && offsetMinutes === 0) return `${seconds}${fraction}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${seconds}${fraction}${sign}${hh}:${mm}`;
}

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);

/** Email addresses the contract accepts (a conservative subset of RFC 5322). */
export const emailArb = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]{1,12}(?:[._+-][a-z0-9]{1,8}){0,2}$/),
    fc.array(label, { minLength: 1, maxLength: 2 }),
    fc.stringMatching(/^[a-z]{2,6}$/),
  )
  .map(([local, labels, tld]) => `${local}@${labels.join('.')}.${tld}`);

/** E.164 numbers: '+', a non-zero digit, 6 to 14 more digits. */
export const e164Arb = fc
  .tuple(fc.integer({ min: 1, max: 9 }), fc.stringMatching(/^\d{6,14}$/))
  .map(([first, rest]) => `+${first}${rest}`);

/** A phone number the way people write one, in any of the formats redaction must recognise. */
export const writtenPhoneArb = fc.oneof(
  e164Arb,
  fc
    .tuple(
      fc.integer({ min: 1, max: 999 }),
      fc.stringMatching(/^\d{2,4}$/),
      fc.stringMatching(/^\d{3,4}$/),
      fc.stringMatching(/^\d{4}$/),
    )
    .map(([cc, a, b, c]) => `+${cc} ${a} ${b} ${c}`),
  fc
    .tuple(
      fc.stringMatching(/^\d{3}$/),
      fc.stringMatching(/^\d{3}$/),
      fc.stringMatching(/^\d{4}$/),
      fc.constantFrom('-', '.', ' '),
    )
    .map(([a, b, c, sep]) => `${a}${sep}${b}${sep}${c}`),
  fc
    .tuple(fc.stringMatching(/^\d{3}$/), fc.stringMatching(/^\d{3}$/), fc.stringMatching(/^\d{4}$/))
    .map(([a, b, c]) => `(${a}) ${b}-${c}`),
);

export const pushEndpointArnArb = fc
  .tuple(
    fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1'),
    fc.stringMatching(/^\d{12}$/),
    fc.constantFrom('APNS', 'APNS_SANDBOX', 'GCM'),
    fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/),
    fc.uuid(),
  )
  .map(([region, account, platform, app, id]) => `arn:aws:sns:${region}:${account}:endpoint/${platform}/${app}/${id}`);

const timeOfDayArb = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

const quietHoursArb = fc
  .tuple(timeOfDayArb, timeOfDayArb)
  .filter(([start, end]) => start !== end)
  .map(([start, end]) => ({ start, end }));

const envelopeArb = {
  schemaVersion: fc.constant(1 as const),
  id: idArb,
  userId: idArb,
  occurredAt: isoInstantArb,
};

const optional = { requiredKeys: ['schemaVersion', 'id', 'userId', 'occurredAt', 'type'] as string[] };

function notificationEventArb<T extends string>(type: T) {
  return fc.record(
    { ...envelopeArb, type: fc.constant(type), channel: channelArb, decisionId: idArb, timeZone: timeZoneArb },
    { requiredKeys: [...optional.requiredKeys, 'channel'] as never[] },
  );
}

/** Any valid events-queue message. */
export const ingestEventArb: fc.Arbitrary<IngestEvent> = fc.oneof(
  fc.record(
    {
      ...envelopeArb,
      type: fc.constant('app_opened' as const),
      timeZone: timeZoneArb,
      sessionSeconds: fc.oneof(fc.integer({ min: 0, max: 86_400 }), fc.double({ min: 0, max: 86_400, noNaN: true })),
    },
    optional as { requiredKeys: never[] },
  ),
  notificationEventArb('notification_delivered'),
  notificationEventArb('notification_opened'),
  notificationEventArb('notification_clicked'),
  notificationEventArb('notification_dismissed'),
  notificationEventArb('unsubscribed'),
  notificationEventArb('complained'),
  fc.record(
    {
      ...envelopeArb,
      type: fc.constant('bounced' as const),
      channel: channelArb,
      bounceType: fc.constantFrom('permanent' as const, 'transient' as const),
      decisionId: idArb,
      timeZone: timeZoneArb,
    },
    { requiredKeys: [...optional.requiredKeys, 'channel', 'bounceType'] as never[] },
  ),
  fc.record(
    {
      ...envelopeArb,
      type: fc.constant('converted' as const),
      decisionId: idArb,
      value: fc.double({ min: 0, max: 1e9, noNaN: true }),
      currency: fc.stringMatching(/^[A-Z]{3}$/),
      timeZone: timeZoneArb,
    },
    optional as { requiredKeys: never[] },
  ),
  fc.record(
    {
      ...envelopeArb,
      type: fc.constant('profile_upserted' as const),
      timeZone: timeZoneArb,
      consents: fc.record({ email: fc.boolean(), push: fc.boolean(), sms: fc.boolean() }, { requiredKeys: [] }),
      email: emailArb,
      phone: e164Arb,
      pushEndpointArn: pushEndpointArnArb,
      locale: fc.constantFrom('en', 'en-US', 'de-DE', 'pt-BR', 'zh-Hant-TW', 'es-419'),
      quietHours: quietHoursArb,
    },
    optional as { requiredKeys: never[] },
  ),
) as fc.Arbitrary<IngestEvent>;

const nonEmptyText = (max: number) => fc.string({ minLength: 1, maxLength: Math.min(max, 200) });

const contentArb = {
  email: fc.record(
    { subject: nonEmptyText(998), text: nonEmptyText(5_000), html: nonEmptyText(5_000) },
    { requiredKeys: ['subject', 'text'] },
  ),
  push: fc.record(
    {
      title: nonEmptyText(256),
      body: nonEmptyText(4_000),
      data: fc.dictionary(
        fc
          .stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/)
          .filter((k) => !/^(?:__proto__|from|notification|message_type)$|^google|^gcm/.test(k)),
        fc.string({ maxLength: 100 }),
        { maxKeys: 5 },
      ),
    },
    { requiredKeys: ['title', 'body'] },
  ),
  sms: fc.record({ text: nonEmptyText(1_600) }),
};

/** Any valid notification request. */
export const notificationRequestArb: fc.Arbitrary<NotificationRequest> = fc
  .record({
    envelope: fc.record(envelopeArb),
    campaignId: idArb,
    kind: fc.constantFrom(...NOTIFICATION_KINDS),
    allowedChannels: fc.shuffledSubarray([...CHANNELS], { minLength: 1 }),
    extraContent: fc.subarray([...CHANNELS]),
    email: contentArb.email,
    push: contentArb.push,
    sms: contentArb.sms,
    notBeforeMs: fc.integer({ min: MIN_MS, max: MAX_MS }),
    spanMs: fc.integer({ min: 1_000, max: MAX_DELIVERY_WINDOW_DAYS * 86_400_000 }),
    offsets: fc.tuple(fc.integer({ min: -48, max: 56 }), fc.integer({ min: -48, max: 56 })),
    priority: fc.option(fc.constantFrom('normal' as const, 'high' as const), { nil: undefined }),
    ignoreQuietHours: fc.option(fc.boolean(), { nil: undefined }),
  })
  .map((r) => {
    const channels = new Set([...r.allowedChannels, ...r.extraContent]);
    const request: NotificationRequest = {
      ...r.envelope,
      type: 'notification_requested',
      campaignId: r.campaignId,
      kind: r.kind,
      content: Object.fromEntries([...channels].map((c) => [c, r[c]])),
      allowedChannels: r.allowedChannels,
      window: {
        notBefore: formatInstant(r.notBeforeMs, r.offsets[0] * 15),
        notAfter: formatInstant(r.notBeforeMs + r.spanMs, r.offsets[1] * 15),
      },
    };
    if (r.priority) request.priority = r.priority;
    // Only a transactional request may ignore quiet hours; any request may say false.
    if (r.ignoreQuietHours !== undefined && (r.kind === 'transactional' || !r.ignoreQuietHours))
      request.ignoreQuietHours = r.ignoreQuietHours;
    return request;
  });
