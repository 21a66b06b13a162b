/**
 * The analysts' config as a running function sees it. Until the deployed config source lands
 * (issue: production deployment), a function reads it from the `STO_CONFIG_JSON` environment
 * variable when set, else the default config bundled with the function; either way it is validated
 * before the first record is handled, so a bad value fails the cold start with its path and reason.
 */
import { parseConfig } from '#config/load.ts';
import type { AnalystConfig } from '#config/schema.ts';
import defaultConfigJson from '../../config/default.json' with { type: 'json' };

/** @example const config = runtimeConfig(process.env); */
export function runtimeConfig(env: Record<string, string | undefined>): AnalystConfig {
  const text = env.STO_CONFIG_JSON;
  return text
    ? parseConfig(JSON.parse(text), 'STO_CONFIG_JSON')
    : parseConfig(defaultConfigJson, 'config/default.json');
}

/** Reads a required environment variable or fails the cold start naming it. */
export function requiredEnv(env: Record<string, string | undefined>, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
