/**
 * Reading SQS bodies against the contract. Each step refuses with its own reason code, so a DLQ can
 * be triaged by reason: size (before JSON.parse touches the body), JSON, object shape, schema
 * version, type, then the fields of that one type. Validating against the one schema the `type`
 * names (not the whole union) is what gives "channel: required" instead of "no union member matched".
 *
 * No message built here contains a field value: paths, rules, and (truncated, redacted) types only.
 */
import type { z } from 'zod';
import { type ContractName, type FieldIssue, InvalidMessageError } from './errors.ts';
import { SCHEMA_VERSION } from './fields.ts';
import { INGEST_EVENT_TYPES, type IngestEvent, IngestEventSchema } from './ingest-event.ts';
import { redactText } from './redact.ts';
import { type NotificationRequest, NotificationRequestSchema } from './request.ts';

/** Largest events-queue body accepted, in UTF-8 bytes. */
export const MAX_EVENT_BYTES = 16 * 1024;
/** Largest requests-queue body accepted, in UTF-8 bytes (content for three channels fits easily). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Outcome of reading one body: the typed message, or why it was refused. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: InvalidMessageError };

interface TypeSchema<T> {
  safeParse(value: unknown): z.ZodSafeParseResult<T>;
}

interface Contract<T> {
  name: ContractName;
  /** what one message is called in error messages */
  noun: string;
  maxBytes: number;
  schemas: ReadonlyMap<string, TypeSchema<T>>;
  /** the other queue's types, to point a misrouted message to the right queue */
  otherTypes: ReadonlySet<string>;
  otherQueue: string;
}

const REQUEST_TYPE = 'notification_requested';

const ingestContract: Contract<IngestEvent> = {
  name: 'ingest-event',
  noun: 'event',
  maxBytes: MAX_EVENT_BYTES,
  schemas: new Map<string, TypeSchema<IngestEvent>>(IngestEventSchema.options.map((o) => [o.shape.type.value, o])),
  otherTypes: new Set([REQUEST_TYPE]),
  otherQueue: 'requests',
};

const requestContract: Contract<NotificationRequest> = {
  name: 'notification-request',
  noun: 'request',
  maxBytes: MAX_REQUEST_BYTES,
  schemas: new Map<string, TypeSchema<NotificationRequest>>([[REQUEST_TYPE, NotificationRequestSchema]]),
  otherTypes: new Set(INGEST_EVENT_TYPES),
  otherQueue: 'events',
};

/**
 * Reads one events-queue body (an engagement event or a profile upsert).
 * @example
 *   const parsed = parseIngestEvent(record.body);
 *   if (!parsed.ok) logger.warn('invalid event', { reason: parsed.error.reason, detail: parsed.error.message });
 *   else if (parsed.value.type === 'notification_opened') reward(parsed.value.decisionId);
 */
export function parseIngestEvent(body: string): ParseResult<IngestEvent> {
  return parseBody(body, ingestContract);
}

/**
 * Reads one requests-queue body (a notification request).
 * @example
 *   const parsed = parseNotificationRequest(record.body);
 *   if (parsed.ok) await decide(parsed.value); else batchItemFailures.push({ itemIdentifier: record.messageId });
 */
export function parseNotificationRequest(body: string): ParseResult<NotificationRequest> {
  return parseBody(body, requestContract);
}

/**
 * Validates an already-decoded events-queue message (no size or JSON step), e.g. from a local tool.
 * @example validateIngestEvent({ schemaVersion: 1, id: 'e-1', type: 'app_opened', userId: 'u-1', occurredAt: '2026-11-02T08:00:00Z' }).ok // true
 */
export function validateIngestEvent(value: unknown): ParseResult<IngestEvent> {
  return validate(value, ingestContract);
}

/**
 * Validates an already-decoded notification request (no size or JSON step).
 * @example if (!validateNotificationRequest(draft).ok) throw new Error('draft request is invalid');
 */
export function validateNotificationRequest(value: unknown): ParseResult<NotificationRequest> {
  return validate(value, requestContract);
}

