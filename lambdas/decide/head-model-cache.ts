/**
 * Decide's copy of the head model: the policy (with its TF.js bandit) loaded from the model table and
 * refreshed on the config's interval. Kept apart from the model store (lambdas/shared/model-store.ts),
 * which the learner shares and which must not pull TF.js into its bundle.
 */
import type { AnalystConfig } from '#config/schema.ts';
import { SendTimePolicy } from '#model/policy.ts';
import type { LearnerLogger, LearnerModelVersion } from '../learner/learner.ts';
import { headOrFresh } from '../shared/model-store.ts';

/** The part of the logger the cache uses. */
export type ModelCacheLogger = Pick<LearnerLogger, 'info' | 'warn'>;

export interface HeadModelCacheOptions {
  /** reads the head (modelTableStore(...).readHead; eventually consistent reads are fine here) */
  readHead: () => Promise<LearnerModelVersion | undefined>;
  now: () => number;
  logger: ModelCacheLogger;
}

/** The policy decide uses and where it came from. */
export interface CachedPolicy {
  policy: SendTimePolicy;
  /** model table version it was loaded from; 0 = no version yet (a fresh learner) */
  modelVersion: number;
  configVersion: string;
}

/**
 * The head model as decide sees it: read at most once per config.model.refreshIntervalSeconds per
 * container, and again at once when the config changes (a new config may change the algorithm).
 * A read that fails keeps the policy it has (decisions go on with a slightly older model); with none yet,
 * the error propagates and the batch is retried.
 * @example
 *   const cache = new HeadModelCache({ readHead: store.readHead, now: Date.now, logger });
 *   const { policy, modelVersion } = await cache.current(config);
 */
export class HeadModelCache {
  private cached: CachedPolicy | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private readonly options: HeadModelCacheOptions;

  constructor(options: HeadModelCacheOptions) {
    this.options = options;
  }

  /** model reads made so far (for the cost accounting of the benchmark) */
  reads = 0;

  async current(config: AnalystConfig): Promise<CachedPolicy> {
    const now = this.options.now();
    const fresh =
      this.cached !== undefined &&
      this.cached.configVersion === config.version &&
      now - this.fetchedAt < config.model.refreshIntervalSeconds * 1000;
    if (fresh && this.cached) return this.cached;
    let head: LearnerModelVersion | undefined;
    try {
      this.reads++;
      head = await this.options.readHead();
    } catch (error) {
      if (!this.cached || this.cached.configVersion !== config.version) throw error;
      this.options.logger.warn('model refresh failed; deciding with the cached model', {
        modelVersion: this.cached.modelVersion,
        error: (error as Error).name,
      });
      this.fetchedAt = now;
      return this.cached;
    }
    this.fetchedAt = now;
    const version = head?.version ?? 0;
    if (this.cached && this.cached.modelVersion === version && this.cached.configVersion === config.version) {
      return this.cached;
    }
    const policy = this.load(config, head);
    this.cached?.policy.dispose();
    this.cached = { policy, modelVersion: version, configVersion: config.version };
    this.options.logger.info('model loaded', { modelVersion: version, configVersion: config.version });
    return this.cached;
  }

  private load(config: AnalystConfig, head: LearnerModelVersion | undefined): SendTimePolicy {
    return headOrFresh(
      head,
      (state) => SendTimePolicy.load(config, state),
      () => SendTimePolicy.create(config),
      (error, incompatible) =>
        this.options.logger.warn('model state incompatible with the config; deciding with a new learner', {
          modelVersion: incompatible.version,
          detail: error.message,
        }),
    );
  }
}
