import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, InvalidConfigError } from './errors.ts';
import { type AnalystConfig, AnalystConfigSchema } from './schema.ts';

/** Formats zod issues as `path: reason` pairs, the path in dotted form (`bandit.alpha`, `channels.sms.cost`). */
export function describeIssues(issues: z.core.$ZodIssue[]): { path: string; reason: string }[] {
  return issues.map((issue) => ({
    path: issue.path.length
      ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.')
      : '(root)',
    reason: issue.message,
  }));
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