function parseBody<T>(body: string, contract: Contract<T>): ParseResult<T> {
  if (typeof body !== 'string')
    return refuse('malformed_json', `${contract.noun} body is not a string (got ${kindOf(body)})`, contract);
  // UTF-8 takes at least one byte per UTF-16 unit: a long string is oversize without counting bytes.
  const bytes = body.length > contract.maxBytes ? body.length : Buffer.byteLength(body, 'utf8');
  if (bytes > contract.maxBytes) {
    const size = body.length > contract.maxBytes ? `at least ${bytes}` : `${bytes}`;
    return refuse(
      'oversize',
      `${contract.noun} body is ${size} bytes, over the ${contract.maxBytes}-byte limit`,
      contract,
      { bytes, limitBytes: contract.maxBytes },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    // V8's SyntaxError quotes the text around the fault, which may be an address: keep only where.
    return refuse('malformed_json', `${contract.noun} body is not valid JSON${jsonFaultPosition(error)}`, contract);
  }
  return validate(value, contract);
}

function validate<T>(value: unknown, contract: Contract<T>): ParseResult<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return refuse('not_an_object', `${contract.noun} must be a JSON object, got ${kindOf(value)}`, contract);
  const message = value as Record<string, unknown>;
  const version = message.schemaVersion;
  if (version !== undefined && version !== SCHEMA_VERSION)
    return refuse(
      'unsupported_version',
      `schemaVersion ${describeScalar(version)} is not supported; this consumer reads schemaVersion ${SCHEMA_VERSION}`,
      contract,
      { messageType: typeof message.type === 'string' ? safeText(message.type) : undefined },
    );
  const type = message.type;
  const expected = [...contract.schemas.keys()].join(', ');
  if (typeof type !== 'string') {
    const reason = type === undefined ? `required (one of ${expected})` : `expected string, got ${kindOf(type)}`;
    const issue: FieldIssue = { path: 'type', code: type === undefined ? 'required' : 'invalid_type', reason };
    return refuse('invalid_fields', `${contract.noun} is invalid: type: ${reason}`, contract, { issues: [issue] });
  }
  const schema = contract.schemas.get(type);
  if (!schema) {
    const shown = safeText(type);
    const hint = contract.otherTypes.has(type)
      ? `; ${shown} messages belong on the ${contract.otherQueue} queue`
      : `; expected one of ${expected}`;
    return refuse('unknown_type', `unknown ${contract.noun} type "${shown}"${hint}`, contract, { messageType: shown });
  }
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issues = describeIssues(result.error.issues, value);
  const listed = issues
    .slice(0, MAX_ISSUES_IN_MESSAGE)
    .map((i) => `${i.path}: ${i.reason}`)
    .join('; ');
  const more = issues.length > MAX_ISSUES_IN_MESSAGE ? `; and ${issues.length - MAX_ISSUES_IN_MESSAGE} more` : '';
  return refuse('invalid_fields', `${type} ${contract.noun} is invalid: ${listed}${more}`, contract, {
    messageType: type,
    issues,
  });
}

const MAX_ISSUES_IN_MESSAGE = 10;
const MAX_ISSUES = 50;

/**
 * Turns zod issues into path + reason pairs that never contain the input's values. Paths can hold
 * input-chosen keys (unknown fields, record keys), so each segment is truncated and redacted too.
 * @example describeIssues(ProfileUpsertSchema.safeParse(body).error.issues, body) // [{ path: 'phone', code: 'invalid_format', reason: 'must be an E.164 ...' }]
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({
          path: renderPath([...issue.path, key]),
          code: 'unknown_field',
          reason: `not a field of schema version ${SCHEMA_VERSION}`,
        });
      continue;
    }
    out.push({ path: renderPath(issue.path), code: issue.code, reason: safeText(reasonOf(issue, input), 300) });
  }
  return out.slice(0, MAX_ISSUES);
}

function reasonOf(issue: z.core.$ZodIssue, input: unknown): string {
  const actual = valueAt(input, issue.path);
  const missing = issue.path.length > 0 && actual === undefined;
  switch (issue.code) {
    case 'invalid_type':
      return missing ? `required (expected ${issue.expected})` : `expected ${issue.expected}, got ${kindOf(actual)}`;
    case 'invalid_value': {
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ');
      const expectation = issue.values.length === 1 ? `must be ${allowed}` : `must be one of ${allowed}`;
      return missing ? `required (${expectation})` : expectation;
    }
    case 'invalid_key':
      return `invalid key: ${issue.issues.map((i) => i.message).join(', ')}`;
    case 'invalid_union':
      return 'does not match any allowed shape';
    default:
      return issue.message;
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || typeof segment === 'symbol') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

function renderPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(message)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'symbol') out += '[symbol]';
    else if (/^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(safeText(segment, 64))}]`;
  }
  return out;
}

/** Text from the input that is safe to echo: contact data redacted, length capped. */
function safeText(text: string, max = 64): string {
  const redacted = redactText(text);
  return redacted.length > max ? `${redacted.slice(0, max)}…` : redacted;
}

function describeScalar(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return JSON.stringify(safeText(value, 16));
  return `of type ${kindOf(value)}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function jsonFaultPosition(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message);
  if (position) return ` (fault at character ${position[1]})`;
  if (/end of (JSON )?input/i.test(message)) return ' (it ends early)';
  return '';
}

function refuse<T>(
  reason: InvalidMessageError['reason'],
  message: string,
  contract: Contract<T>,
  details: Omit<ConstructorParameters<typeof InvalidMessageError>[2], 'contract'> = {},
): ParseResult<T> {
  return { ok: false, error: new InvalidMessageError(reason, message, { contract: contract.name, ...details }) };
}
