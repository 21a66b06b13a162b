/**
 * JSON Schema documents generated from the zod schemas, for producers in other languages. The files
 * in events/json-schema/ are committed; `npx tsx events/generate-json-schema.ts --check` (and a test)
 * fail when they no longer match what the schemas generate.
 *
 * What JSON Schema cannot say and only the zod schemas check: that a time zone exists in the tz
 * database, that a locale is well formed, that window.notAfter is after window.notBefore and at most
 * 14 days later, and that quietHours.start differs from quietHours.end. The descriptions say so.
 */
import * as z from 'zod';
import { EngagementEventSchema } from './engagement.ts';
import { SCHEMA_VERSION } from './fields.ts';
import { IngestEventSchema } from './ingest-event.ts';
import { ProfileUpsertSchema } from './profile.ts';
import { NotificationRequestSchema } from './request.ts';

/** The documents, keyed by file name inside events/json-schema/. */
export const JSON_SCHEMA_DOCUMENTS = {
  'ingest-event.schema.json': IngestEventSchema,
  'notification-request.schema.json': NotificationRequestSchema,
  'engagement-event.schema.json': EngagementEventSchema,
  'profile-upsert.schema.json': ProfileUpsertSchema,
} as const;

export type JsonSchemaFileName = keyof typeof JSON_SCHEMA_DOCUMENTS;

/**
 * Generates every document as the exact text to commit (2-space JSON, trailing newline).
 * @example const files = generateJsonSchemas(); files['ingest-event.schema.json'] // '{\n  "$schema": ...'
 */
export function generateJsonSchemas(): Record<JsonSchemaFileName, string> {
  const out = {} as Record<JsonSchemaFileName, string>;
  for (const [file, schema] of Object.entries(JSON_SCHEMA_DOCUMENTS) as [JsonSchemaFileName, z.ZodType][]) {
    const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' });
    const { $schema, ...rest } = generated;
    const document = {
      $schema,
      $comment: `Generated from events/*.ts by events/generate-json-schema.ts; schemaVersion ${SCHEMA_VERSION}. Do not edit.`,
      ...rest,
    };
    out[file] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return out;
}
