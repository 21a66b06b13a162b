/**
 * The contract with producers (schema version 1): engagement events and profile upserts on the
 * events queue, notification requests on the requests queue, how bodies are read, and how anything
 * about a user is made safe for a log line.
 * @example
 *   import { parseIngestEvent, redact } from '#events/index.ts';
 *   const parsed = parseIngestEvent(record.body);
 *   if (!parsed.ok) logger.warn('refused', { reason: parsed.error.reason, detail: parsed.error.message });
 */
export * from './engagement.ts';
export * from './errors.ts';
export * from './fields.ts';
export * from './ingest-event.ts';
export * from './parse.ts';
export * from './profile.ts';
export * from './redact.ts';
export * from './request.ts';
