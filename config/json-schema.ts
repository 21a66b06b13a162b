/**
 * JSON Schema of the analysts' config, generated from the zod schema (config/schema.ts) so there is one
 * definition. One function serves every consumer: the committed config/analyst-config.schema.json (the
 * `$schema` of config files, for completion and checks in editors), `sto config schema`, and the AppConfig
 * validator of the stack.
 *
 * Input side: a field with a default is optional, as an analyst writes it. What JSON Schema cannot say and
 * only zod checks (`sto config validate`, the stack's synth, each function on every fetch): that the time
 * zone exists in the tz database, that at least one channel is enabled, and that quiet hours start and end
 * differ. The root description says so.
 */
import * as z from 'zod';
import { AnalystConfigSchema } from './schema.ts';

/**
 * `draft-2020-12` for editors and Ajv (the default); `draft-4` for an AWS AppConfig JSON_SCHEMA
 * validator, which accepts only Draft-04 (and at most 32,768 characters of it).
 */
export type AnalystConfigJsonSchemaTarget = 'draft-2020-12' | 'draft-4';

export const ANALYST_CONFIG_SCHEMA_FILE = 'config/analyst-config.schema.json';

const TITLE = 'Send-time optimizer analyst config';
const DESCRIPTION =
  "The analysts' config: bandit algorithm and parameters, reward weights, attribution window, feature half-life, " +
  'slot grid, channels and their cost, guardrails, holdout. Generated from config/schema.ts. ' +
  'Checked only by `npx sto config validate` (and by every function before use), not by this schema: ' +
  'guardrails.defaultTimeZone must be an IANA time zone, at least one channel must be enabled, ' +
  'and guardrails.quietHours.start must differ from end.';

/**
 * The JSON Schema of the analysts' config (input side: fields with defaults are optional).
 * @example const schema = analystConfigJsonSchema(); // draft 2020-12, what config/analyst-config.schema.json holds
 * @example analystConfigJsonSchema({ target: 'draft-4' }) // for AppConfig: appConfigValidatorJsonSchema()
 */
export function analystConfigJsonSchema(
  options: { target?: AnalystConfigJsonSchemaTarget } = {},
): Record<string, unknown> {
  const target = options.target ?? 'draft-2020-12';
  const { $schema, ...rest } = z.toJSONSchema(AnalystConfigSchema, { target, io: 'input', unrepresentable: 'throw' });
  return {
    $schema,
    $comment: 'Generated from config/schema.ts by config/generate-json-schema.ts. Do not edit.',
    title: TITLE,
    description: DESCRIPTION,
    ...rest,
  };
}

/**
 * The schema an AWS AppConfig JSON_SCHEMA validator takes: Draft-04 (the only draft AppConfig validates
 * with), compact; at about 12,000 characters it fits AppConfig's 32,768.
 * @example validators: [{ type: 'JSON_SCHEMA', content: JSON.stringify(appConfigValidatorJsonSchema()) }]
 */
export function appConfigValidatorJsonSchema(): Record<string, unknown> {
  return analystConfigJsonSchema({ target: 'draft-4' });
}

/**
 * The exact text of config/analyst-config.schema.json (2-space JSON, trailing newline).
 * @example writeFileSync(ANALYST_CONFIG_SCHEMA_FILE, analystConfigJsonSchemaText());
 */
export function analystConfigJsonSchemaText(): string {
  return `${JSON.stringify(analystConfigJsonSchema(), null, 2)}\n`;
}
