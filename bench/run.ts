/**
 * `npm run bench [section ...]`: runs benchmark sections and merges their results into
 * bench/results/latest.json (sections not run keep their previous numbers).
 * Each section is a module bench/<name>.bench.ts exporting `run(): Promise<Record<string, unknown>>`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(here, 'results', 'latest.json');

const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!available.includes(w)) {
    console.error(`Unknown bench section "${w}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
}
const sections = wanted.length ? wanted : available;

const results: Record<string, unknown> = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : {};
for (const name of sections) {
  console.log(`bench: ${name} ...`);
  const mod = (await import(join(here, `${name}.bench.ts`))) as { run: () => Promise<Record<string, unknown>> };
  const started = Date.now();
  results[name] = { ...(await mod.run()), measuredAt: new Date().toISOString() };
  console.log(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`, results[name]);
}
results.machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  node: process.version,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
};
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${resultsFile}`);
