/**
 * JSON Schema of the analysts' config for the AppConfig validator: config/json-schema.ts's Draft-04
 * rendering (what AppConfig validates with), input side (fields with defaults are optional, as in the file
 * the analysts write). The same function serves `sto config schema` and the committed schema file, so the
 * validator cannot drift from what `npx sto config validate` checks; analyst-config.ts refuses it above
 * AppConfig's 32,768-character limit.
 */
import { appConfigValidatorJsonSchema } from '#config/json-schema.ts';

/** @example JSON.stringify(analystConfigJsonSchema()).length // about 12,000 */
export function analystConfigJsonSchema(): object {
  return appConfigValidatorJsonSchema();
}
