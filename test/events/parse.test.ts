import { describe, expect, it } from 'vitest';
import {
  ENGAGEMENT_EVENT_TYPES,
  INGEST_EVENT_TYPES,
  type IngestEvent,
  InvalidMessageError,
  MAX_EVENT_BYTES,
  MAX_REQUEST_BYTES,
  type ParseResult,
  parseIngestEvent,
  parseNotificationRequest,
  validateIngestEvent,
  validateNotificationRequest,
} from '#events/index.ts';
import {
  makeAppOpened,
  makeBounced,
  makeConverted,
  makeIngestEvent,
  makeNotificationOpened,
  makeProfileUpsert,
  makeRequest,
} from '#test/helpers/event-factories.ts';

const body = (value: unknown) => JSON.stringify(value);

function refusal<T>(result: ParseResult<T>): InvalidMessageError {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
  return result.error;
}

function issuePaths<T>(result: ParseResult<T>): string[] {
  return refusal(result).issues.map((i) => i.path);
}

describe('parseIngestEvent: valid messages', () => {
  it.each(INGEST_EVENT_TYPES)('accepts a minimal %s event and returns it typed', (type) => {
    // Prepare
    const event = makeIngestEvent(type, { userId: 'user-42' });

    // Act
    const result = parseIngestEvent(body(event));

    // Assess
    expect(result).toEqual({ ok: true, value: event });
  });

  it('accepts every optional field of an engagement event', () => {
    const events: IngestEvent[] = [
      makeAppOpened({ sessionSeconds: 0, timeZone: 'America/Sao_Paulo' }),
      makeNotificationOpened({ channel: 'sms', decisionId: 'dec:2026-11-02:abc.1', timeZone: 'Asia/Tokyo' }),
      makeBounced({ channel: 'sms', bounceType: 'transient', decisionId: 'dec-7' }),
      makeConverted({ decisionId: 'dec-7', value: 0, currency: 'JPY' }),
    ];
    for (const event of events) expect(parseIngestEvent(body(event))).toEqual({ ok: true, value: event });
  });

  it('accepts a full profile upsert', () => {
    const profile = makeProfileUpsert({
      timeZone: 'Asia/Kolkata',
      consents: { email: true, push: false },
      email: "o'brien+news@mail.example.co.uk",
      phone: '+447700900123',
      pushEndpointArn:
        'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/sto-android/8c3f5a2e-1b0d-3e4f-9a8b-7c6d5e4f3a2b',
      locale: 'en-GB',
      quietHours: { start: '21:30', end: '06:45' },
    });
    expect(parseIngestEvent(body(profile))).toEqual({ ok: true, value: profile });
  });

  it('accepts instants with any offset, fractional seconds and Z', () => {
    for (const occurredAt of ['2026-11-02T09:30:00Z', '2026-11-02T09:30:00.123456+05:45', '2026-11-01T23:00:00-10:00'])
      expect(parseIngestEvent(body(makeAppOpened({ occurredAt }))).ok).toBe(true);
  });

  it('lists engagement types apart from the profile upsert', () => {
    expect(ENGAGEMENT_EVENT_TYPES).not.toContain('profile_upserted');
    expect([...INGEST_EVENT_TYPES].sort()).toEqual([...ENGAGEMENT_EVENT_TYPES, 'profile_upserted'].sort());
  });
});

