/**
 * JSON Schema of the analysts' config for the AppConfig validator: draft 4 (what AppConfig validates
 * with), input side (fields with defaults are optional, as in the file the analysts write).
 *
 * TODO: replace with `analystConfigJsonSchema()` from config/json-schema.ts once that lands; it must stay
 * draft 4 and under 32,768 characters (AppConfig's validator limit, checked in analyst-config.ts).
 */
import { z } from 'zod';
import { AnalystConfigSchema } from '#config/schema.ts';

/** @example JSON.stringify(analystConfigJsonSchema()).length // about 12,000 */
export function analystConfigJsonSchema(): object {
  return z.toJSONSchema(AnalystConfigSchema, { io: 'input', unrepresentable: 'any', target: 'draft-4' });
}
