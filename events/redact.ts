/**
 * Redaction of contact data for log lines: "No email address or phone number in logs" is one of the
 * product's promises, and log attributes routinely contain records, SDK inputs and error causes.
 *
 * What counts as contact data:
 * - an email address: any run of text around an `@` (`o'brien@example.com`, `mailto:a@b`, `x@y`);
 * - a phone number written as one: `+` followed by 7 to 15 digits, with or without spaces, dots,
 *   dashes and parentheses (`+14155550123`, `+44 20 7946 0958`), or the 3-3-4 form with separators
 *   (`(415) 555-0123`, `415.555.0123`);
 * - any value under a field named like a contact endpoint (see `CONTACT_FIELD_NAMES`), whatever it is.
 *
 * A bare run of digits (`4155550123`) outside such a field is not redacted: it cannot be told from an
 * id, a count or a timestamp. The guarantee, tested with fast-check: `JSON.stringify(redact(x))`
 * contains no match of `EMAIL_ADDRESS_PATTERN` or `PHONE_NUMBER_PATTERN`, whatever `x` is.
 */

/** An email address as log scanners recognise one (used to check output; redaction is broader). */
export const EMAIL_ADDRESS_PATTERN = /[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;

/** A phone number written as one: international with `+`, or 3-3-4 with separators. */
export const PHONE_NUMBER_PATTERN =
  /\+[\s().-]*\d(?:[\s().-]*\d){6,14}|(?:\(\d{3}\)[\s.-]?|\d{3}[\s.-])\d{3}[\s.-]\d{4}/;

/** Field names (compared lower-case, without `_`, `-` or `.`) whose values are always redacted. */
export const CONTACT_FIELD_NAMES: ReadonlySet<string> = new Set([
  'email',
  'emails',
  'emailaddress',
  'phone',
  'phonenumber',
  'phonenumbers',
  'mobile',
  'msisdn',
  'address',
  'addresses',
  'toaddresses',
  'ccaddresses',
  'bccaddresses',
  'replytoaddresses',
  'destination',
  'pushendpointarn',
  'endpointarn',
  'targetarn',
  'token',
  'devicetoken',
]);

export const REDACTED = '[redacted]';
const REDACTED_EMAIL = '[redacted:email]';
const REDACTED_PHONE = '[redacted:phone]';
const MAX_DEPTH = 32;

// Everything touching an '@' up to a delimiter. Broader than EMAIL_ADDRESS_PATTERN on purpose: the
// domain may be partial or the local part quoted, and a character that only JSON escaping would turn
// into a letter must not leave half an address behind.
const EMAIL_RUN = /[^\s@"<>()[\],;:\\]*@[^\s@"<>()[\],;:\\]+/g;
const PHONE_RUN = new RegExp(PHONE_NUMBER_PATTERN.source, 'g');

/**
 * Replaces email addresses and phone numbers inside free text.
 * Control characters and lone surrogates become U+FFFD first, because JSON.stringify would write
 * them as `\u00XX` escapes whose hex digits could complete a phone number in the log line.
 * @example redactText('sent to ana@example.com and +44 20 7946 0958') // 'sent to [redacted:email] and [redacted:phone]'
 */
export function redactText(text: string): string {
  return escapeSafe(text).replace(EMAIL_RUN, REDACTED_EMAIL).replace(PHONE_RUN, REDACTED_PHONE);
}

/** JSON-safe value, what `redact` returns. */
export type RedactedValue = string | number | boolean | null | RedactedValue[] | { [key: string]: RedactedValue };

/**
 * A JSON-safe copy of any value for a log line, with contact data replaced: values of contact fields
 * (`email`, `phone`, `pushEndpointArn`, `address`, SDK names such as `ToAddresses` or `PhoneNumber`),
 * and email addresses and phone numbers anywhere in strings and keys. Errors keep name, message,
 * stack and cause; cycles become '[circular]'. The input is not modified.
 * @example
 *   logger.warn('profile refused', { record: redact(profile) });
 *   redact({ userId: 'u-1', email: 'ana@example.com', note: 'call +14155550123' })
 *   // { userId: 'u-1', email: '[redacted]', note: 'call [redacted:phone]' }
 */
export function redact(value: unknown): RedactedValue {
  return copy(value, new WeakSet(), 0) ?? null;
}

function copy(value: unknown, ancestors: WeakSet<object>, depth: number): RedactedValue | undefined {
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return redactText(value.toString());
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? null : object.toISOString();
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return `[binary ${object.byteLength} bytes]`;
  ancestors.add(object);
  try {
    if (Array.isArray(object)) return object.map((item) => copy(item, ancestors, depth + 1) ?? null);
    if (object instanceof Map)
      return [...object].map(([k, v]) => [
        copy(k, ancestors, depth + 1) ?? null,
        copy(v, ancestors, depth + 1) ?? null,
      ]);
    if (object instanceof Set) return [...object].map((item) => copy(item, ancestors, depth + 1) ?? null);
    if (object instanceof Error) return copyEntries(errorEntries(object), ancestors, depth);
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // Whatever a toJSON returns is what JSON.stringify would print, so that is what gets redacted.
      let json: unknown;
      try {
        json = toJSON.call(object);
      } catch {
        return '[unserializable]';
      }
      return json === object ? copyEntries(Object.entries(object), ancestors, depth) : copy(json, ancestors, depth + 1);
    }
    return copyEntries(Object.entries(object), ancestors, depth);
  } finally {
    ancestors.delete(object);
  }
}

function copyEntries(entries: [string, unknown][], ancestors: WeakSet<object>, depth: number): RedactedValue {
  const out: [string, RedactedValue][] = [];
  const keys = new Set<string>();
  for (const [key, item] of entries) {
    let safeKey = redactText(key);
    // Two keys that redact to the same text must not overwrite each other.
    for (let n = 2; keys.has(safeKey); n++) safeKey = `${redactText(key)}#${n}`;
    if (isContactField(key)) {
      if (item === undefined) continue;
      keys.add(safeKey);
      out.push([safeKey, REDACTED]);
      continue;
    }
    const redacted = copy(item, ancestors, depth + 1);
    if (redacted === undefined) continue;
    keys.add(safeKey);
    out.push([safeKey, redacted]);
  }
  // fromEntries defines own properties, so a key such as __proto__ stays data.
  return Object.fromEntries(out);
}

function errorEntries(error: Error): [string, unknown][] {
  const entries: [string, unknown][] = [
    ['name', error.name],
    ['message', error.message],
  ];
  if (error.stack) entries.push(['stack', error.stack]);
  if (error.cause !== undefined) entries.push(['cause', error.cause]);
  for (const [key, item] of Object.entries(error))
    if (!['name', 'message', 'stack', 'cause'].includes(key)) entries.push([key, item]);
  return entries;
}

function isContactField(key: string): boolean {
  return CONTACT_FIELD_NAMES.has(key.toLowerCase().replace(/[-_.]/g, ''));
}

function escapeSafe(text: string): string {
  let out: string[] | undefined;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    let unsafe = false;
    if (code < 0x20) unsafe = code !== 0x09 && code !== 0x0a && code !== 0x0d;
    else if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        if (out) out.push(text[i], text[i + 1]);
        i++;
        continue;
      }
      unsafe = true;
    } else if (code >= 0xdc00 && code <= 0xdfff) unsafe = true;
    if (unsafe && !out) out = [text.slice(0, i)];
    if (out) out.push(unsafe ? '\uFFFD' : text[i]);
  }
  return out ? out.join('') : text;
}
