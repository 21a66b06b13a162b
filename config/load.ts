import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, InvalidConfigError } from './errors.ts';
import { type AnalystConfig, AnalystConfigSchema } from './schema.ts';

/**
 * Formats zod issues as `path: reason` pairs, the path as one would write it in JavaScript
 * (`bandit.alpha`, `timeZones[2].zone`).
 */
export function describeIssues(issues: z.core.$ZodIssue[]): { path: string; reason: string }[] {
  return issues.map((issue) => ({ path: dottedPath(issue.path), reason: issue.message }));
}

function dottedPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/**
 * Validates a parsed config object and fills in defaults.
 * @example parseConfig(JSON.parse(text), 'config/default.json')
 * @throws InvalidConfigError naming every bad field and why
 */
export function parseConfig(value: unknown, file?: string): AnalystConfig {
  const result = AnalystConfigSchema.safeParse(value);
  if (!result.success) throw new InvalidConfigError(describeIssues(result.error.issues), file);
  return result.data;
}

/**
 * Reads and validates a config file.
 * @example const config = loadConfigFile('config/default.json');
 */
export function loadConfigFile(file: string): AnalystConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`Cannot read config file ${file}: ${(cause as Error).message}`, file, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`Config file ${file} is not valid JSON: ${(cause as Error).message}`, file, { cause });
  }
  return parseConfig(json, file);
}

const DEFAULT_CONFIG_URL = new URL('./default.json', import.meta.url);

/** The shipped default config, validated. */
export function defaultConfig(): AnalystConfig {
  return loadConfigFile(DEFAULT_CONFIG_URL.pathname);
}