describe('parseIngestEvent: refusals by reason', () => {
  it('refuses a body that is not JSON as malformed_json, without quoting it', () => {
    const error = refusal(parseIngestEvent('{"schemaVersion": 1, "email": ana.lopez@example.com}'));
    expect(error).toBeInstanceOf(InvalidMessageError);
    expect(error.reason).toBe('malformed_json');
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.message).not.toContain('ana.lopez');
    expect(error.cause).toBeUndefined();
  });

  it('says where truncated JSON breaks', () => {
    const error = refusal(parseIngestEvent('{"schemaVersion": 1, "id": "p-1", '));
    expect(error.reason).toBe('malformed_json');
    expect(error.message).toMatch(/character \d+|ends early/);
  });

  it.each([
    ['an array', '[]', 'array'],
    ['a string', '"app_opened"', 'string'],
    ['null', 'null', 'null'],
    ['a number', '42', 'number'],
  ])('refuses %s as not_an_object', (_name, text, kind) => {
    const error = refusal(parseIngestEvent(text));
    expect(error.reason).toBe('not_an_object');
    expect(error.message).toContain(kind);
  });

  it('refuses another schemaVersion as unsupported_version, naming it', () => {
    const error = refusal(parseIngestEvent(body({ ...makeAppOpened(), schemaVersion: 2 })));
    expect(error.reason).toBe('unsupported_version');
    expect(error.message).toContain('schemaVersion 2');
    expect(error.messageType).toBe('app_opened');
  });

  it('refuses a missing schemaVersion as a missing field', () => {
    const { schemaVersion: _omitted, ...event } = makeAppOpened();
    const result = parseIngestEvent(body(event));
    expect(refusal(result).reason).toBe('invalid_fields');
    expect(refusal(result).issues).toContainEqual(expect.objectContaining({ path: 'schemaVersion' }));
    expect(refusal(result).message).toContain('schemaVersion: required');
  });

  it('refuses an unknown type as unknown_type, naming the type and the known ones', () => {
    const error = refusal(parseIngestEvent(body({ ...makeAppOpened(), type: 'app_exploded' })));
    expect(error.reason).toBe('unknown_type');
    expect(error.messageType).toBe('app_exploded');
    expect(error.message).toContain('"app_exploded"');
    expect(error.message).toContain('notification_opened');
    expect(error.issues).toEqual([]);
  });

  it('truncates a long unknown type and redacts contact data in it', () => {
    const long = refusal(parseIngestEvent(body({ ...makeAppOpened(), type: 'x'.repeat(5_000) })));
    expect(long.reason).toBe('unknown_type');
    expect(long.message.length).toBeLessThan(600);
    const sneaky = refusal(parseIngestEvent(body({ ...makeAppOpened(), type: 'ana.lopez@example.com' })));
    expect(sneaky.reason).toBe('unknown_type');
    expect(sneaky.message).not.toContain('ana.lopez');
  });

  it('points a request sent to the events queue at the requests queue', () => {
    const error = refusal(parseIngestEvent(body(makeRequest())));
    expect(error.reason).toBe('unknown_type');
    expect(error.message).toContain('requests queue');
  });

  it('refuses a missing or non-string type as invalid_fields on path type', () => {
    const { type: _omitted, ...untyped } = makeAppOpened();
    const missing = refusal(parseIngestEvent(body(untyped)));
    expect(missing.reason).toBe('invalid_fields');
    expect(missing.issues).toEqual([
      expect.objectContaining({ path: 'type', reason: expect.stringContaining('required') }),
    ]);
    const numeric = refusal(parseIngestEvent(body({ ...makeAppOpened(), type: 7 })));
    expect(numeric.issues).toEqual([expect.objectContaining({ path: 'type', reason: 'expected string, got number' })]);
  });

  it('refuses a missing channel, naming the path and the allowed values', () => {
    const { channel: _omitted, ...event } = makeNotificationOpened();
    const error = refusal(parseIngestEvent(body(event)));
    expect(error.reason).toBe('invalid_fields');
    expect(error.messageType).toBe('notification_opened');
    expect(error.issues).toEqual([
      { path: 'channel', code: 'invalid_value', reason: 'required (must be one of "email", "push", "sms")' },
    ]);
    expect(error.message).toBe(
      'notification_opened event is invalid: channel: required (must be one of "email", "push", "sms")',
    );
  });

  it('refuses wrong field types with expected and received kinds', () => {
    const result = parseIngestEvent(body({ ...makeAppOpened(), sessionSeconds: 'long', userId: 17 }));
    expect(refusal(result).issues).toEqual(
      expect.arrayContaining([
        { path: 'sessionSeconds', code: 'invalid_type', reason: 'expected number, got string' },
        { path: 'userId', code: 'invalid_type', reason: 'expected string, got number' },
      ]),
    );
  });

  it.each([
    ['an id with a space', { id: 'evt 1' }, 'id'],
    ['an empty user id', { userId: '' }, 'userId'],
    ['a 129-character id', { id: 'a'.repeat(129) }, 'id'],
    ['a local time without offset', { occurredAt: '2026-11-02T09:30:00' }, 'occurredAt'],
    ['an impossible date', { occurredAt: '2026-02-30T09:30:00Z' }, 'occurredAt'],
    ['a date without time', { occurredAt: '2026-11-02' }, 'occurredAt'],
    ['a negative session', { sessionSeconds: -1 }, 'sessionSeconds'],
    ['an unknown channel', { type: 'notification_clicked', channel: 'fax' }, 'channel'],
    ['an unknown field', { sessionSecond: 12 }, 'sessionSecond'],
  ])('refuses %s at its path', (_name, patch, path) => {
    const result = parseIngestEvent(body({ ...makeAppOpened(), ...patch }));
    expect(refusal(result).reason).toBe('invalid_fields');
    expect(issuePaths(result)).toContain(path);
  });

  it('names an unknown field as not part of the schema version', () => {
    const error = refusal(parseIngestEvent(body({ ...makeNotificationOpened(), decisionID: 'dec-1' })));
    expect(error.issues).toEqual([
      { path: 'decisionID', code: 'unknown_field', reason: 'not a field of schema version 1' },
    ]);
  });

  it('refuses a bounce without bounceType and a conversion with a lower-case currency', () => {
    const { bounceType: _omitted, ...bounce } = makeBounced();
    expect(issuePaths(parseIngestEvent(body(bounce)))).toEqual(['bounceType']);
    expect(issuePaths(parseIngestEvent(body(makeConverted({ value: 5, currency: 'eur' }))))).toEqual(['currency']);
    expect(issuePaths(parseIngestEvent(body(makeConverted({ value: -5 }))))).toEqual(['value']);
  });

  it('reports every bad field of a message at once', () => {
    const result = parseIngestEvent(
      body({
        ...makeProfileUpsert(),
        timeZone: 'Mars/Olympus',
        locale: 'not a locale',
        quietHours: { start: '25:00' },
      }),
    );
    expect(issuePaths(result).sort()).toEqual(['locale', 'quietHours.end', 'quietHours.start', 'timeZone']);
  });
});

