/**
 * `sto config validate FILE`, `sto config schema`, `sto config diff A B`: the analysts' config workflow.
 * validate: every bad value with its path and reason (exit 2); schema: the JSON Schema editors use;
 * diff: what changed between two configs, in words, after defaults are filled in on both sides.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { analystConfigJsonSchema, analystConfigJsonSchemaText } from '#config/json-schema.ts';
import { loadConfigFile } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ConfigChange {
  path: string;
  before: Json | undefined;
  after: Json | undefined;
  /** one line an analyst reads */
  text: string;
}

function flatten(value: Json | undefined, prefix: string, out: Map<string, Json>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined) {
    out.set(prefix, value);
  }
}

/** The schema's description of a dotted path, looking through unions (the bandit algorithms). */
function descriptionOf(schema: Record<string, unknown>, path: string): string | undefined {
  let nodes: Record<string, unknown>[] = [schema];
  for (const part of path.split('.')) {
    const next: Record<string, unknown>[] = [];
    for (const node of nodes) {
      const variants = [node, ...((node.anyOf ?? node.oneOf ?? []) as Record<string, unknown>[])];
      for (const v of variants) {
        const child = (v.properties as Record<string, Record<string, unknown>> | undefined)?.[part];
        if (child) next.push(child);
      }
    }
    nodes = next;
  }
  return nodes.map((n) => n.description as string | undefined).find(Boolean);
}

function show(v: Json | undefined): string {
  return v === undefined ? '(not set)' : JSON.stringify(v);
}

/**
 * The changes from config `a` to config `b`, each with a sentence.
 * @example diffConfigs(loadConfigFile('current.json'), loadConfigFile('candidate.json'))
 */
export function diffConfigs(a: AnalystConfig, b: AnalystConfig): ConfigChange[] {
  const schema = analystConfigJsonSchema();
  const left = new Map<string, Json>();
  const right = new Map<string, Json>();
  flatten(a as unknown as Json, '', left);
  flatten(b as unknown as Json, '', right);
  const paths = [...new Set([...left.keys(), ...right.keys()])].filter((p) => p !== '$schema').sort();
  const changes: ConfigChange[] = [];
  const algorithmChanged = a.bandit.algorithm !== b.bandit.algorithm;
  for (const path of paths) {
    const before = left.get(path);
    const after = right.get(path);
    if (JSON.stringify(before) === JSON.stringify(after)) continue;
    // the old algorithm's own parameters go with it: the algorithm line says so once
    if (algorithmChanged && path.startsWith('bandit.') && after === undefined) continue;
    let text: string;
    if (path === 'bandit.algorithm') {
      text = `bandit algorithm changes from ${before} to ${after}: the learned model does not carry over, a new one starts from its prior`;
    } else if (path === 'version') {
      text = `config version ${show(before)} → ${show(after)} (recorded on every decision)`;
    } else if (typeof before === 'number' && typeof after === 'number') {
      const rel =
        before !== 0
          ? ` (${after > before ? '+' : ''}${(((after - before) / Math.abs(before)) * 100).toFixed(0)}%)`
          : '';
      text = `${path} ${after > before ? 'raised' : 'lowered'} from ${before} to ${after}${rel}`;
    } else if (before === undefined) {
      text = `${path} set to ${show(after)}`;
    } else if (after === undefined) {
      text = `${path} removed (was ${show(before)})`;
    } else {
      text = `${path} changes from ${show(before)} to ${show(after)}`;
    }
    const description = descriptionOf(schema, path);
    changes.push({ path, before, after, text: description ? `${text} — ${description}` : text });
  }
  return changes;
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description("validate, describe and compare the analysts' config");
  config
    .command('validate')
    .argument('<file>', 'config file (JSON)')
    .description('check a config file; every bad value is reported with its path and reason')
    .action((file: string) => {
      const parsed = loadConfigFile(file);
      process.stdout.write(
        `${file} is valid: version ${parsed.version}, bandit ${parsed.bandit.algorithm}, ` +
          `${parsed.slots.grid} slots, holdout ${(parsed.holdout.share * 100).toFixed(1)}%\n`,
      );
    });
  config
    .command('schema')
    .option('--out <file>', 'write to a file instead of stdout')
    .description('print the JSON Schema of the config (for editors; the same as config/analyst-config.schema.json)')
    .action((options: { out?: string }) => {
      const text = analystConfigJsonSchemaText();
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });
  config
    .command('diff')
    .argument('<a>', 'the current config')
    .argument('<b>', 'the candidate config')
    .description('what changes from A to B, in words (defaults filled in on both sides)')
    .action((a: string, b: string) => {
      const changes = diffConfigs(loadConfigFile(a), loadConfigFile(b));
      if (changes.length === 0) process.stdout.write('no difference once defaults are filled in\n');
      for (const c of changes) process.stdout.write(`- ${c.text}\n`);
    });
}
