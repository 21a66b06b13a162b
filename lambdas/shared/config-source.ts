/**
 * Where a running function gets the analysts' config. Handlers ask a ConfigSource for the current config
 * at the start of every batch, so a config deployed while the container lives reaches it on the next
 * refresh, without a redeploy of the function.
 *
 * Today: the config of the environment (STO_CONFIG_JSON) or the bundled default (runtime-config.ts).
 * The deployed source (AWS AppConfig, issue: production deployment) plugs in behind the same interface.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { runtimeConfig } from './runtime-config.ts';

export interface ConfigSource {
  /** the config to use for the next batch; validated (a bad deployed config never reaches a handler) */
  current(): Promise<AnalystConfig>;
}

/**
 * A source that always returns the same config (tests, the demo, the local stack).
 * @example const source = staticConfigSource(defaultConfig());
 */
export function staticConfigSource(config: AnalystConfig): ConfigSource {
  return { current: async () => config };
}

/**
 * The source a Lambda entry uses, chosen by its environment.
 * @example const source = configSourceFromEnv(process.env); const config = await source.current();
 */
export function configSourceFromEnv(env: Record<string, string | undefined>): ConfigSource {
  return staticConfigSource(runtimeConfig(env));
}