describe('size limits', () => {
  it('accepts an event of exactly the limit and refuses one byte more as oversize before parsing', () => {
    // Prepare: a body padded with spaces (valid JSON whitespace) to an exact size
    const event = body(makeAppOpened());
    const atLimit = event + ' '.repeat(MAX_EVENT_BYTES - Buffer.byteLength(event));
    const overLimit = `${atLimit} `;

    // Act / Assess
    expect(Buffer.byteLength(atLimit)).toBe(MAX_EVENT_BYTES);
    expect(parseIngestEvent(atLimit).ok).toBe(true);
    const error = refusal(parseIngestEvent(overLimit));
    expect(error.reason).toBe('oversize');
    expect(error.bytes).toBe(MAX_EVENT_BYTES + 1);
    expect(error.limitBytes).toBe(16_384);
    expect(error.message).toContain(String(MAX_EVENT_BYTES));
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 6_000 three-byte characters: 6_000 characters, 18_000 bytes
    const error = refusal(parseIngestEvent(body({ ...makeAppOpened(), pad: '€'.repeat(6_000) })));
    expect(error.reason).toBe('oversize');
    expect(error.bytes).toBeGreaterThan(18_000);
  });

  it('refuses an oversize body even when it is not JSON (size is checked first)', () => {
    expect(refusal(parseIngestEvent('{'.repeat(MAX_EVENT_BYTES + 1))).reason).toBe('oversize');
  });

  it('allows requests up to 64 KiB', () => {
    const big = makeRequest({
      allowedChannels: ['email'],
      content: { email: { subject: 'Digest', text: 'x'.repeat(40_000) } },
    });
    expect(MAX_REQUEST_BYTES).toBe(65_536);
    expect(parseNotificationRequest(body(big)).ok).toBe(true);
    const huge = makeRequest({
      allowedChannels: ['email'],
      content: { email: { subject: 'Digest', text: 'x'.repeat(60_000), html: 'y'.repeat(10_000) } },
    });
    expect(refusal(parseNotificationRequest(body(huge))).reason).toBe('oversize');
  });
});

