/**
 * Regenerates sim/population.schema.json from the zod schema: `npx tsx sim/write-population-schema.ts`.
 * With `--check` it writes nothing and exits 1 when the committed file differs from what it would write.
 * A test fails when the committed file drifts from the schema, so run this after changing sim/population.ts.
 *
 * The text goes through the repository's own Biome formatter (biome.json: `npm run lint` checks this file),
 * so what is written is byte for byte what the formatter leaves alone and the drift test can compare bytes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { populationJsonSchema } from './population.ts';

const SCHEMA_FILE = fileURLToPath(new URL('./population.schema.json', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * The exact text of sim/population.schema.json: the generated schema, formatted as Biome formats it.
 * @example writeFileSync('sim/population.schema.json', populationSchemaText());
 * @throws Error when Biome cannot be run or refuses the text
 */
export function populationSchemaText(): string {
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  const result = spawnSync(process.execPath, [biome, 'format', '--stdin-file-path=sim/population.schema.json'], {
    cwd: REPO_ROOT,
    input: `${JSON.stringify(populationJsonSchema(), null, 2)}\n`,
    encoding: 'utf8',
  });
  if (result.status !== 0 || !result.stdout) {
    throw new Error(`biome format failed (exit ${result.status}): ${result.error?.message ?? result.stderr}`);
  }
  return result.stdout;
}

/** The committed sim/population.schema.json, as bytes decoded to text. */
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
