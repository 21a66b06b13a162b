/**
 * Writes events/json-schema/*.schema.json from the zod schemas, or with `--check` exits 1 when the
 * committed files differ from what the schemas generate.
 * @example npx tsx events/generate-json-schema.ts          # write
 * @example npx tsx events/generate-json-schema.ts --check  # CI: fail on drift
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generateJsonSchemas } from './json-schema.ts';

const directory = fileURLToPath(new URL('./json-schema/', import.meta.url));
const check = process.argv.includes('--check');
const drifted: string[] = [];

for (const [file, text] of Object.entries(generateJsonSchemas())) {
  const path = `${directory}${file}`;
  const committed = await readFile(path, 'utf8').catch(() => undefined);
  if (committed === text) continue;
  if (check) drifted.push(file);
  else {
    await writeFile(path, text);
    console.log(`wrote events/json-schema/${file}`);
  }
}

if (check && drifted.length) {
  console.error(
    `JSON Schema out of date: ${drifted.join(', ')}. Run \`npx tsx events/generate-json-schema.ts\` and commit the result.`,
  );
  process.exit(1);
}
if (check) console.log('events/json-schema is up to date');