describe('time zones', () => {
  it.each([
    'Europe/Berlin',
    'America/Argentina/Buenos_Aires',
    'Asia/Calcutta',
    'US/Pacific',
    'UTC',
    'Etc/GMT+5',
    'Europe/Kiev',
  ])('accepts the IANA name or link %s', (timeZone) => {
    expect(parseIngestEvent(body(makeProfileUpsert({ timeZone }))).ok).toBe(true);
    expect(parseIngestEvent(body(makeAppOpened({ timeZone }))).ok).toBe(true);
  });

  it.each([
    '',
    'Mars/Olympus',
    'UTC+5',
    '+05:00',
    'GMT +1',
    'Europe/Berlinn',
    'Etc/Unknown',
    'Europe/../../etc/passwd',
  ])('refuses %j with a clear message', (timeZone) => {
    const error = refusal(parseIngestEvent(body(makeProfileUpsert({ timeZone }))));
    expect(error.reason).toBe('invalid_fields');
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'timeZone', reason: expect.stringContaining('IANA time zone name that exists') }),
    ]);
  });

  it('refuses a nonexistent zone on an engagement event too', () => {
    expect(issuePaths(parseIngestEvent(body(makeAppOpened({ timeZone: 'Atlantis/Capital' }))))).toEqual(['timeZone']);
  });
});

describe('profile contact fields', () => {
  it.each([
    '4915550123456',
    '+0123456789',
    '+1 415 555 0123',
    '+1-415-555-0123',
    '+12345',
    '+1234567890123456',
    'tel:+14155550123',
  ])('refuses %j as phone, without echoing it', (phone) => {
    const error = refusal(parseIngestEvent(body(makeProfileUpsert({ phone }))));
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'phone', reason: expect.stringContaining('E.164') }),
    ]);
    expect(JSON.stringify(error)).not.toContain(phone);
    expect(error.message).not.toContain(phone.replace(/\D/g, '').slice(0, 7));
  });

  it.each(['secret.person@@example.com', 'ana.lopez@example', 'ana lopez@example.com', 'ana.lopez.example.com'])(
    'refuses %j as email, without echoing any part of it',
    (email) => {
      const error = refusal(parseIngestEvent(body(makeProfileUpsert({ email }))));
      expect(error.issues).toEqual([
        expect.objectContaining({ path: 'email', reason: 'must be a valid email address' }),
      ]);
      expect(error.message).not.toMatch(/secret|lopez|example/);
      expect(JSON.stringify(error)).not.toMatch(/secret|lopez|example/);
    },
  );

  it('refuses a malformed push endpoint ARN and an unknown consent channel', () => {
    const result = parseIngestEvent(
      body(
        makeProfileUpsert({
          pushEndpointArn: 'arn:aws:sns:eu-west-1:123456789012:my-topic',
          consents: { fax: true } as never,
        }),
      ),
    );
    expect(issuePaths(result).sort()).toEqual(['consents.fax', 'pushEndpointArn']);
  });

  it('refuses quiet hours that start when they end, or are not HH:MM', () => {
    expect(
      issuePaths(parseIngestEvent(body(makeProfileUpsert({ quietHours: { start: '22:00', end: '22:00' } })))),
    ).toEqual(['quietHours.end']);
    expect(
      issuePaths(parseIngestEvent(body(makeProfileUpsert({ quietHours: { start: '9:00', end: '24:00' } })))),
    ).toEqual(['quietHours.start', 'quietHours.end']);
  });

  it('never echoes contact values, even when they sit in the wrong field or in a field name', () => {
    // Prepare: an address where the phone goes, a number where the address goes, both as unknown keys
    const message = {
      ...makeProfileUpsert(),
      phone: 'ana.lopez@example.com',
      email: '+14155550123',
      locale: '+44 20 7946 0958',
      'maria.garcia@example.org': true,
      consents: { '+33612345678': true },
    };

    // Act
    const error = refusal(parseIngestEvent(body(message)));

    // Assess
    const logged = JSON.stringify(error);
    for (const secret of ['ana.lopez', '4155550123', '7946', 'maria.garcia', '33612345678'])
      expect(logged).not.toContain(secret);
    expect(error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['phone', 'email', 'locale', '["[redacted:email]"]', 'consents["[redacted:phone]"]']),
    );
  });
});

