/**
 * Writes config/analyst-config.schema.json from the zod schema, or with `--check` exits 1 when the
 * committed file differs from what the schema generates.
 * @example npx tsx config/generate-json-schema.ts          # write
 * @example npx tsx config/generate-json-schema.ts --check  # CI: fail on drift
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ANALYST_CONFIG_SCHEMA_FILE, analystConfigJsonSchemaText } from './json-schema.ts';

const path = fileURLToPath(new URL(`../${ANALYST_CONFIG_SCHEMA_FILE}`, import.meta.url));
const check = process.argv.includes('--check');
const text = analystConfigJsonSchemaText();
const committed = await readFile(path, 'utf8').catch(() => undefined);

if (committed === text) {
  console.log(`${ANALYST_CONFIG_SCHEMA_FILE} is up to date`);
} else if (check) {
  console.error(
    `JSON Schema out of date: ${ANALYST_CONFIG_SCHEMA_FILE}. Run \`npx tsx config/generate-json-schema.ts\` and commit the result.`,
  );
  process.exit(1);
} else {
  await writeFile(path, text);
  console.log(`wrote ${ANALYST_CONFIG_SCHEMA_FILE}`);
}
