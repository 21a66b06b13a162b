import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { INGEST_EVENT_TYPES, parseIngestEvent, parseNotificationRequest } from '#events/index.ts';
import {
  makeAppOpened,
  makeIngestEvent,
  makeRequest,
  makeSqsEvent,
  makeSqsRecord,
  resetEventFactories,
} from '#test/helpers/event-factories.ts';

describe('event factories', () => {
  beforeEach(() => resetEventFactories());

  it.each(INGEST_EVENT_TYPES)('makes a valid %s event', (type) => {
    expect(parseIngestEvent(JSON.stringify(makeIngestEvent(type))).ok).toBe(true);
  });

  it('applies overrides and numbers ids from the counter', () => {
    const first = makeAppOpened({ userId: 'u-9', occurredAt: '2026-11-03T07:00:00+01:00' });
    const second = makeAppOpened();
    expect(first).toMatchObject({ id: 'evt-000001', userId: 'u-9', occurredAt: '2026-11-03T07:00:00+01:00' });
    expect(second.id).toBe('evt-000002');
  });

  it('makes a valid request whose content follows allowedChannels', () => {
    const request = makeRequest({ allowedChannels: ['sms'] });
    expect(Object.keys(request.content)).toEqual(['sms']);
    expect(parseNotificationRequest(JSON.stringify(request)).ok).toBe(true);
    expect(parseNotificationRequest(JSON.stringify(makeRequest())).ok).toBe(true);
  });
});

describe('SQS record factories', () => {
  it('wraps an object body as JSON with a matching md5 and SQS attributes', () => {
    const event = makeAppOpened();
    const record = makeSqsRecord(event, { messageId: 'm-1', attributes: { ApproximateReceiveCount: '3' } as never });
    expect(record.messageId).toBe('m-1');
    expect(JSON.parse(record.body)).toEqual(event);
    expect(record.md5OfBody).toBe(createHash('md5').update(record.body).digest('hex'));
    expect(record.attributes.ApproximateReceiveCount).toBe('3');
    expect(record.attributes.SentTimestamp).toMatch(/^\d{13}$/);
    expect(record).toMatchObject({ eventSource: 'aws:sqs', awsRegion: 'eu-west-1' });
  });

  it('keeps a raw string body as is and derives the region from the queue ARN', () => {
    const record = makeSqsRecord('{"broken', { eventSourceARN: 'arn:aws:sqs:us-east-2:123456789012:sto-requests' });
    expect(record.body).toBe('{"broken');
    expect(record.awsRegion).toBe('us-east-2');
  });

  it('builds a batch with distinct message ids', () => {
    const batch = makeSqsEvent([makeAppOpened(), '{"broken', makeSqsRecord(makeRequest(), { messageId: 'given' })]);
    expect(batch.Records).toHaveLength(3);
    expect(new Set(batch.Records.map((r) => r.messageId)).size).toBe(3);
    expect(batch.Records[2].messageId).toBe('given');
  });
});
