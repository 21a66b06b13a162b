/**
 * Regenerates sim/population.schema.json from the zod schema: `npx tsx sim/write-population-schema.ts`.
 * A test fails when the committed file drifts from the schema, so run this after changing sim/population.ts.
 */
import { writeFileSync } from 'node:fs';
import { populationJsonSchema } from './population.ts';

const file = new URL('./population.schema.json', import.meta.url).pathname;
writeFileSync(file, `${JSON.stringify(populationJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file}`);
