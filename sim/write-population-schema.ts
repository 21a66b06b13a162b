/**
 * Writes sim/population.schema.json from the zod schema, or with `--check` exits 1 when the committed
 * file differs from what the schema generates (as config/ and events/ do for theirs; generated schema
 * files are left out of Biome's formatting, so the bytes are JSON.stringify's).
 * @example npx tsx sim/write-population-schema.ts          # write
 * @example npx tsx sim/write-population-schema.ts --check  # CI: fail on drift
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { populationJsonSchema } from './population.ts';

const SCHEMA_FILE = fileURLToPath(new URL('./population.schema.json', import.meta.url));

/**
 * The exact text of sim/population.schema.json.
 * @example writeFileSync('sim/population.schema.json', populationSchemaText());
 */
export function populationSchemaText(): string {
  return `${JSON.stringify(populationJsonSchema(), null, 2)}\n`;
}

/** The committed sim/population.schema.json. */
export function committedPopulationSchemaText(): string {
  return readFileSync(SCHEMA_FILE, 'utf8');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = populationSchemaText();
  if (process.argv.includes('--check')) {
    if (committedPopulationSchemaText() !== text) {
      console.error(
        'sim/population.schema.json is out of date: run `npx tsx sim/write-population-schema.ts` and commit it',
      );
      process.exit(1);
    }
    console.log('sim/population.schema.json is up to date');
  } else {
    writeFileSync(SCHEMA_FILE, text);
    console.log(`wrote ${SCHEMA_FILE}`);
  }
}
