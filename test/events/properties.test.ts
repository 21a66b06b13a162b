import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMAIL_ADDRESS_PATTERN,
  type InvalidMessageReason,
  PHONE_NUMBER_PATTERN,
  parseIngestEvent,
  parseNotificationRequest,
} from '#events/index.ts';
import { makeProfileUpsert, makeRequest } from '#test/helpers/event-factories.ts';
import { e164Arb, emailArb, ingestEventArb, notificationRequestArb, writtenPhoneArb } from './arbitraries.ts';

const REASONS: InvalidMessageReason[] = [
  'oversize',
  'malformed_json',
  'not_an_object',
  'unsupported_version',
  'unknown_type',
  'invalid_fields',
];

describe('round trip (fast-check)', () => {
  it('every valid events-queue message parses back to what was sent', () => {
    fc.assert(
      fc.property(ingestEventArb, (event) => {
        const wire = JSON.stringify(event);
        const parsed = parseIngestEvent(wire);
        expect(parsed.ok ? 'ok' : parsed.error.message).toBe('ok');
        if (parsed.ok) expect(parsed.value).toEqual(JSON.parse(wire));
      }),
      { numRuns: 1_000 },
    );
  });

  it('every valid notification request parses back to what was sent', () => {
    fc.assert(
      fc.property(notificationRequestArb, (request) => {
        const wire = JSON.stringify(request);
        const parsed = parseNotificationRequest(wire);
        expect(parsed.ok ? 'ok' : parsed.error.message).toBe('ok');
        if (parsed.ok) expect(parsed.value).toEqual(JSON.parse(wire));
      }),
      { numRuns: 500 },
    );
  });
});

describe('robustness (fast-check)', () => {
  it('never throws, and every refusal has a known reason and a message', () => {
    const bodyArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      ingestEventArb.map((e) => JSON.stringify(e).slice(0, -1)),
      fc
        .tuple(ingestEventArb, fc.string(), fc.jsonValue())
        .map(([e, key, value]) => JSON.stringify({ ...e, [key]: value })),
      fc
        .tuple(
          notificationRequestArb,
          fc.constantFrom('window', 'content', 'allowedChannels', 'kind', 'type', 'userId'),
          fc.jsonValue(),
        )
        .map(([r, key, value]) => JSON.stringify({ ...r, [key]: value })),
    );
    fc.assert(
      fc.property(bodyArb, (body) => {
        for (const parsed of [parseIngestEvent(body), parseNotificationRequest(body)]) {
          if (parsed.ok) continue;
          expect(REASONS).toContain(parsed.error.reason);
          expect(parsed.error.message.length).toBeGreaterThan(0);
          for (const issue of parsed.error.issues) expect(issue.path.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('a refusal never echoes a contact value, wherever the producer put it', () => {
    const secretArb = fc.oneof(emailArb, e164Arb, writtenPhoneArb);
    const placements = [
      (s: string) => ({ ...makeProfileUpsert(), email: `${s}@` }),
      (s: string) => ({ ...makeProfileUpsert(), phone: `${s} ` }),
      (s: string) => ({ ...makeProfileUpsert(), email: s, phone: s, locale: s, timeZone: s }),
      (s: string) => ({ ...makeProfileUpsert(), [s]: true }),
      (s: string) => ({ ...makeProfileUpsert(), type: s }),
      (s: string) => ({ ...makeProfileUpsert(), schemaVersion: s }),
      (s: string) => ({ ...makeProfileUpsert(), consents: { [s]: true } }),
      (s: string) => ({ ...makeProfileUpsert(), userId: s, id: s }),
      (s: string) => ({ ...makeRequest(), content: { push: { title: 't', body: 'b', data: { [s]: s } } } }),
      (s: string) => ({ ...makeRequest(), allowedChannels: [s], kind: s, campaignId: s }),
    ];
    fc.assert(
      fc.property(secretArb, fc.integer({ min: 0, max: placements.length - 1 }), (secret, at) => {
        const body = JSON.stringify(placements[at](secret));
        for (const parsed of [parseIngestEvent(body), parseNotificationRequest(body)]) {
          // Some placements are valid (a 3-3-4 number is a legal id): nothing is logged for those.
          if (parsed.ok) continue;
          const logged = `${parsed.error.message} ${JSON.stringify(parsed.error)}`;
          expect(logged).not.toContain(secret);
          expect(logged).not.toMatch(EMAIL_ADDRESS_PATTERN);
          expect(logged).not.toMatch(PHONE_NUMBER_PATTERN);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