describe('parseNotificationRequest', () => {
  it('accepts a request with every optional field', () => {
    const request = makeRequest({
      kind: 'transactional',
      priority: 'high',
      ignoreQuietHours: true,
      allowedChannels: ['sms', 'push'],
    });
    expect(parseNotificationRequest(body(request))).toEqual({ ok: true, value: request });
  });

  it('accepts content for a channel that is not allowed (the producer may narrow channels later)', () => {
    const request = makeRequest({
      allowedChannels: ['push'],
      content: { push: { title: 't', body: 'b' }, sms: { text: 's' } },
    });
    expect(parseNotificationRequest(body(request)).ok).toBe(true);
  });

  it('refuses an allowed channel without content, naming the missing part', () => {
    const request = makeRequest({ allowedChannels: ['email', 'sms'], content: { email: { subject: 's', text: 't' } } });
    const error = refusal(parseNotificationRequest(body(request)));
    expect(error.reason).toBe('invalid_fields');
    expect(error.issues).toEqual([
      { path: 'content.sms', code: 'custom', reason: "required: allowedChannels includes 'sms'" },
    ]);
  });

  it('refuses an empty or repeated channel list', () => {
    expect(issuePaths(parseNotificationRequest(body(makeRequest({ allowedChannels: [] }))))).toEqual([
      'allowedChannels',
    ]);
    const repeated = makeRequest({ allowedChannels: ['push', 'email', 'push'] });
    expect(refusal(parseNotificationRequest(body(repeated))).issues).toEqual([
      { path: 'allowedChannels[2]', code: 'custom', reason: "duplicate channel 'push'" },
    ]);
  });

  it('refuses a window that ends before, or when, it starts', () => {
    for (const notAfter of ['2026-11-02T08:59:59Z', '2026-11-02T10:00:00+01:00']) {
      const request = makeRequest({ window: { notBefore: '2026-11-02T09:00:00Z', notAfter } });
      expect(refusal(parseNotificationRequest(body(request))).issues).toEqual([
        { path: 'window.notAfter', code: 'custom', reason: 'must be later than notBefore' },
      ]);
    }
  });

  it('compares window ends as instants, not as text', () => {
    // 10:30+02:00 is 08:30Z: before 09:00Z although the text sorts after it
    const request = makeRequest({
      window: { notBefore: '2026-11-02T09:00:00Z', notAfter: '2026-11-02T10:30:00+02:00' },
    });
    expect(issuePaths(parseNotificationRequest(body(request)))).toEqual(['window.notAfter']);
  });

  it('allows a 14-day window and refuses a longer one', () => {
    const fourteenDays = makeRequest({
      window: { notBefore: '2026-11-02T00:00:00Z', notAfter: '2026-11-16T00:00:00Z' },
    });
    expect(parseNotificationRequest(body(fourteenDays)).ok).toBe(true);
    const longer = makeRequest({ window: { notBefore: '2026-11-02T00:00:00Z', notAfter: '2026-11-16T00:00:01Z' } });
    expect(refusal(parseNotificationRequest(body(longer))).issues).toEqual([
      { path: 'window.notAfter', code: 'custom', reason: 'must be at most 14 days after notBefore' },
    ]);
  });

  it('allows ignoreQuietHours only for transactional requests', () => {
    expect(parseNotificationRequest(body(makeRequest({ kind: 'reminder', ignoreQuietHours: false }))).ok).toBe(true);
    const error = refusal(parseNotificationRequest(body(makeRequest({ kind: 'promotional', ignoreQuietHours: true }))));
    expect(error.issues).toEqual([
      {
        path: 'ignoreQuietHours',
        code: 'custom',
        reason: "only allowed when kind is 'transactional' (kind is 'promotional')",
      },
    ]);
  });

  it('refuses an unknown kind and an SMS over 1600 characters', () => {
    const result = parseNotificationRequest(
      body(
        makeRequest({
          kind: 'newsletter' as never,
          allowedChannels: ['sms'],
          content: { sms: { text: 'x'.repeat(1_601) } },
        }),
      ),
    );
    expect(refusal(result).issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'kind', reason: expect.stringContaining('"transactional"') }),
        { path: 'content.sms.text', code: 'too_big', reason: 'must be at most 1600 characters' },
      ]),
    );
  });

  it('refuses empty content parts and redacts input-chosen data keys in paths', () => {
    const request = makeRequest({
      allowedChannels: ['email', 'push'],
      content: {
        email: { subject: '', text: 'hello' },
        push: { title: 't', body: 'b', data: { ['k'.repeat(65)]: 'v', 'ana.lopez@example.com': 'x'.repeat(2_000) } },
      },
    });
    const error = refusal(parseNotificationRequest(body(request)));
    expect(error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'content.email.subject',
        `content.push.data["${'k'.repeat(64)}…"]`,
        'content.push.data["[redacted:email]"]',
      ]),
    );
    expect(JSON.stringify(error)).not.toContain('ana.lopez');
  });

  function withDataKey(key: string): string {
    const wire = JSON.stringify(makeRequest({ allowedChannels: ['push'] }));
    return wire.replace('"data":{', `"data":{${JSON.stringify(key)}:"x",`);
  }

  it.each(['from', 'notification', 'google.c.a.e', 'gcm.notification', 'deep link', ''])(
    'refuses the push data key %j (reserved by FCM or malformed)',
    (key) => {
      const error = refusal(parseNotificationRequest(withDataKey(key)));
      expect(error.issues).toEqual([
        expect.objectContaining({ path: expect.stringMatching(/^content\.push\.data[.[]/), code: 'invalid_key' }),
      ]);
    },
  );

  it('drops a __proto__ push data key (zod never copies it) without touching prototypes', () => {
    const parsed = parseNotificationRequest(withDataKey('__proto__'));
    if (!parsed.ok) throw parsed.error;
    const data = parsed.value.content.push?.data ?? {};
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.keys(data)).toEqual(['deepLink']);
  });

  it('refuses an engagement event sent to the requests queue as unknown_type', () => {
    const error = refusal(parseNotificationRequest(body(makeAppOpened())));
    expect(error.reason).toBe('unknown_type');
    expect(error.contract).toBe('notification-request');
    expect(error.message).toContain('events queue');
  });
});

