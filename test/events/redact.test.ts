import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMAIL_ADDRESS_PATTERN,
  PHONE_NUMBER_PATTERN,
  parseIngestEvent,
  REDACTED,
  redact,
  redactText,
} from '#events/index.ts';
import { makeProfileUpsert } from '#test/helpers/event-factories.ts';
import { emailArb, writtenPhoneArb } from './arbitraries.ts';

const EMAIL_ANYWHERE = new RegExp(EMAIL_ADDRESS_PATTERN.source, 'g');
const PHONE_ANYWHERE = new RegExp(PHONE_NUMBER_PATTERN.source, 'g');

function leaks(text: string): string[] {
  return [...(text.match(EMAIL_ANYWHERE) ?? []), ...(text.match(PHONE_ANYWHERE) ?? [])];
}

describe('redactText', () => {
  it.each([
    ['mail ana.lopez@example.com now', 'mail [redacted:email] now'],
    ["o'brien+news@mail.example.co.uk", '[redacted:email]'],
    ['<mailto:ana@example.com>', '<mailto:[redacted:email]>'],
    ['call +1 (415) 555-0123 today', 'call [redacted:phone] today'],
    ['+447700900123', '[redacted:phone]'],
    ['office 415.555.0123 or (415) 555-0123', 'office [redacted:phone] or [redacted:phone]'],
    ['+44 20 7946 0958, ext', '[redacted:phone], ext'],
  ])('redacts %j', (text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it.each([
    'order 4155550123 shipped',
    '2026-11-02T09:30:00+01:00',
    'took 1234567.1234 ms',
    'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/app/5e3e9847',
    'v1.2.3 at 10:00:00',
  ])('leaves %j alone (no address, no written phone number)', (text) => {
    expect(redactText(text)).toBe(text);
  });

  it('replaces control characters and lone surrogates so JSON escapes cannot complete a number', () => {
    // JSON.stringify writes \u0001 as "\\u0001": its digits would turn "\u0001 555-0123" into 001 555-0123
    const text = '\u0001 555-0123 and \ud800 555-0123';
    expect(leaks(JSON.stringify(text)).length).toBeGreaterThan(0);
    expect(leaks(JSON.stringify(redactText(text)))).toEqual([]);
  });
});

describe('redact', () => {
  it('replaces contact fields by name, whatever their value, at any depth', () => {
    // Prepare
    const record = {
      userId: 'u-1',
      email: 'ana@example.com',
      profile: { Phone: 15551234567, push_endpoint_arn: 'arn:aws:sns:...', address: { street: 'Main St 1' } },
      ses: { Destination: { ToAddresses: ['ana@example.com'] } },
      sns: { PhoneNumber: '+14155550123', TargetArn: 'arn:aws:sns:eu-west-1:1:endpoint/GCM/a/b' },
      missing: undefined,
    };

    // Act
    const out = redact(record);

    // Assess
    expect(out).toEqual({
      userId: 'u-1',
      email: REDACTED,
      profile: { Phone: REDACTED, push_endpoint_arn: REDACTED, address: REDACTED },
      ses: { Destination: REDACTED },
      sns: { PhoneNumber: REDACTED, TargetArn: REDACTED },
    });
  });

  it('does not modify its input', () => {
    const profile = makeProfileUpsert({ email: 'ana@example.com', phone: '+14155550123' });
    const before = structuredClone(profile);
    redact(profile);
    expect(profile).toEqual(before);
  });

  it('redacts keys, errors with causes, maps, sets, dates, bigints and cycles', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const error = new Error('no route to ana@example.com', { cause: new Error('dial +14155550123 failed') });
    const out = redact({
      'ana@example.com': 1,
      error,
      map: new Map([['k', 'to +14155550123']]),
      set: new Set(['ana@example.com']),
      at: new Date('2026-11-02T09:00:00Z'),
      big: 14155550123n,
      fn: () => 1,
      cyclic,
      bytes: new Uint8Array(4),
    }) as Record<string, unknown>;
    expect(out['[redacted:email]']).toBe(1);
    expect(out.error).toMatchObject({
      name: 'Error',
      message: 'no route to [redacted:email]',
      cause: { message: 'dial [redacted:phone] failed' },
    });
    expect(out.map).toEqual([['k', 'to [redacted:phone]']]);
    expect(out.set).toEqual(['[redacted:email]']);
    expect(out.at).toBe('2026-11-02T09:00:00.000Z');
    expect(out.big).toBe('14155550123');
    expect('fn' in out).toBe(false);
    expect(out.cyclic).toEqual({ name: 'loop', self: '[circular]' });
    expect(out.bytes).toBe('[binary 4 bytes]');
  });

  it('keeps keys that redact to the same text apart', () => {
    expect(redact({ 'a@example.com': 1, 'b@example.com': 2 })).toEqual({
      '[redacted:email]': 1,
      '[redacted:email]#2': 2,
    });
  });

  it('keeps a __proto__ key as data', () => {
    const out = redact(JSON.parse('{"__proto__": {"polluted": "ana@example.com"}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('redacts what toJSON returns (e.g. a refused message error)', () => {
    const refused = parseIngestEvent(JSON.stringify({ ...makeProfileUpsert(), email: 'not-an-address' }));
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(redact({ error: refused.error })).toMatchObject({
      error: { reason: 'invalid_fields', issues: [{ path: 'email' }] },
    });
  });
});

// Text mixing contact data with the characters that could hide or complete it: separators, quotes,
// control characters and lone surrogates (which JSON.stringify escapes), parts of numbers.
const trickyCharArb = fc.constantFrom(...'a9@.+-() \'"\\:\n\t\u0001\u001f\ud800\udc00\u00a0'.split(''));
const fragmentArb = fc.oneof(
  emailArb,
  writtenPhoneArb,
  fc.string({ unit: trickyCharArb, maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.stringMatching(/^[\d\s().+-]{1,16}$/),
  fc.stringMatching(/^[\s.-]?\d{3}[\s.-]\d{4}$/),
  fc.stringMatching(/^[a-z]{1,6}\.[a-z]{2,4}$/),
  fc.constantFrom('@', '+', "'", '\u0000', '\ud83d', 'mailto:', '0'),
);
const textArb = fc.array(fragmentArb, { maxLength: 8 }).map((parts) => parts.join(''));
const keyArb = fc.oneof(textArb, fc.constantFrom('email', 'phone', 'pushEndpointArn', 'address', 'note', 'to'));
const valueArb = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    textArb,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('redact guarantee (fast-check)', () => {
  it('JSON.stringify(redact(x)) never contains an email address or a written phone number', () => {
    fc.assert(
      fc.property(valueArb, (value) => {
        expect(leaks(JSON.stringify(redact(value)))).toEqual([]);
      }),
      { numRuns: 2_000 },
    );
  });

  it('no planted address or number survives, wherever it is planted', () => {
    fc.assert(
      fc.property(
        fc.oneof(emailArb, writtenPhoneArb),
        textArb,
        textArb,
        fc.constantFrom('value', 'key', 'nested', 'error'),
        (secret, before, after, where) => {
          const text = `${before}${secret}${after}`;
          const input =
            where === 'value'
              ? { note: text }
              : where === 'key'
                ? { [text]: 1 }
                : where === 'nested'
                  ? { a: [{ b: new Map([['c', text]]) }] }
                  : { error: new Error(text) };
          expect(JSON.stringify(redact(input))).not.toContain(secret);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
