import type { AnalystConfig } from '#config/schema.ts';
import { type ConfigSource, staticConfigSource } from '#lambdas/shared/config-source.ts';

/**
 * The deps of a batch function turned into the deps of its handler: the fixed config becomes a static
 * ConfigSource that serves it to every batch.
 * @example createLearnerHandler({ ...handlerDeps(learnerDeps(store)), logger })
 */
export function handlerDeps<D extends { config: AnalystConfig }>(
  deps: D,
): Omit<D, 'config'> & { configSource: ConfigSource } {
  const { config, ...rest } = deps;
  return { ...rest, configSource: staticConfigSource(config) };
}