describe('validate* (already decoded values)', () => {
  it('validates objects without the size and JSON steps', () => {
    expect(validateIngestEvent(makeAppOpened()).ok).toBe(true);
    expect(validateNotificationRequest(makeRequest()).ok).toBe(true);
    expect(refusal(validateIngestEvent('{}')).reason).toBe('not_an_object');
  });

  it('refuses a non-string body instead of throwing', () => {
    expect(refusal(parseIngestEvent(undefined as unknown as string)).reason).toBe('malformed_json');
  });
});

describe('InvalidMessageError', () => {
  it('is an EventContractError with a name, reason and a log-safe JSON form', () => {
    const error = refusal(parseIngestEvent(body({ ...makeNotificationOpened(), channel: 'fax' })));
    expect(error.name).toBe('InvalidMessageError');
    expect(error).toBeInstanceOf(Error);
    expect(error.toJSON()).toEqual({
      name: 'InvalidMessageError',
      reason: 'invalid_fields',
      contract: 'ingest-event',
      message: error.message,
      messageType: 'notification_opened',
      issues: [{ path: 'channel', code: 'invalid_value', reason: 'must be one of "email", "push", "sms"' }],
    });
  });

  it('caps the message at ten issues but keeps them all in issues', () => {
    const unknownFields = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`extra${i}`, i]));
    const error = refusal(parseIngestEvent(body({ ...makeAppOpened(), ...unknownFields })));
    expect(error.issues).toHaveLength(14);
    expect(error.message).toContain('and 4 more');
  });
});
